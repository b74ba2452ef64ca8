// Device memory for the CUDA twins of the bindings (bindings/progress_cuda.cc,
// rl_cuda.cc): the class DeviceBufferNative, the native half of DeviceTensor
// (src/core/device.ts), and the CUDA fields of capabilities(). Its memory is
// held by a shared_ptr (DeviceMem), so an asynchronous kernel keeps what it
// reads alive even when the tensor is disposed meanwhile; a forgotten buffer
// is freed by its finaliser.
// DLPack (cuda/dlpack.h): toDLPack hands out a capsule (an N-API External over
// a dlpack::Slot) whose DLManagedTensor holds the buffer's memory until its
// consumer calls the deleter; the static fromDLPack adopts a capsule's tensor
// as a DeviceBufferNative that calls the deleter when freed.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/cuda_glue.h"

namespace f2g {
namespace {

const napi_type_tag kBufferTag = {0x6f2a1c3e5d7b4a90ULL, 0x8e1f2d3c4b5a6978ULL};
// A DLPack capsule: an External over a dlpack::Slot (docs/cuda.md#dlpack).
const napi_type_tag kCapsuleTag = {0x1d1a9c0b5e2f4c37ULL, 0xa4b8d06e93c1f275ULL};
// The External by which fromDLPack hands adopted memory to the constructor.
const napi_type_tag kAdoptTag = {0x52c7e019ab3d46f8ULL, 0x9f60b2d4c8e1a357ULL};

void AddCudaCapabilities(Napi::Env, Napi::Object caps) {
  const std::string why = cuda::unavailable_reason();
  caps.Set("cuda", why.empty());
  if (!why.empty()) caps.Set("cudaReason", why);
  caps.Set("cudaDevices", static_cast<double>(cuda::device_count()));
}

// fromDLPack(capsule) -> DeviceBufferNative (static; see below).
Napi::Value FromDLPack(const Napi::CallbackInfo& info);

class DeviceBufferNative : public GuardedWrap<DeviceBufferNative> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "DeviceBufferNative",
                                     {GuardedMethod<&DeviceBufferNative::Upload>("upload"),
                                      GuardedMethod<&DeviceBufferNative::Download>("download"),
                                      GuardedMethod<&DeviceBufferNative::CopyFrom>("copyFrom"),
                                      GuardedMethod<&DeviceBufferNative::Dispose>("dispose"),
                                      GuardedMethod<&DeviceBufferNative::ToDLPack>("toDLPack"),
                                      StaticMethod("fromDLPack", &GuardedCuda<FromDLPack>, napi_default,
                                                   const_cast<char*>("DeviceTensor.fromDLPack")),
                                      InstanceAccessor("bytes", &DeviceBufferNative::Bytes, nullptr),
                                      InstanceAccessor("device", &DeviceBufferNative::Device, nullptr),
                                      InstanceAccessor("disposed", &DeviceBufferNative::Disposed, nullptr)});
    exports.Set("DeviceBufferNative", cls);
  }

  // new DeviceBufferNative({}, { bytes, device }), or (External of adopted memory) from fromDLPack
  explicit DeviceBufferNative(const Napi::CallbackInfo& info) : GuardedWrap<DeviceBufferNative>(info) {
    Guard(info.Env(), "DeviceTensor", [&] {
      if (info[0].IsExternal() && info[0].As<Napi::External<DeviceMemPtr>>().CheckTypeTag(&kAdoptTag)) {
        mem_ = *info[0].As<Napi::External<DeviceMemPtr>>().Data();
        info.This().As<Napi::Object>().TypeTag(&kBufferTag);
        return;
      }
      cuda::require_device("DeviceTensor");
      Fields o(info[1], "opts");
      const std::size_t bytes = SizeArg(o.Need("bytes"), "bytes");
      const std::size_t device = SizeArg(o.Need("device"), "device");
      const int n = cuda::device_count();
      if (device >= static_cast<std::size_t>(n))
        ThrowRange("Expected device < " + std::to_string(n) + " (the CUDA devices) but received " +
                   std::to_string(device));
      cuda::set_device(static_cast<int>(device), "DeviceTensor");
      auto m = std::make_shared<DeviceMem>();
      m->ptr = cuda::malloc_device(bytes, "DeviceTensor (cudaMalloc)");
      m->bytes = bytes;
      m->device = static_cast<int>(device);
      mem_ = m;
      info.This().As<Napi::Object>().TypeTag(&kBufferTag);
    });
  }

  /// See DeviceArg.
  static DeviceMemPtr Get(const Napi::Value& v, const std::string& name, std::size_t need, int device) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kBufferTag))
      ThrowType("Expected a DeviceTensor for " + name + " but received " + Describe(v));
    DeviceBufferNative* b = Unwrap(v.As<Napi::Object>());
    if (!b->mem_) throw ArgError{ArgError::kPlain, name + ": the DeviceTensor was disposed"};
    if (b->mem_->bytes < need)
      ThrowRange("Expected " + name + " to hold at least " + std::to_string(need) + " bytes but it holds " +
                 std::to_string(b->mem_->bytes));
    if (device >= 0 && b->mem_->device != device)
      ThrowType("Expected " + name + " on CUDA device " + std::to_string(device) + " but it is on device " +
                std::to_string(b->mem_->device));
    return b->mem_;
  }

  /// A new DeviceBufferNative over adopted memory (fromDLPack).
  static Napi::Object Adopt(const Napi::Function& cls, Napi::Env env, DeviceMemPtr m) {
    auto ext = Napi::External<DeviceMemPtr>::New(env, &m);
    ext.TypeTag(&kAdoptTag);
    return cls.New({ext});
  }

 private:
  DeviceMem& Live(const char* call) {
    if (!mem_) throw ArgError{ArgError::kPlain, std::string(call) + ": the DeviceTensor was disposed"};
    return *mem_;
  }
  // upload({ data: typedArray }, {}): host → device, whole array from byte 0.
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    return HostCopy(info, Fields(info[0], "input").Need("data"), "DeviceTensor.fromHost", "data",
                    [](const DeviceMem& m, char* host, std::size_t n, cuda::Stream s, const char* call) {
                      cuda::copy_h2d(m.ptr, host, n, s, call);
                    });
  }
  // download({}, {}, { data: typedArray }): device → host, the array's byte length from byte 0.
  Napi::Value Download(const Napi::CallbackInfo& info) {
    return HostCopy(info, Fields(info[2], "out").Need("data"), "DeviceTensor.toHost", "out",
                    [](const DeviceMem& m, char* host, std::size_t n, cuda::Stream s, const char* call) {
                      cuda::copy_d2h(host, m.ptr, n, s, call);
                    });
  }
  // A synchronous copy between this buffer and the typed array `v` (named
  // `name`; all of its bytes, at most the buffer's) on a fresh stream.
  template <class F>
  Napi::Value HostCopy(const Napi::CallbackInfo& info, const Napi::Value& v, const char* call,
                       const char* name, F copy) {
    DeviceMem& m = Live(call);
    if (!v.IsTypedArray())
      ThrowType(std::string("Expected a typed array for ") + name + " but received " + Describe(v));
    auto a = v.As<Napi::TypedArray>();
    const std::size_t n = a.ByteLength();
    if (n > m.bytes)
      ThrowRange(std::string("Expected ") + name + " of at most " + std::to_string(m.bytes) +
                 " bytes but received " + std::to_string(n));
    char* host = static_cast<char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    cuda::set_device(m.device, call);
    CallStream s(call);
    copy(m, host, n, s.s, call);
    cuda::stream_sync(s.s, call);
    return info.Env().Undefined();
  }
  // copyFrom({ source }, {}): device → device, all of the source's bytes.
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    const char* call = "DeviceTensor.clone";
    DeviceMem& m = Live(call);
    DeviceMemPtr src = Get(Fields(info[0], "input").Maybe("source"), "source", 0, -1);
    if (src->bytes > m.bytes) ThrowRange("DeviceTensor.clone: the source is larger than the destination");
    cuda::set_device(m.device, call);
    CallStream s(call);
    cuda::copy_d2d(m.ptr, src->ptr, src->bytes, s.s, call);
    cuda::stream_sync(s.s, call);
    return info.Env().Undefined();
  }
  // toDLPack({}, { dtype, shape }) -> capsule: a DLManagedTensor viewing the whole
  // tensor (compact, strides NULL) that keeps the memory alive until its
  // consumer calls the deleter; a capsule nobody adopts is released by its
  // finaliser.
  Napi::Value ToDLPack(const Napi::CallbackInfo& info) {
    Live("DeviceTensor.toDLPack");
    static const char* const kDtypes[] = {"float32", "uint8", "int32"};  // dlpack::make_managed's order
    Fields o(info[1], "opts");
    const int idx = o.Enum<int>("dtype", kDtypes);
    const Napi::Value sv = o.Need("shape");
    if (!sv.IsArray()) ThrowType("Expected an array for shape but received " + Describe(sv));
    auto arr = sv.As<Napi::Array>();
    std::vector<std::int64_t> shape(arr.Length());
    std::size_t n = idx == 1 ? 1 : 4;
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      const std::string name = "shape[" + std::to_string(i) + "]";
      const std::size_t d = SizeArg(arr.Get(i), name.c_str());
      shape[i] = static_cast<std::int64_t>(d);
      n = CheckedProduct({n, d}, "shape");
    }
    if (n > mem_->bytes)
      ThrowRange("Expected a shape of at most " + std::to_string(mem_->bytes) + " bytes but received " +
                 std::to_string(n));
    auto* slot = new dlpack::Slot();
    slot->tensor = dlpack::make_managed(mem_->ptr, mem_->device, idx, shape, mem_);
    auto cap = Napi::External<dlpack::Slot>::New(info.Env(), slot, [](Napi::Env, dlpack::Slot* s) {
      s->release();
      delete s;
    });
    cap.TypeTag(&kCapsuleTag);
    return cap;
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    mem_.reset();  // freed now, or when the last kernel using it has finished
    return info.Env().Undefined();
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), mem_ ? static_cast<double>(mem_->bytes) : 0.0);
  }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), mem_ ? mem_->device : -1);
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !mem_); }

  DeviceMemPtr mem_;
};

// DeviceBufferNative.fromDLPack({ capsule }, {}) -> { buffer, dtype, shape, device }:
// adopts the capsule's tensor (the capsule is empty afterwards). A tensor that
// fails the checks stays in the capsule, whose finaliser releases it.
Napi::Value FromDLPack(const Napi::CallbackInfo& info) {
  const char* call = "DeviceTensor.fromDLPack";
  Napi::Value v = Fields(info[0], "input").Maybe("capsule");
  if (!v.IsExternal() || !v.As<Napi::External<dlpack::Slot>>().CheckTypeTag(&kCapsuleTag))
    ThrowType(
        "Expected a DLPack capsule (from DeviceTensor.toDLPack or a producer following docs/cuda.md) for "
        "capsule but received " +
        Describe(v));
  dlpack::Slot* slot = v.As<Napi::External<dlpack::Slot>>().Data();
  if (slot == nullptr || slot->tensor == nullptr)
    throw ArgError{ArgError::kPlain, std::string(call) + ": the capsule was already consumed"};
  const dlpack::Checked c = dlpack::check(slot->tensor->dl_tensor);
  if (c.kind == dlpack::Checked::kType) ThrowType(std::string(call) + ": " + c.message);
  if (c.kind == dlpack::Checked::kRange) ThrowRange(std::string(call) + ": " + c.message);
  const int dev = slot->tensor->dl_tensor.device.device_id, count = cuda::device_count();
  if (dev >= count)
    ThrowRange(std::string(call) + ": Expected device_id < " + std::to_string(count) +
               " (the CUDA devices) but received " + std::to_string(dev));
  auto m = std::make_shared<DeviceMem>();
  m->ptr = c.data;
  m->bytes = c.bytes;
  m->device = dev;
  m->foreign = std::make_unique<dlpack::Adopted>(slot->take());
  Napi::Object buf = DeviceBufferNative::Adopt(info.This().As<Napi::Function>(), info.Env(), m);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("buffer", buf);
  r.Set("dtype", dlpack::dtype_name(c.dtype));
  Napi::Array shape = Napi::Array::New(info.Env(), c.shape.size());
  for (std::size_t i = 0; i < c.shape.size(); ++i)
    shape.Set(static_cast<std::uint32_t>(i), static_cast<double>(c.shape[i]));
  r.Set("shape", shape);
  r.Set("device", static_cast<double>(dev));
  return r;
}

}  // namespace

DeviceMemPtr DeviceArg(const Napi::Value& v, const std::string& name, std::size_t need, int device) {
  return DeviceBufferNative::Get(v, name, need, device);
}

DeviceFlags DeviceFlagsArg(const Fields& input, const Fields& opts, const char* key, std::size_t n,
                           int device, bool optional) {
  DeviceFlags r;
  Napi::Value v = input.Maybe(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return r;
  const std::string dkey = std::string(key) + "Dtype";
  Napi::Value dt = opts.Maybe(dkey.c_str());
  const std::string dtype = dt.IsString() ? dt.As<Napi::String>().Utf8Value() : "";
  if (dtype == "uint8") {
    r.mem = DeviceArg(v, key, n, device);
    r.f.u8 = static_cast<const std::uint8_t*>(r.mem->ptr);
  } else if (dtype == "float32") {
    r.mem = DeviceArg(v, key, CheckedProduct({n, 4}, key), device);
    r.f.f32 = static_cast<const float*>(r.mem->ptr);
  } else {
    ThrowType("Expected 'uint8' or 'float32' for " + opts.Name(dkey.c_str()) + " (the dtype of " + key +
              ") but received " + Describe(dt));
  }
  return r;
}

namespace {
void Init(Napi::Env env, Napi::Object exports) { DeviceBufferNative::Init(env, exports); }
}  // namespace

F2G_REGISTER(device, Init);
F2G_CAPABILITIES(cuda, AddCudaCapabilities);

}  // namespace f2g

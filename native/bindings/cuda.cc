// N-API side of the CUDA kernels (native/cuda/api.h):
//  * DeviceBuffer: device memory owned by a JS object (the native half of
//    DeviceTensor in TypeScript). The memory is held by a shared_ptr, so an
//    asynchronous kernel keeps what it reads alive even when the tensor is
//    disposed meanwhile; a forgotten buffer is freed by its finaliser.
//  * one binding per kernel, taking one options object of DeviceBuffers and
//    sizes. Synchronous bindings run on a fresh stream and wait for it;
//    cudaProgressTargets returns a Promise resolved after its stream finished.
//    CUDA errors become JS Errors that name the call.
//  * DLPack (native/cuda/dlpack.h): DeviceBuffer.toDLPack hands out a capsule
//    (an N-API External over a dlpack::Slot) whose DLManagedTensor holds the
//    buffer's memory until its consumer calls the deleter; cudaFromDLPack
//    adopts a capsule's tensor as a DeviceBuffer that calls the deleter when
//    freed.
// Without FEAT2GO_HAS_CUDA the same names exist and throw one clear error.
#include "bindings/cuda.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/napi_util.h"

#ifdef FEAT2GO_HAS_CUDA
#include "cuda/api.h"
#include "cuda/dlpack.h"
#endif

namespace f2g {

#ifndef FEAT2GO_HAS_CUDA

void AddCudaCapabilities(Napi::Env, Napi::Object caps) {
  caps.Set("cuda", false);
  caps.Set("cudaReason", "not built");
  caps.Set("cudaDevices", 0.0);
}

namespace {
const char* const kCalls[] = {
    "DeviceBuffer",       "cudaPatchSimilarity", "cudaSlidingSlopes", "cudaProgressTargets", "cudaGae",
    "cudaGrpoAdvantages", "cudaStepAdvantages",  "cudaLoss",          "cudaFromDLPack"};
Napi::Value NotBuilt(const Napi::CallbackInfo& info) {
  const char* call = static_cast<const char*>(info.Data());
  throw Napi::Error::New(
      info.Env(), std::string(call) + ": CUDA is not available (not built: rebuild with FEAT2GO_CUDA=ON)");
}
void Init(Napi::Env env, Napi::Object exports) {
  for (const char* c : kCalls) exports.Set(c, Napi::Function::New(env, NotBuilt, c, const_cast<char*>(c)));
}
}  // namespace
F2G_REGISTER(cuda, Init);

#else  // FEAT2GO_HAS_CUDA

void AddCudaCapabilities(Napi::Env, Napi::Object caps) {
  const std::string why = cuda::unavailable_reason();
  caps.Set("cuda", why.empty());
  if (!why.empty()) caps.Set("cudaReason", why);
  caps.Set("cudaDevices", static_cast<double>(cuda::device_count()));
}

namespace {

// The one guard (napi_util.h: Classify / ToJsError) as a statement macro for
// these bindings' bodies: argument errors as TypeError/RangeError, a failed
// allocation as a RangeError naming its size, CUDA and other native errors as
// Error (their message names the call).
#define F2G_CUDA_GUARD(...)                                                                       \
  try {                                                                                           \
    __VA_ARGS__                                                                                   \
  } catch (const Napi::Error&) {                                                                  \
    throw;                                                                                        \
  } catch (...) {                                                                                 \
    throw ::f2g::ToJsError(info.Env(), ::f2g::Classify(std::current_exception(), "a CUDA call")); \
  }

struct DeviceMem {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  int device = 0;
  // Memory adopted from a DLPack tensor: its producer's deleter frees it.
  std::unique_ptr<dlpack::Adopted> foreign;
  ~DeviceMem() {
    if (foreign) foreign.reset();
    else cuda::free_device(ptr);
  }
};
using MemPtr = std::shared_ptr<DeviceMem>;

const napi_type_tag kBufferTag = {0x6f2a1c3e5d7b4a90ULL, 0x8e1f2d3c4b5a6978ULL};
// A DLPack capsule: an External over a dlpack::Slot (docs/cuda.md#dlpack).
const napi_type_tag kCapsuleTag = {0x1d1a9c0b5e2f4c37ULL, 0xa4b8d06e93c1f275ULL};
// The External by which cudaFromDLPack hands adopted memory to the constructor.
const napi_type_tag kAdoptTag = {0x52c7e019ab3d46f8ULL, 0x9f60b2d4c8e1a357ULL};

// A stream for one call, destroyed on every path.
struct CallStream {
  cuda::Stream s;
  explicit CallStream(const char* call) : s(cuda::stream_create(call)) {}
  ~CallStream() { cuda::stream_destroy(s); }
  CallStream(const CallStream&) = delete;
  CallStream& operator=(const CallStream&) = delete;
};

class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "DeviceBuffer",
        {InstanceMethod("upload", &DeviceBuffer::Upload), InstanceMethod("download", &DeviceBuffer::Download),
         InstanceMethod("copyFrom", &DeviceBuffer::CopyFrom),
         InstanceMethod("dispose", &DeviceBuffer::Dispose),
         InstanceMethod("toDLPack", &DeviceBuffer::ToDLPack),
         InstanceAccessor("bytes", &DeviceBuffer::Bytes, nullptr),
         InstanceAccessor("device", &DeviceBuffer::Device, nullptr),
         InstanceAccessor("disposed", &DeviceBuffer::Disposed, nullptr)});
  }

  // new DeviceBuffer(bytes, device)
  explicit DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    F2G_CUDA_GUARD({
      if (info[0].IsExternal() && info[0].As<Napi::External<MemPtr>>().CheckTypeTag(&kAdoptTag)) {
        mem_ = *info[0].As<Napi::External<MemPtr>>().Data();  // from cudaFromDLPack
        info.This().As<Napi::Object>().TypeTag(&kBufferTag);
        return;
      }
      const std::size_t bytes = SizeArg(info[0], "bytes");
      const std::size_t device = SizeArg(info[1], "device");
      cuda::require_device("DeviceTensor");
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
    })
  }

  /// The memory of `v` (a live DeviceBuffer of at least `need` bytes on `device`, or any device when −1).
  static MemPtr Get(const Napi::Value& v, const std::string& name, std::size_t need, int device) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kBufferTag))
      ThrowType("Expected a DeviceTensor for " + name + " but received " + Describe(v));
    DeviceBuffer* b = Unwrap(v.As<Napi::Object>());
    if (!b->mem_) throw ArgError{ArgError::kPlain, name + ": the DeviceTensor was disposed"};
    if (b->mem_->bytes < need)
      ThrowRange("Expected " + name + " to hold at least " + std::to_string(need) + " bytes but it holds " +
                 std::to_string(b->mem_->bytes));
    if (device >= 0 && b->mem_->device != device)
      ThrowType("Expected " + name + " on CUDA device " + std::to_string(device) + " but it is on device " +
                std::to_string(b->mem_->device));
    return b->mem_;
  }

 private:
  DeviceMem& Live(const char* call) {
    if (!mem_) throw ArgError{ArgError::kPlain, std::string(call) + ": the DeviceTensor was disposed"};
    return *mem_;
  }
  // upload(typedArray): host → device, whole array from byte 0.
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    F2G_CUDA_GUARD({
      DeviceMem& m = Live("DeviceTensor.fromHost");
      if (!info[0].IsTypedArray())
        ThrowType("Expected a typed array for data but received " + Describe(info[0]));
      auto a = info[0].As<Napi::TypedArray>();
      const std::size_t n = a.ByteLength();
      if (n > m.bytes)
        ThrowRange("Expected data of at most " + std::to_string(m.bytes) + " bytes but received " +
                   std::to_string(n));
      const char* src = static_cast<const char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
      cuda::set_device(m.device, "DeviceTensor.fromHost");
      CallStream s("DeviceTensor.fromHost");
      cuda::copy_h2d(m.ptr, src, n, s.s, "DeviceTensor.fromHost");
      cuda::stream_sync(s.s, "DeviceTensor.fromHost");
      return info.Env().Undefined();
    })
    return info.Env().Undefined();
  }
  // download(typedArray): device → host, the array's byte length from byte 0.
  Napi::Value Download(const Napi::CallbackInfo& info) {
    F2G_CUDA_GUARD({
      DeviceMem& m = Live("DeviceTensor.toHost");
      if (!info[0].IsTypedArray())
        ThrowType("Expected a typed array for out but received " + Describe(info[0]));
      auto a = info[0].As<Napi::TypedArray>();
      const std::size_t n = a.ByteLength();
      if (n > m.bytes)
        ThrowRange("Expected out of at most " + std::to_string(m.bytes) + " bytes but received " +
                   std::to_string(n));
      char* dst = static_cast<char*>(a.ArrayBuffer().Data()) + a.ByteOffset();
      cuda::set_device(m.device, "DeviceTensor.toHost");
      CallStream s("DeviceTensor.toHost");
      cuda::copy_d2h(dst, m.ptr, n, s.s, "DeviceTensor.toHost");
      cuda::stream_sync(s.s, "DeviceTensor.toHost");
      return info.Env().Undefined();
    })
    return info.Env().Undefined();
  }
  // copyFrom(other): device → device, all of other's bytes.
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    F2G_CUDA_GUARD({
      DeviceMem& m = Live("DeviceTensor.clone");
      MemPtr src = Get(info[0], "source", 0, -1);
      if (src->bytes > m.bytes) ThrowRange("DeviceTensor.clone: the source is larger than the destination");
      cuda::set_device(m.device, "DeviceTensor.clone");
      CallStream s("DeviceTensor.clone");
      cuda::copy_d2d(m.ptr, src->ptr, src->bytes, s.s, "DeviceTensor.clone");
      cuda::stream_sync(s.s, "DeviceTensor.clone");
      return info.Env().Undefined();
    })
    return info.Env().Undefined();
  }
  // toDLPack(dtype, shape) -> capsule: a DLManagedTensor viewing the whole
  // tensor (compact, strides NULL) that keeps the memory alive until its
  // consumer calls the deleter; a capsule nobody adopts is released by its
  // finaliser.
  Napi::Value ToDLPack(const Napi::CallbackInfo& info) {
    F2G_CUDA_GUARD({
      const char* call = "DeviceTensor.toDLPack";
      Live(call);
      const std::string dt = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
      const int idx = dt == "float32" ? 0 : dt == "uint8" ? 1 : dt == "int32" ? 2 : -1;
      if (idx < 0)
        ThrowRange("Expected dtype 'float32', 'uint8' or 'int32' but received " + Describe(info[0]));
      if (!info[1].IsArray()) ThrowType("Expected an array for shape but received " + Describe(info[1]));
      auto arr = info[1].As<Napi::Array>();
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
    })
    return info.Env().Undefined();
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

  MemPtr mem_;
};

// ---- option-object helpers
Napi::Object OptsArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) ThrowType("Expected an options object but received " + Describe(info[0]));
  return info[0].As<Napi::Object>();
}
std::size_t Size(const Napi::Object& o, const char* k, std::size_t min = 0) {
  return SizeArg(o.Get(k), k, min);
}
double Num(const Napi::Object& o, const char* k) { return NumberArg(o.Get(k), k); }
const float* F32(const MemPtr& m) { return static_cast<const float*>(m->ptr); }
float* F32w(const MemPtr& m) { return static_cast<float*>(m->ptr); }

// A flag tensor: { buffer: DeviceBuffer, dtype: 'uint8' | 'float32' } or undefined (optional).
struct FlagArg {
  MemPtr mem;
  cuda::DevFlags f;
};
FlagArg Flags(const Napi::Object& o, const char* k, std::size_t n, int device, bool optional) {
  FlagArg r;
  Napi::Value v = o.Get(k);
  if (optional && (v.IsUndefined() || v.IsNull())) return r;
  Napi::Value dt = o.Get((std::string(k) + "Dtype").c_str());
  const std::string dtype = dt.IsString() ? dt.As<Napi::String>().Utf8Value() : "";
  if (dtype == "uint8") {
    r.mem = DeviceBuffer::Get(v, k, n, device);
    r.f.u8 = static_cast<const std::uint8_t*>(r.mem->ptr);
  } else if (dtype == "float32") {
    r.mem = DeviceBuffer::Get(v, k, n * 4, device);
    r.f.f32 = static_cast<const float*>(r.mem->ptr);
  } else {
    ThrowType(std::string("Expected a uint8 or float32 DeviceTensor for ") + k + " but received dtype " +
              Describe(dt));
  }
  return r;
}
int Aggregation(const Napi::Object& o) {
  const std::string a =
      o.Get("aggregation").IsString() ? o.Get("aggregation").As<Napi::String>().Utf8Value() : "";
  if (a == "token-mean") return 0;
  if (a == "seq-mean-token-mean") return 1;
  if (a == "seq-mean-token-sum") return 2;
  ThrowRange(
      "Expected aggregation 'token-mean', 'seq-mean-token-mean' or 'seq-mean-token-sum' but received " +
      Describe(o.Get("aggregation")));
}

// Runs `launch` on a fresh stream of `device` with a device status int, waits,
// and throws RangeError(bad_data) if a kernel flagged bad data.
template <class F>
void RunChecked(int device, const char* call, const std::string& bad_data, F launch) {
  cuda::set_device(device, call);
  CallStream s(call);
  int* status = static_cast<int*>(cuda::malloc_async(sizeof(int), s.s, call));
  int h = 0;
  try {
    cuda::memset_async(status, 0, sizeof(int), s.s, call);
    launch(s.s, status);
    cuda::copy_d2h(&h, status, sizeof(int), s.s, call);
    cuda::free_async(status, s.s);
    status = nullptr;
    cuda::stream_sync(s.s, call);
  } catch (...) {
    if (status) cuda::free_async(status, s.s);
    throw;
  }
  if (h != 0) ThrowRange(std::string(call) + ": " + bad_data);
}

// cudaPatchSimilarity({ features, T, N, D, goal | goalFrame, lambda, out })
Napi::Value PatchSimilarity(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::size_t T = Size(o, "T"), N = Size(o, "N", 1), D = Size(o, "D", 1);
    MemPtr f = DeviceBuffer::Get(o.Get("features"), "features", CheckedProduct({T, N, D, 4}, "features"), -1);
    MemPtr g;
    const float* goal = nullptr;
    if (o.Get("goal").IsUndefined()) {
      const std::size_t k = Size(o, "goalFrame");
      if (k >= T)
        ThrowRange("Expected goalFrame < " + std::to_string(T) + " but received " + std::to_string(k));
      goal = F32(f) + k * N * D;
    } else {
      g = DeviceBuffer::Get(o.Get("goal"), "goal", CheckedProduct({N, D, 4}, "goal"), f->device);
      goal = F32(g);
    }
    MemPtr out = DeviceBuffer::Get(o.Get("out"), "out", T * 4, f->device);
    const double lambda = Num(o, "lambda");
    RunChecked(f->device, "patchSimilarity", "", [&](cuda::Stream s, int*) {
      cuda::patch_similarity(F32(f), T, N, D, goal, lambda, F32w(out), s);
    });
  })
  return info.Env().Undefined();
}

// cudaSlidingSlopes({ series, B, L, window, out })
Napi::Value SlidingSlopes(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::size_t B = Size(o, "B"), L = Size(o, "L"), w = Size(o, "window", 2);
    if (L < w) ThrowRange("Expected L ≥ window but received L = " + std::to_string(L));
    MemPtr x = DeviceBuffer::Get(o.Get("series"), "series", CheckedProduct({B, L, 4}, "series"), -1);
    MemPtr out = DeviceBuffer::Get(o.Get("out"), "out", CheckedProduct({B, L - w + 1, 4}, "out"), x->device);
    RunChecked(x->device, "slidingSlopes", "expected finite values in series (an element is NaN or Inf)",
               [&](cuda::Stream s, int* st) { cuda::sliding_slopes(F32(x), B, L, w, F32w(out), st, s); });
  })
  return info.Env().Undefined();
}

// cudaProgressTargets({ features, offsets: Float64Array [E+1], N, D, lambda,
//   window, maxClusterFrames, threshold, values, similarity })
//   -> Promise<{ segStart: Int32Array, segEnd: Int32Array, segCount: Int32Array, bad: Float64Array }>
Napi::Value ProgressTargets(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    Napi::Value offv = o.Get("offsets");
    if (!offv.IsTypedArray() || offv.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      ThrowType("Expected a Float64Array for offsets but received " + Describe(offv));
    auto offa = offv.As<Napi::Float64Array>();
    if (offa.ElementLength() < 1) ThrowRange("Expected at least one offset");
    std::vector<std::int64_t> off(offa.ElementLength());
    for (std::size_t i = 0; i < off.size(); ++i) {
      off[i] = static_cast<std::int64_t>(offa[i]);
      if (offa[i] != static_cast<double>(off[i]) || (i > 0 && off[i] < off[i - 1]) || (i == 0 && off[0] != 0))
        ThrowRange("Expected offsets to be non-decreasing integers from 0");
    }
    const std::size_t E = off.size() - 1, total = static_cast<std::size_t>(off.back());
    const std::size_t N = Size(o, "N", 1), D = Size(o, "D", 1);
    cuda::ProgressArgs p{Num(o, "lambda"), Size(o, "window", 2), Size(o, "maxClusterFrames", 2),
                         Num(o, "threshold")};
    if (p.max_cluster < p.window) ThrowRange("Expected maxClusterFrames ≥ window");
    MemPtr f =
        DeviceBuffer::Get(o.Get("features"), "features", CheckedProduct({total, N, D, 4}, "features"), -1);
    MemPtr v = DeviceBuffer::Get(o.Get("values"), "values", total * 4, f->device);
    MemPtr sim = DeviceBuffer::Get(o.Get("similarity"), "similarity", total * 4, f->device);
    auto res = std::make_shared<std::vector<std::int32_t>>(3 * total + E);  // start, end, count
    auto bad = std::make_shared<std::vector<std::int64_t>>(E);
    auto exec = [f, v, sim, off, E, total, N, D, p, res, bad]() {
      const char* call = "progressTargets";
      cuda::set_device(f->device, call);
      CallStream s(call);
      const std::size_t ib = (E + 1) * 8, sb = (2 * total + E) * 4, bb = E * 8;
      char* scratch = static_cast<char*>(cuda::malloc_async(ib + sb + bb + 8, s.s, call));
      try {
        auto* doff = reinterpret_cast<std::int64_t*>(scratch);
        auto* dbad = reinterpret_cast<std::int64_t*>(scratch + ib);
        auto* dseg = reinterpret_cast<std::int32_t*>(scratch + ib + bb);
        cuda::copy_h2d(doff, off.data(), ib, s.s, call);
        cuda::progress_targets(F32(f), doff, E, N, D, p, F32w(v), F32w(sim), dseg, dseg + total,
                               dseg + 2 * total, dbad, s.s);
        cuda::copy_d2h(res->data(), dseg, sb, s.s, call);
        if (E) cuda::copy_d2h(bad->data(), dbad, bb, s.s, call);
        cuda::free_async(scratch, s.s);
        scratch = nullptr;
        cuda::stream_sync(s.s, call);
      } catch (...) {
        if (scratch) cuda::free_async(scratch, s.s);
        throw;
      }
    };
    auto done = [res, bad, E, total](Napi::Env env) -> Napi::Value {
      Napi::Object r = Napi::Object::New(env);
      auto ss = Napi::Int32Array::New(env, total), se = Napi::Int32Array::New(env, total);
      auto cnt = Napi::Int32Array::New(env, E);
      auto b = Napi::Float64Array::New(env, E);
      for (std::size_t i = 0; i < total; ++i) {
        ss[i] = (*res)[i];
        se[i] = (*res)[total + i];
      }
      for (std::size_t e = 0; e < E; ++e) {
        cnt[e] = (*res)[2 * total + e];
        b[e] = static_cast<double>((*bad)[e]);
      }
      r.Set("segStart", ss);
      r.Set("segEnd", se);
      r.Set("segCount", cnt);
      r.Set("bad", b);
      return r;
    };
    return (new PromiseWorker(info.Env(), "cudaProgressTargets", exec, done, {}))->Queue();
  })
  return info.Env().Undefined();
}

// cudaGae({ rewards, values, nextValues, terminated, terminatedDtype, done,
//   doneDtype, B, T, gamma, lambda, timeMajor, advantages, returns })
Napi::Value Gae(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::size_t B = Size(o, "B"), T = Size(o, "T"), n = CheckedProduct({B, T, 4}, "rewards") / 4;
    MemPtr r = DeviceBuffer::Get(o.Get("rewards"), "rewards", n * 4, -1);
    const int dev = r->device;
    MemPtr v = DeviceBuffer::Get(o.Get("values"), "values", n * 4, dev);
    MemPtr nv = DeviceBuffer::Get(o.Get("nextValues"), "nextValues", n * 4, dev);
    FlagArg term = Flags(o, "terminated", n, dev, false), done = Flags(o, "done", n, dev, false);
    MemPtr a = DeviceBuffer::Get(o.Get("advantages"), "advantages", n * 4, dev);
    MemPtr ret = DeviceBuffer::Get(o.Get("returns"), "returns", n * 4, dev);
    const double gamma = Num(o, "gamma"), lambda = Num(o, "lambda");
    const bool tm = o.Get("timeMajor").ToBoolean().Value();
    RunChecked(
        dev, "gae",
        "expected finite rewards, values and nextValues and 0/1 flags (a value is NaN/Inf or a flag is not 0/1)",
        [&](cuda::Stream s, int* st) {
          cuda::gae(F32(r), F32(v), F32(nv), term.f, done.f, B, T, gamma, lambda, tm, F32w(a), F32w(ret), st,
                    s);
        });
  })
  return info.Env().Undefined();
}

// cudaGrpoAdvantages({ rewards, n, groupSize, epsilon, std: 'sample'|'population'|'none', batchScale, out })
Napi::Value Grpo(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::size_t n = Size(o, "n"), g = Size(o, "groupSize", 1);
    if (n % g != 0)
      ThrowRange("Expected n to be a multiple of groupSize (" + std::to_string(g) + ") but received " +
                 std::to_string(n));
    MemPtr R = DeviceBuffer::Get(o.Get("rewards"), "rewards", n * 4, -1);
    MemPtr out = DeviceBuffer::Get(o.Get("out"), "out", n * 4, R->device);
    const std::string sd = o.Get("std").IsString() ? o.Get("std").As<Napi::String>().Utf8Value() : "";
    const int kind = sd == "sample" ? 0 : sd == "population" ? 1 : sd == "none" ? 2 : -1;
    if (kind < 0)
      ThrowRange("Expected std 'sample', 'population' or 'none' but received " + Describe(o.Get("std")));
    const double eps = Num(o, "epsilon");
    const bool batch = o.Get("batchScale").ToBoolean().Value();
    RunChecked(R->device, "grpoAdvantages", "expected finite rewards (a reward is NaN/Inf)",
               [&](cuda::Stream s, int* st) {
                 cuda::grpo_advantages(F32(R), n, g, eps, kind, batch, F32w(out), st, s);
               });
  })
  return info.Env().Undefined();
}

// cudaStepAdvantages({ advantages, lengths (Int32 DeviceBuffer), B, horizon, gamma, out })
Napi::Value StepAdv(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::size_t B = Size(o, "B"), H = Size(o, "horizon", 1);
    MemPtr a = DeviceBuffer::Get(o.Get("advantages"), "advantages", B * 4, -1);
    MemPtr L = DeviceBuffer::Get(o.Get("lengths"), "lengths", B * 4, a->device);
    MemPtr out = DeviceBuffer::Get(o.Get("out"), "out", CheckedProduct({B, H, 4}, "out"), a->device);
    const double gamma = Num(o, "gamma");
    RunChecked(a->device, "stepAdvantages", "expected finite advantages", [&](cuda::Stream s, int* st) {
      cuda::step_advantages(F32(a), static_cast<const std::int32_t*>(L->ptr), B, H, gamma, F32w(out), st, s);
    });
  })
  return info.Env().Undefined();
}

// cudaLoss({ kind: 'surrogate'|'value'|'kl', a, b, c?, mask?, maskDtype?, B, T, aggregation,
//   clipLow, clipHigh, dualClip | clip, huberDelta | estimator: 'k1'|'k2'|'k3' })
//   -> { loss, clipFraction, dualClipFraction, approxKl, masked }
Napi::Value Loss(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    Napi::Object o = OptsArg(info);
    const std::string kind = o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : "";
    const std::size_t B = Size(o, "B"), T = Size(o, "T"), n = CheckedProduct({B, T, 4}, "a") / 4;
    MemPtr a = DeviceBuffer::Get(o.Get("a"), "a", n * 4, -1);
    const int dev = a->device;
    MemPtr b = DeviceBuffer::Get(o.Get("b"), "b", n * 4, dev);
    MemPtr c;
    if (kind == "surrogate" || (kind == "value" && !o.Get("c").IsUndefined()))
      c = DeviceBuffer::Get(o.Get("c"), "c", n * 4, dev);
    FlagArg mask = Flags(o, "mask", n, dev, true);
    const int agg = Aggregation(o);
    cuda::LossOut h{};
    cuda::set_device(dev, "loss");
    CallStream s("loss");
    auto* d = static_cast<cuda::LossOut*>(cuda::malloc_async(sizeof(cuda::LossOut), s.s, "loss"));
    try {
      if (kind == "surrogate") {
        cuda::clipped_surrogate(F32(a), F32(b), F32(c), mask.f, B, T, Num(o, "clipLow"), Num(o, "clipHigh"),
                                Num(o, "dualClip"), agg, d, s.s);
      } else if (kind == "value") {
        const double clip = Num(o, "clip");
        if (clip > 0 && !c) ThrowType("Expected oldValues when clip > 0");
        cuda::value_loss(F32(a), F32(b), c ? F32(c) : nullptr, mask.f, B, T, clip, Num(o, "huberDelta"), agg,
                         d, s.s);
      } else if (kind == "kl") {
        const std::string e =
            o.Get("estimator").IsString() ? o.Get("estimator").As<Napi::String>().Utf8Value() : "";
        const int est = e == "k1" ? 0 : e == "k2" ? 1 : e == "k3" ? 2 : -1;
        if (est < 0)
          ThrowRange("Expected estimator 'k1', 'k2' or 'k3' but received " + Describe(o.Get("estimator")));
        cuda::kl_penalty(F32(a), F32(b), mask.f, B, T, est, agg, d, s.s);
      } else {
        ThrowRange("Expected kind 'surrogate', 'value' or 'kl' but received " + Describe(o.Get("kind")));
      }
      cuda::copy_d2h(&h, d, sizeof h, s.s, "loss");
      cuda::free_async(d, s.s);
      d = nullptr;
      cuda::stream_sync(s.s, "loss");
    } catch (...) {
      if (d) cuda::free_async(d, s.s);
      throw;
    }
    if (!h.ok)
      ThrowRange("loss: expected finite inputs and a 0/1 mask (a value is NaN/Inf or a flag is not 0/1)");
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("loss", h.loss);
    r.Set("clipFraction", h.clip_fraction);
    r.Set("dualClipFraction", h.dual_clip_fraction);
    r.Set("approxKl", h.approx_kl);
    r.Set("masked", h.masked);
    return r;
  })
  return info.Env().Undefined();
}

// cudaFromDLPack(capsule) -> { buffer, dtype, shape, device }: adopts the
// capsule's tensor (the capsule is empty afterwards). A tensor that fails the
// checks stays in the capsule, whose finaliser releases it.
Napi::Value FromDLPack(const Napi::CallbackInfo& info) {
  F2G_CUDA_GUARD({
    const char* call = "DeviceTensor.fromDLPack";
    Napi::Value v = info[0];
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
    cuda::require_device(call);
    const int dev = slot->tensor->dl_tensor.device.device_id, count = cuda::device_count();
    if (dev >= count)
      ThrowRange(std::string(call) + ": Expected device_id < " + std::to_string(count) +
                 " (the CUDA devices) but received " + std::to_string(dev));
    auto m = std::make_shared<DeviceMem>();
    m->ptr = c.data;
    m->bytes = c.bytes;
    m->device = dev;
    m->foreign = std::make_unique<dlpack::Adopted>(slot->take());
    auto* ctor = static_cast<Napi::FunctionReference*>(info.Data());
    auto ext = Napi::External<MemPtr>::New(info.Env(), &m);
    ext.TypeTag(&kAdoptTag);
    Napi::Object buf = ctor->New({ext});
    Napi::Object r = Napi::Object::New(info.Env());
    r.Set("buffer", buf);
    r.Set("dtype", dlpack::dtype_name(c.dtype));
    Napi::Array shape = Napi::Array::New(info.Env(), c.shape.size());
    for (std::size_t i = 0; i < c.shape.size(); ++i)
      shape.Set(static_cast<std::uint32_t>(i), static_cast<double>(c.shape[i]));
    r.Set("shape", shape);
    r.Set("device", static_cast<double>(dev));
    return r;
  })
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  Napi::Function buffer = DeviceBuffer::Define(env);
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(buffer));
  env.AddCleanupHook([ctor]() { delete ctor; });
  exports.Set("DeviceBuffer", buffer);
  exports.Set("cudaFromDLPack", Napi::Function::New(env, FromDLPack, "cudaFromDLPack", ctor));
  exports.Set("cudaPatchSimilarity", Napi::Function::New(env, PatchSimilarity, "cudaPatchSimilarity"));
  exports.Set("cudaSlidingSlopes", Napi::Function::New(env, SlidingSlopes, "cudaSlidingSlopes"));
  exports.Set("cudaProgressTargets", Napi::Function::New(env, ProgressTargets, "cudaProgressTargets"));
  exports.Set("cudaGae", Napi::Function::New(env, Gae, "cudaGae"));
  exports.Set("cudaGrpoAdvantages", Napi::Function::New(env, Grpo, "cudaGrpoAdvantages"));
  exports.Set("cudaStepAdvantages", Napi::Function::New(env, StepAdv, "cudaStepAdvantages"));
  exports.Set("cudaLoss", Napi::Function::New(env, Loss, "cudaLoss"));
}

}  // namespace
F2G_REGISTER(cuda, Init);

#endif  // FEAT2GO_HAS_CUDA

}  // namespace f2g

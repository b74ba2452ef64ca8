// The glue the CUDA twins of the bindings share (bindings/device.cc,
// progress_cuda.cc, rl_cuda.cc), on top of the common glue of napi_util.h:
// device memory owned by a DeviceBufferNative, argument checks for it, the
// stream of one call, and ExportCuda. The same code compiles in every build:
// without the CUDA kernels, cuda/unavailable.cc implements cuda/api.h and
// every call refuses with "CUDA is not available (not built …)".
#pragma once
#include <memory>
#include <string>

#include "bindings/napi_util.h"
#include "cuda/api.h"
#include "cuda/dlpack.h"

namespace f2g {

/// Device memory owned by a DeviceBufferNative. Held by a shared_ptr, so a
/// running kernel or an exported DLPack capsule keeps it alive after the
/// tensor was disposed.
struct DeviceMem {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  int device = 0;
  /// Memory adopted from a DLPack tensor: its producer's deleter frees it.
  std::unique_ptr<dlpack::Adopted> foreign;
  ~DeviceMem() {
    if (foreign) foreign.reset();
    else cuda::free_device(ptr);
  }
};
using DeviceMemPtr = std::shared_ptr<DeviceMem>;

/// The memory of a DeviceBufferNative argument `v`: live, of at least `need`
/// bytes, on `device` (any device when −1). TypeError for anything else.
DeviceMemPtr DeviceArg(const Napi::Value& v, const std::string& name, std::size_t need, int device);

inline const float* F32(const DeviceMemPtr& m) { return static_cast<const float*>(m->ptr); }
inline float* F32w(const DeviceMemPtr& m) { return static_cast<float*>(m->ptr); }

/// A 0/1 flag input (uint8 or float32 device memory, as opts.<key>Dtype
/// says), or absent when optional and undefined.
struct DeviceFlags {
  DeviceMemPtr mem;
  cuda::DevFlags f;
};
DeviceFlags DeviceFlagsArg(const Fields& input, const Fields& opts, const char* key, std::size_t n,
                           int device, bool optional);

/// A stream for one call, destroyed on every path.
struct CallStream {
  cuda::Stream s;
  explicit CallStream(const char* call) : s(cuda::stream_create(call)) {}
  ~CallStream() { cuda::stream_destroy(s); }
  CallStream(const CallStream&) = delete;
  CallStream& operator=(const CallStream&) = delete;
};

/// Device scratch memory of one call, allocated and freed in the order of
/// its stream, freed on every path (declare it after the CallStream).
struct StreamScratch {
  void* p;
  cuda::Stream s;
  StreamScratch(std::size_t bytes, cuda::Stream stream, const char* call)
      : p(cuda::malloc_async(bytes, stream, call)), s(stream) {}
  ~StreamScratch() { cuda::free_async(p, s); }
  StreamScratch(const StreamScratch&) = delete;
  StreamScratch& operator=(const StreamScratch&) = delete;
};

/// Runs `launch(stream, d_status)` on a fresh stream of `device` with a
/// zeroed device status int, waits, and throws a RangeError "<call>:
/// <bad_data>" when a kernel flagged bad data.
template <class F>
void RunChecked(int device, const char* call, const std::string& bad_data, F launch) {
  cuda::set_device(device, call);
  CallStream s(call);
  StreamScratch status(sizeof(int), s.s, call);
  int h = 0;
  cuda::memset_async(status.p, 0, sizeof(int), s.s, call);
  launch(s.s, static_cast<int*>(status.p));
  cuda::copy_d2h(&h, status.p, sizeof(int), s.s, call);
  cuda::stream_sync(s.s, call);
  if (h != 0) ThrowRange(std::string(call) + ": " + bad_data);
}

/// A CUDA twin `F` exported under `name`: inside Guard, and only once a
/// device is usable, so that without one every twin throws the same Error
/// "<name>: CUDA is not available (<reason>)" before reading an argument.
template <BindingFn F>
Napi::Value GuardedCuda(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  return Guard(info.Env(), name, [&] {
    cuda::require_device(name);
    return F(info);
  });
}
template <BindingFn F>
void ExportCuda(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, GuardedCuda<F>, name, const_cast<char*>(name)));
}

}  // namespace f2g

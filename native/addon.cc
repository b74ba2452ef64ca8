// Addon entry: capabilities, the memory-read probe, and every binding file's
// self-registered exports (see bindings/napi_util.h, F2G_REGISTER).
#include <napi.h>

#include "bindings/cuda.h"
#include "bindings/napi_util.h"
#include "kernels/memprobe.h"
#include "kernels/pool.h"
#include "kernels/simd.h"

#ifdef FEAT2GO_HAS_TORCH
#include "torch/torch_info.h"
#endif

namespace {

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", FEAT2GO_VERSION);
  o.Set("threads", static_cast<double>(f2g::hardware_threads()));
  o.Set("simd", f2g::simd_level());
#ifdef FEAT2GO_HAS_TORCH
  f2g::AddTorchCapabilities(env, o);
#else
  o.Set("torch", false);
#endif
  f2g::AddCudaCapabilities(env, o);
  return o;
}

// readProbe(data: Float32Array, threads: number): number
Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  try {
    auto data = f2g::Float32Arg(info[0], "data");
    std::size_t threads = f2g::SizeArg(info[1], "threads");
    return Napi::Number::New(info.Env(), f2g::read_probe(data.data, data.length, threads));
  } catch (const f2g::ArgError& e) {
    f2g::ThrowJs(info.Env(), e);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  f2g::participate_in_own_jobs();  // Init runs on the JavaScript thread (per worker_thread too)
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  exports.Set("readProbe", Napi::Function::New(env, ReadProbe, "readProbe"));
  for (auto& [area, fn] : f2g::registry()) fn(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(feat2go, Init)

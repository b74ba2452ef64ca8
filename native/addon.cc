// Addon entry: per-environment state, capabilities, the memory-read probe,
// and every binding file's self-registered exports (see bindings/napi_util.h,
// F2G_REGISTER). Everything runs inside f2g::Guard.
#include <napi.h>

#include "bindings/cuda.h"
#include "bindings/napi_util.h"
#include "kernels/memprobe.h"
#include "kernels/pool.h"
#include "kernels/simd.h"

#ifdef FEAT2GO_HAS_TORCH
#include "bindings/torch/capabilities.h"
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
  auto data = f2g::Float32Arg(info[0], "data");
  std::size_t threads = f2g::SizeArg(info[1], "threads");
  return Napi::Number::New(info.Env(), f2g::read_probe(data.data, data.length, threads));
}

// Runs once per environment (the main thread and each worker_thread). An
// environment torn down while this runs (a worker terminated during load)
// makes the N-API calls fail; the guard turns that into a JS exception,
// which node-addon-api drops quietly then (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return f2g::Guard(env, "module init", [&] {
    f2g::InitEnvState(env);
    f2g::participate_in_own_jobs();  // Init runs on the JavaScript thread
    f2g::Export<Capabilities>(env, exports, "capabilities");
    f2g::Export<ReadProbe>(env, exports, "readProbe");
    for (auto& [area, fn] : f2g::registry()) fn(env, exports);
    return exports;
  });
}

}  // namespace

NODE_API_MODULE(feat2go, Init)

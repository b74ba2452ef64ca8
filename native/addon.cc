// Addon entry of the core addon (feat2go.node): per-environment state,
// capabilities, the memory-read probe, and every binding file's
// self-registered exports and capabilities() fields (see bindings/napi_util.h:
// F2G_REGISTER, F2G_CAPABILITIES). Nothing here knows which binding files were
// linked in: the CUDA runtime adds its own fields. The libtorch bindings are
// the other addon (torch_addon.cc); the TypeScript loader merges its fields
// into capabilities(). Everything runs inside f2g::Guard.
#include <napi.h>

#include "bindings/napi_util.h"
#include "kernels/memprobe.h"
#include "kernels/pool.h"
#include "kernels/simd.h"

namespace {

// systemCapabilities() → { version, threads, simd, torch, distributed, cuda, … }
Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", FEAT2GO_VERSION);
  o.Set("threads", static_cast<double>(f2g::hardware_threads()));
  o.Set("simd", f2g::simd_level());
  // The libtorch addon's torchCapabilities() replaces these when it loads.
  o.Set("torch", false);
  o.Set("distributed", false);
  for (auto& [area, fn] : f2g::capabilities_registry()) fn(env, o);
  return o;
}

// systemReadProbe({ data: Float32Array }, { threads }) → Σ data
Napi::Value ReadProbe(const Napi::CallbackInfo& info) {
  f2g::Fields in(info[0], "input"), o(info[1], "opts");
  auto data = f2g::Float32Arg(in.Need("data"), "data");
  return Napi::Number::New(info.Env(), f2g::read_probe(data.data, data.length, o.Size("threads")));
}

// Runs once per environment (the main thread and each worker_thread). An
// environment torn down while this runs (a worker terminated during load)
// makes the N-API calls fail; the guard turns that into a JS exception,
// which node-addon-api drops quietly then (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return f2g::Guard(env, "module init", [&] {
    f2g::InitEnvState(env);
    f2g::ServeHostMemory();          // the one owner of host memory (bindings/host_api.h)
    f2g::participate_in_own_jobs();  // Init runs on the JavaScript thread
    f2g::Export<Capabilities>(env, exports, "systemCapabilities");
    f2g::Export<ReadProbe>(env, exports, "systemReadProbe");
    for (auto& [area, fn] : f2g::registry()) fn(env, exports);
    return exports;
  });
}

}  // namespace

NODE_API_MODULE(feat2go, Init)

// Addon entry of the libtorch addon (feat2go_torch.node): per-environment
// state and every libtorch binding file's self-registered exports (value head,
// policy, trainers, process groups: native/bindings/torch, F2G_REGISTER), plus
// torchCapabilities(), the libtorch fields of capabilities() (F2G_CAPABILITIES).
// Like the core entry (addon.cc) it names no binding file. The TypeScript
// loader (src/core/native.ts) loads this addon on the first use of a libtorch
// API; it has its own copy of the glue and the kernels (thread pool included)
// and shares no state with the core addon.
#include <napi.h>

#include "bindings/napi_util.h"
#include "kernels/pool.h"

namespace {

// torchCapabilities() → { torch: true, torchVersion, torchCuda, torchThreads, distributed, … }
Napi::Value TorchCapabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", FEAT2GO_VERSION);
  for (auto& [area, fn] : f2g::capabilities_registry()) fn(env, o);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return f2g::Guard(env, "module init", [&] {
    f2g::InitEnvState(env);
    f2g::participate_in_own_jobs();  // Init runs on the JavaScript thread
    f2g::Export<TorchCapabilities>(env, exports, "torchCapabilities");
    for (auto& [area, fn] : f2g::registry()) fn(env, exports);
    return exports;
  });
}

}  // namespace

NODE_API_MODULE(feat2go_torch, Init)

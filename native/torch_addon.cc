// Addon entry of the libtorch addon (feat2go_torch.node): per-environment
// state and every libtorch binding file's self-registered exports (value head,
// policy, trainers, process groups: native/bindings/torch, F2G_REGISTER), plus
// torchCapabilities(), the libtorch fields of capabilities() (F2G_CAPABILITIES).
// Like the core entry (addon.cc) it names no binding file. The TypeScript
// loader (src/core/native.ts) loads this addon on the first use of a libtorch
// API; it has its own copy of the glue and the kernels (thread pool included)
// and shares one thing with the core addon: host memory, through the table the
// loader hands over once with torchInit (bindings/host_api.h). Its running
// calls and their cancellation are its own (torchCancelCalls).
#include <napi.h>

#include <string>

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

// torchInit({ hostApi }, {}) → { hostMemory, reason }: uses the core addon's
// host memory (hostApi: its exports.systemHostApi) for this process. Without
// it, or with a table of another version, async calls copy their inputs
// (hostMemory false, `reason` says why).
Napi::Value TorchInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value v = f2g::Fields(info[0], "input").Maybe("hostApi");
  std::string why;
  if (v.IsUndefined() || v.IsNull()) {
    why = "no host-memory table was given (input.hostApi)";
  } else if (!v.IsExternal()) {
    f2g::ThrowType("Expected the core addon's systemHostApi (an external) for input.hostApi but received " +
                   f2g::Describe(v));
  } else {
    const napi_type_tag tag{f2g::kHostApiTag[0], f2g::kHostApiTag[1]};
    bool tagged = false;
    if (napi_check_object_type_tag(env, v, &tag, &tagged) != napi_ok || !tagged)
      why = "input.hostApi is not a feat2go core addon's host-memory table";
    else why = f2g::UseHostApi(static_cast<const f2g_host_api*>(v.As<Napi::External<void>>().Data()));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("hostMemory", Napi::Boolean::New(env, why.empty()));
  o.Set("reason", why);
  return o;
}

// torchCancelCalls({}, { everywhere }): the stop flag of every running
// cancellable call of this addon, in this environment or in every one.
Napi::Value TorchCancelCalls(const Napi::CallbackInfo& info) {
  const bool everywhere = f2g::Fields(info[1], "opts").Bool("everywhere");
  f2g::CancelCalls(everywhere ? nullptr : static_cast<napi_env>(info.Env()));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return f2g::Guard(env, "module init", [&] {
    f2g::InitEnvState(env);
    f2g::participate_in_own_jobs();  // Init runs on the JavaScript thread
    f2g::Export<TorchCapabilities>(env, exports, "torchCapabilities");
    f2g::Export<TorchInit>(env, exports, "torchInit");
    f2g::Export<TorchCancelCalls>(env, exports, "torchCancelCalls");
    for (auto& [area, fn] : f2g::registry()) fn(env, exports);
    return exports;
  });
}

}  // namespace

NODE_API_MODULE(feat2go_torch, Init)

// N-API bindings of the addon's host memory and of call cancellation (the
// glue is in bindings/napi_util: HostBlock, NewHostArrayBuffer, CallStop).
// Every function takes (input, opts), as the seam's convention wants.
//   systemHostBuffer({}, { bytes, always }) → ArrayBuffer (external over a
//     host block when bytes ≥ 64 KiB and the runtime allows; see NewHostArrayBuffer)
//   systemHostInfo({ view }, {}) → { host, readers }: whether `view` lies in
//     host memory, and how many pending calls read that memory
//   systemHostStats({}, {}) → { blocks, bytes, cachedBytes, external }
//   systemCancelCalls({}, { everywhere }) → sets the stop flag of every
//     running cancellable call of this addon in this environment, or in every
//     environment (the libtorch addon has its own: torchCancelCalls)
//   systemHostApi: an external carrying this addon's host-memory table
//     (bindings/host_api.h), type-tagged; the loader hands it to the libtorch
//     addon (torchInit), which then pins and allocates this addon's blocks
#include <string>

#include "bindings/napi_util.h"

namespace f2g {
namespace {

Napi::Value HostBuffer(const Napi::CallbackInfo& info) {
  Fields o(info[1], "opts");
  const std::size_t bytes = o.Size("bytes");
  const bool always = o.Bool("always");
  return NewHostArrayBuffer(info.Env(), bytes, "a host tensor of " + ByteString(static_cast<double>(bytes)),
                            nullptr, always);
}

Napi::Value HostInfo(const Napi::CallbackInfo& info) {
  const Napi::Value view = Fields(info[0], "input").Need("view");
  if (!view.IsTypedArray() && !view.IsDataView())
    ThrowType("Expected a typed array for input.view but received " + Describe(view));
  // The raw calls give the data pointer (offset included) of views over a
  // SharedArrayBuffer too, whose ArrayBuffer accessors refuse them.
  void* data = nullptr;
  std::size_t bytes = 0;
  if (view.IsTypedArray()) {
    napi_typedarray_type type;
    std::size_t length = 0;
    if (napi_get_typedarray_info(info.Env(), view, &type, &length, &data, nullptr, nullptr) != napi_ok)
      ThrowType("Expected a typed array for input.view but received " + Describe(view));
    bytes = length * static_cast<std::size_t>(view.As<Napi::TypedArray>().ElementSize());
  } else if (napi_get_dataview_info(info.Env(), view, &bytes, &data, nullptr, nullptr) != napi_ok) {
    ThrowType("Expected a typed array for input.view but received " + Describe(view));
  }
  std::shared_ptr<HostBlock> b = FindHostBlock(data, bytes);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("host", Napi::Boolean::New(info.Env(), b != nullptr));
  o.Set("readers", static_cast<double>(b ? b->readers.load() : 0));
  return o;
}

Napi::Value HostStats(const Napi::CallbackInfo& info) {
  const HostStatsValue s = GetHostStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("blocks", static_cast<double>(s.blocks));
  o.Set("bytes", static_cast<double>(s.bytes));
  o.Set("cachedBytes", static_cast<double>(s.cached_bytes));
  o.Set("external", Napi::Boolean::New(info.Env(), HostExternalAllowed(info.Env())));
  return o;
}

Napi::Value CancelAll(const Napi::CallbackInfo& info) {
  const bool everywhere = Fields(info[1], "opts").Bool("everywhere");
  CancelCalls(everywhere ? nullptr : static_cast<napi_env>(info.Env()));
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<HostBuffer>(env, exports, "systemHostBuffer");
  Export<HostInfo>(env, exports, "systemHostInfo");
  Export<HostStats>(env, exports, "systemHostStats");
  Export<CancelAll>(env, exports, "systemCancelCalls");
  // The table is static: the external needs no finaliser.
  auto api = Napi::External<void>::New(env, const_cast<f2g_host_api*>(LocalHostApi()));
  const napi_type_tag tag{kHostApiTag[0], kHostApiTag[1]};
  if (napi_type_tag_object(env, api, &tag) != napi_ok)
    throw Napi::Error::New(env, "cannot tag systemHostApi");
  exports.Set("systemHostApi", api);
}

}  // namespace

F2G_REGISTER(host, Init);

}  // namespace f2g

// N-API bindings for the built-in patch-statistics encoder (kernels/patchstats.h).
#include <string>

#include "bindings/napi_util.h"
#include "kernels/patchstats.h"

namespace f2g {
namespace {

#define F2G_GUARD(body)          \
  try {                          \
    body                         \
  } catch (const ArgError& err) { \
    ThrowJs(info.Env(), err);    \
  }

struct Call {
  View<std::uint8_t> frames;
  View<float> out;
  std::size_t T, H, W, threads;
  PatchStatsParams p;
};

// (frames: Uint8Array [T,H,W,3], T, H, W, gridH, gridW, bins, threads, out: Float32Array [T, gh*gw, 6+bins])
Call Args(const Napi::CallbackInfo& info) {
  Call c;
  c.frames = Uint8Arg(info[0], "frames");
  c.T = SizeArg(info[1], "frames.shape[0]", 1);
  c.H = SizeArg(info[2], "frames.shape[1]", 1);
  c.W = SizeArg(info[3], "frames.shape[2]", 1);
  c.p.grid_h = SizeArg(info[4], "opts.grid[0]", 1);
  c.p.grid_w = SizeArg(info[5], "opts.grid[1]", 1);
  c.p.bins = SizeArg(info[6], "opts.bins", 1);
  c.threads = SizeArg(info[7], "opts.threads");
  c.out = Float32Arg(info[8], "out");
  if (c.p.grid_h > c.H)
    ThrowRange("Expected opts.grid[0] ≤ frame height " + std::to_string(c.H) + " but received " + std::to_string(c.p.grid_h));
  if (c.p.grid_w > c.W)
    ThrowRange("Expected opts.grid[1] ≤ frame width " + std::to_string(c.W) + " but received " + std::to_string(c.p.grid_w));
  const std::string shape = "[" + std::to_string(c.T) + "," + std::to_string(c.H) + "," + std::to_string(c.W) + ",3]";
  RequireLength(c.frames.length, CheckedProduct({c.T, c.H, c.W, 3}, "frames"), "frames", shape);
  const std::size_t need = CheckedProduct({c.T, c.p.grid_h, c.p.grid_w, patch_stats_dim(c.p)}, "out");
  RequireLength(c.out.length, need, "out", "[T, grid[0]*grid[1], 6+bins]");
  return c;
}

Napi::Value PatchStatsSync(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    Call c = Args(info);
    patch_stats(c.frames.data, c.T, c.H, c.W, c.p, c.out.data, c.threads);
    return info.Env().Undefined();
  })
}

Napi::Value PatchStatsAsync(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    Call c = Args(info);
    auto* w = new PromiseWorker(
        info.Env(), [c] { patch_stats(c.frames.data, c.T, c.H, c.W, c.p, c.out.data, c.threads); },
        [](Napi::Env env) { return env.Undefined(); }, {info[0], info[8]});
    return w->Queue();
  })
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("patchStatsSync", Napi::Function::New(env, PatchStatsSync, "patchStatsSync"));
  exports.Set("patchStats", Napi::Function::New(env, PatchStatsAsync, "patchStats"));
}

}  // namespace

F2G_REGISTER(encoders, Init);

}  // namespace f2g

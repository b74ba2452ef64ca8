// N-API bindings for the built-in patch-statistics encoder (kernels/patchstats.h).
#include <string>

#include "bindings/napi_util.h"
#include "kernels/frames.h"
#include "kernels/patchstats.h"

namespace f2g {
namespace {

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

// framesToChw(frames: Uint8Array [n,H,W,3], n, H, W, mean: Float32Array(3), std: Float32Array(3), threads,
//             out: Float32Array [n,3,H,W]) → Promise<void>
Napi::Value FramesToChw(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto frames = Uint8Arg(info[0], "frames");
    std::size_t n = SizeArg(info[1], "frames.shape[0]", 1);
    std::size_t H = SizeArg(info[2], "frames.shape[1]", 1);
    std::size_t W = SizeArg(info[3], "frames.shape[2]", 1);
    auto mean = Float32Arg(info[4], "mean");
    auto sd = Float32Arg(info[5], "std");
    RequireLength(mean.length, 3, "mean", "[3]");
    RequireLength(sd.length, 3, "std", "[3]");
    for (int c = 0; c < 3; ++c)
      if (!(sd.data[c] > 0)) ThrowRange("Expected std[" + std::to_string(c) + "] > 0 but received " + std::to_string(sd.data[c]));
    std::size_t threads = SizeArg(info[6], "threads");
    auto out = Float32Arg(info[7], "out");
    const std::size_t need = CheckedProduct({n, H, W, 3}, "frames");
    RequireLength(frames.length, need, "frames", "[n,H,W,3]");
    RequireLength(out.length, need, "out", "[n,3,H,W]");
    float m[3] = {mean.data[0], mean.data[1], mean.data[2]};
    float s[3] = {sd.data[0], sd.data[1], sd.data[2]};
    auto* w = new PromiseWorker(
        info.Env(),
        [frames, n, H, W, m, s, threads, out] { frames_to_chw(frames.data, n, H, W, m, s, out.data, threads); },
        [](Napi::Env env) { return env.Undefined(); }, {info[0], info[7]});
    return w->Queue();
  })
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("framesToChw", Napi::Function::New(env, FramesToChw, "framesToChw"));
  exports.Set("patchStatsSync", Napi::Function::New(env, PatchStatsSync, "patchStatsSync"));
  exports.Set("patchStats", Napi::Function::New(env, PatchStatsAsync, "patchStats"));
}

}  // namespace

F2G_REGISTER(encoders, Init);

}  // namespace f2g

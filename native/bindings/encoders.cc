// N-API bindings for the built-in patch-statistics encoder (kernels/patchstats.h),
// the frame normaliser of the ONNX encoders (kernels/frames.h) and the model
// hub's image preprocessing (kernels/resample.h). The async
// calls read an owned copy of the frames (a caller may detach its buffer while
// the call runs) and write into a buffer the call owns, copied into `out` on
// the JS thread once the work is done.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "kernels/frames.h"
#include "kernels/patchstats.h"
#include "kernels/resample.h"

namespace f2g {
namespace {

struct Call {
  View<std::uint8_t> frames;
  View<float> out;
  std::size_t T, H, W, threads, need;
  PatchStatsParams p;
};

// (frames: Uint8Array [T,H,W,3], T, H, W, { gridH, gridW, bins, threads }, out: Float32Array [T, gh*gw, 6+bins])
Call Args(const Napi::CallbackInfo& info) {
  Call c;
  c.frames = Uint8Arg(info[0], "frames");
  c.T = SizeArg(info[1], "frames.shape[0]", 1);
  c.H = SizeArg(info[2], "frames.shape[1]", 1);
  c.W = SizeArg(info[3], "frames.shape[2]", 1);
  Fields o(info[4], "opts");
  c.p.grid_h = SizeArg(o.Need("gridH"), "opts.grid[0]", 1);
  c.p.grid_w = SizeArg(o.Need("gridW"), "opts.grid[1]", 1);
  c.p.bins = o.Size("bins", 1);
  c.threads = o.Size("threads");
  c.out = Float32Arg(info[5], "out");
  if (c.p.grid_h > c.H)
    ThrowRange("Expected opts.grid[0] ≤ frame height " + std::to_string(c.H) + " but received " +
               std::to_string(c.p.grid_h));
  if (c.p.grid_w > c.W)
    ThrowRange("Expected opts.grid[1] ≤ frame width " + std::to_string(c.W) + " but received " +
               std::to_string(c.p.grid_w));
  const std::string shape =
      "[" + std::to_string(c.T) + "," + std::to_string(c.H) + "," + std::to_string(c.W) + ",3]";
  RequireLength(c.frames.length, CheckedProduct({c.T, c.H, c.W, 3}, "frames"), "frames", shape);
  const std::size_t need = CheckedProduct({c.T, c.p.grid_h, c.p.grid_w, patch_stats_dim(c.p)}, "out");
  RequireLength(c.out.length, need, "out", "[T, grid[0]*grid[1], 6+bins]");
  c.need = need;
  RejectOverlap({c.out.data, need * sizeof(float), "out"}, {{c.frames.data, c.T * c.H * c.W * 3, "frames"}},
                false);
  return c;
}

Napi::Value PatchStatsSync(const Napi::CallbackInfo& info) {
  Call c = Args(info);
  patch_stats(c.frames.data, c.T, c.H, c.W, c.p, c.out.data, c.threads);
  return info.Env().Undefined();
}

/// Result buffer of an async call, copied into `out` on the JS thread.
std::shared_ptr<std::vector<float>> OwnedResult(std::size_t n, const char* name) {
  return Allocating(std::string("the result of ") + name, static_cast<double>(n) * sizeof(float),
                    [&] { return std::make_shared<std::vector<float>>(n); });
}

/// Copies the result into `out` unless `out` was detached meanwhile.
Napi::Value CopyBack(Napi::Env env, const Napi::Reference<Napi::Value>& out_ref,
                     const std::vector<float>& r) {
  Napi::Value v = out_ref.Value();
  auto ta = v.As<Napi::Float32Array>();
  if (ta.ArrayBuffer().IsDetached() || ta.ElementLength() < r.size())
    throw Napi::Error::New(env, "out was detached (transferred) while the call ran");
  std::copy(r.begin(), r.end(), ta.Data());
  return env.Undefined();
}

Napi::Value PatchStatsAsync(const Napi::CallbackInfo& info) {
  Call c = Args(info);
  std::vector<Napi::Value> keep;
  auto frames = OwnedOrShared(c.frames, c.T * c.H * c.W * 3, "frames", keep);
  auto result = OwnedResult(c.need, "patchStats");
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[5]));
  auto* w = new PromiseWorker(
      info.Env(), "patchStats",
      [c, frames, result] { patch_stats(frames->data(), c.T, c.H, c.W, c.p, result->data(), c.threads); },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

// framesToChw(frames: Uint8Array [n,H,W,3], n, H, W, mean: Float32Array(3), std: Float32Array(3), threads,
//             out: Float32Array [n,3,H,W]) → Promise<void>
Napi::Value FramesToChw(const Napi::CallbackInfo& info) {
  auto frames = Uint8Arg(info[0], "frames");
  std::size_t n = SizeArg(info[1], "frames.shape[0]", 1);
  std::size_t H = SizeArg(info[2], "frames.shape[1]", 1);
  std::size_t W = SizeArg(info[3], "frames.shape[2]", 1);
  auto mean = Float32Arg(info[4], "mean");
  auto sd = Float32Arg(info[5], "std");
  RequireLength(mean.length, 3, "mean", "[3]");
  RequireLength(sd.length, 3, "std", "[3]");
  for (int c = 0; c < 3; ++c)
    if (!(sd.data[c] > 0))
      ThrowRange("Expected std[" + std::to_string(c) + "] > 0 but received " + std::to_string(sd.data[c]));
  std::size_t threads = SizeArg(info[6], "threads");
  auto out = Float32Arg(info[7], "out");
  const std::size_t need = CheckedProduct({n, H, W, 3}, "frames");
  RequireLength(frames.length, need, "frames", "[n,H,W,3]");
  RequireLength(out.length, need, "out", "[n,3,H,W]");
  float m[3] = {mean.data[0], mean.data[1], mean.data[2]};
  float s[3] = {sd.data[0], sd.data[1], sd.data[2]};
  std::vector<Napi::Value> keep;
  auto copy = OwnedOrShared(frames, need, "frames", keep);
  auto result = OwnedResult(need, "framesToChw");
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[7]));
  auto* w = new PromiseWorker(
      info.Env(), "framesToChw",
      [copy, n, H, W, m, s, threads, result] {
        frames_to_chw(copy->data(), n, H, W, m, s, result->data(), threads);
      },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

// imagePrep(frames: Uint8Array [n,H,W,3], n, H, W, { resize, resizeH, resizeW, filter, crop, outH, outW,
//           rescaleOn, rescale, normalize, mean: Float32Array(3), std: Float32Array(3), threads },
//           out: Float32Array [n,3,h,w]) → Promise<void>; h×w is outH×outW with a crop, else the resized size.
Napi::Value ImagePrepAsync(const Napi::CallbackInfo& info) {
  auto frames = Uint8Arg(info[0], "frames");
  const std::size_t n = SizeArg(info[1], "frames.shape[0]", 1);
  const std::size_t H = SizeArg(info[2], "frames.shape[1]", 1);
  const std::size_t W = SizeArg(info[3], "frames.shape[2]", 1);
  Fields o(info[4], "opts");
  ImagePrep p;
  constexpr std::size_t kMaxSide = 1 << 15;
  p.resize = o.Bool("resize");
  p.resize_h = p.resize ? o.Size("resizeH", 1) : H;
  p.resize_w = p.resize ? o.Size("resizeW", 1) : W;
  p.filter = static_cast<int>(o.Number("filter"));
  if (!resample_filter_known(p.filter) || o.Number("filter") != p.filter)
    ThrowRange("Expected opts.filter to be a Pillow filter number 0…5 but received " +
               Describe(o.Need("filter")));
  p.crop = o.Bool("crop");
  p.out_h = p.crop ? o.Size("outH", 1) : p.resize_h;
  p.out_w = p.crop ? o.Size("outW", 1) : p.resize_w;
  for (std::size_t side : {p.resize_h, p.resize_w, p.out_h, p.out_w})
    if (side > kMaxSide)
      ThrowRange("Expected image sides ≤ " + std::to_string(kMaxSide) + " but received " +
                 std::to_string(side));
  p.rescale_on = o.Bool("rescaleOn");
  p.rescale = o.Number("rescale");
  p.normalize = o.Bool("normalize");
  auto mean = Float32Arg(o.Need("mean"), "opts.mean");
  auto sd = Float32Arg(o.Need("std"), "opts.std");
  RequireLength(mean.length, 3, "opts.mean", "[3]");
  RequireLength(sd.length, 3, "opts.std", "[3]");
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = mean.data[c];
    p.std[c] = sd.data[c];
    if (p.normalize && !(sd.data[c] > 0))
      ThrowRange("Expected opts.std[" + std::to_string(c) + "] > 0 but received " +
                 std::to_string(sd.data[c]));
  }
  const std::size_t threads = o.Size("threads");
  auto out = Float32Arg(info[5], "out");
  const std::size_t in_need = CheckedProduct({n, H, W, 3}, "frames");
  const std::size_t need = CheckedProduct({n, 3, p.out_h, p.out_w}, "out");
  RequireLength(frames.length, in_need, "frames", "[n,H,W,3]");
  RequireLength(out.length, need, "out", "[n,3,h,w]");
  std::vector<Napi::Value> keep;
  auto copy = OwnedOrShared(frames, in_need, "frames", keep);
  auto result = OwnedResult(need, "imagePrep");
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[5]));
  auto* w = new PromiseWorker(
      info.Env(), "imagePrep",
      [copy, n, H, W, p, threads, result] { image_prep(copy->data(), n, H, W, p, result->data(), threads); },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<FramesToChw>(env, exports, "framesToChw");
  Export<ImagePrepAsync>(env, exports, "imagePrep");
  Export<PatchStatsSync>(env, exports, "patchStatsSync");
  Export<PatchStatsAsync>(env, exports, "patchStats");
}

}  // namespace

F2G_REGISTER(encoders, Init);

}  // namespace f2g

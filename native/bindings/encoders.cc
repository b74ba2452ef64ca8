// N-API bindings for the built-in patch-statistics encoder (kernels/patchstats.h),
// the frame normaliser of the ONNX encoders (kernels/frames.h) and the model
// hub's image preprocessing (kernels/resample.h). The async
// calls read an owned copy of the frames (a caller may detach its buffer while
// the call runs) and write into a buffer the call owns, copied into `out` on
// the JS thread once the work is done. Every call is (input, opts, out)
// (bindings/napi_util.h); the options arrive resolved and validated by the
// TypeScript encoders (src/encoders/builtin.ts, onnx.ts).
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

// ({ frames: Uint8Array [T,H,W,3] }, { T, H, W, gridH, gridW, bins, threads }, { features: [T, gh*gw, 6+bins] })
// A grid finer than the frame would leave patches of no pixels.
Call Args(const Napi::CallbackInfo& info) {
  Call c;
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  c.frames = Uint8Arg(in.Need("frames"), "frames");
  c.T = SizeArg(o.Need("T"), "frames.shape[0]", 1);
  c.H = SizeArg(o.Need("H"), "frames.shape[1]", 1);
  c.W = SizeArg(o.Need("W"), "frames.shape[2]", 1);
  c.p.grid_h = SizeArg(o.Need("gridH"), "opts.grid[0]", 1);
  c.p.grid_w = SizeArg(o.Need("gridW"), "opts.grid[1]", 1);
  c.p.bins = o.Size("bins", 1);
  c.threads = o.Size("threads");
  c.out = Float32Arg(res.Need("features"), "out");
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

Napi::Value PatchStatsAsync(const Napi::CallbackInfo& info) {
  Call c = Args(info);
  std::vector<Napi::Value> keep;
  auto frames = AsyncInput(c.frames, c.T * c.H * c.W * 3, "frames", keep);
  auto result = std::make_shared<AsyncResult>(AsyncOutput(c.out, c.need, "patchStats"));
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(
      Napi::Persistent(Fields(info[2], "out").Need("features")));
  auto* w = new PromiseWorker(
      info.Env(), "patchStats",
      [c, frames, result] { patch_stats(frames->data(), c.T, c.H, c.W, c.p, result->data(), c.threads); },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

// encoderFramesToChw({ frames: Uint8Array [n,H,W,3], mean: Float32Array(3), std: Float32Array(3) },
//                    { n, H, W, threads }, { chw: Float32Array [n,3,H,W] }) → Promise<void>
Napi::Value FramesToChw(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto frames = Uint8Arg(in.Need("frames"), "frames");
  std::size_t n = SizeArg(o.Need("n"), "frames.shape[0]", 1);
  std::size_t H = SizeArg(o.Need("H"), "frames.shape[1]", 1);
  std::size_t W = SizeArg(o.Need("W"), "frames.shape[2]", 1);
  auto mean = Float32Arg(in.Need("mean"), "mean");
  auto sd = Float32Arg(in.Need("std"), "std");
  RequireLength(mean.length, 3, "mean", "[3]");
  RequireLength(sd.length, 3, "std", "[3]");
  std::size_t threads = o.Size("threads");
  Napi::Value out_value = res.Need("chw");
  auto out = Float32Arg(out_value, "out");
  const std::size_t need = CheckedProduct({n, H, W, 3}, "frames");
  RequireLength(frames.length, need, "frames", "[n,H,W,3]");
  RequireLength(out.length, need, "out", "[n,3,H,W]");
  float m[3] = {mean.data[0], mean.data[1], mean.data[2]};
  float s[3] = {sd.data[0], sd.data[1], sd.data[2]};
  std::vector<Napi::Value> keep;
  auto copy = AsyncInput(frames, need, "frames", keep);
  auto result = std::make_shared<AsyncResult>(AsyncOutput(out, need, "framesToChw"));
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(out_value));
  auto* w = new PromiseWorker(
      info.Env(), "framesToChw",
      [copy, n, H, W, m, s, threads, result] {
        frames_to_chw(copy->data(), n, H, W, m, s, result->data(), threads);
      },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

// encoderImagePrep({ frames: Uint8Array [n,H,W,3], mean: Float32Array(3), std: Float32Array(3) },
//                  { n, H, W, resize, resizeH, resizeW, filter, crop, outH, outW, rescaleOn, rescale,
//                    normalize, threads }, { pixels: Float32Array [n,3,h,w] }) → Promise<void>;
// h×w is outH×outW with a crop, else the resized size. The plan arrives resolved and
// validated by src/encoders/hf-preprocess.ts; this checks what memory safety needs
// (sizes, a filter the kernel has, sides whose products cannot overflow).
Napi::Value ImagePrepAsync(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto frames = Uint8Arg(in.Need("frames"), "frames");
  const std::size_t n = SizeArg(o.Need("n"), "frames.shape[0]", 1);
  const std::size_t H = SizeArg(o.Need("H"), "frames.shape[1]", 1);
  const std::size_t W = SizeArg(o.Need("W"), "frames.shape[2]", 1);
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
  auto mean = Float32Arg(in.Need("mean"), "mean");
  auto sd = Float32Arg(in.Need("std"), "std");
  RequireLength(mean.length, 3, "mean", "[3]");
  RequireLength(sd.length, 3, "std", "[3]");
  for (int c = 0; c < 3; ++c) {
    p.mean[c] = mean.data[c];
    p.std[c] = sd.data[c];
  }
  const std::size_t threads = o.Size("threads");
  Napi::Value out_value = res.Need("pixels");
  auto out = Float32Arg(out_value, "out.pixels");
  const std::size_t in_need = CheckedProduct({n, H, W, 3}, "frames");
  const std::size_t need = CheckedProduct({n, 3, p.out_h, p.out_w}, "out.pixels");
  RequireLength(frames.length, in_need, "frames", "[n,H,W,3]");
  RequireLength(out.length, need, "out.pixels", "[n,3,h,w]");
  std::vector<Napi::Value> keep;
  auto copy = AsyncInput(frames, in_need, "frames", keep);
  auto result = std::make_shared<AsyncResult>(AsyncOutput(out, need, "imagePrep"));
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(out_value));
  auto* w = new PromiseWorker(
      info.Env(), "imagePrep",
      [copy, n, H, W, p, threads, result] { image_prep(copy->data(), n, H, W, p, result->data(), threads); },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<FramesToChw>(env, exports, "encoderFramesToChw");
  Export<PatchStatsSync>(env, exports, "encoderPatchStatsSync");
  Export<PatchStatsAsync>(env, exports, "encoderPatchStats");
  Export<ImagePrepAsync>(env, exports, "encoderImagePrep");
}

}  // namespace

F2G_REGISTER(encoders, Init);

}  // namespace f2g

// N-API binding of the frame augmentation kernel (kernels/augment.h), the
// same code the ConvBackbone's training batches go through: converts frames
// (RGB bytes [n, H, W, 3] or float32 [n, 3, H, W]) to float32 [n, 3, H, W]
// in [0, 1], optionally shifted and colour-jittered. Synchronous; the frames
// are read in place for the duration of the call; the caller passes the output.
#include <cstring>
#include <vector>

#include "bindings/augment_args.h"
#include "kernels/finite.h"

namespace f2g {
namespace {

// encoderAugmentFrames({ frames: Uint8Array [n,H,W,3] | Float32Array [n,3,H,W] },
//                      { n, H, W, augment: {shift, brightness, contrast, gain} | null, seed, stream },
//                      { augmented: Float32Array [n,3,H,W] }) → undefined; the draws of frame i are keyed by i.
Napi::Value AugmentFrames(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  const std::size_t n = SizeArg(o.Need("n"), "frames.shape[0]", 1);
  const std::size_t H = SizeArg(o.Need("H"), "height", 1);
  const std::size_t W = SizeArg(o.Need("W"), "width", 1);
  FramesView f = FramesArg(in.Need("frames"), n, H, W, "frames");
  std::optional<AugmentSpec> aug;
  Napi::Value a = o.Need("augment");
  if (!a.IsNull()) aug = AugmentArg(a, "opts.augment");
  const auto seed = static_cast<std::uint64_t>(SizeArg(o.Need("seed"), "opts.seed"));
  const auto stream = static_cast<std::uint64_t>(SizeArg(o.Need("stream"), "opts.epoch"));
  const std::size_t count = CheckedProduct({n, 3, H, W}, "the augmented frames");
  auto out = Float32Arg(res.Need("augmented"), "out");
  RequireLength(out.length, count, "out",
                "[" + std::to_string(n) + ",3," + std::to_string(H) + "," + std::to_string(W) + "]");
  const std::size_t in_bytes = f.layout == FrameLayout::kU8HWC ? f.count : f.count * sizeof(float);
  RejectOverlap({out.data, count * sizeof(float), "out"}, {{f.data, in_bytes, "frames"}}, false);
  std::vector<std::int64_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = static_cast<std::int64_t>(i);
  augment_frames(f.data, f.layout, n, H, W, rows.data(), n, aug ? &*aug : nullptr, seed, stream, nullptr,
                 out.data, 0);
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<AugmentFrames>(env, exports, "encoderAugmentFrames");
}

}  // namespace

F2G_REGISTER(augment, Init);

}  // namespace f2g

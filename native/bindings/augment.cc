// N-API binding of the frame augmentation kernel (kernels/augment.h), the
// same code the ConvBackbone's training batches go through: converts frames
// (RGB bytes [n, H, W, 3] or float32 [n, 3, H, W]) to float32 [n, 3, H, W]
// in [0, 1], optionally shifted and colour-jittered. Synchronous; the frames
// are read in place for the duration of the call.
#include <cstring>
#include <vector>

#include "bindings/augment_args.h"
#include "kernels/finite.h"

namespace f2g {
namespace {

// augmentFrames(frames: Uint8Array | Float32Array, n, H, W, aug: {shift, brightness, contrast, gain} | null,
//               seed, stream) → Float32Array [n, 3, H, W]; the draws of frame i are keyed by i.
Napi::Value AugmentFrames(const Napi::CallbackInfo& info) {
  const std::size_t n = SizeArg(info[1], "frames.shape[0]", 1);
  const std::size_t H = SizeArg(info[2], "height", 1);
  const std::size_t W = SizeArg(info[3], "width", 1);
  FramesView f = FramesArg(info[0], n, H, W, "frames");
  std::optional<AugmentSpec> aug;
  if (!info[4].IsNull()) aug = AugmentArg(info[4], "opts.augment");
  const auto seed = static_cast<std::uint64_t>(SizeArg(info[5], "opts.seed"));
  const auto stream = static_cast<std::uint64_t>(SizeArg(info[6], "opts.epoch"));
  const std::size_t count = CheckedProduct({n, 3, H, W}, "the augmented frames");
  auto out = Allocating("the augmented frames [" + std::to_string(n) + ",3," + std::to_string(H) + "," +
                            std::to_string(W) + "]",
                        static_cast<double>(count) * sizeof(float),
                        [&] { return Napi::Float32Array::New(info.Env(), count); });
  std::vector<std::int64_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = static_cast<std::int64_t>(i);
  augment_frames(f.data, f.layout, n, H, W, rows.data(), n, aug ? &*aug : nullptr, seed, stream, nullptr,
                 out.Data(), 0);
  return out;
}

void Init(Napi::Env env, Napi::Object exports) { Export<AugmentFrames>(env, exports, "augmentFrames"); }

}  // namespace

F2G_REGISTER(augment, Init);

}  // namespace f2g

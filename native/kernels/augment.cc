#include "kernels/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/pool.h"

namespace f2g {
namespace {

inline std::uint64_t Mix(std::uint64_t z) {  // splitmix64's finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Uniform in [0, 1) from 53 bits of the counter's hash.
inline double Uniform(std::uint64_t base, std::uint64_t counter) {
  return static_cast<double>(Mix(base ^ Mix(counter)) >> 11) * 0x1.0p-53;
}

inline float Factor(double strength, double u) {
  return static_cast<float>(1.0 + strength * (2.0 * u - 1.0));
}

struct ByteTable {
  float v[256];
  ByteTable() {
    for (int i = 0; i < 256; ++i) v[i] = static_cast<float>(i) / 255.0f;
  }
};

}  // namespace

ImageJitter draw_jitter(const AugmentSpec& spec, std::uint64_t seed, std::uint64_t stream,
                        std::uint64_t key) {
  const std::uint64_t base = Mix(Mix(Mix(seed) ^ stream) ^ key);
  ImageJitter j;
  if (spec.shift > 0) {
    const double span = static_cast<double>(2 * spec.shift + 1);
    j.dx = std::min<std::int64_t>(static_cast<std::int64_t>(Uniform(base, 0) * span), 2 * spec.shift) -
           spec.shift;
    j.dy = std::min<std::int64_t>(static_cast<std::int64_t>(Uniform(base, 1) * span), 2 * spec.shift) -
           spec.shift;
  }
  if (spec.brightness > 0) j.brightness = Factor(spec.brightness, Uniform(base, 2));
  if (spec.contrast > 0) j.contrast = Factor(spec.contrast, Uniform(base, 3));
  if (spec.gain > 0)
    for (int c = 0; c < 3; ++c)
      j.gain[c] = Factor(spec.gain, Uniform(base, 4 + static_cast<std::uint64_t>(c)));
  return j;
}

void augment_frames(const void* src, FrameLayout layout, std::size_t n_src, std::size_t H, std::size_t W,
                    const std::int64_t* rows, std::size_t n, const AugmentSpec* aug, std::uint64_t seed,
                    std::uint64_t stream, const std::int64_t* keys, float* out, std::size_t threads) {
  (void)n_src;
  static const ByteTable table;
  const std::size_t px = H * W;
  const auto* u8 = static_cast<const std::uint8_t*>(src);
  const auto* f32 = static_cast<const float*>(src);
  parallel_for(n, threads, 1, [&](std::size_t s, std::size_t e) {
    std::vector<std::int64_t> xs(W);
    for (std::size_t i = s; i < e; ++i) {
      const std::size_t row = static_cast<std::size_t>(rows[i]);
      ImageJitter j;
      if (aug) j = draw_jitter(*aug, seed, stream, static_cast<std::uint64_t>(keys ? keys[i] : rows[i]));
      float* o = out + i * 3 * px;
      for (std::size_t x = 0; x < W; ++x)
        xs[x] = std::clamp<std::int64_t>(static_cast<std::int64_t>(x) + j.dx, 0,
                                         static_cast<std::int64_t>(W) - 1);
      for (std::size_t y = 0; y < H; ++y) {
        const auto sy = static_cast<std::size_t>(std::clamp<std::int64_t>(
            static_cast<std::int64_t>(y) + j.dy, 0, static_cast<std::int64_t>(H) - 1));
        if (layout == FrameLayout::kU8HWC) {
          const std::uint8_t* line = u8 + (row * px + sy * W) * 3;
          for (int c = 0; c < 3; ++c) {
            float* dst = o + c * px + y * W;
            for (std::size_t x = 0; x < W; ++x)
              dst[x] = table.v[line[3 * static_cast<std::size_t>(xs[x]) + c]];
          }
        } else {
          for (int c = 0; c < 3; ++c) {
            const float* line = f32 + (row * 3 + static_cast<std::size_t>(c)) * px + sy * W;
            float* dst = o + c * px + y * W;
            for (std::size_t x = 0; x < W; ++x) dst[x] = line[xs[x]];
          }
        }
      }
      if (!aug) continue;
      const bool contrast = aug->contrast > 0;
      const bool scale = aug->brightness > 0 || aug->gain > 0;
      if (!contrast && !scale) continue;
      float m = 0;
      if (contrast) {
        double sum = 0;
        for (std::size_t k = 0; k < 3 * px; ++k) sum += o[k];
        m = static_cast<float>(sum / static_cast<double>(3 * px));
      }
      for (int c = 0; c < 3; ++c) {
        const float cf = j.contrast, bg = j.brightness * j.gain[c];
        float* dst = o + c * px;
        for (std::size_t k = 0; k < px; ++k) dst[k] = std::clamp(((dst[k] - m) * cf + m) * bg, 0.0f, 1.0f);
      }
    }
  });
}

}  // namespace f2g

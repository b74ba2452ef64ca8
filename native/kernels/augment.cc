#include "kernels/augment.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
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

namespace {

/// One image: gather (with the shift's clamped coordinates), convert, then
/// the colour jitter as one affine map per channel, x·a_c + b_c with
/// a_c = c·b·g_c and b_c = (1 − c)·m·b·g_c, clamped to [0, 1]. Channel c of
/// pixel p goes to o[c·cs + p·ps]: (cs, ps) = (H·W, 1) for [3, H, W], (1, 3)
/// for [H, W, 3].
F2G_MULTIVERSION
void AugmentOne(const void* src, FrameLayout layout, std::size_t row, std::size_t H, std::size_t W,
                const ImageJitter& j, bool jitter, bool contrast, const std::int64_t* xs, const float* lut,
                bool hwc, float* o) {
  const std::size_t px = H * W;
  const std::size_t cs = hwc ? 1 : px, ps = hwc ? 3 : 1;
  std::uint64_t isum = 0;
  double fsum = 0;
  for (std::size_t y = 0; y < H; ++y) {
    const auto sy = static_cast<std::size_t>(
        std::clamp<std::int64_t>(static_cast<std::int64_t>(y) + j.dy, 0, static_cast<std::int64_t>(H) - 1));
    float* d = o + y * W * ps;
    if (layout == FrameLayout::kU8HWC) {
      const std::uint8_t* line = static_cast<const std::uint8_t*>(src) + (row * px + sy * W) * 3;
      std::uint32_t lsum = 0;
      if (hwc && j.dx == 0) {
        for (std::size_t k = 0; k < 3 * W; ++k) {
          d[k] = lut[line[k]];
          lsum += line[k];
        }
      } else {
        for (std::size_t x = 0; x < W; ++x) {
          const std::uint8_t* p = line + 3 * static_cast<std::size_t>(xs[x]);
          d[x * ps] = lut[p[0]];
          d[x * ps + cs] = lut[p[1]];
          d[x * ps + 2 * cs] = lut[p[2]];
          lsum += static_cast<std::uint32_t>(p[0]) + p[1] + p[2];
        }
      }
      isum += lsum;
    } else {
      for (std::size_t c = 0; c < 3; ++c) {
        const float* line = static_cast<const float*>(src) + (row * 3 + c) * px + sy * W;
        float* dc = d + c * cs;
        for (std::size_t x = 0; x < W; ++x) dc[x * ps] = line[xs[x]];
        if (contrast)
          for (std::size_t x = 0; x < W; ++x) fsum += dc[x * ps];
      }
    }
  }
  if (!jitter) return;
  float m = 0;
  if (contrast)
    m = layout == FrameLayout::kU8HWC ? static_cast<float>(static_cast<double>(isum) / (255.0 * 3.0 * px))
                                      : static_cast<float>(fsum / (3.0 * px));
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    const float bg = j.brightness * j.gain[c];
    a[c] = j.contrast * bg;
    b[c] = (1.0f - j.contrast) * m * bg;
  }
  auto affine = [](float v, float ac, float bc) {
    const float r = v * ac + bc;
    return r < 0.0f ? 0.0f : (r > 1.0f ? 1.0f : r);
  };
  if (hwc) {
    for (std::size_t k = 0; k < px; ++k)
      for (int c = 0; c < 3; ++c) o[3 * k + c] = affine(o[3 * k + c], a[c], b[c]);
  } else {
    for (int c = 0; c < 3; ++c) {
      float* dst = o + c * px;
      const float ac = a[c], bc = b[c];
#pragma omp simd
      for (std::size_t k = 0; k < px; ++k) dst[k] = affine(dst[k], ac, bc);
    }
  }
}

}  // namespace

void augment_frames(const void* src, FrameLayout layout, std::size_t n_src, std::size_t H, std::size_t W,
                    const std::int64_t* rows, std::size_t n, const AugmentSpec* aug, std::uint64_t seed,
                    std::uint64_t stream, const std::int64_t* keys, float* out, std::size_t threads,
                    bool hwc_out) {
  (void)n_src;
  static const ByteTable table;
  const std::size_t px = H * W;
  const bool jitter = aug && (aug->brightness > 0 || aug->contrast > 0 || aug->gain > 0);
  const bool contrast = aug && aug->contrast > 0;
  parallel_for(n, threads, 1, [&](std::size_t s, std::size_t e) {
    std::vector<std::int64_t> xs(W);
    for (std::size_t i = s; i < e; ++i) {
      ImageJitter j;
      if (aug) j = draw_jitter(*aug, seed, stream, static_cast<std::uint64_t>(keys ? keys[i] : rows[i]));
      for (std::size_t x = 0; x < W; ++x)
        xs[x] = std::clamp<std::int64_t>(static_cast<std::int64_t>(x) + j.dx, 0,
                                         static_cast<std::int64_t>(W) - 1);
      AugmentOne(src, layout, static_cast<std::size_t>(rows[i]), H, W, j, jitter, contrast, xs.data(),
                 table.v, hwc_out, out + i * 3 * px);
    }
  });
}

}  // namespace f2g

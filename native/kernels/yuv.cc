#include "kernels/yuv.h"

#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/pool.h"

namespace f2g {
namespace {

/// Fixed-point (×2^16) coefficients and offsets of one matrix and range.
struct Coef {
  std::int32_t y, rv, gu, gv, bu, yoff;
};

Coef coefficients(YuvMatrix m, bool full) {
  const double kr = m == YuvMatrix::kBt709 ? 0.2126 : 0.299;
  const double kb = m == YuvMatrix::kBt709 ? 0.0722 : 0.114;
  const double kg = 1.0 - kr - kb;
  const double ys = full ? 1.0 : 255.0 / 219.0;
  const double cs = full ? 1.0 : 255.0 / 224.0;
  auto fx = [](double v) { return static_cast<std::int32_t>(std::lround(v * 65536.0)); };
  return {fx(ys),
          fx(cs * 2.0 * (1.0 - kr)),
          fx(cs * 2.0 * kb * (1.0 - kb) / kg),
          fx(cs * 2.0 * kr * (1.0 - kr) / kg),
          fx(cs * 2.0 * (1.0 - kb)),
          full ? 0 : 16};
}

/// One output row: luma row `yr`, chroma rows `ur`/`vr` (one sample per 2 pixels). Blocks of
/// 256 pixels in three passes (chroma widened, planar R/G/B, interleaved) so that each
/// pass vectorises.
F2G_MULTIVERSION
void row(const std::uint8_t* yr, const std::uint8_t* ur, const std::uint8_t* vr, std::size_t W, const Coef c,
         std::uint8_t* out) {
  constexpr std::size_t kBlock = 256;
  std::int32_t u[kBlock], v[kBlock];
  std::uint8_t r[kBlock], g[kBlock], b[kBlock];
  const std::int32_t half = 1 << 15;
  for (std::size_t x0 = 0; x0 < W; x0 += kBlock) {
    const std::size_t n = W - x0 < kBlock ? W - x0 : kBlock;
    const std::uint8_t* uc = ur + x0 / 2;
    const std::uint8_t* vc = vr + x0 / 2;
    for (std::size_t i = 0; i < n; ++i) {
      u[i] = static_cast<std::int32_t>(uc[i >> 1]) - 128;
      v[i] = static_cast<std::int32_t>(vc[i >> 1]) - 128;
    }
    const std::uint8_t* yb = yr + x0;
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t y = (static_cast<std::int32_t>(yb[i]) - c.yoff) * c.y + half;
      std::int32_t rr = (y + c.rv * v[i]) >> 16;
      std::int32_t gg = (y - c.gu * u[i] - c.gv * v[i]) >> 16;
      std::int32_t bb = (y + c.bu * u[i]) >> 16;
      rr = rr < 0 ? 0 : (rr > 255 ? 255 : rr);
      gg = gg < 0 ? 0 : (gg > 255 ? 255 : gg);
      bb = bb < 0 ? 0 : (bb > 255 ? 255 : bb);
      r[i] = static_cast<std::uint8_t>(rr);
      g[i] = static_cast<std::uint8_t>(gg);
      b[i] = static_cast<std::uint8_t>(bb);
    }
    std::uint8_t* o = out + 3 * x0;
    for (std::size_t i = 0; i < n; ++i) {
      o[3 * i] = r[i];
      o[3 * i + 1] = g[i];
      o[3 * i + 2] = b[i];
    }
  }
}

}  // namespace

void yuv420p_to_rgb24(const std::uint8_t* yuv, std::size_t n, std::size_t W, std::size_t H, YuvMatrix matrix,
                      bool full_range, std::uint8_t* rgb, std::size_t threads) {
  if (n == 0 || W == 0 || H == 0) return;
  const Coef c = coefficients(matrix, full_range);
  const std::size_t cw = (W + 1) / 2, ch = (H + 1) / 2;
  const std::size_t fb = yuv420p_frame_bytes(W, H);
  // Grain: about 64 KiB of output per chunk, whole rows.
  const std::size_t grain = W * 3 >= (1u << 16) ? 1 : (1u << 16) / (W * 3);
  parallel_for(n * H, threads, grain, [&](std::size_t s, std::size_t e) {
    for (std::size_t r = s; r < e; ++r) {
      const std::size_t t = r / H, y = r % H;
      const std::uint8_t* f = yuv + t * fb;
      const std::uint8_t* u = f + W * H + (y >> 1) * cw;
      row(f + y * W, u, u + cw * ch, W, c, rgb + r * W * 3);
    }
  });
}

void patch_stats_yuv420p(const std::uint8_t* yuv, std::size_t n, std::size_t W, std::size_t H,
                         YuvMatrix matrix, bool full_range, const PatchStatsParams& p, float* out,
                         std::size_t threads) {
  const std::size_t fb = yuv420p_frame_bytes(W, H);
  const std::size_t per = p.grid_h * p.grid_w * patch_stats_dim(p);
  parallel_for(n, threads, 1, [&](std::size_t s, std::size_t e) {
    std::vector<std::uint8_t> rgb(W * H * 3);
    for (std::size_t t = s; t < e; ++t) {
      // Inside a pool worker both calls run inline on this thread.
      yuv420p_to_rgb24(yuv + t * fb, 1, W, H, matrix, full_range, rgb.data(), 1);
      patch_stats(rgb.data(), 1, H, W, p, out + t * per, 1);
    }
  });
}

}  // namespace f2g

#include "kernels/patchstats.h"

#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/pool.h"

namespace f2g {
namespace {

constexpr float kPi = 3.14159265358979323846f;

// Luminance of one frame into y[H*W].
F2G_MULTIVERSION
void luminance(const std::uint8_t* rgb, std::size_t n, float* y) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i)
    y[i] = 0.299f * rgb[3 * i] + 0.587f * rgb[3 * i + 1] + 0.114f * rgb[3 * i + 2];
}

void one_frame(const std::uint8_t* rgb, std::size_t H, std::size_t W, const PatchStatsParams& p,
               float* out, std::vector<float>& y, std::vector<float>& mag, std::vector<float>& ang) {
  const std::size_t D = patch_stats_dim(p);
  y.resize(H * W);
  mag.resize(W);
  ang.resize(W);
  luminance(rgb, H * W, y.data());
  const float bins = static_cast<float>(p.bins);
  // Row-wise accumulation into the patches of each grid row.
  std::vector<double> acc(p.grid_w * 6);
  std::vector<float> hist(p.grid_w * p.bins);
  std::vector<std::size_t> col_patch(W);
  for (std::size_t j = 0; j < p.grid_w; ++j)
    for (std::size_t x = j * W / p.grid_w; x < (j + 1) * W / p.grid_w; ++x) col_patch[x] = j;
  for (std::size_t i = 0; i < p.grid_h; ++i) {
    const std::size_t y0 = i * H / p.grid_h, y1 = (i + 1) * H / p.grid_h;
    std::fill(acc.begin(), acc.end(), 0.0);
    std::fill(hist.begin(), hist.end(), 0.0f);
    for (std::size_t r = y0; r < y1; ++r) {
      const float* row = y.data() + r * W;
      const float* up = y.data() + (r == 0 ? 0 : r - 1) * W;
      const float* dn = y.data() + (r + 1 == H ? r : r + 1) * W;
      for (std::size_t x = 0; x < W; ++x) {
        const float gx = 0.5f * (row[x + 1 == W ? x : x + 1] - row[x == 0 ? 0 : x - 1]);
        const float gy = 0.5f * (dn[x] - up[x]);
        mag[x] = std::sqrt(gx * gx + gy * gy);
        float th = std::atan2(gy, gx);
        if (th < 0) th += kPi;
        if (th >= kPi) th -= kPi;
        ang[x] = th;
      }
      const std::uint8_t* px = rgb + r * W * 3;
      for (std::size_t x = 0; x < W; ++x) {
        const std::size_t j = col_patch[x];
        double* a = acc.data() + j * 6;
        const double R = px[3 * x], G = px[3 * x + 1], B = px[3 * x + 2];
        a[0] += R; a[1] += G; a[2] += B;
        a[3] += R * R; a[4] += G * G; a[5] += B * B;
        if (mag[x] > 0) {
          float pos = ang[x] * bins / kPi - 0.5f;  // bin centres at integer positions
          float fl = std::floor(pos);
          float frac = pos - fl;
          long b0 = static_cast<long>(fl);
          long nb = static_cast<long>(p.bins);
          std::size_t lo = static_cast<std::size_t>(((b0 % nb) + nb) % nb);
          std::size_t hi = (lo + 1) % p.bins;
          float* h = hist.data() + j * p.bins;
          h[lo] += mag[x] * (1.0f - frac);
          h[hi] += mag[x] * frac;
        }
      }
    }
    for (std::size_t j = 0; j < p.grid_w; ++j) {
      const std::size_t x0 = j * W / p.grid_w, x1 = (j + 1) * W / p.grid_w;
      const double n = static_cast<double>((y1 - y0) * (x1 - x0));
      float* o = out + (i * p.grid_w + j) * D;
      const double* a = acc.data() + j * 6;
      for (int c = 0; c < 3; ++c) {
        const double mean = a[c] / n;
        const double var = std::max(0.0, a[3 + c] / n - mean * mean);
        o[c] = static_cast<float>(mean / 255.0);
        o[3 + c] = static_cast<float>(std::sqrt(var) / 255.0);
      }
      const float* h = hist.data() + j * p.bins;
      for (std::size_t b = 0; b < p.bins; ++b) o[6 + b] = static_cast<float>(h[b] / (n * 255.0));
    }
  }
}

}  // namespace

void patch_stats(const std::uint8_t* frames, std::size_t T, std::size_t H, std::size_t W,
                 const PatchStatsParams& p, float* out, std::size_t threads) {
  const std::size_t frame = H * W * 3;
  const std::size_t per = p.grid_h * p.grid_w * patch_stats_dim(p);
  parallel_for(T, threads, 1, [&](std::size_t b, std::size_t e) {
    std::vector<float> y, mag, ang;
    for (std::size_t t = b; t < e; ++t) one_frame(frames + t * frame, H, W, p, out + t * per, y, mag, ang);
  });
}

}  // namespace f2g

#include "kernels/patchstats.h"

#include <algorithm>
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

// Gradient magnitude and orientation-bin split of one row, branch-free so it
// vectorises: orientation mod pi from a minimax arctangent (|error| < 1e-5 rad).
F2G_MULTIVERSION
void row_gradients(const float* up, const float* row, const float* dn, std::size_t W, float bins, float* mag,
                   float* pos) {
  for (std::size_t x = 0; x < W; ++x) {
    const std::size_t xl = x == 0 ? 0 : x - 1, xr = x + 1 == W ? x : x + 1;
    mag[x] = 0.5f * (row[xr] - row[xl]);  // gx for now
  }
#pragma omp simd
  for (std::size_t x = 0; x < W; ++x) {
    float gx = mag[x];
    float gy = 0.5f * (dn[x] - up[x]);
    // fold to the upper half plane: orientation is taken mod pi
    const bool neg = gy < 0.0f;
    gx = neg ? -gx : gx;
    gy = neg ? -gy : gy;
    const float ax = std::fabs(gx);
    const float mx = std::max(ax, gy), mn = std::min(ax, gy);
    const float a = mn / std::max(mx, 1e-30f);
    const float s = a * a;
    float r =
        a *
        (0.99997726f +
         s * (-0.33262347f + s * (0.19354346f + s * (-0.11643287f + s * (0.05265332f + s * -0.01172120f)))));
    r = gy > ax ? 1.57079632679f - r : r;
    r = gx < 0.0f ? kPi - r : r;
    r = r >= kPi ? r - kPi : r;
    mag[x] = std::sqrt(gx * gx + gy * gy);
    pos[x] = r * (bins / kPi) - 0.5f;  // bin centres at integer positions
  }
}

void one_frame(const std::uint8_t* rgb, std::size_t H, std::size_t W, const PatchStatsParams& p, float* out,
               std::vector<float>& y, std::vector<float>& mag, std::vector<float>& pos) {
  const std::size_t D = patch_stats_dim(p);
  y.resize(H * W);
  mag.resize(W);
  pos.resize(W);
  luminance(rgb, H * W, y.data());
  const float bins = static_cast<float>(p.bins);
  const long nb = static_cast<long>(p.bins);
  std::vector<double> acc(p.grid_w * 6);
  std::vector<float> hist(p.grid_w * p.bins);
  for (std::size_t i = 0; i < p.grid_h; ++i) {
    const std::size_t y0 = i * H / p.grid_h, y1 = (i + 1) * H / p.grid_h;
    std::fill(acc.begin(), acc.end(), 0.0);
    std::fill(hist.begin(), hist.end(), 0.0f);
    for (std::size_t r = y0; r < y1; ++r) {
      const float* row = y.data() + r * W;
      const float* up = y.data() + (r == 0 ? 0 : r - 1) * W;
      const float* dn = y.data() + (r + 1 == H ? r : r + 1) * W;
      row_gradients(up, row, dn, W, bins, mag.data(), pos.data());
      const std::uint8_t* px = rgb + r * W * 3;
      for (std::size_t j = 0; j < p.grid_w; ++j) {
        const std::size_t x0 = j * W / p.grid_w, x1 = (j + 1) * W / p.grid_w;
        std::uint32_t s0 = 0, s1 = 0, s2 = 0, q0 = 0, q1 = 0, q2 = 0;
        float* h = hist.data() + j * p.bins;
        for (std::size_t x = x0; x < x1; ++x) {
          const std::uint32_t R = px[3 * x], G = px[3 * x + 1], B = px[3 * x + 2];
          s0 += R;
          s1 += G;
          s2 += B;
          q0 += R * R;
          q1 += G * G;
          q2 += B * B;
          const float fl = std::floor(pos[x]);
          const float frac = pos[x] - fl;
          const long b0 = static_cast<long>(fl);
          const std::size_t lo = static_cast<std::size_t>(b0 < 0 ? b0 + nb : (b0 >= nb ? b0 - nb : b0));
          const std::size_t hi = lo + 1 == p.bins ? 0 : lo + 1;
          h[lo] += mag[x] * (1.0f - frac);
          h[hi] += mag[x] * frac;
        }
        double* a = acc.data() + j * 6;
        a[0] += s0;
        a[1] += s1;
        a[2] += s2;
        a[3] += q0;
        a[4] += q1;
        a[5] += q2;
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
    std::vector<float> y, mag, pos;
    for (std::size_t t = b; t < e; ++t) one_frame(frames + t * frame, H, W, p, out + t * per, y, mag, pos);
  });
}

}  // namespace f2g

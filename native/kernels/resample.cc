#include "kernels/resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/pool.h"

// The filter weights must be the very doubles Pillow computes: no fused
// multiply-add may be contracted from the expressions below (GCC contracts
// by default where the target has FMA, e.g. on arm64).
#if defined(__clang__)
#define F2G_NO_CONTRACT _Pragma("clang fp contract(off)")
#define F2G_NO_CONTRACT_FN
#elif defined(__GNUC__)
#define F2G_NO_CONTRACT
#define F2G_NO_CONTRACT_FN __attribute__((optimize("fp-contract=off")))
#else
#define F2G_NO_CONTRACT
#define F2G_NO_CONTRACT_FN
#endif

namespace f2g {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // weights in 22-bit fixed point, as Pillow's 8-bit path
constexpr double kPi = 3.14159265358979323846;

F2G_NO_CONTRACT_FN double filter_value(int filter, double x) {
  F2G_NO_CONTRACT
  switch (filter) {
    case kBox:
      return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case kBilinear:
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    case kHamming:
      if (x < 0.0) x = -x;
      if (x == 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x = x * kPi;
      // Pillow writes these constants as float literals.
      return std::sin(x) / x * (static_cast<double>(0.54f) + static_cast<double>(0.46f) * std::cos(x));
    case kBicubic: {
      const double a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    }
    case kLanczos: {
      if (!(-3.0 <= x && x < 3.0)) return 0.0;
      auto sinc = [](double v) {
        if (v == 0.0) return 1.0;
        v = v * kPi;
        return std::sin(v) / v;
      };
      return sinc(x) * sinc(x / 3);
    }
    default:
      return 0.0;
  }
}

double filter_support(int filter) {
  switch (filter) {
    case kBox:
      return 0.5;
    case kBilinear:
    case kHamming:
      return 1.0;
    case kBicubic:
      return 2.0;
    case kLanczos:
      return 3.0;
    default:
      return 0.0;
  }
}

/// Fixed-point weights of one axis: output index i reads `count[i]` inputs from `first[i]`
/// with weights k[i * ksize + j].
struct Axis {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<std::int32_t> k;
};

F2G_NO_CONTRACT_FN Axis axis_weights(std::size_t in_size, std::size_t out_size, int filter) {
  F2G_NO_CONTRACT
  Axis a;
  // Pillow: scale = (double)(box[2] - box[0]) / outSize with a float box (0, in_size).
  const double scale =
      static_cast<double>(static_cast<float>(in_size) - 0.0f) / static_cast<double>(out_size);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support(filter) * filterscale;
  a.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.resize(out_size);
  a.count.resize(out_size);
  a.k.assign(out_size * static_cast<std::size_t>(a.ksize), 0);
  std::vector<double> w(static_cast<std::size_t>(a.ksize));
  const double inv_filterscale = 1.0 / filterscale;
  const int in = static_cast<int>(in_size);
  for (std::size_t xx = 0; xx < out_size; ++xx) {
    const double center = 0.0f + (static_cast<double>(xx) + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double v = filter_value(filter, (x + xmin - center + 0.5) * inv_filterscale);
      w[static_cast<std::size_t>(x)] = v;
      ww += v;
    }
    std::int32_t* k = &a.k[xx * static_cast<std::size_t>(a.ksize)];
    for (int x = 0; x < xmax; ++x) {
      double v = w[static_cast<std::size_t>(x)];
      if (ww != 0.0) v /= ww;
      k[x] = v < 0 ? static_cast<std::int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<std::int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    a.first[xx] = xmin;
    a.count[xx] = xmax;
  }
  return a;
}

inline std::uint8_t clip8(std::int32_t ss) {
  const std::int32_t v = ss >> kPrecisionBits;  // arithmetic shift: floor, as Pillow's table lookup
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/// Horizontal pass over `rows` rows of `src` (row stride `src_w` pixels): output columns [c0, c1).
F2G_MULTIVERSION
void horizontal(const std::uint8_t* src, std::size_t src_w, std::size_t rows, const Axis& a, std::size_t c0,
                std::size_t c1, std::uint8_t* dst) {
  const std::size_t wc = c1 - c0;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* line = src + r * src_w * 3;
    std::uint8_t* o = dst + r * wc * 3;
    for (std::size_t xx = c0; xx < c1; ++xx) {
      const std::int32_t* k = &a.k[xx * static_cast<std::size_t>(a.ksize)];
      const std::uint8_t* p = line + static_cast<std::size_t>(a.first[xx]) * 3;
      std::int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      const int n = a.count[xx];
      for (int x = 0; x < n; ++x) {
        s0 += p[3 * x + 0] * k[x];
        s1 += p[3 * x + 1] * k[x];
        s2 += p[3 * x + 2] * k[x];
      }
      o[(xx - c0) * 3 + 0] = clip8(s0);
      o[(xx - c0) * 3 + 1] = clip8(s1);
      o[(xx - c0) * 3 + 2] = clip8(s2);
    }
  }
}

/// Vertical pass: output rows [r0, r1) from `src` whose first row is source row `src_row0`
/// (row width `w` pixels).
F2G_MULTIVERSION
void vertical(const std::uint8_t* src, std::size_t src_row0, std::size_t w, const Axis& a, std::size_t r0,
              std::size_t r1, std::uint8_t* dst) {
  const std::size_t line = w * 3;
  std::vector<std::int32_t> acc(line);
  for (std::size_t yy = r0; yy < r1; ++yy) {
    const std::int32_t* k = &a.k[yy * static_cast<std::size_t>(a.ksize)];
    const std::uint8_t* base = src + (static_cast<std::size_t>(a.first[yy]) - src_row0) * line;
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int n = a.count[yy];
    for (int y = 0; y < n; ++y) {
      const std::uint8_t* p = base + static_cast<std::size_t>(y) * line;
      const std::int32_t ky = k[y];
      for (std::size_t i = 0; i < line; ++i) acc[i] += p[i] * ky;
    }
    std::uint8_t* o = dst + (yy - r0) * line;
    for (std::size_t i = 0; i < line; ++i) o[i] = clip8(acc[i]);
  }
}

/// Source index of each output index for NEAREST (Pillow's ImagingScaleAffine: the position
/// accumulates in steps of in/out from half a step; −1 outside the image).
std::vector<int> nearest_index(std::size_t in_size, std::size_t out_size) {
  const double step = static_cast<double>(static_cast<float>(in_size) - 0.0f) / static_cast<double>(out_size);
  std::vector<int> idx(out_size);
  double pos = 0.0 + step * 0.5;
  for (std::size_t i = 0; i < out_size; ++i) {
    const int v = pos < 0.0 ? -1 : static_cast<int>(pos);
    idx[i] = (v >= 0 && v < static_cast<int>(in_size)) ? v : -1;
    pos += step;
  }
  return idx;
}

/// The window [r0, r1) × [c0, c1) of the image resized to rh × rw, as RGB uint8 rows of c1 − c0 pixels.
void resize_window(const std::uint8_t* in, std::size_t H, std::size_t W, std::size_t rh, std::size_t rw,
                   int filter, std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1,
                   std::uint8_t* out) {
  const std::size_t wc = c1 - c0;
  if (rh == H && rw == W) {  // Pillow copies
    for (std::size_t r = r0; r < r1; ++r) std::copy_n(in + (r * W + c0) * 3, wc * 3, out + (r - r0) * wc * 3);
    return;
  }
  if (filter == kNearest) {
    const std::vector<int> ys = nearest_index(H, rh), xs = nearest_index(W, rw);
    for (std::size_t r = r0; r < r1; ++r) {
      std::uint8_t* o = out + (r - r0) * wc * 3;
      for (std::size_t c = c0; c < c1; ++c) {
        const int y = ys[r], x = xs[c];
        for (int ch = 0; ch < 3; ++ch) {
          o[(c - c0) * 3 + static_cast<std::size_t>(ch)] =
              (y < 0 || x < 0) ? 0
                               : in[(static_cast<std::size_t>(y) * W + static_cast<std::size_t>(x)) * 3 + ch];
        }
      }
    }
    return;
  }
  const bool need_h = rw != W, need_v = rh != H;
  Axis ha, va;
  if (need_h) ha = axis_weights(W, rw, filter);
  if (need_v) va = axis_weights(H, rh, filter);
  if (!need_v) {  // horizontal only: rows map one to one
    horizontal(in + r0 * W * 3, W, r1 - r0, ha, c0, c1, out);
    return;
  }
  // Source rows the vertical pass reads for output rows [r0, r1) (bounds grow with the row).
  const std::size_t s0 = static_cast<std::size_t>(va.first[r0]);
  const std::size_t s1 = static_cast<std::size_t>(va.first[r1 - 1] + va.count[r1 - 1]);
  if (need_h) {
    std::vector<std::uint8_t> tmp((s1 - s0) * wc * 3);
    horizontal(in + s0 * W * 3, W, s1 - s0, ha, c0, c1, tmp.data());
    vertical(tmp.data(), s0, wc, va, r0, r1, out);
  } else {
    std::vector<std::uint8_t> tmp((s1 - s0) * wc * 3);
    for (std::size_t r = s0; r < s1; ++r)
      std::copy_n(in + (r * W + c0) * 3, wc * 3, tmp.data() + (r - s0) * wc * 3);
    vertical(tmp.data(), s0, wc, va, r0, r1, out);
  }
}

}  // namespace

bool resample_filter_known(int filter) { return filter >= kNearest && filter <= kHamming; }

void pil_resize_rgb(const std::uint8_t* in, std::size_t H, std::size_t W, std::size_t oh, std::size_t ow,
                    int filter, std::uint8_t* out) {
  resize_window(in, H, W, oh, ow, filter, 0, oh, 0, ow, out);
}

void image_prep(const std::uint8_t* rgb, std::size_t n, std::size_t H, std::size_t W, const ImagePrep& p,
                float* out, std::size_t threads) {
  const std::size_t rh = p.resize ? p.resize_h : H, rw = p.resize ? p.resize_w : W;
  const std::size_t oh = p.crop ? p.out_h : rh, ow = p.crop ? p.out_w : rw;
  // Crop offsets into the resized image (negative: the crop is larger and pads), floor division.
  auto floor_half = [](std::ptrdiff_t d) { return d >= 0 ? d / 2 : -((-d + 1) / 2); };
  const std::ptrdiff_t oy =
      p.crop ? floor_half(static_cast<std::ptrdiff_t>(rh) - static_cast<std::ptrdiff_t>(oh)) : 0;
  const std::ptrdiff_t ox =
      p.crop ? floor_half(static_cast<std::ptrdiff_t>(rw) - static_cast<std::ptrdiff_t>(ow)) : 0;
  // The part of the resized image the crop keeps.
  const std::size_t r0 = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, oy));
  const std::size_t r1 = static_cast<std::size_t>(
      std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(rh), oy + static_cast<std::ptrdiff_t>(oh)));
  const std::size_t c0 = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, ox));
  const std::size_t c1 = static_cast<std::size_t>(
      std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(rw), ox + static_cast<std::ptrdiff_t>(ow)));
  // Value of every byte per channel: float(u8 · rescale) as numpy's float64 product cast to
  // float32, then (x − mean) / std in float32.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int u = 0; u < 256; ++u) {
      float x = p.rescale_on ? static_cast<float>(static_cast<double>(u) * p.rescale) : static_cast<float>(u);
      if (p.normalize) x = (x - p.mean[c]) / p.std[c];
      lut[c][u] = x;
    }
  }
  const std::size_t plane = oh * ow;
  parallel_for(n, threads, 1, [&](std::size_t s, std::size_t e) {
    const std::size_t wh = r1 - r0, wc = c1 - c0;
    std::vector<std::uint8_t> win(wh * wc * 3);
    for (std::size_t t = s; t < e; ++t) {
      if (wh > 0 && wc > 0)
        resize_window(rgb + t * H * W * 3, H, W, rh, rw, p.filter, r0, r1, c0, c1, win.data());
      float* o = out + t * 3 * plane;
      for (std::size_t y = 0; y < oh; ++y) {
        const std::ptrdiff_t ry = static_cast<std::ptrdiff_t>(y) + oy;
        const bool row_in = ry >= static_cast<std::ptrdiff_t>(r0) && ry < static_cast<std::ptrdiff_t>(r1);
        for (std::size_t x = 0; x < ow; ++x) {
          const std::ptrdiff_t rx = static_cast<std::ptrdiff_t>(x) + ox;
          const bool in =
              row_in && rx >= static_cast<std::ptrdiff_t>(c0) && rx < static_cast<std::ptrdiff_t>(c1);
          const std::uint8_t* px =
              in ? &win[((static_cast<std::size_t>(ry) - r0) * wc + (static_cast<std::size_t>(rx) - c0)) * 3]
                 : nullptr;
          for (int c = 0; c < 3; ++c) o[c * plane + y * ow + x] = lut[c][px ? px[c] : 0];
        }
      }
    }
  });
}

}  // namespace f2g

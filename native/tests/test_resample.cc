// The hub image preprocessing kernel (kernels/resample.h): Pillow's fixed-point
// resampling on hand-worked rows, and the cropped window it computes against a
// full resize then a crop, over random sizes, filters and crops (including
// crops larger than the image), so sanitizer builds see every index path.
#include <cstdint>
#include <random>
#include <vector>

#include "check.h"
#include "kernels/resample.h"

using f2g::ImagePrep;

namespace {

/// One row of grey pixels (R = G = B) resized to 1 × ow; returns the R channel.
std::vector<int> row(const std::vector<int>& v, std::size_t ow, int filter) {
  std::vector<std::uint8_t> in;
  for (int x : v) in.insert(in.end(), 3, static_cast<std::uint8_t>(x));
  std::vector<std::uint8_t> out(ow * 3);
  f2g::pil_resize_rgb(in.data(), 1, v.size(), 1, ow, filter, out.data());
  std::vector<int> r;
  for (std::size_t i = 0; i < ow; ++i) r.push_back(out[i * 3]);
  return r;
}

}  // namespace

TEST(hand_worked_rows) {
  // bilinear 4 → 2: weights 3/7, 3/7, 1/7 (support widened to 2)
  CHECK(row({0, 100, 200, 255}, 2, f2g::kBilinear) == (std::vector<int>{71, 209}));
  // box 4 → 2: pair means, halves rounded up
  CHECK(row({10, 21, 30, 41}, 2, f2g::kBox) == (std::vector<int>{16, 36}));
  // bicubic 2 → 4 of a step: overshoot clipped
  CHECK(row({0, 255}, 4, f2g::kBicubic) == (std::vector<int>{0, 53, 202, 255}));
  // nearest: positions (i + 1/2)·step
  CHECK(row({0, 10, 20, 30, 40}, 2, f2g::kNearest) == (std::vector<int>{10, 30}));
  CHECK(row({7, 8}, 5, f2g::kNearest) == (std::vector<int>{7, 7, 8, 8, 8}));
  // same size: a copy
  CHECK(row({1, 2, 3}, 3, f2g::kLanczos) == (std::vector<int>{1, 2, 3}));
}

TEST(window_equals_full_resize_then_crop) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 300; ++iter) {
    const std::size_t H = pick(1, 40), W = pick(1, 40), n = pick(1, 3);
    ImagePrep p;
    p.resize = pick(0, 4) != 0;
    p.resize_h = p.resize ? pick(1, 50) : H;
    p.resize_w = p.resize ? pick(1, 50) : W;
    p.filter = pick(0, 5);
    p.crop = pick(0, 1) != 0;
    p.out_h = p.crop ? pick(1, 60) : p.resize_h;
    p.out_w = p.crop ? pick(1, 60) : p.resize_w;
    p.rescale_on = false;
    p.normalize = false;
    std::vector<std::uint8_t> in(n * H * W * 3);
    for (auto& b : in) b = static_cast<std::uint8_t>(pick(0, 255));
    std::vector<float> out(n * 3 * p.out_h * p.out_w, -1.0f);
    f2g::image_prep(in.data(), n, H, W, p, out.data(), 2);
    const std::size_t rh = p.resize_h, rw = p.resize_w;
    std::vector<std::uint8_t> full(rh * rw * 3);
    const long oy = p.crop ? (static_cast<long>(rh) - static_cast<long>(p.out_h) >= 0
                                  ? (static_cast<long>(rh) - static_cast<long>(p.out_h)) / 2
                                  : -((static_cast<long>(p.out_h) - static_cast<long>(rh) + 1) / 2))
                           : 0;
    const long ox = p.crop ? (static_cast<long>(rw) - static_cast<long>(p.out_w) >= 0
                                  ? (static_cast<long>(rw) - static_cast<long>(p.out_w)) / 2
                                  : -((static_cast<long>(p.out_w) - static_cast<long>(rw) + 1) / 2))
                           : 0;
    int bad = 0;
    for (std::size_t t = 0; t < n; ++t) {
      f2g::pil_resize_rgb(in.data() + t * H * W * 3, H, W, rh, rw, p.filter, full.data());
      for (std::size_t c = 0; c < 3; ++c) {
        for (std::size_t y = 0; y < p.out_h; ++y) {
          for (std::size_t x = 0; x < p.out_w; ++x) {
            const long sy = static_cast<long>(y) + oy, sx = static_cast<long>(x) + ox;
            const bool in_img =
                sy >= 0 && sx >= 0 && sy < static_cast<long>(rh) && sx < static_cast<long>(rw);
            const float want =
                in_img ? full[(static_cast<std::size_t>(sy) * rw + static_cast<std::size_t>(sx)) * 3 + c]
                       : 0.0f;
            if (out[((t * 3 + c) * p.out_h + y) * p.out_w + x] != want) ++bad;
          }
        }
      }
    }
    if (bad) {
      CHECK_EQ(bad, 0);
      std::printf("    case %d: %zux%zu -> %zux%zu filter %d crop %d %zux%zu\n", iter, H, W, rh, rw, p.filter,
                  p.crop, p.out_h, p.out_w);
    }
  }
}

TEST(rescale_and_normalise_in_float32) {
  ImagePrep p;
  p.rescale = 1.0 / 255.0;
  p.mean[0] = 0.5f, p.mean[1] = 0.25f, p.mean[2] = 0.0f;
  p.std[0] = 0.25f, p.std[1] = 0.5f, p.std[2] = 2.0f;
  const std::uint8_t px[3] = {10, 110, 210};
  float out[3];
  f2g::image_prep(px, 1, 1, 1, p, out, 1);
  for (int c = 0; c < 3; ++c) {
    const float v = static_cast<float>(px[c] * (1.0 / 255.0));
    CHECK(out[c] == (v - p.mean[c]) / p.std[c]);
  }
}

int main() { return f2gtest::run_all("test_resample"); }

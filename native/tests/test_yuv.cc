// The YUV 4:2:0 → RGB kernel (kernels/yuv.h) on hand-worked pixels and chroma
// blocks, and the built-in encoder on yuv420p frames against patch_stats of
// the converted frames (bit for bit). No Node needed: built and run by ctest.
#include <cstdint>
#include <vector>

#include "check.h"
#include "kernels/patchstats.h"
#include "kernels/yuv.h"

using namespace f2g;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes convert(const Bytes& yuv, std::size_t n, std::size_t W, std::size_t H, YuvMatrix m, bool full) {
  Bytes rgb(n * W * H * 3);
  yuv420p_to_rgb24(yuv.data(), n, W, H, m, full, rgb.data(), 0);
  return rgb;
}

}  // namespace

TEST(yuv_hand_worked_pixels) {
  for (YuvMatrix m : {YuvMatrix::kBt601, YuvMatrix::kBt709}) {
    // Limited range: Y 16 is black, 235 white, (126 − 16)·255/219 = 128.08 → 128; beyond clamps.
    CHECK(convert({16, 128, 128}, 1, 1, 1, m, false) == Bytes({0, 0, 0}));
    CHECK(convert({235, 128, 128}, 1, 1, 1, m, false) == Bytes({255, 255, 255}));
    CHECK(convert({126, 128, 128}, 1, 1, 1, m, false) == Bytes({128, 128, 128}));
    CHECK(convert({0, 128, 128}, 1, 1, 1, m, false) == Bytes({0, 0, 0}));
    CHECK(convert({255, 128, 128}, 1, 1, 1, m, false) == Bytes({255, 255, 255}));
    // Full range passes grey through.
    CHECK(convert({77, 128, 128}, 1, 1, 1, m, true) == Bytes({77, 77, 77}));
  }
  // BT.601 red: Y 81, Cb 90, Cr 240 → R = 1.164·65 + 1.596·112 = 254.4, G, B below 0.
  CHECK(convert({81, 90, 240}, 1, 1, 1, YuvMatrix::kBt601, false) == Bytes({254, 0, 0}));
}

TEST(yuv_chroma_blocks_and_odd_width) {
  // 3 × 2 frame: chroma 2 × 1; pixel x takes chroma column x / 2 (the odd last column its own).
  const std::size_t W = 3, H = 2;
  Bytes yuv(yuv420p_frame_bytes(W, H), 128);
  CHECK_EQ(yuv.size(), std::size_t(6 + 2 * 2));
  yuv[6] = 128, yuv[7] = 200;  // Cb
  yuv[8] = 128, yuv[9] = 128;  // Cr
  Bytes rgb = convert(yuv, 1, W, H, YuvMatrix::kBt601, true);
  for (std::size_t y = 0; y < H; ++y) {
    CHECK(rgb[(y * W + 0) * 3 + 2] == rgb[(y * W + 1) * 3 + 2]);  // same block
    CHECK(rgb[(y * W + 2) * 3 + 2] > rgb[(y * W + 1) * 3 + 2]);   // Cb 200: bluer
    CHECK_EQ(int(rgb[(y * W + 0) * 3 + 2]), 128);
    // Full range B = Y + 2(1 − 0.114)·72 = 255.6 → 255
    CHECK_EQ(int(rgb[(y * W + 2) * 3 + 2]), 255);
  }
}

TEST(patch_stats_yuv420p_equals_patch_stats_of_converted) {
  const std::size_t n = 3, W = 22, H = 14;
  Bytes yuv(n * yuv420p_frame_bytes(W, H));
  std::uint32_t s = 12345;
  for (auto& b : yuv) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<std::uint8_t>(s >> 24);
  }
  PatchStatsParams p{3, 4, 5};
  const std::size_t per = p.grid_h * p.grid_w * patch_stats_dim(p);
  for (bool full : {false, true}) {
    Bytes rgb = convert(yuv, n, W, H, YuvMatrix::kBt709, full);
    std::vector<float> want(n * per), got(n * per);
    patch_stats(rgb.data(), n, H, W, p, want.data(), 0);
    patch_stats_yuv420p(yuv.data(), n, W, H, YuvMatrix::kBt709, full, p, got.data(), 0);
    CHECK(want == got);
  }
}

int main() { return f2gtest::run_all("test_yuv"); }

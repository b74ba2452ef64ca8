#include "kernels/frames.h"

#include "kernels/dispatch.h"
#include "kernels/pool.h"

namespace f2g {
namespace {

F2G_MULTIVERSION
void one(const std::uint8_t* rgb, std::size_t px, const float a[3], const float b[3], float* out) {
  for (int c = 0; c < 3; ++c) {
    float* o = out + c * px;
    const float ac = a[c], bc = b[c];
#pragma omp simd
    for (std::size_t i = 0; i < px; ++i) o[i] = rgb[3 * i + c] * ac + bc;
  }
}

}  // namespace

void frames_to_chw(const std::uint8_t* rgb, std::size_t n, std::size_t H, std::size_t W, const float mean[3],
                   const float std[3], float* out, std::size_t threads) {
  const std::size_t px = H * W;
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = 1.0f / (255.0f * std[c]);
    b[c] = -mean[c] / std[c];
  }
  parallel_for(n, threads, 1, [&](std::size_t s, std::size_t e) {
    for (std::size_t t = s; t < e; ++t) one(rgb + t * px * 3, px, a, b, out + t * px * 3);
  });
}

}  // namespace f2g

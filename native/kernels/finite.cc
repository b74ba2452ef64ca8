#include "kernels/finite.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace f2g {

// x * 0 is 0 for finite x and NaN for NaN or ±Inf, so the sum is 0 exactly
// when all are finite (it cannot overflow). Blocks of 64 Ki elements let a
// bad buffer stop early.
F2G_MULTIVERSION bool AllFinite(const float* p, std::size_t n) {
  constexpr std::size_t kBlock = 1 << 16;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t end = start + kBlock < n ? start + kBlock : n;
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (std::size_t i = start; i < end; ++i) acc += p[i] * 0.0f;
    if (acc != 0.0f) return false;
  }
  return true;
}

long long FirstNonFinite(const float* p, std::size_t n) {
  constexpr std::size_t kBlock = 1 << 12;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t len = start + kBlock < n ? kBlock : n - start;
    if (AllFinite(p + start, len)) continue;
    for (std::size_t i = start; i < start + len; ++i)
      if (!std::isfinite(p[i])) return static_cast<long long>(i);
  }
  return -1;
}

F2G_MULTIVERSION bool AllInRange(const float* p, std::size_t n, float lo, float hi) {
  constexpr std::size_t kBlock = 1 << 16;
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t end = start + kBlock < n ? start + kBlock : n;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (std::size_t i = start; i < end; ++i) bad |= !(p[i] >= lo && p[i] <= hi);
    if (bad) return false;
  }
  return true;
}

}  // namespace f2g

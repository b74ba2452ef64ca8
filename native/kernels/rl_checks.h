// Inline helpers shared by the RL kernels (rl.cc, gae_step.cc): data checks
// fused into the compute loops, and uint8 → float flag conversion.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/rl.h"

namespace f2g {
namespace rl {
namespace checks {

#define F2G_INLINE inline __attribute__((always_inline))

// `x - x` is +0 for finite x and NaN for NaN/±Inf, so summing it into a float
// accumulator leaves 0 exactly when every value was finite.
F2G_INLINE float fin(float x) { return x - x; }
// Flag check contributions: 0 for a valid flag, non-zero (or NaN) otherwise.
F2G_INLINE float flag_bad(float f) { return std::fabs(f * (1.f - f)); }
// (Integer arithmetic rather than a branch or a uint8→double conversion: GCC
// vectorises these loops only in this form.)
F2G_INLINE float flag_bad(std::uint8_t f) { return static_cast<float>(static_cast<std::int32_t>(f >> 1)); }
F2G_INLINE float flag_val(float f) { return f; }
F2G_INLINE float flag_val(std::uint8_t f) { return static_cast<float>(static_cast<std::int32_t>(f)); }

// uint8 flags → float, for loops that then run on float flags only: GCC
// sizes vectors by the narrowest element, so a uint8 operand in a float loop
// makes it use 16-byte vectors. The values are copied unchanged (a 2 stays 2
// and fails the float flag check).
constexpr std::size_t kChunk = 256;
F2G_INLINE void u8_to_f32(const std::uint8_t* f, std::size_t n, float* out) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<std::int32_t>(f[i]));
}

// The flags of a row starting at element `off`.
inline FlagView flag_row(FlagView f, std::size_t off) {
  FlagView r;
  if (f.u8) r.u8 = f.u8 + off;
  if (f.f32) r.f32 = f.f32 + off;
  return r;
}

}  // namespace checks
}  // namespace rl
}  // namespace f2g

// The step-by-step GAE kernel (gae_step.cc), used by rl::gae below AVX-512.
#pragma once
#include "kernels/rl.h"

namespace f2g {
namespace rl {
/// Same contract as rl::gae (rl.h); the recursion runs one step at a time.
bool gae_step(const GaeInputs& in, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
              float* advantages, float* returns, std::size_t threads);
}  // namespace rl
}  // namespace f2g

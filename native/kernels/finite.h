// Finite / range checks of input buffers in one vectorised pass without
// allocation (used to validate tensors before they reach libtorch).
#pragma once
#include <cstddef>

namespace f2g {

/// True when no element is NaN or ±Infinity.
bool AllFinite(const float* p, std::size_t n);

/// Index of the first NaN or ±Infinity, or -1 when every element is finite.
long long FirstNonFinite(const float* p, std::size_t n);

/// True when every element lies in [lo, hi] (NaN fails).
bool AllInRange(const float* p, std::size_t n, float lo, float hi);

}  // namespace f2g

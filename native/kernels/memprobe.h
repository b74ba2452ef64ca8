// Memory-read probe: the physical limit a streaming kernel can reach here.
#pragma once
#include <cstddef>
namespace f2g {
/// Sums n floats with the pool's threads (the same split as the kernels).
double read_probe(const float* data, std::size_t n, std::size_t threads);
}  // namespace f2g

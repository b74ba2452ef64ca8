// Shared device helpers of the .cu files: error checks, warp and block reductions.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/api.h"

namespace f2g {
namespace cuda {

[[noreturn]] void throw_error(const char* call, cudaError_t e);

#define F2G_CUDA(expr, call)                                           \
  do {                                                                 \
    cudaError_t f2g_e_ = (expr);                                       \
    if (f2g_e_ != cudaSuccess) ::f2g::cuda::throw_error(call, f2g_e_); \
  } while (0)

inline cudaStream_t as_stream(Stream s) { return static_cast<cudaStream_t>(s); }

constexpr unsigned kFull = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(kFull, v, o);
  return v;  // lane 0 holds the sum
}

// Butterfly sum: every lane gets the total.
template <class T>
__device__ __forceinline__ T warp_allsum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

inline unsigned blocks_for(std::size_t n, unsigned threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace cuda
}  // namespace f2g

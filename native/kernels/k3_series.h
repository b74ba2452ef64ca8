// k3(x) = expm1(x) − x for small |x| as a series, without the cancellation of
// the closed form: one body for the CPU kernels (kernels/rl.cc, inlined into
// vectorised loops) and the CUDA ones (cuda/bodies.h). Plain C++ otherwise
// (nvcc sees __host__ __device__).
#pragma once

#if defined(__CUDACC__)
#define F2G_K3_FN __host__ __device__ __forceinline__
#else
#define F2G_K3_FN inline __attribute__((always_inline))
#endif

namespace f2g {

/// |x| < 0.5: k3 = x²(1/2 + x/6 + … + x^7/9!), truncation < 3e-10 relative.
/// Returned by value (locals passed by reference block vectorisation).
F2G_K3_FN float k3_series(float x) {
  float q = 1.f / 362880.f;
  q = q * x + 1.f / 40320.f;
  q = q * x + 1.f / 5040.f;
  q = q * x + 1.f / 720.f;
  q = q * x + 1.f / 120.f;
  q = q * x + 1.f / 24.f;
  q = q * x + 1.f / 6.f;
  q = q * x + 0.5f;
  return x * x * q;
}

}  // namespace f2g

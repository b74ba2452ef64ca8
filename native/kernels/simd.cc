#include "kernels/simd.h"

namespace f2g {
const char* simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // Mirrors the x86-64-v4 / v3 levels the ifunc resolver picks.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2";
  return "sse2";
#else
  return "generic";
#endif
}
}  // namespace f2g

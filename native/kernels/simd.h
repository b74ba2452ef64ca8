// Which vector unit the target_clones'd kernels run on, for capabilities().
#pragma once
namespace f2g {
/// "avx512" (x86-64-v4 clones), "avx2" (x86-64-v3) or "sse2" (baseline).
const char* simd_level();
}  // namespace f2g

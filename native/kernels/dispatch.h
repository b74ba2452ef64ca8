// Portable multi-versioning for hot loops: GCC/Clang emit an x86-64-v4
// (AVX-512), an x86-64-v3 (AVX2+FMA) and a baseline clone and pick one at load
// time from the CPU's features, so the addon never executes an instruction the
// machine lacks.
#pragma once

// Hot loops select between arms (x ? a : b) that GCC may turn into branches;
// if-converting them back into vector blends needs -fno-trapping-math (set in
// native/kernels.cmake) on CPUs without masked vector arithmetic (AVX2, SSE2).
// Without it those loops compile, silently, to scalar code.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__NO_TRAPPING_MATH__)
#error "feat2go kernels must be compiled with -fno-trapping-math (see native/kernels.cmake)"
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define F2G_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define F2G_MULTIVERSION
#endif

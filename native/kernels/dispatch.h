// Portable multi-versioning for hot loops: GCC/Clang emit an x86-64-v4
// (AVX-512), an x86-64-v3 (AVX2+FMA) and a baseline clone and pick one at load
// time from the CPU's features, so the addon never executes an instruction the
// machine lacks.
#pragma once
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define F2G_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define F2G_MULTIVERSION
#endif

// A size-bucketed caching allocator for libtorch's CPU tensors (installed
// once, when libtorch is first used by the addon).
//
// Why: a training step frees and re-allocates the same multi-megabyte
// buffers (activations, gradients, AdamW temporaries) every minibatch.
// glibc returns such blocks to the kernel (munmap, heap trim, or
// MADV_DONTNEED in the per-thread arenas that libuv workers use), so every
// step page-faults them back in, thousands of minor faults per PPO update, the
// same in Python PyTorch (measured: docs/benchmarks.md, "The CPU tensor cache
// of libtorch"). Keeping freed blocks for reuse removes that work; the
// arithmetic is unchanged (same kernels, same results).
//
// Blocks ≥ 64 KiB are cached by size rounded up to 4 KiB, up to
// FEAT2GO_TORCH_CACHE_MB MiB of idle blocks (default 256; 0 turns the
// cache off and keeps libtorch's default allocator). A free that would exceed
// the limit first returns every idle block to malloc, so a cache filled by an
// earlier workload's sizes does not stay pinned.
#pragma once
#include <cstddef>

namespace f2g {

/// Installs the caching allocator as libtorch's CPU allocator (idempotent).
void InstallTorchCpuCache();

/// The cache's limit on idle blocks in MiB (0: the cache is off).
std::size_t TorchCpuCacheCapMB();

}  // namespace f2g

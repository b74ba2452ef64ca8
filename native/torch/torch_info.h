// libtorch build information for capabilities() (only compiled with libtorch).
#pragma once
#include <napi.h>
namespace f2g {
/// Sets torch: true, torchVersion, torchCuda (CUDA usable), torchThreads,
/// torchCpuCacheMB (limit of the CPU tensor cache, 0: off).
void AddTorchCapabilities(Napi::Env env, Napi::Object o);
/// Sets libtorch's intra-op thread count once (libtorch may start with one).
void EnsureTorchThreads();
}  // namespace f2g

// libtorch build information for capabilities() (compiled only with libtorch;
// this header itself includes no libtorch header).
#pragma once
#include <napi.h>
namespace f2g {
/// Sets torch: true, torchVersion, torchCuda (CUDA usable), torchThreads,
/// torchCpuCacheMB (limit of the CPU tensor cache, 0: off).
void AddTorchCapabilities(Napi::Env env, Napi::Object o);
}  // namespace f2g

// The libtorch fields of capabilities(): torch: true, torchVersion, torchCuda
// (CUDA usable by libtorch), torchThreads, torchCpuCacheMB (limit of the CPU
// tensor cache, 0: off) and distributed (process groups available).
#include <torch/torch.h>

#include "bindings/napi_util.h"
#include "torch/cpu_cache.h"
#include "torch/distributed.h"
#include "torch/torch_info.h"

namespace f2g {
namespace {

void AddTorchCapabilities(Napi::Env, Napi::Object o) {
  EnsureTorchThreads();
  o.Set("torch", true);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("torchCuda", torch::cuda::is_available());
  o.Set("torchThreads", static_cast<double>(torch::get_num_threads()));
  o.Set("distributed", dist::Available());
  o.Set("torchCpuCacheMB", static_cast<double>(TorchCpuCacheCapMB()));
}

}  // namespace

F2G_CAPABILITIES(torch, AddTorchCapabilities);

}  // namespace f2g

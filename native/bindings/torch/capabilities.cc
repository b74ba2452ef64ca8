#include "bindings/torch/capabilities.h"

#include <torch/torch.h>

#include "torch/cpu_cache.h"
#include "torch/torch_info.h"

namespace f2g {

void AddTorchCapabilities(Napi::Env env, Napi::Object o) {
  EnsureTorchThreads();
  o.Set("torch", true);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("torchCuda", torch::cuda::is_available());
  o.Set("torchThreads", static_cast<double>(torch::get_num_threads()));
  o.Set("torchCpuCacheMB", static_cast<double>(TorchCpuCacheCapMB()));
}

}  // namespace f2g

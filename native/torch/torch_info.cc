#include "torch/torch_info.h"

#include <torch/torch.h>

#include <mutex>

#include "kernels/pool.h"
#include "torch/cpu_cache.h"

namespace f2g {

void EnsureTorchThreads() {
  static std::once_flag once;
  std::call_once(once, [] {
    InstallTorchCpuCache();
    int n = static_cast<int>(hardware_threads());
    if (const char* env = std::getenv("FEAT2GO_TORCH_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    torch::set_num_threads(n);
  });
}

}  // namespace f2g

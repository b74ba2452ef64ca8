#include "torch/cpu_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace f2g {
namespace {

constexpr std::size_t kAlign = 64;             // c10's CPU alignment
constexpr std::size_t kHeader = kAlign;        // block size stored before the data
constexpr std::size_t kMinCached = 64 * 1024;  // smaller blocks stay with malloc
constexpr std::size_t kRound = 4096;

struct Cache {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free;  // rounded size → bases
  std::size_t idle = 0, cap = 0;
};

Cache& TheCache() {
  static Cache* c = new Cache();  // leaked: tensors may be freed during exit
  return *c;
}

void* RawAlloc(std::size_t total) {
  void* base = nullptr;
  if (posix_memalign(&base, kAlign, total) != 0 || !base) throw std::bad_alloc();
  return base;
}

void Delete(void* data) {
  if (!data) return;
  char* base = static_cast<char*>(data) - kHeader;
  const std::size_t size = *reinterpret_cast<std::size_t*>(base);
  if (size >= kMinCached) {
    Cache& c = TheCache();
    std::vector<void*> stale;
    {
      std::lock_guard<std::mutex> lock(c.mu);
      if (c.idle + size > c.cap) {
        // Full: drop every idle block (sizes of an earlier workload would
        // otherwise pin the cache), then keep this one if it fits alone.
        for (auto& [sz, blocks] : c.free) stale.insert(stale.end(), blocks.begin(), blocks.end());
        c.free.clear();
        c.idle = 0;
      }
      if (size <= c.cap) {
        c.free[size].push_back(base);
        c.idle += size;
        base = nullptr;
      }
    }
    for (void* b : stale) std::free(b);
  }
  std::free(base);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(std::size_t n) const override {
    std::size_t size = n < kMinCached ? n : (n + kRound - 1) / kRound * kRound;
    void* base = nullptr;
    if (size >= kMinCached) {
      Cache& c = TheCache();
      std::lock_guard<std::mutex> lock(c.mu);
      auto it = c.free.find(size);
      if (it != c.free.end() && !it->second.empty()) {
        base = it->second.back();
        it->second.pop_back();
        c.idle -= size;
      }
    }
    if (!base) {
      base = RawAlloc(size + kHeader);
      *static_cast<std::size_t*>(base) = size;
    }
    void* data = static_cast<char*>(base) + kHeader;
    return {data, data, &Delete, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Delete; }
};

}  // namespace

void InstallTorchCpuCache() {
  static std::once_flag once;
  std::call_once(once, [] {
    long mb = 256;
    if (const char* env = std::getenv("FEAT2GO_TORCH_CACHE_MB")) {
      char* end = nullptr;
      const long v = std::strtol(env, &end, 10);
      if (end != env && v >= 0) mb = v;
    }
    if (mb == 0) return;
    TheCache().cap = static_cast<std::size_t>(mb) << 20;
    static CachingCpuAllocator* alloc = new CachingCpuAllocator();  // leaked on purpose
    c10::SetCPUAllocator(alloc, /*priority=*/1);
  });
}

std::size_t TorchCpuCacheCapMB() {
  InstallTorchCpuCache();
  return TheCache().cap >> 20;
}

}  // namespace f2g

// Device buffers for the C++ CUDA tests and the benchmark (RAII over api.h).
#pragma once
#include <cstdint>
#include <vector>

#include "cuda/api.h"

namespace f2gtest {

template <class T>
struct DevBuf {
  T* p = nullptr;
  std::size_t n = 0;
  explicit DevBuf(std::size_t count) : n(count) {
    p = static_cast<T*>(f2g::cuda::malloc_device(count * sizeof(T), "test alloc"));
  }
  explicit DevBuf(const std::vector<T>& h) : DevBuf(h.size()) {
    f2g::cuda::copy_h2d(p, h.data(), n * sizeof(T), nullptr, "test upload");
    f2g::cuda::stream_sync(nullptr, "test upload");
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { f2g::cuda::free_device(p); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    f2g::cuda::copy_d2h(h.data(), p, n * sizeof(T), nullptr, "test download");
    f2g::cuda::stream_sync(nullptr, "test download");
    return h;
  }
};

}  // namespace f2gtest

#include "kernels/memprobe.h"

#include <mutex>

#include "kernels/dispatch.h"
#include "kernels/pool.h"

namespace f2g {
namespace {
F2G_MULTIVERSION double SumChunk(const float* x, std::size_t n) {
  float a = 0.f;
#pragma omp simd reduction(+ : a)
  for (std::size_t i = 0; i < n; ++i) a += x[i];
  return a;
}
}  // namespace

double read_probe(const float* data, std::size_t n, std::size_t threads) {
  std::mutex mu;
  double total = 0.0;
  // 64 Ki floats (256 KiB) per grain, like a frame of a [*,256,1024] episode.
  parallel_for(n, threads, 1 << 16, [&](std::size_t b, std::size_t e) {
    double s = 0.0;
    for (std::size_t i = b; i < e; i += 4096) {
      std::size_t m = e - i < 4096 ? e - i : 4096;
      s += SumChunk(data + i, m);
    }
    std::lock_guard<std::mutex> lk(mu);
    total += s;
  });
  return total;
}
}  // namespace f2g

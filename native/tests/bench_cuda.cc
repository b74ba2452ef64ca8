// CUDA throughput of patch similarity and GAE as a fraction of the device's
// measured device-to-device copy bandwidth (target ≥ 70 %), plus a few other
// kernels for reference. Run by scripts/gpu-check.sh; needs no Node.
// Prints "SKIP bench_cuda: ..." and exits 77 without a device.
//
// Bandwidth = bytes the kernel must move (inputs read once + outputs written)
// / time; the copy moves 2 × its size (read + write). Times are the median of
// `reps` runs, each bracketed by a stream synchronisation.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/api.h"
#include "data.h"
#include "device.h"

using namespace f2g;
using f2gtest::DevBuf;

namespace {

double median_ms(int reps, const std::function<void()>& fn) {
  fn();  // warm-up (first launch, allocator pools)
  cuda::stream_sync(nullptr, "bench");
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    cuda::stream_sync(nullptr, "bench");
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Line {
  std::string name;
  double ms, gbs, frac;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string why = cuda::unavailable_reason();
  if (!why.empty()) SKIP_ALL("bench_cuda", "no CUDA device (" + why + ")");
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const cuda::DeviceInfo d = cuda::device_info(0);
  std::printf("device 0: %s (sm_%d%d, %.1f GiB)\n", d.name.c_str(), d.major, d.minor,
              d.memory / 1073741824.0);

  // Device-to-device copy of 1 GiB.
  const std::size_t copy_bytes = std::size_t{1} << 30;
  double copy_gbs = 0;
  {
    DevBuf<char> a(copy_bytes), b(copy_bytes);
    cuda::memset_async(a.p, 1, copy_bytes, nullptr, "bench");
    const double ms = median_ms(reps, [&] { cuda::copy_d2d(b.p, a.p, copy_bytes, nullptr, "bench"); });
    copy_gbs = 2.0 * copy_bytes / (ms * 1e6);
    std::printf("d2d copy: %.3f ms for 1 GiB -> %.1f GB/s (read + write)\n", ms, copy_gbs);
  }
  std::vector<Line> lines;
  auto add = [&](const std::string& name, double ms, double bytes) {
    const double gbs = bytes / (ms * 1e6);
    lines.push_back({name, ms, gbs, 100.0 * gbs / copy_gbs});
  };
  f2gtest::Rng rng(7);

  // Patch similarity [T,N,D] = [512,256,768] (403 MB of features).
  {
    const std::size_t T = 512, N = 256, D = 768;
    DevBuf<float> x(T * N * D), g(rng.normals(N * D)), out(T);
    {
      std::vector<float> h = rng.normals(N * D);
      for (std::size_t t = 0; t < T; ++t)
        cuda::copy_h2d(x.p + t * N * D, h.data(), N * D * 4, nullptr, "bench");
    }
    const double ms =
        median_ms(reps, [&] { cuda::patch_similarity(x.p, T, N, D, g.p, 1.0, out.p, nullptr); });
    add("patchSimilarity [512,256,768]", ms, 4.0 * (T * N * D + N * D + T));
  }
  // GAE time-major [T,B] = [512,16384], uint8 flags: reads r, V, V' (float) and
  // two flags, writes A and returns: 22 bytes per element.
  for (int tm = 1; tm >= 0; --tm) {
    const std::size_t B = 16384, T = 512, n = B * T;
    DevBuf<float> r(n), v(n), nv(n), a(n), ret(n);
    DevBuf<std::uint8_t> term(n), done(n);
    cuda::memset_async(r.p, 0, n * 4, nullptr, "bench");
    cuda::memset_async(v.p, 0, n * 4, nullptr, "bench");
    cuda::memset_async(nv.p, 0, n * 4, nullptr, "bench");
    cuda::memset_async(term.p, 0, n, nullptr, "bench");
    cuda::memset_async(done.p, 0, n, nullptr, "bench");
    DevBuf<int> status(1);
    const double ms = median_ms(reps, [&] {
      cuda::gae(r.p, v.p, nv.p, {term.p, nullptr}, {done.p, nullptr}, B, T, 0.99, 0.95, tm == 1, a.p, ret.p,
                status.p, nullptr);
    });
    add(tm ? "gae time-major [T=512,B=16384]" : "gae batch-major [B=16384,T=512]", ms, 22.0 * n);
  }
  // Clipped surrogate [B,T] = [4096,2048], no mask: reads 3 floats per step.
  {
    const std::size_t B = 4096, T = 2048, n = B * T;
    DevBuf<float> lp(n), olp(n), adv(n);
    cuda::memset_async(lp.p, 0, n * 4, nullptr, "bench");
    cuda::memset_async(olp.p, 0, n * 4, nullptr, "bench");
    cuda::memset_async(adv.p, 0, n * 4, nullptr, "bench");
    DevBuf<cuda::LossOut> out(1);
    const double ms = median_ms(reps, [&] {
      cuda::clipped_surrogate(lp.p, olp.p, adv.p, {}, B, T, 0.2, 0.2, 0, rl::Aggregation::kTokenMean, out.p,
                              nullptr);
    });
    add("clippedSurrogate [4096,2048]", ms, 12.0 * n);
  }

  std::printf("\n%-34s %10s %10s %12s\n", "kernel", "ms", "GB/s", "% of copy");
  bool target = true;
  for (const Line& l : lines) {
    std::printf("%-34s %10.3f %10.1f %11.1f%%\n", l.name.c_str(), l.ms, l.gbs, l.frac);
    if ((l.name.rfind("patchSimilarity", 0) == 0 || l.name.rfind("gae time-major", 0) == 0) && l.frac < 70.0)
      target = false;
  }
  std::printf("bench_cuda: target (patch similarity and time-major GAE >= 70%% of copy bandwidth) %s\n",
              target ? "met" : "NOT met");
  return 0;
}

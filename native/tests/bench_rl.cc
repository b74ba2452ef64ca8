// CPU timing of the RL loss kernels without Node (not a test: ctest does not
// run it). Built with the tests: build-tests/bench_rl after
// scripts/test-native.sh. Best of 15 calls, ms, for [4096,256]; MODE=0 uint8
// mask (default), 1 float mask, 2 no mask. Speed belongs here and in bench/,
// never in the tests; `npm run bench -- rl` is the reference benchmark.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "kernels/rl.h"
#include "kernels/simd.h"

using namespace f2g::rl;

namespace {
template <class F>
double best_ms(F f, int runs = 15) {
  double b = 1e30;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (ms < b) b = ms;
  }
  return b;
}
}  // namespace

int main() {
  const std::size_t B = 4096, T = 256, n = B * T;
  std::vector<float> lp(n), olp(n), a(n), v(n), R(n), ov(n), out(n);
  std::vector<std::uint8_t> m(n);
  std::mt19937 g(1);
  std::normal_distribution<float> d(0, 0.1f);
  for (std::size_t i = 0; i < n; ++i) {
    lp[i] = d(g) - 1;
    olp[i] = d(g) - 1;
    a[i] = d(g) * 10;
    m[i] = (i % 7) != 0;
    v[i] = d(g) * 10;
    R[i] = d(g) * 10;
    ov[i] = v[i] + d(g) * 3;
  }
  std::vector<float> mf(m.begin(), m.end());
  FlagView fv;
  const int mode = std::getenv("MODE") ? std::atoi(std::getenv("MODE")) : 0;
  if (mode == 0) fv.u8 = m.data();
  else if (mode == 1) fv.f32 = mf.data();
  SurrogateParams sp{0.2, 0.28, 3, Aggregation::kTokenMean};
  ValueLossParams vclip{0.2, 1.0, Aggregation::kTokenMean}, vplain{0, 0, Aggregation::kTokenMean};
  std::vector<std::int32_t> len(B);
  for (std::size_t b = 0; b < B; ++b) len[b] = 1 + static_cast<std::int32_t>(b * 37 % T);
  volatile double sink = 0;
  std::printf("bench_rl [%zu,%zu], %s mask, simd %s, ms (best of 15):\n", B, T,
              mode == 0   ? "uint8"
              : mode == 1 ? "float"
                          : "no",
              f2g::simd_level());
  for (std::size_t th : {1, 2}) {
    std::printf("threads %zu:", th);
    std::printf(" surrogate %.2f", best_ms([&] {
                  sink = clipped_surrogate(lp.data(), olp.data(), a.data(), fv, B, T, sp, th).loss;
                }));
    std::printf(" value(clip,huber) %.2f", best_ms([&] {
                  sink = clipped_value_loss(v.data(), R.data(), ov.data(), fv, B, T, vclip, th).loss;
                }));
    std::printf(" value %.2f", best_ms([&] {
                  sink = clipped_value_loss(v.data(), R.data(), nullptr, fv, B, T, vplain, th).loss;
                }));
    std::printf(
        " kl-k3 %.2f", best_ms([&] {
          sink =
              kl_penalty(lp.data(), olp.data(), fv, B, T, KlEstimator::kK3, Aggregation::kTokenMean, th).loss;
        }));
    std::printf(" normalize %.2f", best_ms([&] {
                  sink = normalize_advantages(a.data(), fv, n, 1e-8, true, out.data(), th).mean;
                }));
    std::printf(" stepAdvantages %.2f\n", best_ms([&] {
                  sink = step_advantages(a.data(), len.data(), B, T, 0.99, out.data(), th, false);
                }));
  }
  (void)sink;
  return 0;
}

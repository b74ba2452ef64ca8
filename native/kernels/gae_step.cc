// Step-by-step GAE (SPEC §6): the kernel for CPUs without AVX-512, where it
// beats the blocked scan of gae.cc (which needs the 8 double lanes of a
// 512-bit register to pay off). gae() in gae.cc picks between them.
//
// Batch-major rows are processed 4 at a time: δ vectorised along t, then 4
// interleaved scalar recursions; time-major vectorises the recursion across
// columns. Both layouts perform the same operations per element, so they give
// bit-identical results. Hot loops are target_clones'd (AVX2 / baseline).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/gae_step.h"
#include "kernels/pool.h"
#include "kernels/rl_checks.h"

namespace f2g {
namespace rl {
namespace {

using namespace checks;  // fin, flag_bad, flag_val, u8_to_f32, kChunk, flag_row

// Phase 1 over n contiguous steps: δ and c into float scratch, plus the data check.
template <bool kC, class FT, class FD>
F2G_INLINE float gae_delta_t(const float* r, const float* v, const float* nv, const FT* term, const FD* done,
                             std::size_t n, float gamma, float* d, float* c) {
  float chk = 0.f;
#pragma omp simd simdlen(16) reduction(+ : chk)
  for (std::size_t t = 0; t < n; ++t) {
    const float ft = flag_val(term[t]), fd = flag_val(done[t]);
    (void)fd;
    d[t] = r[t] + (gamma - gamma * ft) * nv[t] - v[t];
    if (kC) c[t] = 1.f - fd;  // exact; γλ is applied in double by the recursion
    chk += fin(r[t]) + fin(v[t]) + fin(nv[t]) + flag_bad(term[t]) + flag_bad(done[t]);
  }
  return chk;
}

// kC = false: δ only (c is not written; the caller reads the done flags).
template <bool kC>
F2G_INLINE float gae_delta_c(const float* r, const float* v, const float* nv, FlagView term, FlagView done,
                             std::size_t n, float gamma, float* d, float* c) {
  if (!term.u8 && !done.u8) return gae_delta_t<kC>(r, v, nv, term.f32, done.f32, n, gamma, d, c);
  float tb[kChunk], db[kChunk], chk = 0.f;
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t m = std::min(kChunk, n - i);
    const float* tf = term.f32 ? term.f32 + i : tb;
    const float* df = done.f32 ? done.f32 + i : db;
    if (term.u8) u8_to_f32(term.u8 + i, m, tb);
    if (done.u8) u8_to_f32(done.u8 + i, m, db);
    chk += gae_delta_t<kC>(r + i, v + i, nv + i, tf, df, m, gamma, d + i, c + i);
  }
  return chk;
}

F2G_MULTIVERSION float gae_delta(const float* r, const float* v, const float* nv, FlagView term,
                                 FlagView done, std::size_t n, float gamma, float* d, float* c) {
  return gae_delta_c<true>(r, v, nv, term, done, n, gamma, d, c);
}
F2G_MULTIVERSION float gae_delta_only(const float* r, const float* v, const float* nv, FlagView term,
                                      FlagView done, std::size_t n, float gamma, float* d) {
  return gae_delta_c<false>(r, v, nv, term, done, n, gamma, d, nullptr);
}

// Batch-major phase 2: the backward recursion for K rows at once
// (independent FMA chains hide the latency); A into double scratch. Scratch
// rows are `S` elements apart (S = T + padding, so that the K rows do not
// fall into the same L1 sets when T is a multiple of 1024).
// The recursion runs only after the block's flags were checked to be 0/1, so
// a uint8 flag indexes {γλ, 0}; both forms give exactly (1 − done)·γλ.
F2G_INLINE double gae_keep(std::uint8_t f, const double* g2) { return g2[f]; }
F2G_INLINE double gae_keep(float f, const double* g2) { return static_cast<double>(1.f - f) * g2[0]; }
template <int K, class FD>
F2G_INLINE void gae_recursion(const float* d, const FD* done, std::size_t T, std::size_t S, double gl,
                              double* A) {
  const double g2[2] = {gl, 0.0};
  double a[K];
  for (int k = 0; k < K; ++k) a[k] = 0.0;
  for (std::size_t t = T; t-- > 0;) {
    for (int k = 0; k < K; ++k) {
      a[k] = static_cast<double>(d[k * S + t]) + gae_keep(done[k * T + t], g2) * a[k];
      A[k * S + t] = a[k];
    }
  }
}
template <int K>
F2G_MULTIVERSION void gae_recursion_k(const float* d, FlagView done, std::size_t T, std::size_t S, double gl,
                                      double* A) {
  if (done.u8) gae_recursion<K>(d, done.u8, T, S, gl, A);
  else gae_recursion<K>(d, done.f32, T, S, gl, A);
}

// Batch-major phase 3 (vectorised along t): advantages and returns of one row.
F2G_MULTIVERSION void gae_store(const double* A, const float* v, std::size_t T, float* adv, float* ret) {
#pragma omp simd simdlen(8)
  for (std::size_t t = 0; t < T; ++t) {
    adv[t] = static_cast<float>(A[t]);
    ret[t] = static_cast<float>(A[t] + static_cast<double>(v[t]));
  }
}

bool gae_batch_major(const GaeInputs& in, std::size_t B, std::size_t T, float gamma, double gl, float* adv,
                     float* ret, std::size_t threads) {
  constexpr std::size_t K = 4;  // rows per block (measured: 4 beats 8 and 16)
  const std::size_t nblocks = (B + K - 1) / K;
  std::vector<char> bad(nblocks, 0);
  const std::size_t grain =
      std::max<std::size_t>(1, (std::size_t{1} << 14) / std::max<std::size_t>(K * T, 1));
  parallel_for(nblocks, threads, grain, [&](std::size_t k0, std::size_t k1) {
    // Scratch row stride: padded when T·4 B is a multiple of 1 KiB, so that the
    // K rows do not fall into the same L1 sets; otherwise S = T and the K rows
    // of a block, contiguous in the input, get their δ in one call.
    const bool pad = T % 256 == 0;
    const std::size_t S = pad ? T + 24 : T;
    std::vector<float> d(K * S);  // δ of K rows
    std::vector<double> A(K * S);
    for (std::size_t blk = k0; blk < k1; ++blk) {
      const std::size_t b = blk * K, k_n = std::min(K, B - b);
      float chk = 0.f;
      if (!pad) {
        const std::size_t o = b * T;
        chk = gae_delta_only(in.rewards + o, in.values + o, in.next_values + o, flag_row(in.terminated, o),
                             flag_row(in.done, o), k_n * T, gamma, d.data());
      } else {
        for (std::size_t k = 0; k < k_n; ++k) {
          const std::size_t o = (b + k) * T;
          chk += gae_delta_only(in.rewards + o, in.values + o, in.next_values + o, flag_row(in.terminated, o),
                                flag_row(in.done, o), T, gamma, d.data() + k * S);
        }
      }
      if (chk != 0.f) {  // also true for NaN
        bad[blk] = 1;
        continue;
      }
      if (k_n == K) {
        gae_recursion_k<4>(d.data(), flag_row(in.done, b * T), T, S, gl, A.data());
      } else {
        for (std::size_t k = 0; k < k_n; ++k)
          gae_recursion_k<1>(d.data() + k * S, flag_row(in.done, (b + k) * T), T, S, gl, A.data() + k * S);
      }
      for (std::size_t k = 0; k < k_n; ++k) {
        const std::size_t o = (b + k) * T;
        gae_store(A.data() + k * S, in.values + o, T, adv + o, ret + o);
      }
    }
  });
  return std::find(bad.begin(), bad.end(), 1) == bad.end();
}

// Time-major [T,B]: the recursion is vectorised across a block of columns.
F2G_MULTIVERSION void gae_tm_step(const float* d, const float* c, const float* v, std::size_t n, double gl,
                                  double* A, float* adv, float* ret) {
#pragma omp simd simdlen(8)
  for (std::size_t j = 0; j < n; ++j) {
    const double a = static_cast<double>(d[j]) + (static_cast<double>(c[j]) * gl) * A[j];
    A[j] = a;
    adv[j] = static_cast<float>(a);
    ret[j] = static_cast<float>(a + static_cast<double>(v[j]));
  }
}

bool gae_time_major(const GaeInputs& in, std::size_t B, std::size_t T, float gamma, double gl, float* adv,
                    float* ret, std::size_t threads) {
  constexpr std::size_t kBlock = 512;  // columns per block
  const std::size_t nblocks = (B + kBlock - 1) / kBlock;
  std::vector<char> bad(nblocks, 0);
  parallel_for(nblocks, threads, 1, [&](std::size_t k0, std::size_t k1) {
    double A[kBlock];
    float d[kBlock], c[kBlock];
    for (std::size_t blk = k0; blk < k1; ++blk) {
      const std::size_t j0 = blk * kBlock, n = std::min(kBlock, B - j0);
      float chk = 0.f;
      std::fill(A, A + n, 0.0);
      for (std::size_t t = T; t-- > 0;) {
        const std::size_t o = t * B + j0;
        chk += gae_delta(in.rewards + o, in.values + o, in.next_values + o, flag_row(in.terminated, o),
                         flag_row(in.done, o), n, gamma, d, c);
        gae_tm_step(d, c, in.values + o, n, gl, A, adv + o, ret + o);
      }
      if (chk != 0.f) bad[blk] = 1;
    }
  });
  return std::find(bad.begin(), bad.end(), 1) == bad.end();
}

}  // namespace

bool gae_step(const GaeInputs& in, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
              float* advantages, float* returns, std::size_t threads) {
  if (B == 0 || T == 0) return true;
  const float g = static_cast<float>(gamma);  // per-step δ only: no compounding
  const double gl = gamma * lambda;           // the recursion's factor stays double
  return time_major ? gae_time_major(in, B, T, g, gl, advantages, returns, threads)
                    : gae_batch_major(in, B, T, g, gl, advantages, returns, threads);
}

}  // namespace rl
}  // namespace f2g

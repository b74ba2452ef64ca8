// RL kernels (SPEC §6–8) on the GPU. Per-element arithmetic is in bodies.h
// (shared with the host tests); this file adds threads and reductions.
// Agreement with the CPU kernels: GAE, GRPO and step advantages to float
// rounding (relative 1e-6; the tests allow 1e-5·(1+|x|)); losses are sums in
// double of the same float terms, in another order (relative 1e-6).
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/api.h"
#include "cuda/bodies.h"
#include "cuda/common.cuh"

namespace f2g {
namespace cuda {
namespace {

inline hd::Flags hflags(DevFlags f) { return hd::Flags{f.u8, f.f32}; }

// ---------------------------------------------------------------- GAE

constexpr int kGaeChunk = 16;

// One thread per environment. Loads of kGaeChunk (16) steps are issued before the
// recursion consumes them (they do not depend on it), so each thread keeps
// several loads in flight; time-major makes each warp's loads one segment.
__global__ void gae_kernel(const float* r, const float* v, const float* nv, hd::Flags term, hd::Flags done,
                           std::size_t B, std::size_t T, float gf, double gl, bool time_major, float* adv,
                           float* ret, int* status) {
  const std::size_t b = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= B) return;
  double a = 0.0;
  bool ok = true;
  for (std::size_t end = T; end > 0;) {
    const std::size_t n = end >= kGaeChunk ? kGaeChunk : end;
    float cr[kGaeChunk], cv[kGaeChunk], cn[kGaeChunk], ct[kGaeChunk], cd[kGaeChunk];
#pragma unroll
    for (int k = 0; k < kGaeChunk; ++k) {
      if (k < static_cast<int>(n)) {
        const std::size_t t = end - 1 - k;
        const std::size_t i = time_major ? t * B + b : b * T + t;
        cr[k] = __ldcs(r + i);
        cv[k] = __ldcs(v + i);
        cn[k] = __ldcs(nv + i);
        ct[k] = hd::flag_at(term, i, 0.f);
        cd[k] = hd::flag_at(done, i, 0.f);
      }
    }
#pragma unroll
    for (int k = 0; k < kGaeChunk; ++k) {
      if (k < static_cast<int>(n)) {
        const std::size_t t = end - 1 - k;
        const std::size_t i = time_major ? t * B + b : b * T + t;
        a = hd::gae_step(cr[k], cv[k], cn[k], ct[k], cd[k], gf, gl, a);
        __stcs(adv + i, static_cast<float>(a));
        __stcs(ret + i, static_cast<float>(a + static_cast<double>(cv[k])));
        ok = ok && hd::gae_inputs_ok(cr[k], cv[k], cn[k], ct[k], cd[k]);
      }
    }
    end -= n;
  }
  if (!ok && status) atomicOr(status, 1);
}

// ---------------------------------------------------------------- GRPO

constexpr int kRedThreads = 256;

// Block-wide sum in double (fixed tree order, so deterministic).
__device__ double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int o = blockDim.x / 2; o > 0; o >>= 1) {
    if (static_cast<int>(threadIdx.x) < o) sh[threadIdx.x] += sh[threadIdx.x + o];
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();
  return r;
}

// std of all n rewards (SPEC §7, batch scale): one block, two passes.
__global__ void batch_std_kernel(const float* R, std::size_t n, rl::StdKind kind, double* out) {
  __shared__ double sh[kRedThreads];
  double s = 0;
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) s += R[i];
  const double mean = block_sum(s, sh) / static_cast<double>(n);
  double q = 0;
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = R[i] - mean;
    q += d * d;
  }
  q = block_sum(q, sh);
  if (threadIdx.x == 0) {
    if (kind == rl::StdKind::kPopulation) *out = sqrt(q / static_cast<double>(n));
    else *out = n > 1 ? sqrt(q / static_cast<double>(n - 1)) : 0.0;
  }
}

__global__ void grpo_kernel(const float* R, std::size_t groups, std::size_t g, double eps, rl::StdKind kind,
                            bool batch_scale, const double* batch_std, float* out, int* status) {
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= groups) return;
  const double bs = batch_scale ? *batch_std : 1.0;
  if (!hd::grpo_group(R + k * g, g, eps, kind, batch_scale, bs, out + k * g) && status) atomicOr(status, 1);
}

__global__ void step_adv_kernel(const float* adv, const std::int32_t* lengths, std::size_t B, std::size_t H,
                                double gamma, float* out, int* status) {
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= B * H) return;
  const std::size_t b = k / H, t = k % H;
  const float a = adv[b];
  if (t == 0 && !hd::finite(a) && status) atomicOr(status, 1);
  out[k] = hd::step_advantage(a, lengths[b], t, gamma);
}

// ---------------------------------------------------------------- losses

constexpr int kLossThreads = 256;

// Block-wide sum of RowSums into thread 0 (tree order: deterministic).
__device__ hd::RowSums block_rows(hd::RowSums r) {
  __shared__ hd::RowSums sh[kLossThreads];
  sh[threadIdx.x] = r;
  __syncthreads();
  for (int o = kLossThreads / 2; o > 0; o >>= 1) {
    if (static_cast<int>(threadIdx.x) < o) hd::row_merge(sh[threadIdx.x], sh[threadIdx.x + o]);
    __syncthreads();
  }
  return sh[0];
}

enum LossKind { kSurrogate, kValue, kKl };

// One block per row: each thread sums a strided slice of the row's steps.
template <int kKind>
__global__ void __launch_bounds__(kLossThreads)
    loss_rows_kernel(const float* a0, const float* a1, const float* a2, hd::Flags mask, std::size_t T,
                     float p0, float p1, float p2, rl::KlEstimator est, hd::RowSums* rows) {
  const std::size_t row = blockIdx.x;
  hd::RowSums acc = hd::row_zero();
  for (std::size_t t = threadIdx.x; t < T; t += kLossThreads) {
    const std::size_t i = row * T + t;
    hd::StepTerm st;
    if (kKind == kSurrogate) st = hd::surrogate_step(a0[i], a1[i], a2[i], p0, p1, p2);
    else if (kKind == kValue) st = hd::value_step(a0[i], a1[i], a2 ? a2[i] : 0.f, a2 != nullptr, p0, p1);
    else st = hd::kl_step(a0[i], a1[i], est);
    hd::row_add(acc, st, hd::flag_at(mask, i, 1.f));
  }
  const hd::RowSums total = block_rows(acc);
  if (threadIdx.x == 0) rows[row] = total;
}

__global__ void aggregate_kernel(const hd::RowSums* rows, std::size_t B, rl::Aggregation agg, int kind,
                                 LossOut* out) {
  hd::LossOut r = hd::aggregate_rows(rows, B, agg);
  if (kind != kSurrogate) r.dual_clip_fraction = r.approx_kl = 0;
  if (kind == kKl) r.clip_fraction = 0;
  *out = LossOut{r.loss, r.clip_fraction, r.dual_clip_fraction, r.approx_kl, r.masked, r.ok};
}

template <int kKind>
void run_loss(const float* a0, const float* a1, const float* a2, DevFlags mask, std::size_t B, std::size_t T,
              float p0, float p1, float p2, rl::KlEstimator est, rl::Aggregation agg, LossOut* d_out,
              Stream s, const char* call) {
  hd::RowSums* rows = static_cast<hd::RowSums*>(malloc_async((B ? B : 1) * sizeof(hd::RowSums), s, call));
  if (B > 0 && T > 0)
    loss_rows_kernel<kKind><<<static_cast<unsigned>(B), kLossThreads, 0, as_stream(s)>>>(
        a0, a1, a2, hflags(mask), T, p0, p1, p2, est, rows);
  else if (B > 0) memset_async(rows, 0, B * sizeof(hd::RowSums), s, call);
  aggregate_kernel<<<1, 1, 0, as_stream(s)>>>(rows, B, agg, kKind, d_out);
  free_async(rows, s);
  check_launch(call);
}

}  // namespace

void gae(const float* d_rewards, const float* d_values, const float* d_next_values, DevFlags terminated,
         DevFlags done, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
         float* d_advantages, float* d_returns, int* d_status, Stream s) {
  if (B == 0 || T == 0) return;
  // 64-thread blocks: one thread per environment is few threads (B), so small
  // blocks spread them over more SMs (113 registers per thread, no spills, sm_90).
  gae_kernel<<<blocks_for(B, 64), 64, 0, as_stream(s)>>>(
      d_rewards, d_values, d_next_values, hflags(terminated), hflags(done), B, T, static_cast<float>(gamma),
      gamma * lambda, time_major, d_advantages, d_returns, d_status);
  check_launch("gae");
}

void grpo_advantages(const float* d_R, std::size_t n, std::size_t group_size, double epsilon,
                     rl::StdKind kind, bool batch_scale, float* d_out, int* d_status, Stream s) {
  if (n == 0 || group_size == 0) return;
  const bool batch = batch_scale && kind != rl::StdKind::kNone;
  double* bs = nullptr;
  if (batch) {
    bs = static_cast<double*>(malloc_async(sizeof(double), s, "grpoAdvantages"));
    batch_std_kernel<<<1, kRedThreads, 0, as_stream(s)>>>(d_R, n, kind, bs);
  }
  const std::size_t groups = n / group_size;
  grpo_kernel<<<blocks_for(groups, 128), 128, 0, as_stream(s)>>>(d_R, groups, group_size, epsilon, kind,
                                                                 batch, bs, d_out, d_status);
  if (bs) free_async(bs, s);
  check_launch("grpoAdvantages");
}

void step_advantages(const float* d_adv, const std::int32_t* d_lengths, std::size_t B, std::size_t horizon,
                     double gamma, float* d_out, int* d_status, Stream s) {
  if (B == 0 || horizon == 0) return;
  step_adv_kernel<<<blocks_for(B * horizon, 256), 256, 0, as_stream(s)>>>(d_adv, d_lengths, B, horizon, gamma,
                                                                          d_out, d_status);
  check_launch("stepAdvantages");
}

void clipped_surrogate(const float* d_lp, const float* d_olp, const float* d_adv, DevFlags mask,
                       std::size_t B, std::size_t T, double clip_low, double clip_high, double dual_clip,
                       rl::Aggregation aggregation, LossOut* d_out, Stream s) {
  run_loss<kSurrogate>(d_lp, d_olp, d_adv, mask, B, T, static_cast<float>(1.0 - clip_low),
                       static_cast<float>(1.0 + clip_high), static_cast<float>(dual_clip),
                       rl::KlEstimator::kK3, aggregation, d_out, s, "clippedSurrogate");
}

void value_loss(const float* d_v, const float* d_R, const float* d_old, DevFlags mask, std::size_t B,
                std::size_t T, double clip, double huber_delta, rl::Aggregation aggregation, LossOut* d_out,
                Stream s) {
  run_loss<kValue>(d_v, d_R, clip > 0 ? d_old : nullptr, mask, B, T, static_cast<float>(clip),
                   static_cast<float>(huber_delta), 0.f, rl::KlEstimator::kK3, aggregation, d_out, s,
                   "valueLoss");
}

void kl_penalty(const float* d_lp, const float* d_ref, DevFlags mask, std::size_t B, std::size_t T,
                rl::KlEstimator est, rl::Aggregation aggregation, LossOut* d_out, Stream s) {
  run_loss<kKl>(d_lp, d_ref, nullptr, mask, B, T, 0.f, 0.f, 0.f, est, aggregation, d_out, s, "klPenalty");
}

}  // namespace cuda
}  // namespace f2g

// Progress-target kernels (SPEC §1–3) on the GPU: patch similarity, sliding
// slopes, and the whole backward segmentation with structural values per
// episode. The arithmetic is the bodies of bodies.h (shared with the host
// tests); this file adds the thread decomposition and the reductions.
//
// The cosine is the one of docs/progress.md (no floor on ‖x‖‖g‖, zero patches
// defined, patches outside the float range recomputed in double: the rule of
// hd::patch_fast, the same as the CPU kernel's). Results agree with the CPU
// kernels to float rounding of the reductions (|ΔS| ≲ 1e-6 for unit-scale
// features; tests use 1e-5 absolute, the SPEC §1 tolerance). Segment cuts are identical unless a window slope lies within
// that rounding of the threshold τ.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/api.h"
#include "cuda/bodies.h"
#include "cuda/common.cuh"

namespace f2g {
namespace cuda {
namespace {

using hd::PatchSums;
using hd::WideSums;

// Sums of one patch pair over D, by the calling warp; every lane gets the totals.
// float4 loads when both rows are 16-byte aligned (D % 4 == 0 and aligned
// bases). Features are streamed (__ldcs: read once), the goal is cached.
__device__ __forceinline__ PatchSums warp_patch(const float* xp, const float* gp, std::size_t D, int lane) {
  PatchSums s = hd::patch_zero();
  const bool vec = (D % 4 == 0) &&
                   ((reinterpret_cast<std::uintptr_t>(xp) | reinterpret_cast<std::uintptr_t>(gp)) % 16 == 0);
  if (vec) {
    const float4* x4 = reinterpret_cast<const float4*>(xp);
    const float4* g4 = reinterpret_cast<const float4*>(gp);
    const std::size_t n4 = D / 4;
#pragma unroll 4
    for (std::size_t i = lane; i < n4; i += 32) {
      const float4 a = __ldcs(x4 + i);
      const float4 c = __ldg(g4 + i);
      hd::patch_add(s, a.x, c.x);
      hd::patch_add(s, a.y, c.y);
      hd::patch_add(s, a.z, c.z);
      hd::patch_add(s, a.w, c.w);
    }
  } else {
    for (std::size_t i = lane; i < D; i += 32) hd::patch_add(s, __ldcs(xp + i), __ldg(gp + i));
  }
  s.dot = warp_allsum(s.dot);
  s.nx = warp_allsum(s.nx);
  s.l1 = warp_allsum(s.l1);
  return s;
}

// The same sums in double, for the rare patch that fails hd::patch_fast (zero,
// tiny or huge features, NaN/Inf). Kept out of line so that its registers do
// not weigh on the float loop.
__device__ __noinline__ WideSums warp_patch_wide(const float* xp, const float* gp, std::size_t D, int lane) {
  WideSums s = hd::wide_zero();
  for (std::size_t i = lane; i < D; i += 32) hd::wide_add(s, xp[i], gp[i]);
  s.dot = warp_allsum(s.dot);
  s.nx = warp_allsum(s.nx);
  s.l1 = warp_allsum(s.l1);
  return s;
}

// Σ_p patch_term over the patches a warp visits, with the double-precision
// cos·exp spread over the lanes: the k-th patch's sums are kept by lane k % 32
// and every 32 patches all lanes evaluate their term at once (rather than lane
// 0 alone after each patch). The lane partials are then added in a fixed
// order, so results are deterministic. A patch whose float sums fail
// hd::patch_fast is recomputed in double by the whole warp at once (the branch
// is warp-uniform: every lane holds the same sums) and its term goes straight
// into the owning lane's partial.
struct WarpTerms {
  PatchSums mine;
  std::size_t mine_p = 0;
  bool have = false;
  int k = 0;
  double acc = 0.0;
  __device__ __forceinline__ void add(const PatchSums& s, const float* xp, const float* gp, std::size_t D,
                                      std::size_t p, int lane, const double* gn, double beta) {
    if (hd::patch_fast(s, gn[p])) {
      if ((k & 31) == lane) {
        mine = s;
        mine_p = p;
        have = true;
      }
    } else {
      const double t = hd::patch_term_wide(warp_patch_wide(xp, gp, D, lane), gn[p], beta);
      if ((k & 31) == lane) acc += t;
    }
    if ((k & 31) == 31) flush(gn, beta);
    ++k;
  }
  __device__ __forceinline__ void flush(const double* gn, double beta) {
    if (have) acc += hd::patch_term(mine, gn[mine_p], beta);
    have = false;
  }
  /// The warp's total (lane 0 holds it).
  __device__ __forceinline__ double total(const double* gn, double beta) {
    flush(gn, beta);
    return warp_sum(acc);
  }
};

// ‖g_p‖ for every patch (double): one warp per patch, summed in float and
// again in double where the float ‖g_p‖² is outside [2⁻⁶⁰, FLT_MAX]
// (hd::goal_norm; the branch is warp-uniform).
__device__ __forceinline__ void norms_by_warps(const float* g, std::size_t N, std::size_t D, double* norms,
                                               int warp, int nwarps, int lane) {
  for (std::size_t p = warp; p < N; p += nwarps) {
    float s = 0.f;
    for (std::size_t i = lane; i < D; i += 32) {
      const float v = g[p * D + i];
      s += v * v;
    }
    s = warp_allsum(s);
    double wide = 0.0;
    if (!hd::norm_sq_ok(s)) {
      for (std::size_t i = lane; i < D; i += 32) {
        const double v = g[p * D + i];
        wide += v * v;
      }
      wide = warp_allsum(wide);
    }
    if (lane == 0) norms[p] = hd::goal_norm(s, wide);
  }
}

__global__ void goal_norms_kernel(const float* g, std::size_t N, std::size_t D, double* norms) {
  const int warp = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) / 32);
  const int nwarps = static_cast<int>(gridDim.x * blockDim.x / 32);
  norms_by_warps(g, N, D, norms, warp, nwarps, threadIdx.x % 32);
}

constexpr int kSimThreads = 256;
constexpr int kSimWarps = kSimThreads / 32;

// One block per frame: warp w sums patches w, w+8, … (WarpTerms); the 8 warp
// partials are added in warp order (deterministic).
__global__ void __launch_bounds__(kSimThreads)
    patch_similarity_kernel(const float* features, std::size_t N, std::size_t D, const float* goal,
                            const double* gn, double beta, float* out) {
  __shared__ double part[kSimWarps];
  const std::size_t t = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const float* x = features + t * N * D;
  WarpTerms terms;
  for (std::size_t p = warp; p < N; p += kSimWarps) {
    const float *xp = x + p * D, *gp = goal + p * D;
    terms.add(warp_patch(xp, gp, D, lane), xp, gp, D, p, lane, gn, beta);
  }
  const double total = terms.total(gn, beta);
  if (lane == 0) part[warp] = total;
  __syncthreads();
  if (threadIdx.x == 0) {
    double sum = 0.0;
    for (int w = 0; w < kSimWarps; ++w) sum += part[w];
    out[t] = static_cast<float>(sum / static_cast<double>(N));
  }
}

__global__ void sliding_slopes_kernel(const float* series, std::size_t B, std::size_t L, std::size_t w,
                                      float* out, int* status) {
  const std::size_t P = L - w + 1;
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= B * P) return;
  const std::size_t b = k / P, i = k % P;
  const double slope = hd::window_slope(series + b * L + i, w);
  // Finite inputs give a finite double sum; every element lies in some window.
  if (!(slope - slope == 0.0) && status) atomicOr(status, 1);
  out[k] = static_cast<float>(slope);
}

constexpr int kEpThreads = 512;
constexpr int kEpWarps = kEpThreads / 32;

// One block per episode, clusters from the end backwards (SPEC §2):
//  1. the subgoal's patch norms (a warp per patch, into gn scratch);
//  2. S(frame_j, frame_g) for j ∈ [lo, g) (a warp per frame, patches in order),
//     S(g, g) = 1 exactly (every finite frame, zero patches included);
//  3. thread 0: finiteness, the cut (hd::find_cut), ŝ over the cluster.
// Then every thread turns ŝ into V = (k + ŝ)/K for its segments.
__global__ void __launch_bounds__(kEpThreads)
    progress_kernel(const float* features, const std::int64_t* offsets, std::size_t N, std::size_t D,
                    double lambda, std::size_t w, std::size_t M, double tau, float* values, float* sim,
                    std::int32_t* seg_start, std::int32_t* seg_end, std::int32_t* seg_count,
                    std::int64_t* bad_out, double* gn_scratch) {
  __shared__ long long s_next;  // next g, or −1 when done
  __shared__ long long s_bad;
  __shared__ int s_K;
  const std::size_t e = blockIdx.x;
  const std::int64_t t0 = offsets[e];
  const std::int64_t T = offsets[e + 1] - t0;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::size_t F = N * D;
  const float* X = features + static_cast<std::size_t>(t0) * F;
  float* S = sim + t0;
  float* V = values + t0;
  std::int32_t* ss = seg_start + t0;
  std::int32_t* se = seg_end + t0;
  double* gn = gn_scratch + e * N;
  const double beta = lambda / static_cast<double>(D);
  if (threadIdx.x == 0) {
    s_bad = -1;
    s_K = 0;
  }
  std::int64_t g = T - 1;
  while (g >= 0) {
    const std::size_t gu = static_cast<std::size_t>(g);
    const std::size_t lo = gu + 1 >= M ? gu + 1 - M : 0;
    const float* goal = X + gu * F;
    norms_by_warps(goal, N, D, gn, warp, kEpWarps, lane);
    __syncthreads();
    for (std::size_t j = lo + warp; j < gu; j += kEpWarps) {
      WarpTerms terms;
      for (std::size_t p = 0; p < N; ++p) {
        const float *xp = X + j * F + p * D, *gp = goal + p * D;
        terms.add(warp_patch(xp, gp, D, lane), xp, gp, D, p, lane, gn, beta);
      }
      const double total = terms.total(gn, beta);
      if (lane == 0) S[j] = static_cast<float>(total / static_cast<double>(N));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      // NaN/Inf anywhere in the subgoal makes one of its norms non-finite.
      bool norms_ok = true;
      for (std::size_t p = 0; p < N; ++p) norms_ok = norms_ok && gn[p] - gn[p] == 0.0;
      S[gu] = 1.0f;
      long long bad = -1;
      if (!norms_ok) {
        bad = g;
      } else {
        for (std::size_t j = lo; j <= gu; ++j)
          if (!hd::finite(S[j])) {
            bad = static_cast<long long>(j);
            break;
          }
      }
      if (bad >= 0) {
        s_bad = bad;
        s_next = -1;
      } else {
        const std::size_t cut = hd::find_cut(S, lo, gu, w, tau);
        float mn, mx;
        hd::range_minmax(S, cut, gu, mn, mx);
        for (std::size_t j = cut; j <= gu; ++j) V[j] = hd::normalized(S[j], mn, mx);
        ss[s_K] = static_cast<std::int32_t>(cut);
        se[s_K] = static_cast<std::int32_t>(gu);
        s_K += 1;
        s_next = static_cast<long long>(cut) - 1;
      }
    }
    __syncthreads();
    g = s_next;
  }
  if (threadIdx.x == 0) {
    const int K = s_K;
    for (int k = 0; k < K / 2; ++k) {  // clusters were found last-first
      const std::int32_t a = ss[k], b = se[k];
      ss[k] = ss[K - 1 - k];
      se[k] = se[K - 1 - k];
      ss[K - 1 - k] = a;
      se[K - 1 - k] = b;
    }
    seg_count[e] = s_bad >= 0 ? 0 : K;
    bad_out[e] = s_bad;
  }
  __syncthreads();
  if (s_bad >= 0) return;
  const int K = s_K;
  for (int k = threadIdx.x; k < K; k += kEpThreads)
    for (std::int32_t t = ss[k]; t <= se[k]; ++t) V[t] = hd::progress_value(k, V[t], K);
}

}  // namespace

void patch_similarity(const float* d_features, std::size_t T, std::size_t N, std::size_t D,
                      const float* d_goal, double lambda, float* d_out, Stream s) {
  if (T == 0 || N == 0 || D == 0) return;
  double* gn = static_cast<double*>(malloc_async(N * sizeof(double), s, "patchSimilarity"));
  goal_norms_kernel<<<blocks_for(N * 32, 256), 256, 0, as_stream(s)>>>(d_goal, N, D, gn);
  patch_similarity_kernel<<<static_cast<unsigned>(T), kSimThreads, 0, as_stream(s)>>>(
      d_features, N, D, d_goal, gn, lambda / static_cast<double>(D), d_out);
  free_async(gn, s);
  check_launch("patchSimilarity");
}

void sliding_slopes(const float* d_series, std::size_t B, std::size_t L, std::size_t w, float* d_out,
                    int* d_status, Stream s) {
  if (w < 2 || L < w || B == 0) return;
  const std::size_t n = B * (L - w + 1);
  sliding_slopes_kernel<<<blocks_for(n, 256), 256, 0, as_stream(s)>>>(d_series, B, L, w, d_out, d_status);
  check_launch("slidingSlopes");
}

void progress_targets(const float* d_features, const std::int64_t* d_offsets, std::size_t E, std::size_t N,
                      std::size_t D, const ProgressArgs& p, float* d_values, float* d_similarity,
                      std::int32_t* d_seg_start, std::int32_t* d_seg_end, std::int32_t* d_seg_count,
                      std::int64_t* d_bad, Stream s) {
  if (E == 0) return;
  double* gn = static_cast<double*>(malloc_async(E * N * sizeof(double) + 1, s, "progressTargets"));
  progress_kernel<<<static_cast<unsigned>(E), kEpThreads, 0, as_stream(s)>>>(
      d_features, d_offsets, N, D, p.lambda, p.window, p.max_cluster, p.threshold, d_values, d_similarity,
      d_seg_start, d_seg_end, d_seg_count, d_bad, gn);
  free_async(gn, s);
  check_launch("progressTargets");
}

}  // namespace cuda
}  // namespace f2g

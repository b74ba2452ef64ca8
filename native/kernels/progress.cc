#include "kernels/progress.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/dispatch.h"
#include "kernels/pool.h"
#include "kernels/stages.h"

namespace f2g {
namespace {

// Float accumulation is exact enough while every sum stays a normal float:
// a patch whose ‖·‖² lies in [kWideBelow, FLT_MAX] (and whose x·g and L1
// sums are finite) takes the float path. Anything else (zero patches,
// features below ~1e-19 or above ~1e19, NaN/Inf) is recomputed in double,
// where no finite float input can underflow to zero or overflow.
constexpr float kWideBelow = 0x1p-60f;

// ‖g_p‖ accumulated in double (for goal patches outside the safe float range).
F2G_MULTIVERSION double WideNorm(const float* gp, std::size_t D) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < D; ++i) s += static_cast<double>(gp[i]) * gp[i];
  return std::sqrt(s);
}

F2G_MULTIVERSION void NormsImpl(const float* g, std::size_t N, std::size_t D, double* norms) {
  for (std::size_t p = 0; p < N; ++p) {
    const float* gp = g + p * D;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < D; ++i) s += gp[i] * gp[i];
    norms[p] = (s >= kWideBelow && std::isfinite(s)) ? std::sqrt(static_cast<double>(s)) : WideNorm(gp, D);
  }
}

// cos(x_p, g_p)·exp(−β‖x_p − g_p‖₁) entirely in double, with the degenerate
// cases of docs/progress.md: both patches zero → cos 1, one zero → cos 0.
// NaN/Inf anywhere in either patch gives NaN (even where a zero patch would
// make the product 0), so the caller can report the frame.
F2G_MULTIVERSION __attribute__((noinline)) double PatchTermWide(const float* xp, const float* gp,
                                                                double gnorm, std::size_t D, double beta) {
  double dot = 0.0, nx = 0.0, l1 = 0.0;
#pragma omp simd reduction(+ : dot, nx, l1)
  for (std::size_t i = 0; i < D; ++i) {
    const double a = xp[i], c = gp[i];
    dot += a * c;
    nx += a * a;
    l1 += std::fabs(a - c);
  }
  if (!std::isfinite(nx) || !std::isfinite(l1) || !std::isfinite(gnorm))
    return std::numeric_limits<double>::quiet_NaN();
  double cosv;
  if (nx == 0.0 || gnorm == 0.0) cosv = (nx == 0.0 && gnorm == 0.0) ? 1.0 : 0.0;
  else cosv = std::clamp(dot / (std::sqrt(nx) * gnorm), -1.0, 1.0);
  return cosv * std::exp(-beta * l1);
}

// One patch's term of S: one fused pass for x·g, ‖x‖² and ‖x−g‖₁ (float),
// then cos(x, g)·exp(−β‖x−g‖₁) in double; sums outside the safe float range
// go to PatchTermWide.
inline __attribute__((always_inline)) double PatchTerm(const float* xp, const float* gp, double gnorm,
                                                       std::size_t D, double beta) {
  float dot = 0.f, nx = 0.f, l1 = 0.f;
#pragma omp simd reduction(+ : dot, nx, l1)
  for (std::size_t i = 0; i < D; ++i) {
    float a = xp[i], c = gp[i];
    dot += a * c;
    nx += a * a;
    l1 += std::fabs(a - c);
  }
  constexpr double kWideNormBelow = 0x1p-30;  // √kWideBelow
  if (__builtin_expect(!(nx >= kWideBelow && std::isfinite(nx) && std::isfinite(dot) && std::isfinite(l1) &&
                         gnorm >= kWideNormBelow && std::isfinite(gnorm)),
                       0))
    return PatchTermWide(xp, gp, gnorm, D, beta);
  const double denom = std::sqrt(static_cast<double>(nx)) * gnorm;
  // cos ∈ [−1, 1] mathematically; clamping only removes rounding overshoot.
  const double cosv = std::clamp(static_cast<double>(dot) / denom, -1.0, 1.0);
  return cosv * std::exp(-beta * static_cast<double>(l1));
}

F2G_MULTIVERSION double FrameImpl(const float* x, const float* g, const double* gn, std::size_t N,
                                  std::size_t D, double lambda) {
  const double beta = lambda / static_cast<double>(D);
  double total = 0.0;
  for (std::size_t p = 0; p < N; ++p) total += PatchTerm(x + p * D, g + p * D, gn[p], D, beta);
  return total / static_cast<double>(N);
}

// S(frame_t, g) for t in [t0, t1): patch-outer over a block of frames so each
// goal patch stays in L1 while the frames stream past (the goal is read once
// per block, not once per frame). Same PatchTerm and the same summation
// order over p as FrameImpl, so results are identical.
F2G_MULTIVERSION void RangeImpl(const float* features, std::size_t t0, std::size_t t1, const float* g,
                                const double* gn, std::size_t N, std::size_t D, double lambda, float* out) {
  constexpr std::size_t kBlock = 16;
  const double beta = lambda / static_cast<double>(D);
  const std::size_t F = N * D;
  for (std::size_t b = t0; b < t1; b += kBlock) {
    const std::size_t e = std::min(t1, b + kBlock);
    double total[kBlock] = {0};
    for (std::size_t p = 0; p < N; ++p) {
      const float* gp = g + p * D;
      for (std::size_t t = b; t < e; ++t) {
        const float* xp = features + t * F + p * D;
        // Patch p + 1 of this frame is read once the block's other frames are
        // done with patch p; by then it is in cache. (Each patch is a new 4 KiB
        // page, where the hardware prefetchers would start cold.)
        if (p + 1 < N)
          for (std::size_t i = 0; i < D; i += 16) __builtin_prefetch(xp + D + i, 0, 2);
        total[t - b] += PatchTerm(xp, gp, gn[p], D, beta);
      }
    }
    for (std::size_t t = b; t < e; ++t) out[t] = static_cast<float>(total[t - b] / static_cast<double>(N));
  }
}

bool AllFinite(const double* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return false;
  return true;
}

}  // namespace

void goal_norms(const float* goal, std::size_t N, std::size_t D, double* norms) {
  NormsImpl(goal, N, D, norms);
}

double frame_similarity(const float* frame, const float* goal, const double* goal_norm, std::size_t N,
                        std::size_t D, double lambda) {
  return FrameImpl(frame, goal, goal_norm, N, D, lambda);
}

void patch_similarity(const float* features, std::size_t T, std::size_t N, std::size_t D, const float* goal,
                      double lambda, float* out, std::size_t threads) {
  std::vector<double> gn(N);
  goal_norms(goal, N, D, gn.data());
  const std::size_t frame = N * D;
  // A frame of a [*, 256, 1024] episode is 1 MiB: one frame per grain is plenty.
  std::size_t grain = std::max<std::size_t>(1, (1u << 16) / std::max<std::size_t>(frame, 1));
  parallel_for(T, threads, grain, [&](std::size_t b, std::size_t e) {
    RangeImpl(features, b, e, goal, gn.data(), N, D, lambda, out);
  });
}

void sliding_slopes(const float* series, std::size_t B, std::size_t L, std::size_t w, float* out,
                    std::size_t threads) {
  if (w < 2 || L < w) return;
  const std::size_t P = L - w + 1;
  const double kbar = (static_cast<double>(w) - 1.0) / 2.0;
  const double denom = static_cast<double>(w) * (static_cast<double>(w) * w - 1.0) / 12.0;
  parallel_for(B, threads, std::max<std::size_t>(1, 4096 / L), [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      const float* y = series + b * L;
      float* o = out + b * P;
      // Running sums: Sy = Σ y_{i+k}, Sky = Σ k·y_{i+k}; slope = (Sky − k̄·Sy)/Σ(k−k̄)².
      double sy = 0.0, sky = 0.0;
      for (std::size_t k = 0; k < w; ++k) {
        sy += y[k];
        sky += static_cast<double>(k) * y[k];
      }
      o[0] = static_cast<float>((sky - kbar * sy) / denom);
      for (std::size_t i = 1; i < P; ++i) {
        double yin = y[i + w - 1];
        sy += yin - y[i - 1];
        sky += static_cast<double>(w) * yin - sy;  // shift indices down by one
        o[i] = static_cast<float>((sky - kbar * sy) / denom);
      }
      // Recompute exactly every so often? Not needed: drift is O(P·eps) in double.
    }
  });
}

namespace {

// ŝ over the stage [a, g] (SPEC §3) into values[a..g], from the stage's similarities.
void NormaliseStage(const float* similarity, float* values, std::size_t a, std::size_t g) {
  float mn = similarity[a], mx = similarity[a];
  for (std::size_t j = a; j <= g; ++j) {
    mn = std::min(mn, similarity[j]);
    mx = std::max(mx, similarity[j]);
  }
  const double range = static_cast<double>(mx) - static_cast<double>(mn);
  for (std::size_t j = a; j <= g; ++j)
    values[j] = range < 1e-12 ? 1.0f : static_cast<float>((static_cast<double>(similarity[j]) - mn) / range);
}

// values[t] ← (k + ŝ_t) / K for the stages in temporal order (values holds ŝ).
void StageValues(const std::vector<Segment>& segments, float* values) {
  const double K = static_cast<double>(segments.size());
  for (std::size_t k = 0; k < segments.size(); ++k) {
    for (std::int64_t t = segments[k].start; t <= segments[k].end; ++t)
      values[t] = static_cast<float>((static_cast<double>(k) + values[t]) / K);
  }
}

// The motion segmenter (kernels/stages.h), then SPEC §3 over its stages: one
// pass for the speeds, one for the similarities of every frame to its stage's
// subgoal (frames split over the pool across stages).
std::int64_t MotionTargets(const float* features, std::size_t T, std::size_t N, std::size_t D,
                           const ProgressParams& p, float* values, float* similarity,
                           std::vector<Segment>& segments, std::size_t threads) {
  std::vector<double> speed(T);
  // NaN/Inf in the dims the speed reads is found here; elsewhere, by the
  // similarities below (then the first bad frame is looked up).
  const std::int64_t bad = motion_speed(features, T, N, D, speed.data(), threads);
  if (bad >= 0) return bad;
  std::vector<Cut> cuts;
  motion_cuts(speed.data(), T, p.window, cuts);
  cap_cuts(T, p.max_cluster, cuts);
  segments.reserve(cuts.size() + 1);
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const std::int64_t a = k == 0 ? 0 : cuts[k - 1].frame;
    const std::int64_t e = k < cuts.size() ? cuts[k].frame - 1 : static_cast<std::int64_t>(T) - 1;
    segments.push_back({a, e, k == 0 ? CutRule::kStart : cuts[k - 1].rule});
  }
  const std::size_t K = segments.size(), frame = N * D;
  std::vector<double> gn(K * N);
  for (std::size_t k = 0; k < K; ++k)
    goal_norms(features + static_cast<std::size_t>(segments[k].end) * frame, N, D, gn.data() + k * N);
  // Frames [a_k, g_k) against their subgoal g_k; S(g_k, g_k) = 1 exactly.
  std::size_t grain = std::max<std::size_t>(1, (1u << 16) / std::max<std::size_t>(frame, 1));
  parallel_for(T, threads, grain, [&](std::size_t b, std::size_t e) {
    std::size_t k = 0;
    while (static_cast<std::size_t>(segments[k].end) < b) ++k;
    for (; k < K && static_cast<std::size_t>(segments[k].start) < e; ++k) {
      const std::size_t a = std::max(b, static_cast<std::size_t>(segments[k].start));
      const std::size_t g = static_cast<std::size_t>(segments[k].end);
      const std::size_t stop = std::min(e, g);  // the subgoal itself is set below
      if (a < stop)
        RangeImpl(features, a, stop, features + g * frame, gn.data() + k * N, N, D, p.lambda, similarity);
    }
  });
  for (std::size_t k = 0; k < K; ++k) similarity[segments[k].end] = 1.0f;
  bool finite = AllFinite(gn.data(), K * N);  // a NaN/Inf anywhere in a subgoal makes a norm non-finite
  for (std::size_t t = 0; t < T && finite; ++t) finite = std::isfinite(similarity[t]);
  if (!finite) return first_nonfinite_frame(features, T, frame);
  for (std::size_t k = 0; k < K; ++k) {
    NormaliseStage(similarity, values, static_cast<std::size_t>(segments[k].start),
                   static_cast<std::size_t>(segments[k].end));
  }
  StageValues(segments, values);
  return -1;
}

}  // namespace

std::int64_t progress_targets(const float* features, std::size_t T, std::size_t N, std::size_t D,
                              const ProgressParams& p, float* values, float* similarity,
                              std::vector<Segment>& segments, std::size_t threads) {
  segments.clear();
  if (T == 0) return -1;
  if (p.segmenter == Segmenter::kMotion)
    return MotionTargets(features, T, N, D, p, values, similarity, segments, threads);
  const std::size_t frame = N * D;
  // M = 0: no cap (each stage may reach back to frame 0).
  const std::size_t w = p.window, M = p.max_cluster == 0 ? T : p.max_cluster;
  const double kbar = (static_cast<double>(w) - 1.0) / 2.0;
  const double denom = static_cast<double>(w) * (static_cast<double>(w) * w - 1.0) / 12.0;
  std::vector<double> gn(N);
  std::int64_t bad = -1;

  // Backward pass (SPEC §2). similarity[lo..g] holds S(frame_j, frame_g) for
  // the current subgoal g; positions before the cut belong to earlier
  // clusters and are overwritten when those are scanned. values[t] holds ŝ_t
  // until the cluster count K is known.
  std::int64_t g = static_cast<std::int64_t>(T) - 1;
  while (g >= 0) {
    const std::size_t gu = static_cast<std::size_t>(g);
    const std::size_t lo = gu + 1 >= M ? gu + 1 - M : 0;
    const float* goal = features + gu * frame;
    goal_norms(goal, N, D, gn.data());
    const std::size_t n = gu - lo + 1;
    // Frames [lo, g) against the subgoal, blocked like patchSimilarity (the
    // same arithmetic as one frame at a time, so the same bits); S(g, g) is exact.
    if (n > 1)
      parallel_for(n - 1, threads, 1, [&](std::size_t b, std::size_t e) {
        RangeImpl(features, lo + b, lo + e, goal, gn.data(), N, D, p.lambda, similarity);
      });
    // S(g, g) = 1 for every finite frame, zero patches included (docs/progress.md).
    similarity[gu] = 1.0f;
    // The subgoal's own similarity is set exactly, so check its frame through
    // its patch norms (a NaN/Inf anywhere in the frame makes a norm non-finite).
    if (!AllFinite(gn.data(), N)) return g;
    for (std::size_t j = lo; j <= gu; ++j) {
      if (!std::isfinite(similarity[j]) && (bad < 0 || static_cast<std::int64_t>(j) < bad))
        bad = static_cast<std::int64_t>(j);
    }
    if (bad >= 0) return bad;

    // Earliest window [i, i+w−1] ⊂ [lo, g] whose slope exceeds τ.
    std::size_t cut = lo;
    bool trend = false;
    if (n >= w) {
      const float* y = similarity + lo;
      double sy = 0.0, sky = 0.0;
      for (std::size_t k = 0; k < w; ++k) {
        sy += y[k];
        sky += static_cast<double>(k) * y[k];
      }
      for (std::size_t i = 0;; ++i) {
        if ((sky - kbar * sy) / denom > p.threshold) {
          cut = lo + i;
          trend = true;
          break;
        }
        if (i + w >= n) break;
        double yin = y[i + w];
        sy += yin - y[i];
        sky += static_cast<double>(w) * yin - sy;
      }
    }

    // ŝ over the cluster [cut, g], reusing the scan's similarities.
    NormaliseStage(similarity, values, cut, gu);
    const CutRule rule = cut == 0 ? CutRule::kStart : trend ? CutRule::kTrend : CutRule::kCap;
    segments.push_back({static_cast<std::int64_t>(cut), g, rule});
    g = static_cast<std::int64_t>(cut) - 1;
  }

  std::reverse(segments.begin(), segments.end());
  StageValues(segments, values);
  return -1;
}

void steps_to_go(std::size_t T, float* out) {
  if (T == 1) {
    out[0] = 1.0f;
    return;
  }
  for (std::size_t t = 0; t < T; ++t)
    out[t] = static_cast<float>(static_cast<double>(t) / static_cast<double>(T - 1));
}

}  // namespace f2g

#include "kernels/stages.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/dispatch.h"
#include "kernels/finite.h"
#include "kernels/pool.h"

namespace f2g {
namespace {

// Σ|a − b| over n floats, in double (the fallback for sums that leave the
// float range, and for NaN/Inf, which stays non-finite).
F2G_MULTIVERSION __attribute__((noinline)) double L1Wide(const float* a, const float* b, std::size_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (std::size_t i = 0; i < n; ++i) s += std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
  return s;
}

// Σ|x_t − x_{t−1}| over one frame of F floats: float sums over blocks of 1024
// (vectorised; exact enough while a block's sum stays finite), added in double.
F2G_MULTIVERSION double FrameL1(const float* a, const float* b, std::size_t F) {
  constexpr std::size_t kBlock = 1024;
  double total = 0.0;
  for (std::size_t o = 0; o < F; o += kBlock) {
    const std::size_t n = std::min(kBlock, F - o);
    const float* ap = a + o;
    const float* bp = b + o;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += std::fabs(ap[i] - bp[i]);
    total += std::isfinite(s) ? static_cast<double>(s) : L1Wide(ap, bp, n);
  }
  return total;
}

// v[t] = Σ_{|j|≤h} (h+1−|j|)·u[t+j] / Σ of the same weights, over the j with 0 ≤ t+j < T.
void TriangleSmooth(const double* u, std::size_t T, std::size_t h, double* v) {
  for (std::size_t t = 0; t < T; ++t) {
    const std::size_t lo = t >= h ? t - h : 0, hi = std::min(T - 1, t + h);
    double s = 0.0, w = 0.0;
    for (std::size_t j = lo; j <= hi; ++j) {
      const double wj = static_cast<double>(h + 1) - static_cast<double>(j > t ? j - t : t - j);
      s += wj * u[j];
      w += wj;
    }
    v[t] = s / w;
  }
}

// One start s of a DP layer against every interior end e = s + Lg … G − 2:
// cur[e] ← min(cur[e], pv + q2[e] − (q1[e] − a)² · inv[e − s]), arg[e] ← s where
// it improves (strictly: among equal costs the earliest start stays).
F2G_MULTIVERSION void RelaxEnds(double pv, double a, std::uint32_t s, const double* q1, const double* q2,
                                const double* inv, std::size_t from, std::size_t to, double* cur,
                                std::uint32_t* arg) {
#pragma omp simd
  for (std::size_t e = from; e < to; ++e) {
    const double d = q1[e] - a;
    const double c = pv + q2[e] - d * d * inv[e - s];
    const bool better = c < cur[e];
    cur[e] = better ? c : cur[e];
    arg[e] = better ? s : arg[e];
  }
}

// Optimal partition of y[0, T) into K = 1..Kmax segments of constant level
// (least squares), every segment at least L frames and every change point a
// multiple of `step` (T itself always ends the last segment). Returns the
// change points (starts of segments 1..K−1) of the K the BIC picks:
// BIC(K) = n·ln(RSS_K / T) + 2K·ln n, n = T / (2h + 1). Ties go to the
// earliest change point and to the smaller K. O(Kmax·(T/step)²), vectorised
// over the segment ends.
std::vector<std::size_t> Regimes(const std::vector<double>& y, std::size_t h, std::size_t L, std::size_t step,
                                 std::size_t Kmax) {
  const std::size_t T = y.size();
  // Grid positions: pos(g) = g·step for g < G − 1, and pos(G − 1) = T.
  const std::size_t G = (T + step - 1) / step + 1;
  auto pos = [&](std::size_t g) { return g + 1 == G ? T : g * step; };
  // Prefix sums of y and y² at the grid positions, in double.
  std::vector<double> q1(G, 0.0), q2(G, 0.0);
  {
    double s1 = 0.0, s2 = 0.0;
    std::size_t g = 1;
    for (std::size_t t = 0; t < T; ++t) {
      s1 += y[t];
      s2 += y[t] * y[t];
      if (t + 1 == pos(g)) {
        q1[g] = s1;
        q2[g] = s2;
        ++g;
      }
    }
  }
  // inv[j] = 1 / (j·step): one over the length of a segment between interior grid points j apart.
  std::vector<double> inv(G, 0.0);
  for (std::size_t j = 1; j < G; ++j) inv[j] = 1.0 / static_cast<double>(j * step);
  const std::size_t Lg = (L + step - 1) / step;  // the fewest grid steps between interior points
  // A finite stand-in for "unreachable", so that the loops need no branch:
  // any reachable cost (a sum of squares of finite logs) is far below it.
  constexpr double kUnreached = 1e300, kReachable = 1e299;
  std::vector<double> C((Kmax + 1) * G, kUnreached);
  std::vector<std::uint32_t> P((Kmax + 1) * G, 0);
  C[0] = 0.0;  // k = 0 segments cover [0, 0)
  for (std::size_t k = 1; k <= Kmax; ++k) {
    const double* prev = C.data() + (k - 1) * G;
    double* cur = C.data() + k * G;
    std::uint32_t* arg = P.data() + k * G;
    for (std::size_t s = 0; s + 1 < G; ++s) {
      if (!(prev[s] < kReachable)) continue;
      const double pv = prev[s] - q2[s], a = q1[s];
      if (s + Lg < G - 1)
        RelaxEnds(pv, a, static_cast<std::uint32_t>(s), q1.data(), q2.data(), inv.data(), s + Lg, G - 1, cur,
                  arg);
      // The end of the episode, T (its distance is not a multiple of step).
      if (T - pos(s) >= L) {
        const double d = q1[G - 1] - a;
        const double c = pv + q2[G - 1] - d * d / static_cast<double>(T - pos(s));
        if (c < cur[G - 1]) {
          cur[G - 1] = c;
          arg[G - 1] = static_cast<std::uint32_t>(s);
        }
      }
    }
  }
  const double n = static_cast<double>(T) / static_cast<double>(2 * h + 1);
  std::size_t bestK = 0;
  double bestCrit = std::numeric_limits<double>::infinity();
  for (std::size_t K = 1; K <= Kmax; ++K) {
    const double rss = C[K * G + (G - 1)];
    if (!(rss < kReachable)) break;
    const double crit = n * std::log(std::max(rss / static_cast<double>(T), 1e-300)) +
                        2.0 * static_cast<double>(K) * std::log(n);
    if (crit < bestCrit) {
      bestCrit = crit;
      bestK = K;
    }
  }
  std::vector<std::size_t> cps;
  std::size_t g = G - 1;
  for (std::size_t k = bestK; k > 1; --k) {
    g = P[k * G + g];
    cps.push_back(pos(g));
  }
  std::reverse(cps.begin(), cps.end());
  return cps;
}

// Starts of the pauses of y: for each local minimum m (the first frame of a
// flat bottom, with higher values on both sides) whose prominence — the lower
// of the highest values reached on each side before y falls below y[m] (or the
// episode ends) minus y[m] — is at least `min_prominence`, the first frame a ≤ m
// of the run of frames before m whose values are ≤ y[m] + level·prominence.
std::vector<std::size_t> PauseStarts(const std::vector<double>& y, double min_prominence, double level) {
  const std::size_t T = y.size();
  std::vector<std::size_t> out;
  std::size_t t = 1;
  while (t + 1 < T) {
    if (!(y[t] < y[t - 1])) {
      ++t;
      continue;
    }
    std::size_t e = t;
    while (e + 1 < T && y[e + 1] == y[t]) ++e;
    if (e + 1 < T && y[e + 1] > y[t]) {
      const double bottom = y[t];
      double lw = bottom, rw = bottom;
      for (std::size_t i = t; i-- > 0 && y[i] >= bottom;) lw = std::max(lw, y[i]);
      for (std::size_t j = e + 1; j < T && y[j] >= bottom; ++j) rw = std::max(rw, y[j]);
      const double prom = std::min(lw, rw) - bottom;
      if (prom >= min_prominence) {
        const double lvl = bottom + level * prom;
        std::size_t a = t;
        while (a > 0 && y[a - 1] <= lvl) --a;
        out.push_back(a);
      }
    }
    t = e + 1;
  }
  return out;
}

}  // namespace

std::size_t motion_speed_dims(std::size_t N, std::size_t D) {
  const std::size_t want = (MotionConstants::kSpeedElements + N - 1) / std::max<std::size_t>(N, 1);
  return std::max<std::size_t>(1, std::min(D, want));
}

std::int64_t motion_speed(const float* features, std::size_t T, std::size_t N, std::size_t D, double* speed,
                          std::size_t threads) {
  if (T == 0) return -1;
  const std::size_t F = N * D;
  if (T == 1) {
    speed[0] = 0.0;
    return AllFinite(features, F) ? -1 : 0;
  }
  const std::size_t Ds = motion_speed_dims(N, D);
  const double per = 1.0 / static_cast<double>(N * Ds);
  std::size_t grain = std::max<std::size_t>(1, (1u << 16) / std::max<std::size_t>(N * Ds, 1));
  parallel_for(T - 1, threads, grain, [&](std::size_t b, std::size_t e) {
    for (std::size_t t = b + 1; t < e + 1; ++t) {
      const float* x = features + t * F;
      const float* w = x - F;
      double total = 0.0;
      if (Ds == D) {
        total = FrameL1(x, w, F);  // every element: one contiguous run
      } else {
        for (std::size_t p = 0; p < N; ++p) total += FrameL1(x + p * D, w + p * D, Ds);
      }
      speed[t] = total * per;
    }
  });
  speed[0] = speed[1];
  for (std::size_t t = 1; t < T; ++t) {
    // A finite pair of frames always gives a finite sum (in double), so NaN/Inf
    // is in the features: report the first frame that holds any.
    if (!std::isfinite(speed[t])) return first_nonfinite_frame(features, T, F);
  }
  return -1;
}

std::int64_t first_nonfinite_frame(const float* features, std::size_t T, std::size_t F) {
  for (std::size_t t = 0; t < T; ++t)
    if (FirstNonFinite(features + t * F, F) >= 0) return static_cast<std::int64_t>(t);
  return -1;
}

void motion_cuts(const double* speed, std::size_t T, std::size_t window, std::vector<Cut>& cuts) {
  using K = MotionConstants;
  cuts.clear();
  const std::size_t h = std::max<std::size_t>(window, 1);
  const std::size_t Kmax = std::min(K::kMaxRegimes, T / (2 * h + 1));
  if (Kmax < 2) return;
  std::vector<double> v(T);
  TriangleSmooth(speed, T, h, v.data());
  double vmax = 0.0;
  for (double x : v) vmax = std::max(vmax, x);
  if (!(vmax > 0.0) || !std::isfinite(vmax)) return;  // a still episode: no motion to cut at
  std::vector<double> y(T);
  for (std::size_t t = 0; t < T; ++t) y[t] = std::log(std::max(v[t], K::kFloor * vmax));

  const std::size_t step = (T + K::kGridFrames - 1) / K::kGridFrames;
  // A regime lasts at least one smoothing kernel (2h + 1 frames): shorter ones cannot be told apart.
  const std::vector<std::size_t> cps = Regimes(y, h, 2 * h + 1, step, Kmax);
  // Onsets: change points where the level rises.
  std::vector<std::size_t> onsets;
  {
    std::size_t a = 0;
    double prevMean = 0.0;
    for (std::size_t j = 0; j <= cps.size(); ++j) {
      const std::size_t e = j < cps.size() ? cps[j] : T;
      double s = 0.0;
      for (std::size_t t = a; t < e; ++t) s += y[t];
      const double mean = s / static_cast<double>(e - a);
      if (j > 0 && mean > prevMean) onsets.push_back(a);
      prevMean = mean;
      a = e;
    }
  }
  const std::vector<std::size_t> pauses = PauseStarts(y, std::log(K::kPauseRatio), K::kPauseLevel);
  std::vector<Cut> all;
  std::int64_t prev = -1;
  for (std::size_t c : onsets) {
    // The last pause that starts after the previous onset and before this one.
    std::int64_t last = -1;
    for (std::size_t a : pauses)
      if (static_cast<std::int64_t>(a) > prev && a < c) last = static_cast<std::int64_t>(a);
    if (last >= 0) all.push_back({last, CutRule::kPause});
    all.push_back({static_cast<std::int64_t>(c), CutRule::kOnset});
    prev = static_cast<std::int64_t>(c);
  }
  // In order; a pause start at an onset's frame gives way to the onset; none
  // within `h` frames of either end (a stage shorter than the smoothing).
  std::stable_sort(all.begin(), all.end(), [](const Cut& a, const Cut& b) { return a.frame < b.frame; });
  for (const Cut& c : all) {
    if (c.frame < static_cast<std::int64_t>(h) || c.frame > static_cast<std::int64_t>(T - h)) continue;
    if (!cuts.empty() && cuts.back().frame == c.frame) {
      if (c.rule == CutRule::kOnset) cuts.back().rule = CutRule::kOnset;
      continue;
    }
    cuts.push_back(c);
  }
}

void cap_cuts(std::size_t T, std::size_t max_cluster, std::vector<Cut>& cuts) {
  if (max_cluster == 0 || T == 0) return;
  std::vector<Cut> out;
  std::int64_t g = static_cast<std::int64_t>(T) - 1;
  const std::int64_t M = static_cast<std::int64_t>(max_cluster);
  for (std::size_t k = cuts.size() + 1; k-- > 0;) {
    const std::int64_t a = k > 0 ? cuts[k - 1].frame : 0;
    while (g - a + 1 > M) {
      out.push_back({g - M + 1, CutRule::kCap});
      g -= M;
    }
    if (k > 0) out.push_back(cuts[k - 1]);
    g = a - 1;
  }
  std::reverse(out.begin(), out.end());
  cuts.swap(out);
}

}  // namespace f2g

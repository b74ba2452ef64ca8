// Kernel bodies shared by the CUDA kernels and the host (see hd.h). Each body
// evaluates the SPEC formula for one element, patch, window, environment or
// group; the .cu files only add the parallel decomposition and reductions.
// No libm beyond sqrt/exp/expf, no allocation, no exceptions.
#pragma once
#include <math.h>

#include <cstddef>
#include <cstdint>

#include "cuda/hd.h"
#include "kernels/k3_series.h"
#include "kernels/rl_modes.h"

namespace f2g {
namespace hd {

using std::size_t;

// ------------------------------------------------------------------ checks

/// True for finite x: x − x is +0 for finite x and NaN for NaN/±Inf.
F2G_HD bool finite(float x) { return x - x == 0.f; }
F2G_HD bool flag_ok(float f) { return f == 0.f || f == 1.f; }

/// A 0/1 flag array stored as uint8 or float32 (both null: absent).
struct Flags {
  const std::uint8_t* u8;
  const float* f32;
};
/// Flag i as a float (a uint8 2 stays 2.0 and fails flag_ok); `absent` when
/// no array is given (a missing mask means all ones).
F2G_HD float flag_at(Flags f, size_t i, float absent) {
  return f.u8 ? static_cast<float>(f.u8[i]) : f.f32 ? f.f32[i] : absent;
}

// ------------------------------------------------------- §1 patch similarity
//
// cos(a, b) = a·b / (‖a‖‖b‖), no floor; both patches zero → 1, exactly one
// zero → 0; clamped to [−1, 1] (docs/progress.md). Like the CPU kernel, a
// patch's sums are accumulated in float and the patch is recomputed in double
// when a float sum leaves the range where it is exact enough: ‖x‖² or ‖g‖²
// outside [2⁻⁶⁰, FLT_MAX], or a non-finite x·g or ‖x − g‖₁. In double no
// finite float input underflows to zero or overflows, so every finite input
// gives a finite term; NaN/Inf in either patch gives NaN.

/// Smallest ‖·‖² trusted from a float sum (below it squares may underflow).
constexpr float kWideBelow = 0x1p-60f;
/// √kWideBelow: the smallest goal norm the float path accepts.
constexpr double kWideNormBelow = 0x1p-30;

/// Running sums of one patch pair: x·g, ‖x‖², ‖x − g‖₁ (float, like the CPU).
struct PatchSums {
  float dot, nx, l1;
};
F2G_HD PatchSums patch_zero() { return PatchSums{0.f, 0.f, 0.f}; }
F2G_HD void patch_add(PatchSums& s, float x, float g) {
  s.dot += x * g;
  s.nx += x * x;
  s.l1 += fabsf(x - g);
}
F2G_HD void patch_merge(PatchSums& s, const PatchSums& o) {
  s.dot += o.dot;
  s.nx += o.nx;
  s.l1 += o.l1;
}
/// The same sums in double (the fallback for patches outside the float range).
struct WideSums {
  double dot, nx, l1;
};
F2G_HD WideSums wide_zero() { return WideSums{0.0, 0.0, 0.0}; }
F2G_HD void wide_add(WideSums& s, float x, float g) {
  const double a = x, c = g;
  s.dot += a * c;
  s.nx += a * a;
  s.l1 += fabs(a - c);
}

/// True when a float ‖·‖² can be used as is: in [2⁻⁶⁰, FLT_MAX] (false for
/// NaN and ±Inf).
F2G_HD bool norm_sq_ok(float s) { return s >= kWideBelow && s - s == 0.f; }
/// The goal norm from its float ‖g‖² `s`, or from `wide` (‖g‖² summed in
/// double) when `s` is outside the trusted range.
F2G_HD double goal_norm(float s, double wide) {
  return norm_sq_ok(s) ? sqrt(static_cast<double>(s)) : sqrt(wide);
}
/// ‖g_p‖ of one goal patch, sequentially (the host form of the GPU's norms).
F2G_HD double patch_norm(const float* gp, size_t D) {
  float s = 0.f;
  for (size_t i = 0; i < D; ++i) s += gp[i] * gp[i];
  if (norm_sq_ok(s)) return sqrt(static_cast<double>(s));
  double w = 0.0;
  for (size_t i = 0; i < D; ++i) w += static_cast<double>(gp[i]) * static_cast<double>(gp[i]);
  return sqrt(w);
}

/// True when the float sums of a patch pair give its term (the CPU kernel's
/// fast-path rule); otherwise the patch is recomputed with WideSums.
F2G_HD bool patch_fast(const PatchSums& s, double gnorm) {
  return norm_sq_ok(s.nx) && s.dot - s.dot == 0.f && s.l1 - s.l1 == 0.f && gnorm >= kWideNormBelow &&
         gnorm - gnorm == 0.0;
}
/// cos(x_p, g_p) · exp(−β‖x_p − g_p‖₁) from float sums that pass patch_fast
/// (both norms non-zero there, so the plain quotient), cos clamped to [−1, 1]
/// (rounding overshoot only).
F2G_HD double patch_term(const PatchSums& s, double gnorm, double beta) {
  double c = static_cast<double>(s.dot) / (sqrt(static_cast<double>(s.nx)) * gnorm);
  c = c < -1.0 ? -1.0 : c > 1.0 ? 1.0 : c;
  return c * exp(-beta * static_cast<double>(s.l1));
}
/// The same term from double sums, with the degenerate cases: both patches
/// zero → cos 1, one zero → cos 0; NaN when a sum or the goal norm is not
/// finite (NaN/Inf in either patch).
F2G_HD double patch_term_wide(const WideSums& s, double gnorm, double beta) {
  if (!(s.nx - s.nx == 0.0) || !(s.l1 - s.l1 == 0.0) || !(gnorm - gnorm == 0.0)) return NAN;
  double c;
  if (s.nx == 0.0 || gnorm == 0.0) {
    c = (s.nx == 0.0 && gnorm == 0.0) ? 1.0 : 0.0;
  } else {
    c = s.dot / (sqrt(s.nx) * gnorm);
    c = c < -1.0 ? -1.0 : c > 1.0 ? 1.0 : c;
  }
  return c * exp(-beta * s.l1);
}
/// The term of one patch pair, sequentially: float sums, double when needed.
F2G_HD double patch_pair_term(const float* xp, const float* gp, double gnorm, size_t D, double beta) {
  PatchSums s = patch_zero();
  for (size_t i = 0; i < D; ++i) patch_add(s, xp[i], gp[i]);
  if (patch_fast(s, gnorm)) return patch_term(s, gnorm, beta);
  WideSums w = wide_zero();
  for (size_t i = 0; i < D; ++i) wide_add(w, xp[i], gp[i]);
  return patch_term_wide(w, gnorm, beta);
}
/// S(x, g) of one frame, sequentially (the host form of the GPU reduction).
/// `gnorm` holds the goal's patch norms (patch_norm).
F2G_HD double frame_similarity(const float* x, const float* g, const double* gnorm, size_t N, size_t D,
                               double lambda) {
  const double beta = lambda / static_cast<double>(D);
  double total = 0.0;
  for (size_t p = 0; p < N; ++p) total += patch_pair_term(x + p * D, g + p * D, gnorm[p], D, beta);
  return total / static_cast<double>(N);
}

// ------------------------------------------------------- §2 slopes, segments

/// Σ_k (k − k̄)² for k = 0..w−1.
F2G_HD double slope_denom(size_t w) {
  const double W = static_cast<double>(w);
  return W * (W * W - 1.0) / 12.0;
}
/// Least-squares slope of y[0..w) against k (SPEC §2), Σ(k − k̄)·y / Σ(k − k̄)²
/// (Σ(k − k̄) = 0, so ȳ drops out). Accumulates in double.
F2G_HD double window_slope(const float* y, size_t w) {
  const double kbar = (static_cast<double>(w) - 1.0) / 2.0;
  double s = 0.0;
  for (size_t k = 0; k < w; ++k) s += (static_cast<double>(k) - kbar) * static_cast<double>(y[k]);
  return s / slope_denom(w);
}
/// The cut of the cluster ending at g (SPEC §2): the earliest window start
/// i ∈ [lo, g − w + 1] whose slope over sim[i..i+w) exceeds τ, else lo.
/// `sim` is indexed by frame.
F2G_HD size_t find_cut(const float* sim, size_t lo, size_t g, size_t w, double tau) {
  if (g + 1 < lo + w) return lo;
  for (size_t i = lo; i + w <= g + 1; ++i)
    if (window_slope(sim + i, w) > tau) return i;
  return lo;
}
/// min and max of sim[a..b].
F2G_HD void range_minmax(const float* sim, size_t a, size_t b, float& mn, float& mx) {
  mn = sim[a];
  mx = sim[a];
  for (size_t j = a; j <= b; ++j) {
    mn = sim[j] < mn ? sim[j] : mn;
    mx = sim[j] > mx ? sim[j] : mx;
  }
}
/// ŝ = (s − min) / (max − min), or 1 when max − min < 1e-12 (SPEC §3).
F2G_HD float normalized(float s, float mn, float mx) {
  const double range = static_cast<double>(mx) - static_cast<double>(mn);
  return range < 1e-12 ? 1.0f : static_cast<float>((static_cast<double>(s) - mn) / range);
}
/// V = (k + ŝ) / K (SPEC §3).
F2G_HD float progress_value(size_t k, float shat, size_t K) {
  return static_cast<float>((static_cast<double>(k) + static_cast<double>(shat)) / static_cast<double>(K));
}

// ------------------------------------------------------------------ §6 GAE

/// One backward GAE step (SPEC §6): δ = r + γ(1 − terminated)·V' − V in
/// float (γ rounded to float), then A = δ + γλ(1 − done)·A_next in double
/// (the CPU kernel's arithmetic).
F2G_HD double gae_step(float r, float v, float nv, float ft, float fd, float gf, double gl, double a_next) {
  const float d = r + (gf - gf * ft) * nv - v;
  return static_cast<double>(d) + (static_cast<double>(1.f - fd) * gl) * a_next;
}
F2G_HD bool gae_inputs_ok(float r, float v, float nv, float ft, float fd) {
  return finite(r) && finite(v) && finite(nv) && flag_ok(ft) && flag_ok(fd);
}
/// GAE of environment b, walking back from t = T−1; element (b, t) lives at
/// b·T + t, or t·B + b when time_major (then a warp of consecutive b reads
/// consecutive addresses at every step). returns = A + V rounded once.
/// Returns false if an input is non-finite or a flag is not 0/1 (outputs are
/// then unspecified).
F2G_HD bool gae_env(const float* r, const float* v, const float* nv, Flags term, Flags done, size_t b,
                    size_t B, size_t T, double gamma, double lambda, bool time_major, float* adv,
                    float* ret) {
  const float gf = static_cast<float>(gamma);
  const double gl = gamma * lambda;
  double a = 0.0;
  bool ok = true;
  for (size_t t = T; t-- > 0;) {
    const size_t i = time_major ? t * B + b : b * T + t;
    const float ft = flag_at(term, i, 0.f), fd = flag_at(done, i, 0.f);
    a = gae_step(r[i], v[i], nv[i], ft, fd, gf, gl, a);
    adv[i] = static_cast<float>(a);
    ret[i] = static_cast<float>(a + static_cast<double>(v[i]));
    ok = ok && gae_inputs_ok(r[i], v[i], nv[i], ft, fd);
  }
  return ok;
}

// ------------------------------------------------------------------ §7 GRPO

/// Mean and std of x[0..n) in double (sample std of one value is 0).
F2G_HD void mean_std(const float* x, size_t n, rl::StdKind kind, double& mean, double& sd) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += x[i];
  mean = s / static_cast<double>(n);
  double q = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mean;
    q += dx * dx;
  }
  if (kind == rl::StdKind::kPopulation) sd = sqrt(q / static_cast<double>(n));
  else sd = n > 1 ? sqrt(q / static_cast<double>(n - 1)) : 0.0;
}
/// Advantages of one group of size g (SPEC §7): (R − mean) / (std + ε), the
/// std of the group or, with batch_scale, `batch_std`; 0 for a group of one
/// and for a zero denominator. Returns false if some R is non-finite.
F2G_HD bool grpo_group(const float* R, size_t g, double eps, rl::StdKind kind, bool batch_scale,
                       double batch_std, float* out) {
  bool ok = true;
  for (size_t i = 0; i < g; ++i) ok = ok && finite(R[i]);
  double mean, sd;
  mean_std(R, g, kind, mean, sd);
  double denom = 1.0;
  if (kind != rl::StdKind::kNone) denom = (batch_scale ? batch_std : sd) + eps;
  for (size_t i = 0; i < g; ++i)
    out[i] = g == 1 || denom == 0.0 ? 0.f : static_cast<float>((static_cast<double>(R[i]) - mean) / denom);
  return ok;
}
/// A_{i,t} = γ^{L−1−t} · Â_i for t < L, else 0 (SPEC §7).
F2G_HD float step_advantage(float adv, std::int32_t L, size_t t, double gamma) {
  if (static_cast<std::int64_t>(t) >= L) return 0.f;
  return static_cast<float>(pow(gamma, static_cast<double>(L - 1 - static_cast<std::int64_t>(t))) *
                            static_cast<double>(adv));
}

// ------------------------------------------------------------------ §8 losses

/// k3(x) = expm1(x) − x; a series for |x| < 0.5 so it does not cancel.
F2G_HD float k3_of(float x) {
  if (fabsf(x) < 0.5f) return k3_series(x);
  return (expf(x) - 1.f) - x;
}

/// One step's share of a loss and its statistics.
struct StepTerm {
  float loss;  // ℓ
  float kl;    // (ρ − 1) − log ρ for the surrogate, else 0
  bool clip;   // surrogate: the clipped term was selected; value: the clipped error was larger
  bool dual;   // surrogate: the dual clip replaced ℓ
  bool ok;     // inputs finite
};

/// Clipped surrogate step (SPEC §8): ρ = exp(x), x = logπ − logπ_old,
/// ℓ = −min(ρA, clip(ρ, lo, hi)·A); with dual > 0 and A < 0, ℓ ← min(ℓ, c|A|).
/// lo = 1 − ε_low, hi = 1 + ε_high (as float).
F2G_HD StepTerm surrogate_step(float lp, float olp, float a, float lo, float hi, float dual) {
  const float x = lp - olp;
  const float k3 = k3_of(x);
  const float rho = 1.f + (k3 + x);
  const float rc = rho < lo ? lo : rho > hi ? hi : rho;
  const float s1 = rho * a, s2 = rc * a;
  const bool clipped = s2 < s1;
  float l = -(clipped ? s2 : s1);
  const float dc = -dual * a;
  const bool dual_on = dual > 0.f && a < 0.f && dc < l;
  l = dual_on ? dc : l;
  return StepTerm{l, k3, clipped, dual_on, finite(lp) && finite(olp) && finite(a)};
}

/// ½e², or Huber_δ(e) when δ > 0.
F2G_HD float huber_or_sq(float e, float delta) {
  const float ae = fabsf(e);
  return delta > 0.f && ae > delta ? delta * (ae - 0.5f * delta) : 0.5f * e * e;
}
/// Value-loss step: f(V − R), or with old values (`has_old`) and clip > 0 the
/// larger of f(V − R) and f(V_c − R), V_c = V clipped to old ± clip.
F2G_HD StepTerm value_step(float v, float R, float ov, bool has_old, float clip, float delta) {
  float l = huber_or_sq(v - R, delta);
  bool clipped = false;
  bool ok = finite(v) && finite(R);
  if (has_old) {
    ok = ok && finite(ov);
    const float dv = v - ov;
    const float vc = dv > clip ? ov + clip : dv < -clip ? ov - clip : v;
    const float lc = huber_or_sq(vc - R, delta);
    clipped = lc > l;
    l = clipped ? lc : l;
  }
  return StepTerm{l, 0.f, clipped, false, ok};
}
/// KL estimators with x = logπ − logπ_ref: k1 = x, k2 = ½x², k3 = e^{−x} − 1 + x.
F2G_HD StepTerm kl_step(float lp, float ref, rl::KlEstimator est) {
  const float x = lp - ref;
  const float l = est == rl::KlEstimator::kK1 ? x : est == rl::KlEstimator::kK2 ? 0.5f * x * x : k3_of(-x);
  return StepTerm{l, 0.f, false, false, finite(lp) && finite(ref)};
}

/// Per-row sums of a masked loss (double; counts exact).
struct RowSums {
  double loss, mask, clip, dual, kl;
  int bad;  // > 0: a non-finite input or a flag that is not 0/1
};
F2G_HD RowSums row_zero() { return RowSums{0, 0, 0, 0, 0, 0}; }
/// Adds step term `s` under mask value m (masked-out steps add exact zeros).
F2G_HD void row_add(RowSums& r, const StepTerm& s, float m) {
  if (m != 0.f) {
    r.loss += s.loss;
    r.kl += s.kl;
  }
  r.mask += m;
  r.clip += s.clip ? m : 0.f;
  r.dual += s.dual ? m : 0.f;
  r.bad += (s.ok && flag_ok(m)) ? 0 : 1;
}
F2G_HD void row_merge(RowSums& r, const RowSums& o) {
  r.loss += o.loss;
  r.mask += o.mask;
  r.clip += o.clip;
  r.dual += o.dual;
  r.kl += o.kl;
  r.bad += o.bad;
}

/// A reduced loss: the same fields as the CPU's rl::LossResult.
struct LossOut {
  double loss, clip_fraction, dual_clip_fraction, approx_kl, masked;
  int ok;
};
/// Combines per-row sums in row order (SPEC §8 aggregations).
F2G_HD LossOut aggregate_rows(const RowSums* rows, size_t B, rl::Aggregation agg) {
  double loss = 0, mask = 0, clip = 0, dual = 0, kl = 0, nseq = 0;
  int bad = 0;
  for (size_t b = 0; b < B; ++b) {
    const RowSums& s = rows[b];
    bad += s.bad;
    mask += s.mask;
    clip += s.clip;
    dual += s.dual;
    kl += s.kl;
    if (agg == rl::Aggregation::kTokenMean) {
      loss += s.loss;
    } else if (s.mask > 0) {
      loss += agg == rl::Aggregation::kSeqMeanTokenMean ? s.loss / s.mask : s.loss;
      nseq += 1;
    }
  }
  LossOut r{0, 0, 0, 0, mask, bad == 0};
  if (mask > 0) {
    r.loss = agg == rl::Aggregation::kTokenMean ? loss / mask : loss / nseq;
    r.clip_fraction = clip / mask;
    r.dual_clip_fraction = dual / mask;
    r.approx_kl = kl / mask;
  }
  return r;
}

}  // namespace hd
}  // namespace f2g

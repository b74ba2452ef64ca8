// Policy-optimisation kernels (SPEC §5–8). See rl.h for the contract.
#include "kernels/rl.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/k3_series.h"
#include "kernels/pool.h"
#include "kernels/rl_checks.h"

namespace f2g {
namespace rl {
namespace {

using namespace checks;  // fin, flag_bad, flag_val, u8_to_f32, kChunk, flag_row

// ---- vectorisable exp / expm1 (float, ≈1 ulp; no libm call so loops SIMD) ----
// NaN gives NaN. The clamp maps NaN to −87 first (x > −87 is false for NaN),
// so the float→int conversion below only ever sees |k| ≤ 128 (converting NaN
// to int is undefined), and the exponent bits are formed unsigned.
F2G_INLINE float exp_fast(float x) {
  const float xc = std::min(x > -87.0f ? x : -87.0f, 88.5f);
  // Round to nearest with the 1.5·2^23 trick (vectorises without SSE4.1 rounding).
  const float k = (xc * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = xc - k * 0.693145751953125f;  // ln2 split (Cody–Waite)
  r = r - k * 1.428606765330187045e-06f;
  // Taylor to r^7 on |r| ≤ ln2/2: truncation < 1e-8 relative.
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  float e = p * scale;
  e = x > 88.5f ? INFINITY : e;
  e = x < -87.0f ? 0.f : e;
  e = x != x ? x : e;
  return e;
}

// k3(x) = expm1(x) − x without cancellation for small |x|: both arms are
// computed and selected, so the loops stay branch-free.
F2G_INLINE float k3_of(float x) {
  const float small = k3_series(x), large = (exp_fast(x) - 1.f) - x;
  return std::fabs(x) < 0.5f ? small : large;
}

// ------------------------------------------------------------------ helpers

struct MeanStd {
  double mean, std;
};
MeanStd mean_std(const float* x, std::size_t n, StdKind kind) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += x[i];
  const double m = s / static_cast<double>(n);
  double q = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = x[i] - m;
    q += dx * dx;
  }
  double sd = 0;
  if (kind == StdKind::kPopulation) sd = std::sqrt(q / static_cast<double>(n));
  else sd = n > 1 ? std::sqrt(q / static_cast<double>(n - 1)) : 0.0;
  return {m, sd};
}

bool all_equal(const float* x, std::size_t n) {
  for (std::size_t i = 1; i < n; ++i)
    if (x[i] != x[0]) return false;
  return true;
}

// Per-row sums of a masked loss.
struct RowSums {
  double loss = 0, mask = 0, clip = 0, dual = 0, kl = 0;
  float chk = 0;  // 0 iff every input was finite and every flag 0/1
};

LossResult aggregate(const std::vector<RowSums>& rows, Aggregation agg) {
  LossResult r;
  double loss = 0, mask = 0, clip = 0, dual = 0, kl = 0, nseq = 0;
  float chk = 0;
  for (const RowSums& s : rows) {
    chk += s.chk;
    mask += s.mask;
    clip += s.clip;
    dual += s.dual;
    kl += s.kl;
    if (agg == Aggregation::kTokenMean) {
      loss += s.loss;
    } else if (s.mask > 0) {
      loss += agg == Aggregation::kSeqMeanTokenMean ? s.loss / s.mask : s.loss;
      nseq += 1;
    }
  }
  r.ok = chk == 0.f;
  r.masked = static_cast<std::size_t>(mask);
  if (mask > 0) {
    r.loss = agg == Aggregation::kTokenMean ? loss / mask : loss / nseq;
    r.clip_fraction = clip / mask;
    r.dual_clip_fraction = dual / mask;
    r.approx_kl = kl / mask;
  }
  return r;
}

// Row kernels below work in chunks of kChunk steps: one vector loop forms the
// masked per-step terms in float (with float counts, exact below 2^24) into
// small buffers, then each buffer is summed in double. (A single loop with
// several double and float reductions does not vectorise in GCC.)

F2G_INLINE double sum_d(const float* x, std::size_t n) {
  double a = 0;
#pragma omp simd reduction(+ : a)
  for (std::size_t i = 0; i < n; ++i) a += static_cast<double>(x[i]);
  return a;
}

// The mask of steps [c0, c0+n) as floats (converted into `buf` when uint8).
template <bool kMask, class FM>
F2G_INLINE const float* chunk_mask(const FM* m, std::size_t c0, std::size_t n, float* buf) {
  if constexpr (!kMask) {
    return nullptr;
  } else if constexpr (std::is_same_v<FM, std::uint8_t>) {
    u8_to_f32(m + c0, n, buf);
    return buf;
  } else {
    return m + c0;
  }
}

// ------------------------------------------------------------------ surrogate

// kMask = false: no mask (all ones; m is not read). Template flags rather than
// null checks inside the loops, which GCC does not unswitch-and-vectorise.
template <bool kMask, class FM>
F2G_INLINE RowSums surrogate_row_t(const float* lp, const float* olp, const float* a, const FM* m,
                                   std::size_t T, float lo, float hi, float dual) {
  RowSums s;
  float lb[kChunk], kb[kChunk];
  for (std::size_t c0 = 0; c0 < T; c0 += kChunk) {
    const std::size_t n = std::min(kChunk, T - c0);
    float cm = 0, cc = 0, cd = 0, chk = 0;
    float mb[kChunk];
    const float* mf = chunk_mask<kMask>(m, c0, n, mb);
#pragma omp simd simdlen(16) reduction(+ : cm, cc, cd, chk)
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t t = c0 + j;
      const float x = lp[t] - olp[t];
      const float k3 = k3_of(x);
      const float rho = 1.f + (k3 + x);  // 1 + expm1(x)
      const float rc = std::min(std::max(rho, lo), hi);
      const float s1 = rho * a[t], s2 = rc * a[t];
      const bool clipped = s2 < s1;
      float l = -(clipped ? s2 : s1);
      const float dc = -dual * a[t];  // c·|A| where A < 0
      const float dual_on = dual > 0.f && a[t] < 0.f && dc < l ? 1.f : 0.f;
      l = dual_on != 0.f ? dc : l;
      // Masked-out steps contribute exact zeros (a select, so an overflowed ℓ
      // there cannot turn into NaN); counts use float products.
      const float mv = kMask ? mf[j] : 1.f;
      lb[j] = mv != 0.f ? l : 0.f;
      kb[j] = mv != 0.f ? k3 : 0.f;
      cm += mv;
      cc += mv * (clipped ? 1.f : 0.f);
      cd += mv * dual_on;
      chk += fin(lp[t]) + fin(olp[t]) + fin(a[t]) + (kMask ? flag_bad(mf[j]) : 0.f);
    }
    s.loss += sum_d(lb, n);
    s.kl += sum_d(kb, n);
    s.mask += cm;
    s.clip += cc;
    s.dual += cd;
    s.chk += chk;
  }
  return s;
}

F2G_MULTIVERSION RowSums surrogate_row(const float* lp, const float* olp, const float* a, FlagView m,
                                       std::size_t T, float lo, float hi, float dual) {
  if (m.u8) return surrogate_row_t<true>(lp, olp, a, m.u8, T, lo, hi, dual);
  if (m.f32) return surrogate_row_t<true>(lp, olp, a, m.f32, T, lo, hi, dual);
  return surrogate_row_t<false>(lp, olp, a, m.f32, T, lo, hi, dual);
}

std::size_t row_grain(std::size_t T) {
  return std::max<std::size_t>(1, (std::size_t{1} << 14) / std::max<std::size_t>(T, 1));
}

// ------------------------------------------------------------------ value loss

// Huber with threshold `dh` (= δ when δ > 0, else +Inf: no |e| exceeds it, so
// the square is used, as for δ ≤ 0). One float compare per step: a loop-
// invariant `δ > 0` and-ed into it makes a mixed-width mask that GCC cannot
// vectorise once the clipped error's select is folded into the compare.
F2G_INLINE float huber_or_sq(float e, float delta, float dh) {
  const float ae = std::fabs(e);
  return ae > dh ? delta * (ae - 0.5f * delta) : 0.5f * e * e;
}

template <bool kMask, bool kOld, class FM>
F2G_INLINE RowSums value_row_t(const float* v, const float* R, const float* ov, const FM* m, std::size_t T,
                               float clip, float delta) {
  RowSums s;
  float lb[kChunk];
  const float dh = delta > 0.f ? delta : INFINITY;
  for (std::size_t c0 = 0; c0 < T; c0 += kChunk) {
    const std::size_t n = std::min(kChunk, T - c0);
    float cm = 0, cc = 0, chk = 0;
    float mb[kChunk];
    const float* mf = chunk_mask<kMask>(m, c0, n, mb);
#pragma omp simd simdlen(16) reduction(+ : cm, cc, chk)
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t t = c0 + j;
      float l = huber_or_sq(v[t] - R[t], delta, dh);
      bool clipped = false;
      float ovc = 0.f;
      if (kOld) {
        ovc = fin(ov[t]);
        // V clipped to old ± clip; V itself when within (so lc == l exactly there).
        const float dv = v[t] - ov[t];
        const float vc = dv > clip ? ov[t] + clip : dv < -clip ? ov[t] - clip : v[t];
        const float lc = huber_or_sq(vc - R[t], delta, dh);
        clipped = lc > l;
        l = clipped ? lc : l;
      }
      const float mv = kMask ? mf[j] : 1.f;
      lb[j] = mv != 0.f ? l : 0.f;
      cm += mv;
      cc += mv * (clipped ? 1.f : 0.f);
      chk += fin(v[t]) + fin(R[t]) + ovc + (kMask ? flag_bad(mf[j]) : 0.f);
    }
    s.loss += sum_d(lb, n);
    s.mask += cm;
    s.clip += cc;
    s.chk += chk;
  }
  return s;
}

F2G_MULTIVERSION RowSums value_row(const float* v, const float* R, const float* ov, FlagView m, std::size_t T,
                                   float clip, float delta) {
  if (ov) {
    if (m.u8) return value_row_t<true, true>(v, R, ov, m.u8, T, clip, delta);
    if (m.f32) return value_row_t<true, true>(v, R, ov, m.f32, T, clip, delta);
    return value_row_t<false, true>(v, R, ov, m.f32, T, clip, delta);
  }
  if (m.u8) return value_row_t<true, false>(v, R, ov, m.u8, T, clip, delta);
  if (m.f32) return value_row_t<true, false>(v, R, ov, m.f32, T, clip, delta);
  return value_row_t<false, false>(v, R, ov, m.f32, T, clip, delta);
}

// ------------------------------------------------------------------ KL

template <bool kMask, int kEst, class FM>
F2G_INLINE RowSums kl_row_t(const float* lp, const float* ref, const FM* m, std::size_t T) {
  RowSums s;
  float lb[kChunk];
  for (std::size_t c0 = 0; c0 < T; c0 += kChunk) {
    const std::size_t n = std::min(kChunk, T - c0);
    float cm = 0, chk = 0;
    float mb[kChunk];
    const float* mf = chunk_mask<kMask>(m, c0, n, mb);
#pragma omp simd simdlen(16) reduction(+ : cm, chk)
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t t = c0 + j;
      const float x = lp[t] - ref[t];
      // k3 estimator: (e^{−x} − 1) + x = expm1(−x) − (−x)
      const float l = kEst == 0 ? x : kEst == 1 ? 0.5f * x * x : k3_of(-x);
      const float mv = kMask ? mf[j] : 1.f;
      lb[j] = mv != 0.f ? l : 0.f;
      cm += mv;
      chk += fin(lp[t]) + fin(ref[t]) + (kMask ? flag_bad(mf[j]) : 0.f);
    }
    s.loss += sum_d(lb, n);
    s.mask += cm;
    s.chk += chk;
  }
  return s;
}

template <int kEst>
F2G_INLINE RowSums kl_row_e(const float* lp, const float* ref, FlagView m, std::size_t T) {
  if (m.u8) return kl_row_t<true, kEst>(lp, ref, m.u8, T);
  if (m.f32) return kl_row_t<true, kEst>(lp, ref, m.f32, T);
  return kl_row_t<false, kEst>(lp, ref, m.f32, T);
}

F2G_MULTIVERSION RowSums kl_row(const float* lp, const float* ref, FlagView m, std::size_t T, int est) {
  if (est == 0) return kl_row_e<0>(lp, ref, m, T);
  if (est == 1) return kl_row_e<1>(lp, ref, m, T);
  return kl_row_e<2>(lp, ref, m, T);
}

template <class RowFn>
LossResult per_row_loss(std::size_t B, std::size_t T, Aggregation agg, std::size_t threads, RowFn fn) {
  std::vector<RowSums> rows(B);
  parallel_for(B, threads, row_grain(T), [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) rows[b] = fn(b * T);
  });
  return aggregate(rows, agg);
}

// ------------------------------------------------------------------ normalize

// Masked statistics in chunks (as the loss rows): float mask, float terms
// into a buffer, one double reduction per loop.
F2G_MULTIVERSION void masked_sum(const float* x, FlagView m, std::size_t n, double& s, double& cnt,
                                 float& chk) {
  double a = 0, c = 0;
  float k = 0;
  float mb[kChunk], xb[kChunk];
  for (std::size_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::size_t len = std::min(kChunk, n - c0);
    const float* mf = m.f32 ? m.f32 + c0 : mb;
    if (m.u8) u8_to_f32(m.u8 + c0, len, mb);
    if (!m.present()) std::fill(mb, mb + len, 1.f);
    float cm = 0, ck = 0;
#pragma omp simd reduction(+ : cm, ck)
    for (std::size_t j = 0; j < len; ++j) {
      xb[j] = mf[j] != 0.f ? x[c0 + j] : 0.f;
      cm += mf[j];
      ck += fin(x[c0 + j]) + flag_bad(mf[j]);
    }
    a += sum_d(xb, len);
    c += cm;
    k += ck;
  }
  s = a;
  cnt = c;
  chk = k;
}

F2G_MULTIVERSION double masked_sq(const float* x, FlagView m, std::size_t n, double mean) {
  double q = 0;
  float mb[kChunk];
  for (std::size_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::size_t len = std::min(kChunk, n - c0);
    const float* mf = m.f32 ? m.f32 + c0 : mb;
    if (m.u8) u8_to_f32(m.u8 + c0, len, mb);
    if (!m.present()) std::fill(mb, mb + len, 1.f);
    double qc = 0;
#pragma omp simd reduction(+ : qc)
    for (std::size_t j = 0; j < len; ++j) {
      const double d = static_cast<double>(x[c0 + j]) - mean;
      qc += static_cast<double>(mf[j]) * (d * d);  // inputs are finite here (checked by masked_sum)
    }
    q += qc;
  }
  return q;
}

F2G_MULTIVERSION void masked_whiten(const float* x, FlagView m, std::size_t n, double mean, double inv,
                                    float* out) {
  float mb[kChunk];
  for (std::size_t c0 = 0; c0 < n; c0 += kChunk) {
    const std::size_t len = std::min(kChunk, n - c0);
    const float* mf = m.f32 ? m.f32 + c0 : mb;
    if (m.u8) u8_to_f32(m.u8 + c0, len, mb);
    if (!m.present()) std::fill(mb, mb + len, 1.f);
#pragma omp simd simdlen(8)
    for (std::size_t j = 0; j < len; ++j) {
      const float w = static_cast<float>((static_cast<double>(x[c0 + j]) - mean) * inv);
      out[c0 + j] = mf[j] != 0.f ? w : 0.f;
    }
  }
}

F2G_MULTIVERSION void fill_scaled(const double* pw, std::size_t L, double a, float* out) {
  // out[t] = pw[t] · a with pw[t] = γ^{L−1−t}: a forward read (GCC does not
  // vectorise a reversed double read feeding a float store).
#pragma omp simd
  for (std::size_t t = 0; t < L; ++t) out[t] = static_cast<float>(pw[t] * a);
}

}  // namespace

// ================================================================== public

std::int64_t locate_non_finite(const float* x, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i])) return static_cast<std::int64_t>(i);
  return -1;
}

std::int64_t locate_bad_flag(FlagView f, std::size_t n) {
  if (f.u8) {
    for (std::size_t i = 0; i < n; ++i)
      if (f.u8[i] > 1) return static_cast<std::int64_t>(i);
  } else if (f.f32) {
    for (std::size_t i = 0; i < n; ++i)
      if (!(f.f32[i] == 0.f || f.f32[i] == 1.f)) return static_cast<std::int64_t>(i);
  }
  return -1;
}

bool shape_terminal_rewards(const std::uint8_t* success, const float* v, std::size_t n, double failure_scale,
                            float* out) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return false;
    const double y = success[i] ? 1.0 : 0.0;
    const double vc = std::min(std::max(static_cast<double>(v[i]), 0.0), 1.0);
    out[i] = static_cast<float>(y + (1.0 - y) * failure_scale * vc);
  }
  return true;
}

void terminal_rewards(const std::int32_t* lengths, const float* R, std::size_t B, std::size_t horizon,
                      float* out, std::size_t threads) {
  parallel_for(B, threads, row_grain(horizon), [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* row = out + b * horizon;
      std::fill(row, row + horizon, 0.f);
      row[lengths[b] - 1] = R[b];
    }
  });
}

bool grpo_advantages(const float* R, std::size_t n, std::size_t g, double eps, StdKind kind, Scale scale,
                     float* out) {
  if (locate_non_finite(R, n) >= 0) return false;
  double batch_std = 1.0;
  if (scale == Scale::kBatch && kind != StdKind::kNone && n > 0) batch_std = mean_std(R, n, kind).std;
  for (std::size_t i0 = 0; i0 < n; i0 += g) {
    const MeanStd ms = mean_std(R + i0, g, kind);
    double denom = 1.0;
    if (kind != StdKind::kNone) denom = (scale == Scale::kBatch ? batch_std : ms.std) + eps;
    for (std::size_t i = i0; i < i0 + g; ++i)
      // Size-1 groups, and all-equal groups with ε = 0 (0/0), give 0.
      out[i] =
          g == 1 || denom == 0.0 ? 0.f : static_cast<float>((static_cast<double>(R[i]) - ms.mean) / denom);
  }
  return true;
}

GroupStats grpo_group_stats(const float* R, std::size_t n, std::size_t g, StdKind kind) {
  GroupStats s;
  if (kind == StdKind::kNone) kind = StdKind::kSample;
  std::size_t groups = 0;
  double sum = 0;
  for (std::size_t i0 = 0; i0 < n; i0 += g, ++groups) {
    if (all_equal(R + i0, g)) ++s.zero_std_groups;
    sum += mean_std(R + i0, g, kind).std;
  }
  s.mean_std = groups ? sum / static_cast<double>(groups) : 0.0;
  return s;
}

bool step_advantages(const float* adv, const std::int32_t* lengths, std::size_t B, std::size_t horizon,
                     double gamma, float* out, std::size_t threads, bool out_zeroed) {
  if (locate_non_finite(adv, B) >= 0) return false;
  // Powers up to the longest episode only: the horizon may be far larger.
  std::size_t max_len = 0;
  for (std::size_t b = 0; b < B; ++b) max_len = std::max(max_len, static_cast<std::size_t>(lengths[b]));
  // Reversed: rpw[max_len − 1 − k] = γ^k, so a row of length L reads
  // rpw[max_len − L ..) = γ^{L−1}, …, γ^0.
  std::vector<double> rpw(max_len);
  double p = 1.0;
  for (std::size_t k = 0; k < max_len; ++k, p *= gamma) rpw[max_len - 1 - k] = p;
  parallel_for(B, threads, row_grain(out_zeroed ? max_len : horizon), [&](std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      float* row = out + b * horizon;
      const std::size_t L = static_cast<std::size_t>(lengths[b]);
      fill_scaled(rpw.data() + (max_len - L), L, static_cast<double>(adv[b]), row);
      if (!out_zeroed) std::fill(row + L, row + horizon, 0.f);
    }
  });
  return true;
}

WhitenStats normalize_advantages(const float* x, FlagView m, std::size_t n, double eps, bool sample_std,
                                 float* out, std::size_t threads) {
  WhitenStats w;
  constexpr std::size_t kBlock = std::size_t{1} << 16;
  const std::size_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> s(nb), c(nb), q(nb);
  std::vector<float> k(nb);
  parallel_for(nb, threads, 1, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t o = i * kBlock, len = std::min(kBlock, n - o);
      masked_sum(x + o, flag_row(m, o), len, s[i], c[i], k[i]);
    }
  });
  double sum = 0, cnt = 0;
  float chk = 0;
  for (std::size_t i = 0; i < nb; ++i) sum += s[i], cnt += c[i], chk += k[i];
  w.ok = chk == 0.f;
  w.count = static_cast<std::size_t>(cnt);
  if (!w.ok || w.count == 0) return w;
  w.mean = sum / cnt;
  parallel_for(nb, threads, 1, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t o = i * kBlock, len = std::min(kBlock, n - o);
      q[i] = masked_sq(x + o, flag_row(m, o), len, w.mean);
    }
  });
  double sq = 0;
  for (std::size_t i = 0; i < nb; ++i) sq += q[i];
  if (sample_std) w.std = w.count > 1 ? std::sqrt(sq / (cnt - 1)) : 0.0;
  else w.std = std::sqrt(sq / cnt);
  const double inv = 1.0 / (w.std + eps);
  parallel_for(nb, threads, 1, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      const std::size_t o = i * kBlock, len = std::min(kBlock, n - o);
      masked_whiten(x + o, flag_row(m, o), len, w.mean, inv, out + o);
    }
  });
  return w;
}

LossResult clipped_surrogate(const float* lp, const float* olp, const float* a, FlagView m, std::size_t B,
                             std::size_t T, const SurrogateParams& p, std::size_t threads) {
  const float lo = static_cast<float>(1.0 - p.clip_low), hi = static_cast<float>(1.0 + p.clip_high);
  const float dual = static_cast<float>(p.dual_clip);
  return per_row_loss(B, T, p.aggregation, threads, [&](std::size_t o) {
    return surrogate_row(lp + o, olp + o, a + o, flag_row(m, o), T, lo, hi, dual);
  });
}

LossResult clipped_value_loss(const float* v, const float* R, const float* ov, FlagView m, std::size_t B,
                              std::size_t T, const ValueLossParams& p, std::size_t threads) {
  const float clip = static_cast<float>(p.clip), delta = static_cast<float>(p.huber_delta);
  const float* old = p.clip > 0 ? ov : nullptr;
  LossResult r = per_row_loss(B, T, p.aggregation, threads, [&](std::size_t o) {
    return value_row(v + o, R + o, old ? old + o : nullptr, flag_row(m, o), T, clip, delta);
  });
  r.approx_kl = 0;
  r.dual_clip_fraction = 0;
  return r;
}

LossResult kl_penalty(const float* lp, const float* ref, FlagView m, std::size_t B, std::size_t T,
                      KlEstimator est, Aggregation agg, std::size_t threads) {
  const int e = est == KlEstimator::kK1 ? 0 : est == KlEstimator::kK2 ? 1 : 2;
  LossResult r = per_row_loss(B, T, agg, threads,
                              [&](std::size_t o) { return kl_row(lp + o, ref + o, flag_row(m, o), T, e); });
  r.clip_fraction = r.dual_clip_fraction = r.approx_kl = 0;
  return r;
}

}  // namespace rl
}  // namespace f2g

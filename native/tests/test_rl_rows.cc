// The RL loss kernels over long rows, against double-precision references
// written from SPEC.md §7–8 (no code shared with native/kernels). The
// hand-worked cases in test_kernels use one or two steps, which only reach
// the scalar remainder of the kernels' loops; here rows of 37, 256 and 1000
// steps run the vector bodies, the 256-step chunk boundaries and the
// remainders, for every mask form (uint8, float, none), with inputs on both
// sides of every select in the loops:
//  * log-ratios x small (|x| < 0.5, the series branch of k3) and large (up
//    to ±20), ratios inside and outside the clip range, A of both signs (dual
//    clip on and off);
//  * masked-out steps holding values whose terms overflow (ρ = e^{200} = Inf,
//    Inf·0 = NaN): they must contribute exact zeros, so the results stay finite;
//  * NaN or Inf in any input, masked or not, in a vector body or a remainder:
//    ok = false.
// Results must not depend on the mask form or the thread count (bit for bit).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "check.h"
#include "data.h"
#include "kernels/rl.h"
#include "params.h"

using namespace f2g;
using Vec = std::vector<float>;

namespace {

struct Ref {
  double loss = 0, clip = 0, dual = 0, kl = 0, mask = 0;
  double abs_loss = 0, abs_kl = 0;  // Σ|terms|: scale for the tolerances
};

// Aggregates per-row (Σ m·ℓ, Σ m) as SPEC §8 defines.
double aggregate(const std::vector<double>& row_loss, const std::vector<double>& row_mask,
                 rl::Aggregation agg) {
  double loss = 0, mask = 0, nseq = 0;
  for (std::size_t b = 0; b < row_loss.size(); ++b) {
    mask += row_mask[b];
    if (agg == rl::Aggregation::kTokenMean) {
      loss += row_loss[b];
    } else if (row_mask[b] > 0) {
      loss += agg == rl::Aggregation::kSeqMeanTokenMean ? row_loss[b] / row_mask[b] : row_loss[b];
      nseq += 1;
    }
  }
  if (agg == rl::Aggregation::kTokenMean) return mask > 0 ? loss / mask : 0;
  return nseq > 0 ? loss / nseq : 0;
}

// One input set: B rows of T steps.
struct Inputs {
  std::size_t B, T;
  Vec lp, olp, a;
  std::vector<std::uint8_t> m;
  Vec mf;
};

Inputs make_inputs(std::size_t B, std::size_t T, unsigned seed) {
  f2gtest::Rng rng(seed);
  Inputs in{B, T, {}, {}, {}, {}, {}};
  const std::size_t n = B * T;
  in.lp.resize(n);
  in.olp.resize(n);
  in.a.resize(n);
  in.m = rng.flags(n, 0.8);
  for (std::size_t i = 0; i < n; ++i) {
    in.olp[i] = rng.uniform(-3.f, -0.5f);
    // Mostly |x| < 0.5 and around the clip range; every 11th step far out.
    const float x = i % 11 == 3 ? rng.uniform(-20.f, 20.f) : rng.normal(0.35f);
    in.lp[i] = in.olp[i] + x;
    in.a[i] = rng.normal(2.f);
    // Masked-out steps with overflowing terms (e^{200} = Inf; A = 0 makes Inf·0).
    if (!in.m[i] && i % 5 == 0) {
      in.lp[i] = in.olp[i] + (i % 2 ? 200.f : -200.f);
      in.a[i] = i % 3 ? 0.f : 1e30f;
    }
  }
  // A row with every step masked out (left out of the sequence means).
  if (B > 2)
    for (std::size_t t = 0; t < T; ++t) in.m[T + t] = 0;
  in.mf.assign(in.m.begin(), in.m.end());
  return in;
}

Ref surrogate_ref(const Inputs& in, double lo_eps, double hi_eps, double dual, rl::Aggregation agg) {
  Ref r;
  // The kernel's bounds are float(1 − ε): compare against the same numbers.
  const double lo = static_cast<float>(1.0 - lo_eps), hi = static_cast<float>(1.0 + hi_eps);
  const double c = static_cast<float>(dual);
  std::vector<double> rl(in.B, 0.0), rm(in.B, 0.0);
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t t = 0; t < in.T; ++t) {
      const std::size_t i = b * in.T + t;
      if (!in.m[i]) continue;
      const double x = static_cast<double>(in.lp[i]) - static_cast<double>(in.olp[i]);
      const double rho = std::exp(x), A = in.a[i];
      const double rc = std::min(std::max(rho, lo), hi);
      const double unclipped = rho * A, clipped = rc * A;
      double l = -std::min(unclipped, clipped);
      if (clipped < unclipped) r.clip += 1;
      if (c > 0 && A < 0 && c * -A < l) {
        l = c * -A;
        r.dual += 1;
      }
      const double k3 = std::expm1(x) - x;  // (ρ − 1) − log ρ
      rl[b] += l;
      rm[b] += 1;
      r.kl += k3;
      r.abs_loss += std::fabs(l);
      r.abs_kl += std::fabs(k3);
    }
  for (double v : rm) r.mask += v;
  r.loss = aggregate(rl, rm, agg);
  return r;
}

double huber_or_sq(double e, double delta) {
  const double ae = std::fabs(e);
  return delta > 0 && ae > delta ? delta * (ae - 0.5 * delta) : 0.5 * e * e;
}

Ref value_ref(const Vec& v, const Vec& R, const Vec* old, const Inputs& in, double clip, double delta,
              rl::Aggregation agg) {
  Ref r;
  std::vector<double> rl(in.B, 0.0), rm(in.B, 0.0);
  const double cf = static_cast<float>(clip), df = static_cast<float>(delta);
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t t = 0; t < in.T; ++t) {
      const std::size_t i = b * in.T + t;
      if (!in.m[i]) continue;
      double l = huber_or_sq(static_cast<double>(v[i]) - R[i], df);
      if (old) {
        const double o = (*old)[i];
        const double vc = std::min(std::max(static_cast<double>(v[i]), o - cf), o + cf);
        const double lc = huber_or_sq(vc - R[i], df);
        if (lc > l) {
          l = lc;
          r.clip += 1;
        }
      }
      rl[b] += l;
      rm[b] += 1;
      r.abs_loss += std::fabs(l);
    }
  for (double x : rm) r.mask += x;
  r.loss = aggregate(rl, rm, agg);
  return r;
}

Ref kl_ref(const Inputs& in, rl::KlEstimator est, rl::Aggregation agg) {
  Ref r;
  std::vector<double> rl(in.B, 0.0), rm(in.B, 0.0);
  for (std::size_t b = 0; b < in.B; ++b)
    for (std::size_t t = 0; t < in.T; ++t) {
      const std::size_t i = b * in.T + t;
      if (!in.m[i]) continue;
      const double x = static_cast<double>(in.lp[i]) - static_cast<double>(in.olp[i]);
      const double l = est == rl::KlEstimator::kK1   ? x
                       : est == rl::KlEstimator::kK2 ? 0.5 * x * x
                                                     : std::expm1(-x) + x;  // e^{−x} − 1 + x
      rl[b] += l;
      rm[b] += 1;
      r.abs_loss += std::fabs(l);
    }
  for (double x : rm) r.mask += x;
  r.loss = aggregate(rl, rm, agg);
  return r;
}

// The mask forms of one input set: uint8, float, and (when the mask is all
// ones) none.
std::vector<rl::FlagView> mask_views(const Inputs& in) {
  rl::FlagView u8, f32;
  u8.u8 = in.m.data();
  f32.f32 = in.mf.data();
  return {u8, f32};
}

bool same(const rl::LossResult& x, const rl::LossResult& y) {
  return x.ok == y.ok && x.masked == y.masked && x.loss == y.loss && x.clip_fraction == y.clip_fraction &&
         x.dual_clip_fraction == y.dual_clip_fraction && x.approx_kl == y.approx_kl;
}

// Relative tolerance on a mean of n per-step float terms whose magnitudes sum
// to `abs`: each term is within ~2e-6 of its exact value (the float log-ratio
// is rounded once, and e^x has ≈1 ulp).
double tol(double abs, double count) { return 1e-5 * abs / std::max(count, 1.0) + 1e-12; }

const rl::Aggregation kAggs[] = {rl::Aggregation::kTokenMean, rl::Aggregation::kSeqMeanTokenMean,
                                 rl::Aggregation::kSeqMeanTokenSum};
const std::size_t kShapes[][2] = {{5, 1000}, {7, 256}, {9, 37}};

}  // namespace

TEST(surrogate_long_rows_match_reference) {
  unsigned seed = 1;
  for (const auto& shape : kShapes) {
    const Inputs in = make_inputs(shape[0], shape[1], seed++);
    for (rl::Aggregation agg : kAggs)
      for (double dual : {0.0, 3.0}) {
        const rl::SurrogateParams p = f2gtest::surrogate_params(0.2, 0.28, dual, agg);
        const Ref ref = surrogate_ref(in, 0.2, 0.28, dual, agg);
        const double cnt = ref.mask;
        rl::LossResult first;
        bool have_first = false;
        for (rl::FlagView mv : mask_views(in))
          for (std::size_t threads : {1, 2}) {
            const auto r =
                rl::clipped_surrogate(in.lp.data(), in.olp.data(), in.a.data(), mv, in.B, in.T, p, threads);
            CHECK(r.ok);
            CHECK_EQ(r.masked, static_cast<std::size_t>(cnt));
            CHECK(std::isfinite(r.loss) && std::isfinite(r.approx_kl));
            const double lt =
                agg == rl::Aggregation::kSeqMeanTokenSum ? tol(ref.abs_loss, 1) : tol(ref.abs_loss, cnt);
            CHECK_NEAR(r.loss, ref.loss, lt);
            CHECK_NEAR(r.approx_kl, ref.kl / cnt, tol(ref.abs_kl, cnt));
            // A ratio within rounding of a clip bound may be decided either
            // way: allow two such steps.
            CHECK_NEAR(r.clip_fraction, ref.clip / cnt, 2.0 / cnt);
            CHECK_NEAR(r.dual_clip_fraction, ref.dual / cnt, 2.0 / cnt);
            if (dual > 0) CHECK(ref.dual > 0);  // the inputs do reach the dual clip
            CHECK(ref.clip > 0 && ref.clip < cnt);
            if (!have_first) first = r, have_first = true;
            else CHECK(same(r, first));
          }
      }
  }
}

TEST(surrogate_no_mask_equals_all_ones_mask) {
  Inputs in = make_inputs(4, 1000, 11);
  for (std::size_t i = 0; i < in.m.size(); ++i) {
    in.m[i] = 1;
    in.mf[i] = 1.f;
    // Finite terms only (the overflowing ones were for masked-out steps).
    if (std::fabs(in.lp[i] - in.olp[i]) > 50.f) in.lp[i] = in.olp[i] + 1.f;
    if (std::fabs(in.a[i]) > 100.f) in.a[i] = -1.f;
  }
  const rl::SurrogateParams p = f2gtest::surrogate_params(0.2, 0.2, 3, rl::Aggregation::kTokenMean);
  const auto none = rl::clipped_surrogate(in.lp.data(), in.olp.data(), in.a.data(), {}, in.B, in.T, p, 1);
  for (rl::FlagView mv : mask_views(in))
    CHECK(same(none, rl::clipped_surrogate(in.lp.data(), in.olp.data(), in.a.data(), mv, in.B, in.T, p, 1)));
  const Ref ref = surrogate_ref(in, 0.2, 0.2, 3, rl::Aggregation::kTokenMean);
  CHECK_NEAR(none.loss, ref.loss, tol(ref.abs_loss, ref.mask));
  CHECK_EQ(none.masked, in.B * in.T);
}

TEST(surrogate_non_finite_anywhere_is_reported) {
  // Positions: inside the first vector iterations, at a chunk boundary, in
  // the remainder (last step), and a masked-out step.
  const Inputs base = make_inputs(3, 1000, 21);
  const rl::SurrogateParams p = f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kTokenMean);
  std::size_t masked_out = 0;
  while (base.m[masked_out]) ++masked_out;
  for (std::size_t pos : {std::size_t{3}, std::size_t{256}, std::size_t{2999}, masked_out})
    for (int which = 0; which < 3; ++which)
      for (float bad : {NAN, INFINITY, -INFINITY}) {
        Inputs in = base;
        Vec& x = which == 0 ? in.lp : which == 1 ? in.olp : in.a;
        x[pos] = bad;
        for (rl::FlagView mv : mask_views(in)) {
          const auto r =
              rl::clipped_surrogate(in.lp.data(), in.olp.data(), in.a.data(), mv, in.B, in.T, p, 1);
          CHECK(!r.ok);
        }
      }
  // A float flag that is neither 0 nor 1, at the last step of a row.
  Inputs in = base;
  in.mf[999] = 0.5f;
  rl::FlagView f32;
  f32.f32 = in.mf.data();
  CHECK(!rl::clipped_surrogate(in.lp.data(), in.olp.data(), in.a.data(), f32, in.B, in.T, p, 1).ok);
}

TEST(value_loss_long_rows_match_reference) {
  unsigned seed = 31;
  for (const auto& shape : kShapes) {
    const Inputs in = make_inputs(shape[0], shape[1], seed++);
    f2gtest::Rng rng(seed++);
    const std::size_t n = in.B * in.T;
    Vec v = rng.normals(n, 2.f), R = rng.normals(n, 2.f), old(n);
    for (std::size_t i = 0; i < n; ++i) old[i] = v[i] + rng.normal(0.5f);  // inside and outside ± clip
    for (rl::Aggregation agg : kAggs)
      for (double clip : {0.0, 0.2})
        for (double delta : {0.0, 1.0}) {
          const rl::ValueLossParams p = f2gtest::value_params(clip, delta, agg);
          const Ref ref = value_ref(v, R, clip > 0 ? &old : nullptr, in, clip, delta, agg);
          rl::LossResult first;
          bool have_first = false;
          for (rl::FlagView mv : mask_views(in))
            for (std::size_t threads : {1, 2}) {
              const auto r =
                  rl::clipped_value_loss(v.data(), R.data(), old.data(), mv, in.B, in.T, p, threads);
              CHECK(r.ok);
              const double lt = agg == rl::Aggregation::kSeqMeanTokenSum ? tol(ref.abs_loss, 1)
                                                                         : tol(ref.abs_loss, ref.mask);
              CHECK_NEAR(r.loss, ref.loss, lt);
              CHECK_NEAR(r.clip_fraction, ref.clip / ref.mask, 2.0 / ref.mask);
              if (clip > 0) CHECK(ref.clip > 0 && ref.clip < ref.mask);
              if (!have_first) first = r, have_first = true;
              else CHECK(same(r, first));
            }
        }
    // Non-finite old value (read only when clipping) and non-finite return.
    Vec bad_old = old, bad_R = R;
    bad_old[n - 1] = NAN;
    bad_R[n / 2] = INFINITY;
    const rl::ValueLossParams p = f2gtest::value_params(0.2, 1, rl::Aggregation::kTokenMean);
    for (rl::FlagView mv : mask_views(in)) {
      CHECK(!rl::clipped_value_loss(v.data(), R.data(), bad_old.data(), mv, in.B, in.T, p, 1).ok);
      CHECK(!rl::clipped_value_loss(v.data(), bad_R.data(), old.data(), mv, in.B, in.T, p, 1).ok);
    }
  }
}

TEST(kl_penalty_long_rows_match_reference) {
  unsigned seed = 51;
  for (const auto& shape : kShapes) {
    Inputs in = make_inputs(shape[0], shape[1], seed++);
    for (rl::KlEstimator est : {rl::KlEstimator::kK1, rl::KlEstimator::kK2, rl::KlEstimator::kK3})
      for (rl::Aggregation agg : kAggs) {
        const Ref ref = kl_ref(in, est, agg);
        rl::LossResult first;
        bool have_first = false;
        for (rl::FlagView mv : mask_views(in))
          for (std::size_t threads : {1, 2}) {
            const auto r = rl::kl_penalty(in.lp.data(), in.olp.data(), mv, in.B, in.T, est, agg, threads);
            CHECK(r.ok);
            CHECK(std::isfinite(r.loss));
            const double lt =
                agg == rl::Aggregation::kSeqMeanTokenSum ? tol(ref.abs_loss, 1) : tol(ref.abs_loss, ref.mask);
            CHECK_NEAR(r.loss, ref.loss, lt);
            if (!have_first) first = r, have_first = true;
            else CHECK(same(r, first));
          }
      }
    in.olp[in.olp.size() - 1] = NAN;
    for (rl::FlagView mv : mask_views(in))
      CHECK(!rl::kl_penalty(in.lp.data(), in.olp.data(), mv, in.B, in.T, rl::KlEstimator::kK3,
                            rl::Aggregation::kTokenMean, 1)
                 .ok);
  }
}

TEST(step_advantages_long_rows) {
  // out[i,t] = γ^{L_i−1−t}·adv_i for t < L_i, else 0 (SPEC §7).
  const std::size_t B = 6, H = 1000;
  const std::vector<std::int32_t> L = {1, 7, 256, 257, 999, 1000};
  const Vec adv = {1.5f, -2.f, 0.25f, 3.f, -1.f, 0.5f};
  const double gamma = 0.995;
  for (bool zeroed : {false, true}) {
    Vec out(B * H, zeroed ? 0.f : 9.f);
    CHECK(rl::step_advantages(adv.data(), L.data(), B, H, gamma, out.data(), 2, zeroed));
    int bad = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < H; ++t) {
        const double want = static_cast<std::int32_t>(t) < L[b]
                                ? std::pow(gamma, L[b] - 1 - static_cast<double>(t)) * adv[b]
                                : 0.0;
        if (!f2gtest::near(out[b * H + t], want, 1e-6 * std::fabs(want))) ++bad;
      }
    CHECK_EQ(bad, 0);
  }
}

TEST(normalize_advantages_long_masked) {
  // Over 2^16 elements: several blocks, the last one partial.
  f2gtest::Rng rng(71);
  const std::size_t n = 150001;
  Vec x = rng.normals(n, 3.f);
  for (float& v : x) v += 1.f;
  std::vector<std::uint8_t> m = rng.flags(n, 0.7);
  Vec mf(m.begin(), m.end());
  double s = 0, c = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (m[i]) s += x[i], c += 1;
  const double mean = s / c;
  double q = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (m[i]) q += (x[i] - mean) * (x[i] - mean);
  const double sd = std::sqrt(q / (c - 1));
  rl::FlagView u8, f32;
  u8.u8 = m.data();
  f32.f32 = mf.data();
  for (rl::FlagView mv : {u8, f32}) {
    Vec out(n, 7.f);
    const auto w = rl::normalize_advantages(x.data(), mv, n, 1e-8, true, out.data(), 2);
    CHECK(w.ok);
    CHECK_EQ(w.count, static_cast<std::size_t>(c));
    CHECK_NEAR(w.mean, mean, 1e-9);
    CHECK_NEAR(w.std, sd, 1e-9);
    int bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double want = m[i] ? (x[i] - mean) / (sd + 1e-8) : 0.0;
      if (m[i] ? !f2gtest::near(out[i], want, 1e-6 * std::fabs(want) + 1e-7) : out[i] != 0.f) ++bad;
    }
    CHECK_EQ(bad, 0);
  }
}

int main() { return f2gtest::run_all("test_rl_rows"); }

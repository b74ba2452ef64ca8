// The kernel bodies of native/cuda/bodies.h — the same source the CUDA
// kernels run — compiled for the host and checked against the CPU kernels on
// random and edge-shaped inputs. Runs everywhere (no GPU needed).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "check.h"
#include "cuda/bodies.h"
#include "data.h"
#include "kernels/progress.h"
#include "kernels/rl.h"
#include "params.h"

using namespace f2g;
using f2gtest::close_rel;
using f2gtest::Rng;
using Vec = std::vector<float>;

namespace {

// Progress targets of one episode composed from the bodies in the order the
// GPU kernel runs them (native/cuda/progress.cu): norms, similarities,
// find_cut, range_minmax, normalized, progress_value.
std::int64_t body_progress(const float* X, std::size_t T, std::size_t N, std::size_t D,
                           const ProgressParams& p, float* V, float* S, std::vector<Segment>& seg) {
  seg.clear();
  const std::size_t F = N * D;
  std::vector<double> gn(N);
  for (std::int64_t g = static_cast<std::int64_t>(T) - 1; g >= 0;) {
    const std::size_t gu = static_cast<std::size_t>(g);
    const std::size_t lo = gu + 1 >= p.max_cluster ? gu + 1 - p.max_cluster : 0;
    const float* goal = X + gu * F;
    bool norms_ok = true;
    for (std::size_t q = 0; q < N; ++q) {
      gn[q] = hd::patch_norm(goal + q * D, D);
      norms_ok = norms_ok && std::isfinite(gn[q]);
    }
    for (std::size_t j = lo; j < gu; ++j)
      S[j] = static_cast<float>(hd::frame_similarity(X + j * F, goal, gn.data(), N, D, p.lambda));
    S[gu] = 1.0f;
    if (!norms_ok) return g;
    for (std::size_t j = lo; j <= gu; ++j)
      if (!hd::finite(S[j])) return static_cast<std::int64_t>(j);
    const std::size_t cut = hd::find_cut(S, lo, gu, p.window, p.threshold);
    float mn, mx;
    hd::range_minmax(S, cut, gu, mn, mx);
    for (std::size_t j = cut; j <= gu; ++j) V[j] = hd::normalized(S[j], mn, mx);
    seg.push_back({static_cast<std::int64_t>(cut), g});
    g = static_cast<std::int64_t>(cut) - 1;
  }
  std::reverse(seg.begin(), seg.end());
  for (std::size_t k = 0; k < seg.size(); ++k)
    for (std::int64_t t = seg[k].start; t <= seg[k].end; ++t) V[t] = hd::progress_value(k, V[t], seg.size());
  return -1;
}

}  // namespace

TEST(similarity_body_matches_cpu) {
  Rng r(1);
  const std::size_t shapes[][3] = {{1, 1, 1}, {7, 5, 13}, {4, 3, 64}, {3, 16, 7}, {2, 1, 1024}};
  for (auto& sh : shapes) {
    const std::size_t T = sh[0], N = sh[1], D = sh[2];
    Vec x = r.normals(T * N * D), g = r.normals(N * D);
    for (double lambda : {0.0, 1.0, 4.0}) {
      Vec cpu(T);
      patch_similarity(x.data(), T, N, D, g.data(), lambda, cpu.data(), 1);
      std::vector<double> gn(N), hn(N);
      goal_norms(g.data(), N, D, gn.data());
      for (std::size_t q = 0; q < N; ++q) {
        hn[q] = hd::patch_norm(g.data() + q * D, D);
        CHECK(close_rel(hn[q], gn[q], 1e-6));
      }
      for (std::size_t t = 0; t < T; ++t)
        CHECK_NEAR(hd::frame_similarity(x.data() + t * N * D, g.data(), hn.data(), N, D, lambda), cpu[t],
                   1e-5);
    }
  }
}

namespace {
// S(x, g) by the bodies, goal norms from hd::patch_norm (as the GPU computes them).
double body_sim(const Vec& x, const Vec& g, std::size_t N, std::size_t D, double lambda) {
  std::vector<double> gn(N);
  for (std::size_t q = 0; q < N; ++q) gn[q] = hd::patch_norm(g.data() + q * D, D);
  return hd::frame_similarity(x.data(), g.data(), gn.data(), N, D, lambda);
}
double cpu_sim(const Vec& x, const Vec& g, std::size_t N, std::size_t D, double lambda) {
  float out = 0;
  patch_similarity(x.data(), 1, N, D, g.data(), lambda, &out, 1);
  return out;
}
}  // namespace

TEST(similarity_body_degenerate_patches) {
  // Hand-worked (docs/progress.md): cos(0, 0) = 1, cos(0, g ≠ 0) = 0, no floor.
  // Patches [zero | (1,2,3)] against [(1,2,3) | (1,2,3)], λ = 0: (0 + 1) / 2.
  Vec z = {0, 0, 0, 1, 2, 3}, gz = {1, 2, 3, 1, 2, 3};
  CHECK_NEAR(body_sim(z, gz, 2, 3, 0.0), 0.5, 1e-7);
  // The same with λ = 1, D = 3: the zero patch still adds 0, the equal one 1.
  CHECK_NEAR(body_sim(z, gz, 2, 3, 1.0), 0.5, 1e-7);
  // Zero patch against zero patch: cos 1, L1 0, so 1; with (3,4)·(4,3)/25 = 0.96 beside it, λ = 0.
  Vec zz = {0, 0, 3, 4}, gzz = {0, 0, 4, 3};
  CHECK_NEAR(body_sim(zz, gzz, 2, 2, 0.0), (1.0 + 0.96) / 2, 1e-7);
  // −0 is zero too.
  Vec nz = {-0.f, 0.f}, pz = {0.f, -0.f};
  CHECK_NEAR(body_sim(nz, pz, 1, 2, 1.0), 1.0, 0);
  // A non-zero x against a zero goal patch: 0 (the goal's side of the rule).
  CHECK_NEAR(body_sim({1, 2}, {0, 0}, 1, 2, 0.0), 0.0, 0);
  // S(x, x) = 1 for the all-zero frame.
  Vec zero(12, 0.f);
  CHECK_NEAR(body_sim(zero, zero, 3, 4, 2.0), 1.0, 0);
  // A subnormal patch is not zero: it has a direction. (1e-45, 0) vs (1, 0): cos 1, λ = 0.
  CHECK_NEAR(body_sim({1e-45f, 0.f}, {1.f, 0.f}, 1, 2, 0.0), 1.0, 1e-12);
  CHECK_NEAR(body_sim({0.f, 1e-45f}, {1.f, 0.f}, 1, 2, 0.0), 0.0, 1e-12);
  // The CPU kernel agrees on every one of these.
  CHECK_NEAR(cpu_sim(z, gz, 2, 3, 1.0), body_sim(z, gz, 2, 3, 1.0), 1e-7);
  CHECK_NEAR(cpu_sim(zz, gzz, 2, 2, 0.0), body_sim(zz, gzz, 2, 2, 0.0), 1e-7);
  CHECK_NEAR(cpu_sim(zero, zero, 3, 4, 2.0), 1.0, 0);
  CHECK_NEAR(cpu_sim({1e-45f, 0.f}, {1.f, 0.f}, 1, 2, 0.0), 1.0, 1e-7);
}

TEST(similarity_body_scale_invariant) {
  // With λ = 0, S(k·x, k·g) = S(x, g) for every k > 0, from subnormal-ish to
  // near FLT_MAX magnitudes (float sums there under/overflow: the double
  // fallback keeps them exact enough). Factors are powers of two, so the
  // scaled inputs are exact and every S is the same to rounding.
  Rng r(7);
  const std::size_t N = 5, D = 24;
  Vec x = r.normals(N * D), g = r.normals(N * D);
  for (std::size_t i = 0; i < D; ++i) x[2 * D + i] = 0;                 // one zero patch in x
  for (std::size_t i = 0; i < D; ++i) x[4 * D + i] = g[4 * D + i] = 0;  // a zero pair
  const double base = body_sim(x, g, N, D, 0.0);
  CHECK(std::isfinite(base));
  for (float k : {0x1p-100f, 0x1p-70f, 0x1p-40f, 1.f, 0x1p40f, 0x1p64f, 0x1p100f, 0x1p120f}) {
    Vec kx(x), kg(g);
    for (auto& v : kx) v *= k;
    for (auto& v : kg) v *= k;
    CHECK_NEAR(body_sim(kx, kg, N, D, 0.0), base, 1e-6);
    CHECK_NEAR(cpu_sim(kx, kg, N, D, 0.0), base, 1e-6);
  }
  // x and x·1e10 against the same goal give the same S with λ = 0 (only x scales).
  Vec big(x);
  for (auto& v : big) v *= 1e10f;
  CHECK_NEAR(body_sim(big, g, N, D, 0.0), base, 1e-6);
  CHECK_NEAR(cpu_sim(big, g, N, D, 0.0), base, 1e-6);
  // Hand-worked at 1e10 and at 1e30 (squares of 1e30 overflow float): (3,4)·(4,3)/25 = 0.96.
  CHECK_NEAR(body_sim({3e10f, 4e10f}, {4.f, 3.f}, 1, 2, 0.0), 0.96, 1e-6);
  CHECK_NEAR(body_sim({3e30f, 4e30f}, {4e30f, 3e30f}, 1, 2, 0.0), 0.96, 1e-6);
  CHECK_NEAR(body_sim({3e-30f, 4e-30f}, {4e-30f, 3e-30f}, 1, 2, 0.0), 0.96, 1e-6);
  // The largest floats: ‖x‖² and x·g overflow float, S stays finite and exact.
  const float m = std::numeric_limits<float>::max();
  CHECK_NEAR(body_sim({m, m}, {m, -m}, 1, 2, 0.0), 0.0, 1e-12);
  CHECK_NEAR(body_sim({m, m}, {m, m}, 1, 2, 0.0), 1.0, 1e-12);
  CHECK_NEAR(cpu_sim({m, m}, {m, m}, 1, 2, 0.0), 1.0, 1e-7);
}

TEST(similarity_body_non_finite_is_nan) {
  // NaN/Inf in either patch gives NaN, even against a zero patch.
  CHECK(std::isnan(body_sim({NAN, 0}, {1, 0}, 1, 2, 1.0)));
  CHECK(std::isnan(body_sim({INFINITY, 0}, {0, 0}, 1, 2, 1.0)));
  CHECK(std::isnan(body_sim({0, 0}, {0, -INFINITY}, 1, 2, 1.0)));
  CHECK(std::isnan(body_sim({1, 2, 0, 0}, {1, 2, NAN, 0}, 2, 2, 0.0)));
  CHECK(std::isnan(hd::patch_norm(std::vector<float>{1.f, NAN}.data(), 2)));
  CHECK(std::isinf(hd::patch_norm(std::vector<float>{1.f, INFINITY}.data(), 2)));
}

TEST(slope_body_matches_cpu) {
  Rng r(2);
  for (std::size_t w : {2u, 3u, 5u, 17u}) {
    const std::size_t B = 3, L = 40;
    Vec s = r.normals(B * L);
    Vec cpu(B * (L - w + 1));
    sliding_slopes(s.data(), B, L, w, cpu.data(), 1);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0; i + w <= L; ++i)
        CHECK_NEAR(hd::window_slope(s.data() + b * L + i, w), cpu[b * (L - w + 1) + i], 1e-6);
  }
  // find_cut: no window fits -> lo; the earliest rising window wins.
  Vec y = {0, 0, 0, 1, 2, 2};
  CHECK_EQ(hd::find_cut(y.data(), 1, 2, 3, 0.01), 1u);
  CHECK_EQ(hd::find_cut(y.data(), 0, 5, 2, 0.01), 2u);
  CHECK_EQ(hd::find_cut(y.data(), 0, 5, 2, 5.0), 0u);
  CHECK_NEAR(hd::normalized(0.5f, 0.5f, 0.5f), 1.0, 0);
  CHECK_NEAR(hd::normalized(0.25f, 0.f, 1.f), 0.25, 0);
}

TEST(progress_bodies_match_cpu) {
  Rng r(3);
  struct Case {
    std::size_t T, N, D, stages, w, M;
    double tau, lambda;
  };
  const Case cases[] = {{1, 4, 8, 1, 5, 50, 0.01, 1},   {2, 2, 3, 1, 2, 2, 0.01, 1},
                        {60, 8, 16, 4, 5, 50, 0.01, 1}, {60, 8, 16, 4, 5, 12, 0.01, 1},
                        {33, 3, 5, 3, 2, 2, 0.0, 0},    {80, 16, 32, 5, 7, 20, 0.005, 2},
                        {25, 1, 1, 2, 3, 50, 0.01, 1}};
  for (const Case& c : cases) {
    Vec x = f2gtest::staged_episode(r, c.T, c.N, c.D, c.stages, 0.05f);
    const ProgressParams p = f2gtest::progress_params(c.lambda, c.w, c.M, c.tau);
    Vec v1(c.T), s1(c.T), v2(c.T), s2(c.T);
    std::vector<Segment> g1, g2;
    CHECK_EQ(progress_targets(x.data(), c.T, c.N, c.D, p, v1.data(), s1.data(), g1, 1), -1);
    CHECK_EQ(body_progress(x.data(), c.T, c.N, c.D, p, v2.data(), s2.data(), g2), -1);
    CHECK_EQ(g1.size(), g2.size());
    // The staged episodes do segment (the cut search is exercised).
    if (c.T >= 60) CHECK(g1.size() >= 3);
    for (std::size_t k = 0; k < std::min(g1.size(), g2.size()); ++k) {
      CHECK_EQ(g1[k].start, g2[k].start);
      CHECK_EQ(g1[k].end, g2[k].end);
    }
    for (std::size_t t = 0; t < c.T; ++t) {
      CHECK_NEAR(v2[t], v1[t], 1e-5);
      CHECK_NEAR(s2[t], s1[t], 1e-5);
    }
  }
  // A NaN in frame 4 is reported as frame 4 by both.
  Vec x = f2gtest::staged_episode(r, 10, 2, 4, 2, 0.05f);
  x[4 * 8 + 3] = NAN;
  Vec v(10), s(10);
  std::vector<Segment> g;
  CHECK_EQ(progress_targets(x.data(), 10, 2, 4, f2gtest::progress_params(1, 3, 50, 0.01), v.data(), s.data(),
                            g, 1),
           4);
  CHECK_EQ(body_progress(x.data(), 10, 2, 4, f2gtest::progress_params(1, 3, 50, 0.01), v.data(), s.data(), g),
           4);
}

TEST(gae_body_matches_cpu) {
  Rng r(4);
  const std::size_t shapes[][2] = {{1, 1}, {5, 37}, {64, 16}, {3, 300}};
  for (auto& sh : shapes) {
    const std::size_t B = sh[0], T = sh[1], n = B * T;
    Vec rew = r.normals(n), val = r.normals(n), nv = r.normals(n);
    auto term = r.flags(n, 0.05), done = r.flags(n, 0.1);
    for (std::size_t i = 0; i < n; ++i) done[i] |= term[i];
    Vec tf(term.begin(), term.end()), df(done.begin(), done.end());
    for (int tm = 0; tm < 2; ++tm)
      for (int f32 = 0; f32 < 2; ++f32) {
        rl::GaeInputs in{rew.data(), val.data(), nv.data(), {}, {}};
        hd::Flags ht{nullptr, nullptr}, hdn{nullptr, nullptr};
        if (f32) {
          in.terminated.f32 = ht.f32 = tf.data();
          in.done.f32 = hdn.f32 = df.data();
        } else {
          in.terminated.u8 = ht.u8 = term.data();
          in.done.u8 = hdn.u8 = done.data();
        }
        Vec a1(n), r1(n), a2(n), r2(n);
        CHECK(rl::gae(in, B, T, 0.99, 0.95, tm == 1, a1.data(), r1.data(), 1, rl::gae_isa_level(-1)));
        bool ok = true;
        for (std::size_t b = 0; b < B; ++b)
          ok = hd::gae_env(rew.data(), val.data(), nv.data(), ht, hdn, b, B, T, 0.99, 0.95, tm == 1,
                           a2.data(), r2.data()) &&
               ok;
        CHECK(ok);
        for (std::size_t i = 0; i < n; ++i) {
          CHECK(close_rel(a2[i], a1[i], 1e-5));
          CHECK(close_rel(r2[i], r1[i], 1e-5));
        }
      }
  }
  // Bad data: a flag of 2 and an Inf are reported.
  std::vector<std::uint8_t> t = {0, 2}, d = {0, 0};
  Vec x = {1, 1}, adv(2), ret(2);
  CHECK(!hd::gae_env(x.data(), x.data(), x.data(), {t.data(), nullptr}, {d.data(), nullptr}, 0, 1, 2, 0.9,
                     0.9, false, adv.data(), ret.data()));
  t[1] = 0;
  x[0] = INFINITY;
  CHECK(!hd::gae_env(x.data(), x.data(), x.data(), {t.data(), nullptr}, {d.data(), nullptr}, 0, 1, 2, 0.9,
                     0.9, false, adv.data(), ret.data()));
}

TEST(grpo_and_step_bodies_match_cpu) {
  Rng r(5);
  for (std::size_t g : {1u, 2u, 5u, 16u}) {
    const std::size_t n = g * 7;
    Vec R = r.normals(n);
    R[0] = R[1 % n];  // ties are fine
    for (int kind = 0; kind < 3; ++kind)
      for (int batch = 0; batch < 2; ++batch) {
        const rl::StdKind k = kind == 0   ? rl::StdKind::kSample
                              : kind == 1 ? rl::StdKind::kPopulation
                                          : rl::StdKind::kNone;
        Vec cpu(n), body(n);
        CHECK(rl::grpo_advantages(R.data(), n, g, 1e-4, k, batch ? rl::Scale::kBatch : rl::Scale::kGroup,
                                  cpu.data()));
        double m = 0, bs = 1;
        if (batch && kind != 2) hd::mean_std(R.data(), n, k, m, bs);
        for (std::size_t i0 = 0; i0 < n; i0 += g)
          CHECK(hd::grpo_group(R.data() + i0, g, 1e-4, k, batch && kind != 2, bs, body.data() + i0));
        for (std::size_t i = 0; i < n; ++i) CHECK(close_rel(body[i], cpu[i], 1e-6));
      }
  }
  Vec adv = r.normals(6);
  std::vector<std::int32_t> L = {1, 9, 4, 9, 2, 7};
  Vec cpu(6 * 9);
  CHECK(rl::step_advantages(adv.data(), L.data(), 6, 9, 0.97, cpu.data(), 1, false));
  for (std::size_t b = 0; b < 6; ++b)
    for (std::size_t t = 0; t < 9; ++t)
      CHECK(close_rel(hd::step_advantage(adv[b], L[b], t, 0.97), cpu[b * 9 + t], 1e-6));
}

namespace {
template <class StepFn>
hd::LossOut body_loss(std::size_t B, std::size_t T, hd::Flags m, rl::Aggregation agg, StepFn step) {
  std::vector<hd::RowSums> rows(B, hd::row_zero());
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t) hd::row_add(rows[b], step(b * T + t), hd::flag_at(m, b * T + t, 1.f));
  return hd::aggregate_rows(rows.data(), B, agg);
}
void check_loss(const hd::LossOut& h, const rl::LossResult& c) {
  CHECK(close_rel(h.loss, c.loss, 1e-6));
  CHECK(close_rel(h.clip_fraction, c.clip_fraction, 1e-9));
  CHECK(close_rel(h.dual_clip_fraction, c.dual_clip_fraction, 1e-9));
  CHECK_NEAR(h.masked, static_cast<double>(c.masked), 0);
  CHECK_EQ(h.ok != 0, c.ok);
}
}  // namespace

TEST(loss_bodies_match_cpu) {
  Rng r(6);
  const std::size_t shapes[][2] = {{1, 1}, {4, 33}, {9, 300}, {2, 700}};
  for (auto& sh : shapes) {
    const std::size_t B = sh[0], T = sh[1], n = B * T;
    const f2gtest::LossInputs in = f2gtest::loss_inputs(r, n);
    const Vec &lp = in.lp, &olp = in.olp, &adv = in.adv, &v = in.v, &R = in.R, &old = in.old, &mf = in.mf;
    const auto& mu = in.mu;
    for (int mk = 0; mk < 3; ++mk) {
      rl::FlagView cm;
      hd::Flags hm{nullptr, nullptr};
      if (mk == 1) cm.u8 = hm.u8 = mu.data();
      if (mk == 2) cm.f32 = hm.f32 = mf.data();
      for (int agg = 0; agg < 3; ++agg) {
        const rl::Aggregation a = f2gtest::aggregation_of(agg);
        for (double dual : {0.0, 3.0}) {
          const rl::SurrogateParams p = f2gtest::surrogate_params(0.2, 0.28, dual, a);
          auto c = rl::clipped_surrogate(lp.data(), olp.data(), adv.data(), cm, B, T, p, 1);
          auto h = body_loss(B, T, hm, a, [&](std::size_t i) {
            return hd::surrogate_step(lp[i], olp[i], adv[i], 0.8f, 1.28f, static_cast<float>(dual));
          });
          check_loss(h, c);
          CHECK(close_rel(h.approx_kl, c.approx_kl, 1e-6));
        }
        for (double clip : {0.0, 0.2})
          for (double delta : {0.0, 1.0}) {
            const rl::ValueLossParams p = f2gtest::value_params(clip, delta, a);
            auto c = rl::clipped_value_loss(v.data(), R.data(), old.data(), cm, B, T, p, 1);
            auto h = body_loss(B, T, hm, a, [&](std::size_t i) {
              return hd::value_step(v[i], R[i], old[i], clip > 0, static_cast<float>(clip),
                                    static_cast<float>(delta));
            });
            check_loss(h, c);
          }
        for (int est = 0; est < 3; ++est) {
          const rl::KlEstimator e = f2gtest::estimator_of(est);
          auto c = rl::kl_penalty(lp.data(), olp.data(), cm, B, T, e, a, 1);
          auto h = body_loss(B, T, hm, a, [&](std::size_t i) { return hd::kl_step(lp[i], olp[i], e); });
          CHECK(close_rel(h.loss, c.loss, 1e-6));
        }
      }
    }
  }
  // k3 near 0 does not cancel: k3(1e-4) ≈ x²/2.
  CHECK(close_rel(hd::k3_of(1e-4f), 0.5e-8 + 1e-12 / 6, 1e-5));
  // A NaN input or a mask of 2 is reported.
  CHECK(!hd::surrogate_step(NAN, 0, 1, 0.8f, 1.2f, 0).ok);
  hd::RowSums rs = hd::row_zero();
  hd::row_add(rs, hd::kl_step(0.f, 0.f, rl::KlEstimator::kK1), 2.f);
  CHECK(rs.bad > 0);
}

int main() { return f2gtest::run_all("test_bodies"); }

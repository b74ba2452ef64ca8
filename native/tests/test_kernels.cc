// The CPU kernels (native/kernels) against small cases worked out by hand
// from SPEC.md. No Node needed: built and run by ctest.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "check.h"
#include "kernels/augment.h"
#include "kernels/progress.h"
#include "kernels/rl.h"
#include "kernels/stages.h"
#include "params.h"

using namespace f2g;
using Vec = std::vector<float>;

namespace {

void check_all_near(const Vec& got, const std::vector<double>& want, double tol, const char* what) {
  if (got.size() != want.size()) {
    f2gtest::fail(__FILE__, __LINE__, std::string(what) + ": size differs");
    return;
  }
  for (std::size_t i = 0; i < got.size(); ++i)
    if (!f2gtest::near(got[i], want[i], tol)) {
      char buf[200];
      std::snprintf(buf, sizeof buf, "%s[%zu] = %.9g, want %.9g", what, i, got[i], want[i]);
      f2gtest::fail(__FILE__, __LINE__, buf);
    }
}

float sim1(const Vec& x, const Vec& g, std::size_t N, std::size_t D, double lambda) {
  float out = 0;
  patch_similarity(x.data(), 1, N, D, g.data(), lambda, &out, 1);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- §1

TEST(similarity_hand_worked) {
  // Orthogonal: cos = 0.
  CHECK_NEAR(sim1({1, 0}, {0, 1}, 1, 2, 1.0), 0.0, 1e-7);
  // Identical: 1.
  CHECK_NEAR(sim1({1, 1}, {1, 1}, 1, 2, 1.0), 1.0, 1e-7);
  // Parallel with L1 = 1, β = λ/D = 1/2: exp(−0.5).
  CHECK_NEAR(sim1({2, 0}, {1, 0}, 1, 2, 1.0), std::exp(-0.5), 1e-7);
  // (3,4)·(4,3) / 25 = 0.96; λ = 0 drops the L1 factor.
  CHECK_NEAR(sim1({3, 4}, {4, 3}, 1, 2, 0.0), 0.96, 1e-7);
  // λ = 2, D = 2: β = 1, L1 = 2: 0.96·e^{−2}.
  CHECK_NEAR(sim1({3, 4}, {4, 3}, 1, 2, 2.0), 0.96 * std::exp(-2.0), 1e-7);
  // Mean over patches: (1 + 0) / 2.
  CHECK_NEAR(sim1({1, 0, 0, 1}, {1, 0, 1, 0}, 2, 2, 0.0), 0.5, 1e-7);
  // A zero patch against a non-zero one: cos 0 (docs/progress.md), either side.
  CHECK_NEAR(sim1({0, 0}, {1, 0}, 1, 2, 0.0), 0.0, 0);
  CHECK_NEAR(sim1({1, 0}, {0, 0}, 1, 2, 1.0), 0.0, 0);
  // Two zero patches: cos 1 and L1 0, so the term is 1 for any λ.
  CHECK_NEAR(sim1({0, 0}, {0, 0}, 1, 2, 3.0), 1.0, 0);
  // [zero | (3,4)] against [zero | (4,3)], λ = 0: (1 + 0.96) / 2.
  CHECK_NEAR(sim1({0, 0, 3, 4}, {0, 0, 4, 3}, 2, 2, 0.0), 0.98, 1e-7);
  // No floor on ‖x‖‖g‖: tiny parallel patches have cos 1, not ‖x‖‖g‖/1e-8.
  CHECK_NEAR(sim1({1e-6f, 0}, {1e-6f, 0}, 1, 2, 0.0), 1.0, 1e-7);
  CHECK_NEAR(sim1({3e-20f, 4e-20f}, {4e-20f, 3e-20f}, 1, 2, 0.0), 0.96, 1e-6);
  // A subnormal patch has a direction: (1e-45, 0) is parallel to (1, 0).
  CHECK_NEAR(sim1({1e-45f, 0}, {1, 0}, 1, 2, 0.0), 1.0, 1e-7);
  // Scale-free with λ = 0: x and x·1e10 against the same goal, (3,4)·(4,3) / 25.
  CHECK_NEAR(sim1({3e10f, 4e10f}, {4, 3}, 1, 2, 0.0), 0.96, 1e-6);
  // Squares beyond float range (1e30² = 1e60): still finite, still 0.96.
  CHECK_NEAR(sim1({3e30f, 4e30f}, {4e30f, 3e30f}, 1, 2, 0.0), 0.96, 1e-6);
  // NaN/Inf gives NaN, even against a zero patch.
  CHECK(std::isnan(sim1({NAN, 0}, {1, 0}, 1, 2, 0.0)));
  CHECK(std::isnan(sim1({INFINITY, 0}, {0, 0}, 1, 2, 0.0)));
  // Anti-parallel: −1.
  CHECK_NEAR(sim1({-1, 0}, {1, 0}, 1, 2, 0.0), -1.0, 1e-7);
}

TEST(similarity_goal_index_is_one) {
  // S(g, g) = 1 for a non-zero goal: frame 1 of a 3-frame episode against itself.
  Vec f = {0.5f, -2.f, 3.f, 1.f, 7.f, 0.25f, -1.f, 2.f, 4.f, 0.f, 1.f, 1.f};  // [3,2,2]
  Vec out(3);
  patch_similarity(f.data(), 3, 2, 2, f.data() + 4, 1.0, out.data(), 1);
  CHECK_NEAR(out[1], 1.0, 1e-7);
}

TEST(progress_zero_frames_have_similarity_one) {
  // S(g, g) = 1 for the all-zero frame too: an all-zero episode has S = 1
  // everywhere, one flat cluster per M frames, ŝ = 1, V = (k + 1) / K.
  Vec f(6 * 2 * 3, 0.f);  // [6,2,3]
  Vec v(6), s(6);
  std::vector<Segment> seg;
  CHECK_EQ(progress_targets(f.data(), 6, 2, 3, f2gtest::progress_params(1, 2, 3, 0.01), v.data(), s.data(),
                            seg, 1),
           -1);
  check_all_near(s, {1, 1, 1, 1, 1, 1}, 0, "zero episode S");
  CHECK_EQ(seg.size(), 2u);
  check_all_near(v, {0.5, 0.5, 0.5, 1, 1, 1}, 1e-7, "zero episode V");
}

// ---------------------------------------------------------------- motion segmenter

TEST(motion_speed_hand_worked) {
  // [3,1,2]: (0,0) → (1,−1) → (1,1): mean |Δ| = 1 and 1; speed[0] = speed[1].
  Vec f = {0, 0, 1, -1, 1, 1};
  std::vector<double> u(3);
  CHECK_EQ(motion_speed(f.data(), 3, 1, 2, u.data(), 1), -1);
  CHECK_NEAR(u[0], 1.0, 0);
  CHECK_NEAR(u[1], 1.0, 0);
  CHECK_NEAR(u[2], 1.0, 0);
  f[3] = std::numeric_limits<float>::quiet_NaN();  // frame 1
  CHECK_EQ(motion_speed(f.data(), 3, 1, 2, u.data(), 1), 1);
  Vec one = {1, std::numeric_limits<float>::infinity()};
  CHECK_EQ(motion_speed(one.data(), 1, 1, 2, u.data(), 1), 0);
}

TEST(motion_cuts_pause_before_a_rise) {
  // rest, reach, pause, lift, rest: onsets at the two rises, the pause's start before the second.
  std::vector<double> u;
  const std::pair<int, double> pieces[] = {{30, 0.002}, {50, 0.1}, {30, 0.01}, {40, 0.4}, {40, 0.003}};
  for (const auto& pc : pieces) u.insert(u.end(), pc.first, pc.second);
  std::vector<Cut> c;
  motion_cuts(u.data(), u.size(), 5, c);
  CHECK_EQ(c.size(), 3u);
  if (c.size() == 3) {
    CHECK(c[0].rule == CutRule::kOnset && std::abs(c[0].frame - 30) <= 5);
    CHECK(c[1].rule == CutRule::kPause && std::abs(c[1].frame - 80) <= 6);
    CHECK(c[2].rule == CutRule::kOnset && std::abs(c[2].frame - 110) <= 5);
  }
  // Scale free: the same cuts for every speed ×1e-20 and ×1e20.
  for (double k : {1e-20, 1e20}) {
    std::vector<double> s(u);
    for (double& x : s) x *= k;
    std::vector<Cut> d;
    motion_cuts(s.data(), s.size(), 5, d);
    CHECK_EQ(d.size(), c.size());
    for (std::size_t i = 0; i < std::min(c.size(), d.size()); ++i) CHECK_EQ(d[i].frame, c[i].frame);
  }
  // No motion, or too short for two regimes: no cuts.
  std::vector<double> zero(100, 0.0);
  motion_cuts(zero.data(), zero.size(), 5, c);
  CHECK_EQ(c.size(), 0u);
  motion_cuts(u.data(), 21, 5, c);
  CHECK_EQ(c.size(), 0u);
}

TEST(cap_cuts_hand_worked) {
  std::vector<Cut> c = {{30, CutRule::kOnset}};
  cap_cuts(100, 40, c);  // [30, 99] is cut at 60; [30, 59] and [0, 29] fit
  CHECK_EQ(c.size(), 2u);
  if (c.size() == 2) {
    CHECK(c[0].frame == 30 && c[0].rule == CutRule::kOnset);
    CHECK(c[1].frame == 60 && c[1].rule == CutRule::kCap);
  }
  std::vector<Cut> e;
  cap_cuts(100, 25, e);  // 75, 50, 25 from the end
  CHECK_EQ(e.size(), 3u);
  for (std::size_t i = 0; i < e.size(); ++i)
    CHECK(e[i].frame == static_cast<std::int64_t>(25 * (i + 1)) && e[i].rule == CutRule::kCap);
  cap_cuts(100, 0, e);  // 0: no cap, unchanged
  CHECK_EQ(e.size(), 3u);
}

TEST(progress_motion_segmenter) {
  ProgressParams p = f2gtest::progress_params(1, 5, 0, 0);
  p.segmenter = Segmenter::kMotion;
  Vec f(40 * 2 * 3, 0.f), v(40), s(40);
  std::vector<Segment> seg;
  CHECK_EQ(progress_targets(f.data(), 40, 2, 3, p, v.data(), s.data(), seg, 1), -1);
  CHECK_EQ(seg.size(), 1u);  // no motion: one stage, V = 1 (ŝ = 1 on a flat stage)
  CHECK(seg[0].start == 0 && seg[0].end == 39 && seg[0].rule == CutRule::kStart);
  CHECK_NEAR(v[0], 1.0, 0);
  p.max_cluster = 15;  // the cap alone: [0,9] [10,24] [25,39]
  CHECK_EQ(progress_targets(f.data(), 40, 2, 3, p, v.data(), s.data(), seg, 1), -1);
  CHECK_EQ(seg.size(), 3u);
  if (seg.size() == 3) {
    CHECK(seg[1].start == 10 && seg[1].rule == CutRule::kCap && seg[2].start == 25 &&
          seg[2].rule == CutRule::kCap);
    CHECK_NEAR(v[9], 1.0 / 3, 1e-7);
    CHECK_NEAR(v[39], 1.0, 0);
  }
  f[7 * 6 + 4] = std::numeric_limits<float>::quiet_NaN();  // frame 7
  CHECK_EQ(progress_targets(f.data(), 40, 2, 3, p, v.data(), s.data(), seg, 1), 7);
}

// ---------------------------------------------------------------- §2 slopes

TEST(sliding_slopes_hand_worked) {
  Vec lin = {0, 1, 2, 3};
  Vec o(3);
  sliding_slopes(lin.data(), 1, 4, 2, o.data(), 1);
  check_all_near(o, {1, 1, 1}, 1e-7, "linear w=2");
  // Squares, w = 3: Σ(k−1)y / 2 over [1,4,9] = 4, over [4,9,16] = 6.
  Vec sq = {1, 4, 9, 16};
  Vec o3(2);
  sliding_slopes(sq.data(), 1, 4, 3, o3.data(), 1);
  check_all_near(o3, {4, 6}, 1e-6, "squares w=3");
  // w = 4: (−1.5·1 − 0.5·4 + 0.5·9 + 1.5·16) / 5 = 5.
  Vec o4(1);
  sliding_slopes(sq.data(), 1, 4, 4, o4.data(), 1);
  check_all_near(o4, {5}, 1e-6, "squares w=4");
  // Two rows at once; a constant row has slope 0.
  Vec two = {2, 2, 2, 3, 1, -1};
  Vec o2(4);
  sliding_slopes(two.data(), 2, 3, 2, o2.data(), 1);
  check_all_near(o2, {0, 0, -2, -2}, 1e-7, "two rows");
}

// ---------------------------------------------------------------- §2–3 segmentation, values

TEST(progress_two_stages) {
  // N=1, D=2, λ=0: S = cos of the angle between frames. Frames 0–2 point
  // along x, 3–5 along y. From g = 5: s = [0,0,0,1,1,1]; the first window
  // with slope > τ (w=2) starts at 2 -> cluster [2,5]; then g = 1: s = [1,1],
  // slope 0 -> forced cut at lo = 0 -> [0,1]. K = 2.
  Vec f = {1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1};
  Vec v(6), s(6);
  std::vector<Segment> seg;
  std::int64_t bad = progress_targets(f.data(), 6, 1, 2, f2gtest::progress_params(0, 2, 50, 0.01), v.data(),
                                      s.data(), seg, 1);
  CHECK_EQ(bad, -1);
  CHECK_EQ(seg.size(), 2u);
  if (seg.size() == 2) {
    CHECK_EQ(seg[0].start, 0);
    CHECK_EQ(seg[0].end, 1);
    CHECK_EQ(seg[1].start, 2);
    CHECK_EQ(seg[1].end, 5);
  }
  // Cluster 0: s = [1,1], max − min = 0 -> ŝ = 1, V = (0+1)/2.
  // Cluster 1: s = [0,1,1,1] -> ŝ = s, V = (1 + ŝ)/2.
  check_all_near(v, {0.5, 0.5, 0.5, 1, 1, 1}, 1e-7, "values");
  check_all_near(s, {1, 1, 0, 1, 1, 1}, 1e-7, "similarity");
}

TEST(progress_max_cluster) {
  // Five identical frames, w = 2, M = 2: every window is flat, so clusters
  // are forced to M frames from the end: [3,4], [1,2], then [0,0] (shorter
  // than w). K = 3, ŝ = 1 everywhere: V = [1/3, 2/3, 2/3, 1, 1].
  Vec f(10, 1.f);
  Vec v(5), s(5);
  std::vector<Segment> seg;
  progress_targets(f.data(), 5, 1, 2, f2gtest::progress_params(1, 2, 2, 0.01), v.data(), s.data(), seg, 1);
  CHECK_EQ(seg.size(), 3u);
  if (seg.size() == 3) {
    CHECK_EQ(seg[0].start, 0);
    CHECK_EQ(seg[0].end, 0);
    CHECK_EQ(seg[1].start, 1);
    CHECK_EQ(seg[2].start, 3);
  }
  check_all_near(v, {1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1}, 1e-7, "values");
}

TEST(progress_single_frame_and_no_trend) {
  Vec f = {0.3f, 0.4f};
  Vec v(1), s(1);
  std::vector<Segment> seg;
  progress_targets(f.data(), 1, 1, 2, f2gtest::progress_params(1, 5, 50, 0.01), v.data(), s.data(), seg, 1);
  CHECK_EQ(seg.size(), 1u);
  CHECK_NEAR(v[0], 1.0, 0);
  CHECK_NEAR(s[0], 1.0, 1e-7);
  // Similarity that only falls towards the goal (angles 0, 30, 60, 90 degrees
  // away from frame 3 = y): s = cos(90°), cos(60°), cos(30°), 1 rises, so
  // with τ = 10 (never exceeded) the whole episode is one cluster [0,3] and
  // V = ŝ = (s − 0) / (1 − 0).
  const double pi = 3.14159265358979323846;
  Vec g(8);
  for (int t = 0; t < 4; ++t) {
    g[2 * t] = static_cast<float>(std::cos(t * pi / 6));
    g[2 * t + 1] = static_cast<float>(std::sin(t * pi / 6));
  }
  Vec v4(4), s4(4);
  progress_targets(g.data(), 4, 1, 2, f2gtest::progress_params(0, 2, 50, 10.0), v4.data(), s4.data(), seg, 1);
  CHECK_EQ(seg.size(), 1u);
  check_all_near(s4, {0, 0.5, std::sqrt(3.0) / 2, 1}, 1e-6, "similarity");
  check_all_near(v4, {0, 0.5, std::sqrt(3.0) / 2, 1}, 1e-6, "values");
}

TEST(progress_reports_non_finite_frame) {
  Vec f = {1, 0, NAN, 0, 0, 1};
  Vec v(3), s(3);
  std::vector<Segment> seg;
  CHECK_EQ(progress_targets(f.data(), 3, 1, 2, f2gtest::progress_params(1, 2, 50, 0.01), v.data(), s.data(),
                            seg, 1),
           1);
}

TEST(steps_to_go_hand_worked) {
  Vec o(5);
  steps_to_go(5, o.data());
  check_all_near(o, {0, 0.25, 0.5, 0.75, 1}, 0, "T=5");
  Vec one(1);
  steps_to_go(1, one.data());
  CHECK_EQ(one[0], 1.0f);
}

// ---------------------------------------------------------------- §6 GAE

namespace {
// Env 0: γ = λ = 0.5, r = 1, V = 0.5, V' = 2, terminated = done at t = 2:
//   A2 = 1 − 0.5 = 0.5; A1 = (1 + 1 − 0.5) + 0.25·0.5 = 1.625;
//   A0 = 1.5 + 0.25·1.625 = 1.90625; returns = A + 0.5.
// Env 1: r = V = 0, V' = 1, truncated (done, not terminated) at t = 1:
//   A2 = 0.5; A1 = 0.5 (done stops the recursion); A0 = 0.5 + 0.25·0.5 = 0.625.
const Vec kR = {1, 1, 1, 0, 0, 0}, kV = {0.5f, 0.5f, 0.5f, 0, 0, 0}, kNV = {2, 2, 2, 1, 1, 1};
const std::vector<std::uint8_t> kTerm = {0, 0, 1, 0, 0, 0}, kDone = {0, 0, 1, 0, 1, 0};
const std::vector<double> kA = {1.90625, 1.625, 0.5, 0.625, 0.5, 0.5};
const std::vector<double> kRet = {2.40625, 2.125, 1.0, 0.625, 0.5, 0.5};

template <class T>
std::vector<T> transpose(const std::vector<T>& x, std::size_t B, std::size_t T_) {
  std::vector<T> y(x.size());
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T_; ++t) y[t * B + b] = x[b * T_ + t];
  return y;
}
}  // namespace

TEST(gae_hand_worked_both_layouts_and_flag_types) {
  for (int tm = 0; tm < 2; ++tm) {
    for (int f32 = 0; f32 < 2; ++f32) {
      const bool time_major = tm == 1;
      auto lay = [&](const Vec& x) { return time_major ? transpose(x, 2, 3) : x; };
      auto layu = [&](const std::vector<std::uint8_t>& x) { return time_major ? transpose(x, 2, 3) : x; };
      Vec r = lay(kR), v = lay(kV), nv = lay(kNV);
      std::vector<std::uint8_t> tu = layu(kTerm), du = layu(kDone);
      Vec tf(tu.begin(), tu.end()), df(du.begin(), du.end());
      rl::GaeInputs in{r.data(), v.data(), nv.data(), {}, {}};
      if (f32) {
        in.terminated.f32 = tf.data();
        in.done.f32 = df.data();
      } else {
        in.terminated.u8 = tu.data();
        in.done.u8 = du.data();
      }
      Vec adv(6), ret(6);
      CHECK(rl::gae(in, 2, 3, 0.5, 0.5, time_major, adv.data(), ret.data(), 1, rl::gae_isa_level(-1)));
      std::vector<double> wa = kA, wr = kRet;
      if (time_major) {
        wa = transpose(kA, 2, 3);
        wr = transpose(kRet, 2, 3);
      }
      check_all_near(adv, wa, 1e-6, time_major ? "adv (time-major)" : "adv");
      check_all_near(ret, wr, 1e-6, time_major ? "returns (time-major)" : "returns");
    }
  }
}

TEST(gae_rejects_bad_data) {
  Vec r = kR, v = kV, nv = kNV, adv(6), ret(6);
  std::vector<std::uint8_t> t = kTerm, d = kDone;
  d[4] = 2;  // not a 0/1 flag
  rl::GaeInputs in{r.data(), v.data(), nv.data(), {t.data(), nullptr}, {d.data(), nullptr}};
  CHECK(!rl::gae(in, 2, 3, 0.5, 0.5, false, adv.data(), ret.data(), 1, rl::gae_isa_level(-1)));
  d[4] = 1;
  nv[0] = INFINITY;
  CHECK(!rl::gae(in, 2, 3, 0.5, 0.5, false, adv.data(), ret.data(), 1, rl::gae_isa_level(-1)));
}

// ---------------------------------------------------------------- §7 GRPO

TEST(grpo_hand_worked) {
  const Vec R = {1, 2, 3, 5, 5, 5};
  Vec o(6);
  // Sample std of (1,2,3) = 1; an all-equal group with ε = 0 gives 0, not NaN.
  CHECK(rl::grpo_advantages(R.data(), 6, 3, 0.0, rl::StdKind::kSample, rl::Scale::kGroup, o.data()));
  check_all_near(o, {-1, 0, 1, 0, 0, 0}, 1e-7, "sample");
  CHECK(rl::grpo_advantages(R.data(), 6, 3, 1e-4, rl::StdKind::kSample, rl::Scale::kGroup, o.data()));
  check_all_near(o, {-1 / 1.0001, 0, 1 / 1.0001, 0, 0, 0}, 1e-7, "sample eps");
  const double pop = std::sqrt(2.0 / 3.0);
  CHECK(rl::grpo_advantages(R.data(), 6, 3, 0.0, rl::StdKind::kPopulation, rl::Scale::kGroup, o.data()));
  check_all_near(o, {-1 / pop, 0, 1 / pop, 0, 0, 0}, 1e-6, "population");
  CHECK(rl::grpo_advantages(R.data(), 6, 3, 1e-4, rl::StdKind::kNone, rl::Scale::kGroup, o.data()));
  check_all_near(o, {-1, 0, 1, 0, 0, 0}, 1e-7, "none");
  // Batch scale: mean 3.5, Σ(R − 3.5)² = 15.5, sample std √3.1.
  CHECK(rl::grpo_advantages(R.data(), 6, 3, 0.0, rl::StdKind::kSample, rl::Scale::kBatch, o.data()));
  const double bs = std::sqrt(3.1);
  check_all_near(o, {-1 / bs, 0, 1 / bs, 0, 0, 0}, 1e-6, "batch");
  // Groups of one give 0.
  CHECK(rl::grpo_advantages(R.data(), 6, 1, 1e-4, rl::StdKind::kSample, rl::Scale::kGroup, o.data()));
  check_all_near(o, {0, 0, 0, 0, 0, 0}, 0, "size 1");
  Vec bad = {1, NAN, 3};
  CHECK(!rl::grpo_advantages(bad.data(), 3, 3, 1e-4, rl::StdKind::kSample, rl::Scale::kGroup, o.data()));
}

TEST(step_advantages_hand_worked) {
  const Vec adv = {2, -1};
  const std::vector<std::int32_t> L = {3, 1};
  Vec o(8);
  CHECK(rl::step_advantages(adv.data(), L.data(), 2, 4, 0.5, o.data(), 1, false));
  // Row 0: γ^{2−t}·2 for t < 3; row 1: only t = 0.
  check_all_near(o, {0.5, 1, 2, 0, -1, 0, 0, 0}, 0, "steps");
  const Vec nan = {NAN, 1};
  CHECK(!rl::step_advantages(nan.data(), L.data(), 2, 4, 0.5, o.data(), 1, false));
}

// ---------------------------------------------------------------- §8 losses

TEST(surrogate_hand_worked) {
  const float ln2 = static_cast<float>(std::log(2.0));
  // ρ = 2, A = 1, ε = 0.2: min(2, 1.2) = 1.2 -> ℓ = −1.2, clipped.
  {
    Vec lp = {ln2}, olp = {0}, a = {1};
    auto r = rl::clipped_surrogate(lp.data(), olp.data(), a.data(), {}, 1, 1,
                                   f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kTokenMean), 1);
    CHECK(r.ok);
    CHECK_NEAR(r.loss, -1.2, 1e-6);
    CHECK_NEAR(r.clip_fraction, 1.0, 0);
    // (ρ − 1) − log ρ = 1 − ln 2.
    CHECK_NEAR(r.approx_kl, 1.0 - std::log(2.0), 1e-6);
  }
  // ρ = 2, A = −1: min(−2, −1.2) = −2 -> ℓ = 2, not clipped; with dual clip
  // c = 1.5 the loss becomes c·|A| = 1.5.
  {
    Vec lp = {ln2}, olp = {0}, a = {-1};
    auto r = rl::clipped_surrogate(lp.data(), olp.data(), a.data(), {}, 1, 1,
                                   f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kTokenMean), 1);
    CHECK_NEAR(r.loss, 2.0, 1e-6);
    CHECK_NEAR(r.clip_fraction, 0.0, 0);
    auto d = rl::clipped_surrogate(lp.data(), olp.data(), a.data(), {}, 1, 1,
                                   f2gtest::surrogate_params(0.2, 0.2, 1.5, rl::Aggregation::kTokenMean), 1);
    CHECK_NEAR(d.loss, 1.5, 1e-6);
    CHECK_NEAR(d.dual_clip_fraction, 1.0, 0);
  }
  // Clip-higher: ε_high = 1.5 lets ρ = 2 through for A = 1: ℓ = −2.
  {
    Vec lp = {ln2}, olp = {0}, a = {1};
    auto r = rl::clipped_surrogate(lp.data(), olp.data(), a.data(), {}, 1, 1,
                                   f2gtest::surrogate_params(0.2, 1.5, 0, rl::Aggregation::kTokenMean), 1);
    CHECK_NEAR(r.loss, -2.0, 1e-6);
    CHECK_NEAR(r.clip_fraction, 0.0, 0);
  }
}

TEST(surrogate_aggregations_with_mask) {
  // ρ = 1, so ℓ = −A. Rows: [−1, (−100 masked)], [−2, −4], [(masked), (masked)].
  Vec lp(6, 0.f), olp(6, 0.f), a = {1, 100, 2, 4, 7, 7};
  std::vector<std::uint8_t> m = {1, 0, 1, 1, 0, 0};
  Vec mf(m.begin(), m.end());
  for (int f32 = 0; f32 < 2; ++f32) {
    rl::FlagView mv;
    if (f32) mv.f32 = mf.data();
    else mv.u8 = m.data();
    auto tm = rl::clipped_surrogate(lp.data(), olp.data(), a.data(), mv, 3, 2,
                                    f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kTokenMean), 1);
    CHECK_NEAR(tm.loss, -7.0 / 3.0, 1e-9);  // (−1 − 2 − 4) / 3
    CHECK_EQ(tm.masked, 3u);
    auto sm =
        rl::clipped_surrogate(lp.data(), olp.data(), a.data(), mv, 3, 2,
                              f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kSeqMeanTokenMean), 1);
    CHECK_NEAR(sm.loss, -2.0, 1e-9);  // (−1 + (−6/2)) / 2: the empty row is left out
    auto ss =
        rl::clipped_surrogate(lp.data(), olp.data(), a.data(), mv, 3, 2,
                              f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kSeqMeanTokenSum), 1);
    CHECK_NEAR(ss.loss, -3.5, 1e-9);  // (−1 + (−6)) / 2
  }
  m[1] = 3;  // a bad flag
  rl::FlagView bad;
  bad.u8 = m.data();
  CHECK(!rl::clipped_surrogate(lp.data(), olp.data(), a.data(), bad, 3, 2,
                               f2gtest::surrogate_params(0.2, 0.2, 0, rl::Aggregation::kTokenMean), 1)
             .ok);
}

TEST(value_loss_hand_worked) {
  rl::ValueLossParams p;
  p.clip = 0;
  p.huber_delta = 0;
  p.aggregation = rl::Aggregation::kTokenMean;
  Vec v = {1, 3}, R = {0, 0};
  // ½e²: (0.5 + 4.5) / 2.
  CHECK_NEAR(rl::clipped_value_loss(v.data(), R.data(), nullptr, {}, 1, 2, p, 1).loss, 2.5, 1e-7);
  // Huber δ = 1: 0.5 and 1·(3 − 0.5) -> mean 1.5.
  p.huber_delta = 1;
  CHECK_NEAR(rl::clipped_value_loss(v.data(), R.data(), nullptr, {}, 1, 2, p, 1).loss, 1.5, 1e-7);
  // Clip 0.2 around old = 1: V = 0.2 -> V_c = 0.8; max(½0.2², ½0.8²) = 0.32, clipped.
  p.huber_delta = 0;
  p.clip = 0.2;
  Vec v1 = {0.2f}, R1 = {0}, old = {1};
  auto r = rl::clipped_value_loss(v1.data(), R1.data(), old.data(), {}, 1, 1, p, 1);
  CHECK_NEAR(r.loss, 0.32, 1e-6);
  CHECK_NEAR(r.clip_fraction, 1.0, 0);
}

TEST(kl_estimators_hand_worked) {
  Vec lp = {0.1f}, ref = {0};
  const double x = static_cast<double>(0.1f);
  CHECK_NEAR(
      rl::kl_penalty(lp.data(), ref.data(), {}, 1, 1, rl::KlEstimator::kK1, rl::Aggregation::kTokenMean, 1)
          .loss,
      x, 1e-9);
  CHECK_NEAR(
      rl::kl_penalty(lp.data(), ref.data(), {}, 1, 1, rl::KlEstimator::kK2, rl::Aggregation::kTokenMean, 1)
          .loss,
      0.5 * x * x, 1e-9);
  CHECK_NEAR(
      rl::kl_penalty(lp.data(), ref.data(), {}, 1, 1, rl::KlEstimator::kK3, rl::Aggregation::kTokenMean, 1)
          .loss,
      std::exp(-x) - 1 + x, 1e-8);
}

// ---------------------------------------------------------------- frame augmentation

TEST(augment_frames_hand_worked) {
  // Two 2×3 RGB byte images; out[i] = image rows[i].
  const std::size_t H = 2, W = 3, px = H * W;
  std::vector<std::uint8_t> src(2 * px * 3);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>(10 * i);
  const std::int64_t rows[] = {1, 0, 1};
  // Conversion only: channel-first bytes / 255, exactly.
  Vec chw(3 * 3 * px), hwc(3 * 3 * px);
  augment_frames(src.data(), FrameLayout::kU8HWC, 2, H, W, rows, 3, nullptr, 0, 0, nullptr, chw.data(), 1);
  augment_frames(src.data(), FrameLayout::kU8HWC, 2, H, W, rows, 3, nullptr, 0, 0, nullptr, hwc.data(), 1,
                 true);
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t p = 0; p < px; ++p) {
        const float want = static_cast<float>(src[(rows[i] * px + p) * 3 + c]) / 255.0f;
        CHECK(chw[(i * 3 + c) * px + p] == want);
        CHECK(hwc[(i * px + p) * 3 + c] == want);
      }
  // Everything on: the draws of draw_jitter, applied as documented, in both output layouts.
  AugmentSpec a;
  a.shift = 1;
  a.brightness = 0.3;
  a.contrast = 0.4;
  a.gain = 0.2;
  const std::int64_t keys[] = {7, 8, 9};
  augment_frames(src.data(), FrameLayout::kU8HWC, 2, H, W, rows, 3, &a, 5, 2, keys, chw.data(), 1);
  augment_frames(src.data(), FrameLayout::kU8HWC, 2, H, W, rows, 3, &a, 5, 2, keys, hwc.data(), 1, true);
  for (std::size_t i = 0; i < 3; ++i) {
    const ImageJitter j = draw_jitter(a, 5, 2, static_cast<std::uint64_t>(keys[i]));
    CHECK(j.dx >= -1 && j.dx <= 1 && j.dy >= -1 && j.dy <= 1);
    CHECK(j.brightness >= 0.7f && j.brightness <= 1.3f && j.contrast >= 0.6f && j.contrast <= 1.4f);
    auto at = [&](std::size_t y, std::size_t x, std::size_t c) {
      const std::size_t sy = std::min<std::size_t>(
          H - 1, static_cast<std::size_t>(std::max<std::int64_t>(0, static_cast<std::int64_t>(y) + j.dy)));
      const std::size_t sx = std::min<std::size_t>(
          W - 1, static_cast<std::size_t>(std::max<std::int64_t>(0, static_cast<std::int64_t>(x) + j.dx)));
      return static_cast<double>(src[(rows[i] * px + sy * W + sx) * 3 + c]) / 255.0;
    };
    double m = 0;
    for (std::size_t y = 0; y < H; ++y)
      for (std::size_t x = 0; x < W; ++x)
        for (std::size_t c = 0; c < 3; ++c) m += at(y, x, c) / (3.0 * px);
    for (std::size_t y = 0; y < H; ++y)
      for (std::size_t x = 0; x < W; ++x)
        for (std::size_t c = 0; c < 3; ++c) {
          const double want =
              std::min(1.0, std::max(0.0, ((at(y, x, c) - m) * j.contrast + m) * j.brightness * j.gain[c]));
          CHECK_NEAR(chw[(i * 3 + c) * px + y * W + x], want, 2e-6);
          CHECK(hwc[(i * px + y * W + x) * 3 + c] == chw[(i * 3 + c) * px + y * W + x]);
        }
  }
  // The draws depend on (seed, stream, key) only: rows 1 and 0 keyed alike give the same jitter.
  const ImageJitter j1 = draw_jitter(a, 5, 2, 7), j2 = draw_jitter(a, 5, 3, 7), j3 = draw_jitter(a, 6, 2, 7);
  CHECK(j1.brightness == draw_jitter(a, 5, 2, 7).brightness);
  CHECK(j1.brightness != j2.brightness || j1.contrast != j2.contrast);
  CHECK(j1.brightness != j3.brightness || j1.contrast != j3.contrast);
}

int main() { return f2gtest::run_all("test_kernels"); }

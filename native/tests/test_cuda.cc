// Every CUDA kernel (native/cuda) against the CPU kernel on random and
// edge-shaped inputs. Needs no Node. Two parts:
//   test_cuda runtime  — the runtime layer's answers where no GPU can run
//                        (reason strings, errors naming the call); runs anywhere
//   test_cuda          — the kernels; prints "SKIP test_cuda: no CUDA device
//                        (<reason>)" and exits 77 (ctest: skipped) without a device
// Tolerances: similarity and values 1e-5 absolute (SPEC §1), RL outputs
// 1e-5·(1+|x|), losses 1e-6 relative; segment cuts exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/api.h"
#include "cuda/dlpack.h"
#include "data.h"
#include "device.h"
#include "kernels/progress.h"
#include "kernels/rl.h"
#include "params.h"

using namespace f2g;
using f2gtest::close_rel;
using f2gtest::DevBuf;
using f2gtest::Rng;
using Vec = std::vector<float>;

// ---------------------------------------------------------------- runtime (no device needed)

TEST(runtime_reason_and_errors) {
  const std::string why = cuda::unavailable_reason();
  CHECK(why.empty() || why == "no driver" || why == "no device");
  CHECK_EQ(cuda::device_count() > 0, why.empty());
  if (!why.empty()) {
    bool threw = false;
    try {
      cuda::require_device("gae");
    } catch (const cuda::Error& e) {
      threw = true;
      const std::string m = e.what();
      CHECK(m.find("gae") == 0);  // names the call
      CHECK(m.find(why) != std::string::npos);
    }
    CHECK(threw);
    // Allocation without a usable device fails with an error naming the call.
    threw = false;
    try {
      cuda::malloc_device(16, "DeviceTensor.fromHost");
    } catch (const cuda::Error& e) {
      threw = std::string(e.what()).find("DeviceTensor.fromHost") == 0;
    }
    CHECK(threw);
  }
}

// ---------------------------------------------------------------- kernels

TEST(device_out_of_memory_names_the_call) {
  bool threw = false;
  try {
    cuda::malloc_device(std::size_t{1} << 60, "bigAlloc");
  } catch (const cuda::Error& e) {
    threw = std::string(e.what()).find("bigAlloc") == 0;
  }
  CHECK(threw);
}

// DLPack on the device: device memory exported with make_managed stays valid
// after the exporter drops it, is read back through the adopted tensor, and
// is freed by the deleter (the consumer's Adopted), once.
TEST(device_dlpack_export_adopt) {
  const std::size_t n = 4096;
  std::vector<float> host(n);
  for (std::size_t i = 0; i < n; ++i) host[i] = static_cast<float>(i) * 0.25f - 7.0f;
  int freed = 0;
  void* d = cuda::malloc_device(n * 4, "dlpackTest");
  cuda::copy_h2d(d, host.data(), n * 4, nullptr, "dlpackTest");
  cuda::stream_sync(nullptr, "dlpackTest");
  std::shared_ptr<void> keep(d, [&freed](void* p) {
    cuda::free_device(p);
    ++freed;
  });
  dlpack::Slot slot{dlpack::make_managed(d, 0, 0, {64, 64}, keep)};
  keep.reset();
  CHECK_EQ(freed, 0);
  DLManagedTensor* t = slot.take();
  const dlpack::Checked c = dlpack::check(t->dl_tensor);
  CHECK(c.kind == dlpack::Checked::kOk);
  CHECK_EQ(c.bytes, n * 4);
  {
    dlpack::Adopted a(t);
    std::vector<float> back(n);
    cuda::copy_d2h(back.data(), c.data, n * 4, nullptr, "dlpackTest");
    cuda::stream_sync(nullptr, "dlpackTest");
    CHECK(back == host);
    slot.release();
    CHECK_EQ(freed, 0);
  }
  CHECK_EQ(freed, 1);
}

TEST(device_patch_similarity) {
  Rng r(11);
  const std::size_t shapes[][3] = {{1, 1, 1}, {7, 5, 13}, {9, 3, 64}, {3, 40, 7}, {5, 17, 1024}, {2, 1, 3}};
  for (auto& sh : shapes) {
    const std::size_t T = sh[0], N = sh[1], D = sh[2];
    Vec x = r.normals(T * N * D), g = r.normals(N * D);
    x[0] = 0;  // a partly zero patch
    DevBuf<float> dx(x), dg(g), dout(T);
    for (double lambda : {0.0, 1.0, 3.0}) {
      Vec cpu(T);
      patch_similarity(x.data(), T, N, D, g.data(), lambda, cpu.data(), 1);
      cuda::patch_similarity(dx.p, T, N, D, dg.p, lambda, dout.p, nullptr);
      cuda::stream_sync(nullptr, "patchSimilarity");
      Vec gpu = dout.get();
      for (std::size_t t = 0; t < T; ++t) CHECK_NEAR(gpu[t], cpu[t], 1e-5);
    }
  }
  // Misaligned rows (float offset 1) take the scalar path.
  Vec x = r.normals(1 + 4 * 2 * 8), g = r.normals(2 * 8);
  DevBuf<float> dx(x), dg(g), dout(4);
  Vec cpu(4);
  patch_similarity(x.data() + 1, 4, 2, 8, g.data(), 1.0, cpu.data(), 1);
  cuda::patch_similarity(dx.p + 1, 4, 2, 8, dg.p, 1.0, dout.p, nullptr);
  cuda::stream_sync(nullptr, "patchSimilarity");
  Vec gpu = dout.get();
  for (std::size_t t = 0; t < 4; ++t) CHECK_NEAR(gpu[t], cpu[t], 1e-5);
}

TEST(device_similarity_degenerate_and_extreme_patches) {
  // The cosine of docs/progress.md on the GPU: zero patches (cos 1 against
  // zero, 0 against non-zero), features whose float sums under/overflow
  // (double fallback), NaN/Inf (NaN), scale invariance at λ = 0. Frames of
  // [T=8, N=6, D=40] (float4 path) against one goal; each frame scales the
  // random base by a power of two and zeroes some patches.
  Rng r(15);
  const std::size_t T = 8, N = 6, D = 40, F = N * D;
  Vec base = r.normals(F), g = r.normals(F);
  for (std::size_t i = 0; i < D; ++i) g[5 * D + i] = 0;  // goal patch 5 is zero
  const float scale[T] = {1.f, 0x1p-100f, 0x1p-70f, 0x1p64f, 0x1p120f, 1.f, 1.f, 1.f};
  Vec x(T * F);
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t i = 0; i < F; ++i) x[t * F + i] = base[i] * scale[t];
  for (std::size_t i = 0; i < D; ++i) x[5 * F + 5 * D + i] = 0;  // frame 5: zero vs zero patch
  for (std::size_t i = 0; i < F; ++i) x[6 * F + i] = 0;          // frame 6: all zero
  x[7 * F + 5 * D + 3] = INFINITY;                               // frame 7: Inf against the zero goal patch
  DevBuf<float> dx(x), dg(g), dout(T);
  for (double lambda : {0.0, 1.0}) {
    Vec cpu(T);
    patch_similarity(x.data(), T, N, D, g.data(), lambda, cpu.data(), 1);
    cuda::patch_similarity(dx.p, T, N, D, dg.p, lambda, dout.p, nullptr);
    cuda::stream_sync(nullptr, "patchSimilarity");
    Vec gpu = dout.get();
    for (std::size_t t = 0; t < 7; ++t) {
      CHECK(std::isfinite(gpu[t]));
      CHECK_NEAR(gpu[t], cpu[t], 1e-5);
    }
    CHECK(std::isnan(gpu[7]) && std::isnan(cpu[7]));
    // Frame 6 (all zero): five patches of cos 0 and the zero pair of cos 1.
    CHECK_NEAR(gpu[6], 1.0 / 6.0, 1e-7);
    if (lambda == 0.0)  // only x scales here, so with λ = 0 frames 0–4 agree
      for (std::size_t t = 1; t < 5; ++t) CHECK_NEAR(gpu[t], gpu[0], 1e-6);
  }
  // progressTargets of the all-zero episode: S = 1 everywhere, V = (k + 1) / K.
  Vec z(6 * F, 0.f);
  std::vector<std::int64_t> off = {0, 6};
  DevBuf<float> dz(z), dv(6), ds(6);
  DevBuf<std::int64_t> doff(off), dbad(1);
  DevBuf<std::int32_t> dss(6), dse(6), dcount(1);
  cuda::progress_targets(dz.p, doff.p, 1, N, D, {1.0, 2, 3, 0.01}, dv.p, ds.p, dss.p, dse.p, dcount.p, dbad.p,
                         nullptr);
  cuda::stream_sync(nullptr, "progressTargets");
  Vec v = dv.get(), sim = ds.get();
  CHECK_EQ(dbad.get()[0], -1);
  CHECK_EQ(dcount.get()[0], 2);
  for (std::size_t t = 0; t < 6; ++t) {
    CHECK_NEAR(sim[t], 1.0, 0);
    CHECK_NEAR(v[t], t < 3 ? 0.5 : 1.0, 1e-7);
  }
}

TEST(device_sliding_slopes) {
  Rng r(12);
  for (std::size_t w : {2u, 5u, 31u}) {
    const std::size_t B = 7, L = 100, P = L - w + 1;
    Vec s = r.normals(B * L);
    Vec cpu(B * P);
    sliding_slopes(s.data(), B, L, w, cpu.data(), 1);
    DevBuf<float> ds(s), dout(B * P);
    DevBuf<int> status(std::vector<int>{0});
    cuda::sliding_slopes(ds.p, B, L, w, dout.p, status.p, nullptr);
    cuda::stream_sync(nullptr, "slidingSlopes");
    Vec gpu = dout.get();
    for (std::size_t i = 0; i < B * P; ++i) CHECK_NEAR(gpu[i], cpu[i], 1e-6);
    CHECK_EQ(status.get()[0], 0);
  }
  // NaN or Inf anywhere (the last element included) sets the status; huge
  // finite values do not.
  for (float bad : {NAN, INFINITY, -INFINITY, 3e38f}) {
    const std::size_t B = 2, L = 9, w = 3;
    Vec s = r.normals(B * L);
    s[B * L - 1] = bad;
    DevBuf<float> ds(s), dout(B * (L - w + 1));
    DevBuf<int> status(std::vector<int>{0});
    cuda::sliding_slopes(ds.p, B, L, w, dout.p, status.p, nullptr);
    cuda::stream_sync(nullptr, "slidingSlopes");
    CHECK_EQ(status.get()[0], std::isfinite(bad) ? 0 : 1);
  }
}

TEST(device_progress_targets_batch) {
  Rng r(13);
  const std::size_t N = 6, D = 20;
  const std::size_t lengths[] = {1, 2, 60, 5, 130, 33};
  std::vector<std::int64_t> off = {0};
  Vec all;
  for (std::size_t T : lengths) {
    Vec e = f2gtest::staged_episode(r, T, N, D, 4, 0.05f);
    all.insert(all.end(), e.begin(), e.end());
    off.push_back(off.back() + static_cast<std::int64_t>(T));
  }
  const std::size_t E = off.size() - 1, total = static_cast<std::size_t>(off.back());
  // Episode 3 gets a NaN in its frame 2.
  all[(static_cast<std::size_t>(off[3]) + 2) * N * D + 5] = NAN;
  for (std::size_t M : {50u, 9u}) {
    const ProgressParams p = f2gtest::progress_params(1, 4, M, 0.01);
    DevBuf<float> dx(all), dv(total), ds(total);
    DevBuf<std::int64_t> doff(off), dbad(E);
    DevBuf<std::int32_t> dss(total), dse(total), dcount(E);
    cuda::progress_targets(dx.p, doff.p, E, N, D, {p.lambda, p.window, p.max_cluster, p.threshold}, dv.p,
                           ds.p, dss.p, dse.p, dcount.p, dbad.p, nullptr);
    cuda::stream_sync(nullptr, "progressTargets");
    Vec v = dv.get(), s = ds.get();
    auto ss = dss.get(), se = dse.get(), count = dcount.get();
    auto bad = dbad.get();
    for (std::size_t e = 0; e < E; ++e) {
      const std::size_t T = static_cast<std::size_t>(off[e + 1] - off[e]),
                        o = static_cast<std::size_t>(off[e]);
      Vec cv(T), cs(T);
      std::vector<Segment> seg;
      const std::int64_t cbad =
          progress_targets(all.data() + o * N * D, T, N, D, p, cv.data(), cs.data(), seg, 1);
      CHECK_EQ(bad[e], cbad);
      if (cbad >= 0) continue;
      CHECK_EQ(static_cast<std::size_t>(count[e]), seg.size());
      for (std::size_t k = 0; k < std::min<std::size_t>(count[e], seg.size()); ++k) {
        CHECK_EQ(ss[o + k], seg[k].start);
        CHECK_EQ(se[o + k], seg[k].end);
      }
      for (std::size_t t = 0; t < T; ++t) {
        CHECK_NEAR(v[o + t], cv[t], 1e-5);
        CHECK_NEAR(s[o + t], cs[t], 1e-5);
      }
    }
  }
}

TEST(device_gae_layouts_flags_and_bad_data) {
  Rng r(14);
  const std::size_t shapes[][2] = {{1, 1}, {33, 17}, {256, 40}, {3, 500}};
  for (auto& sh : shapes) {
    const std::size_t B = sh[0], T = sh[1], n = B * T;
    Vec rew = r.normals(n), val = r.normals(n), nv = r.normals(n);
    auto term = r.flags(n, 0.05), done = r.flags(n, 0.1);
    for (std::size_t i = 0; i < n; ++i) done[i] |= term[i];
    Vec tf(term.begin(), term.end()), df(done.begin(), done.end());
    DevBuf<float> dr(rew), dv(val), dn(nv), dtf(tf), ddf(df), da(n), dret(n);
    DevBuf<std::uint8_t> dtu(term), ddu(done);
    DevBuf<int> status(std::vector<int>{0});
    for (int tm = 0; tm < 2; ++tm)
      for (int f32 = 0; f32 < 2; ++f32) {
        rl::GaeInputs in{rew.data(), val.data(), nv.data(), {}, {}};
        cuda::DevFlags gt, gd;
        if (f32) {
          in.terminated.f32 = tf.data();
          in.done.f32 = df.data();
          gt.f32 = dtf.p;
          gd.f32 = ddf.p;
        } else {
          in.terminated.u8 = term.data();
          in.done.u8 = done.data();
          gt.u8 = dtu.p;
          gd.u8 = ddu.p;
        }
        Vec a1(n), r1(n);
        CHECK(rl::gae(in, B, T, 0.99, 0.95, tm == 1, a1.data(), r1.data(), 1, rl::gae_isa_level(-1)));
        cuda::gae(dr.p, dv.p, dn.p, gt, gd, B, T, 0.99, 0.95, tm == 1, da.p, dret.p, status.p, nullptr);
        cuda::stream_sync(nullptr, "gae");
        Vec a2 = da.get(), r2 = dret.get();
        CHECK_EQ(status.get()[0], 0);
        for (std::size_t i = 0; i < n; ++i) {
          CHECK(close_rel(a2[i], a1[i], 1e-5));
          CHECK(close_rel(r2[i], r1[i], 1e-5));
        }
      }
    // A flag of 2 sets the status.
    auto bad = done;
    bad[n - 1] = 2;
    DevBuf<std::uint8_t> dbad(bad);
    cuda::gae(dr.p, dv.p, dn.p, {dtu.p, nullptr}, {dbad.p, nullptr}, B, T, 0.99, 0.95, false, da.p, dret.p,
              status.p, nullptr);
    cuda::stream_sync(nullptr, "gae");
    CHECK(status.get()[0] != 0);
  }
}

TEST(device_grpo_and_step_advantages) {
  Rng r(15);
  for (std::size_t g : {1u, 4u, 16u}) {
    const std::size_t n = g * 50;
    Vec R = r.normals(n);
    for (std::size_t i = 0; i < g; ++i) R[i] = 0.5f;  // an all-equal group
    DevBuf<float> dR(R), dout(n);
    DevBuf<int> status(std::vector<int>{0});
    for (int kind = 0; kind < 3; ++kind)
      for (int batch = 0; batch < 2; ++batch)
        for (double eps : {0.0, 1e-4}) {
          const rl::StdKind k = kind == 0   ? rl::StdKind::kSample
                                : kind == 1 ? rl::StdKind::kPopulation
                                            : rl::StdKind::kNone;
          Vec cpu(n);
          CHECK(rl::grpo_advantages(R.data(), n, g, eps, k, batch ? rl::Scale::kBatch : rl::Scale::kGroup,
                                    cpu.data()));
          cuda::grpo_advantages(dR.p, n, g, eps, k, batch == 1, dout.p, status.p, nullptr);
          cuda::stream_sync(nullptr, "grpoAdvantages");
          Vec gpu = dout.get();
          for (std::size_t i = 0; i < n; ++i) CHECK(close_rel(gpu[i], cpu[i], 1e-5));
        }
    CHECK_EQ(status.get()[0], 0);
  }
  const std::size_t B = 40, H = 33;
  Vec adv = r.normals(B);
  std::vector<std::int32_t> L(B);
  for (std::size_t b = 0; b < B; ++b) L[b] = 1 + static_cast<std::int32_t>(b % H);
  Vec cpu(B * H);
  CHECK(rl::step_advantages(adv.data(), L.data(), B, H, 0.97, cpu.data(), 1, false));
  DevBuf<float> dadv(adv), dout(B * H);
  DevBuf<std::int32_t> dL(L);
  DevBuf<int> status(std::vector<int>{0});
  cuda::step_advantages(dadv.p, dL.p, B, H, 0.97, dout.p, status.p, nullptr);
  cuda::stream_sync(nullptr, "stepAdvantages");
  Vec gpu = dout.get();
  for (std::size_t i = 0; i < B * H; ++i) CHECK(close_rel(gpu[i], cpu[i], 1e-6));
  CHECK_EQ(status.get()[0], 0);
}

namespace {
void check_loss(const cuda::LossOut& h, const rl::LossResult& c, bool kl) {
  CHECK(close_rel(h.loss, c.loss, 1e-6));
  CHECK(close_rel(h.clip_fraction, c.clip_fraction, 1e-9));
  CHECK(close_rel(h.dual_clip_fraction, c.dual_clip_fraction, 1e-9));
  if (kl) CHECK(close_rel(h.approx_kl, c.approx_kl, 1e-6));
  CHECK_NEAR(h.masked, static_cast<double>(c.masked), 0);
  CHECK_EQ(h.ok != 0, c.ok);
}
}  // namespace

TEST(device_losses) {
  Rng r(16);
  const std::size_t shapes[][2] = {{1, 1}, {4, 33}, {19, 300}, {2, 2000}};
  for (auto& sh : shapes) {
    const std::size_t B = sh[0], T = sh[1], n = B * T;
    const f2gtest::LossInputs in = f2gtest::loss_inputs(r, n);
    const Vec &lp = in.lp, &olp = in.olp, &adv = in.adv, &v = in.v, &R = in.R, &old = in.old, &mf = in.mf;
    const auto& mu = in.mu;
    DevBuf<float> dlp(lp), dolp(olp), dadv(adv), dv(v), dR(R), dold(old), dmf(mf);
    DevBuf<std::uint8_t> dmu(mu);
    DevBuf<cuda::LossOut> dout(1);
    for (int mk = 0; mk < 3; ++mk) {
      rl::FlagView cm;
      cuda::DevFlags gm;
      if (mk == 1) {
        cm.u8 = mu.data();
        gm.u8 = dmu.p;
      }
      if (mk == 2) {
        cm.f32 = mf.data();
        gm.f32 = dmf.p;
      }
      for (int agg = 0; agg < 3; ++agg) {
        const rl::Aggregation a = f2gtest::aggregation_of(agg);
        for (double dual : {0.0, 3.0}) {
          const rl::SurrogateParams p = f2gtest::surrogate_params(0.2, 0.28, dual, a);
          auto c = rl::clipped_surrogate(lp.data(), olp.data(), adv.data(), cm, B, T, p, 1);
          cuda::clipped_surrogate(dlp.p, dolp.p, dadv.p, gm, B, T, 0.2, 0.28, dual, a, dout.p, nullptr);
          cuda::stream_sync(nullptr, "clippedSurrogate");
          check_loss(dout.get()[0], c, true);
        }
        for (double clip : {0.0, 0.2}) {
          const rl::ValueLossParams p = f2gtest::value_params(clip, 1.0, a);
          auto c = rl::clipped_value_loss(v.data(), R.data(), old.data(), cm, B, T, p, 1);
          cuda::value_loss(dv.p, dR.p, dold.p, gm, B, T, clip, 1.0, a, dout.p, nullptr);
          cuda::stream_sync(nullptr, "valueLoss");
          check_loss(dout.get()[0], c, false);
        }
        for (int est = 0; est < 3; ++est) {
          const rl::KlEstimator e = f2gtest::estimator_of(est);
          auto c = rl::kl_penalty(lp.data(), olp.data(), cm, B, T, e, a, 1);
          cuda::kl_penalty(dlp.p, dolp.p, gm, B, T, e, a, dout.p, nullptr);
          cuda::stream_sync(nullptr, "klPenalty");
          check_loss(dout.get()[0], c, false);
        }
      }
    }
    // A NaN log-prob makes ok false.
    Vec badlp = lp;
    badlp[n / 2] = NAN;
    DevBuf<float> dbad(badlp);
    cuda::clipped_surrogate(dbad.p, dolp.p, dadv.p, {}, B, T, 0.2, 0.2, 0, rl::Aggregation::kTokenMean,
                            dout.p, nullptr);
    cuda::stream_sync(nullptr, "clippedSurrogate");
    CHECK_EQ(dout.get()[0].ok, 0);
  }
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "runtime") return f2gtest::run_all("test_cuda runtime", "runtime_");
  const std::string why = cuda::unavailable_reason();
  if (!why.empty()) SKIP_ALL("test_cuda", "no CUDA device (" + why + ")");
  const cuda::DeviceInfo d = cuda::device_info(0);
  std::printf("device 0: %s (sm_%d%d, %.1f GiB), runtime %d, driver %d\n", d.name.c_str(), d.major, d.minor,
              d.memory / 1073741824.0, d.runtime_version, d.driver_version);
  return f2gtest::run_all("test_cuda", "");
}

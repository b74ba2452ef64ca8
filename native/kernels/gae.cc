// Generalised advantage estimation (SPEC §6). See rl.h for the contract.
//
// The recursion A_t = δ_t + c_t·A_{t+1} (c_t = γλ, or 0 where done_t) is a
// first-order linear recurrence, so it need not run one step at a time. Each
// row is cut, from its end, into chunks of 16 steps, each handled as two
// halves of 8 lanes:
//
//   1. within a half, a three-step log scan (Hillis–Steele on (c, δ) pairs)
//        a_i += c_i·a_{i+s};  c_i *= c_{i+s}        for s = 1, 2, 4
//      (lanes past the half read a = 0, c = 1) leaves a_i = the half's own
//      part of A_i and p_i = c_i·…·c_7;
//   2. the upper half's first lane is folded into the lower half:
//        a_i += p_i·a_8,  p_i *= p_8;
//   3. with the carry k = A at the chunk's end, A_i = a_i + p_i·k, and the
//      next carry is a_0 + p_0·k: one multiply-add per 16 steps is the only
//      serial dependence, where the step-by-step loop has 16.
// Chunks without a done use precomputed powers of γλ for c and p; those are
// the very products the general scan forms, so both give the same bits.
//
// The T mod 16 steps at the start of a row run step by step. The recursion is
// in double (δ is formed in float, one rounding per step); the grouping of its
// sums differs from the step-by-step loop by double rounding only (~1e-16
// relative), far below float32. The time-major path performs the same
// operations lane by lane across environments, so both layouts give
// bit-identical results, and neither depends on the thread count.
//
// The scan pays off with 8 double lanes per register: the kernel body
// (gae_impl.inc) is compiled for x86-64-v4 (AVX-512) with function target
// attributes (not target_clones: it needs a few intrinsics) and used when the
// CPU has it. Elsewhere (AVX2, baseline, non-x86) gae_step.cc's step-by-step
// kernel is faster and runs instead (measured: docs/benchmarks.md, "GAE: the
// blocked scan only with AVX-512"). Each kernel gives
// bit-identical results across layouts and thread counts; the two kernels
// agree to float rounding (≤ 1 ulp, rarely).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/gae_step.h"
#include "kernels/pool.h"
#include "kernels/rl.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__)
#define F2G_GAE_SCAN 1
#include <immintrin.h>
#endif

#pragma GCC diagnostic ignored "-Wpsabi"  // 32/64-byte vectors between inlined functions only
// GCC 12 flags the _mm512_undefined_pd() inside _mm512_cvtps_pd / _mm512_cvtpd_ps.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace f2g {
namespace rl {
namespace {

#ifdef F2G_GAE_SCAN
// Constants of the clean-chunk path (see above).
struct Powers {
  double g[3];   // γλ, (γλ)², (γλ)⁴: the scan's c in its three steps
  double p[8];   // p of a clean half
  double pp[8];  // p of a clean lower half after folding a clean upper half
};

// Environments per time-major block (a multiple of 8): each block sweeps all T
// rows, and a narrower block reads rows in pieces too short to stream well.
constexpr std::size_t kTmBlock = 512;

Powers make_powers(double gl) {
  Powers w;
  w.g[0] = gl;
  w.g[1] = gl * gl;
  w.g[2] = w.g[1] * w.g[1];
  double c[8];
  for (double& x : c) x = gl;
  for (int s = 1; s < 8; s *= 2) {  // the c updates of the scan, lane by lane
    double n[8];
    for (int i = 0; i < 8; ++i) n[i] = c[i] * (i + s < 8 ? c[i + s] : 1.0);
    std::memcpy(c, n, sizeof c);
  }
  for (int i = 0; i < 8; ++i) {
    w.p[i] = c[i];
    w.pp[i] = c[i] * c[0];
  }
  return w;
}

#define F2G_GAE_FN inline __attribute__((always_inline, target("arch=x86-64-v4")))
#define F2G_GAE_ENTRY __attribute__((target("arch=x86-64-v4")))
namespace isa4 {
#include "kernels/gae_impl.inc"
}  // namespace isa4
#undef F2G_GAE_FN
#undef F2G_GAE_ENTRY
#endif  // F2G_GAE_SCAN

int cpu_level() {
  int level = 0;
#ifdef F2G_GAE_SCAN
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) level = 4;
  else if (__builtin_cpu_supports("x86-64-v3")) level = 3;
#endif
  return level;
}
const int kCpuLevel = cpu_level();

#ifdef F2G_GAE_SCAN
// Float flags → uint8: 0, 1, or 2 for anything else (NaN too), which then
// fails the kernel's flag check like a uint8 2 would.
std::vector<std::uint8_t> flags_u8(const float* f, std::size_t n, std::size_t threads) {
  std::vector<std::uint8_t> out(n);
  parallel_for(n, threads, std::size_t{1} << 16, [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) out[i] = f[i] == 0.f ? 0 : f[i] == 1.f ? 1 : 2;
  });
  return out;
}

// The blocked scan (AVX-512): float flags converted once, rows (or blocks of
// environments) spread over the pool.
bool gae_scan(const GaeInputs& in, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
              float* adv, float* ret, std::size_t threads) {
  if (B == 0 || T == 0) return true;
  const float g = static_cast<float>(gamma);  // per-step δ only: no compounding
  const double gl = gamma * lambda;           // the recursion's factor stays double
  const Powers w = make_powers(gl);
  const std::size_t n = B * T;
  std::vector<std::uint8_t> tb, db;
  const std::uint8_t* term = in.terminated.u8;
  const std::uint8_t* done = in.done.u8;
  if (!term) term = (tb = flags_u8(in.terminated.f32, n, threads)).data();
  if (!done) done = (db = flags_u8(in.done.f32, n, threads)).data();

  std::atomic<bool> flags_ok{true}, suspect{false};
  const std::size_t grain = std::max<std::size_t>(1, (std::size_t{1} << 14) / T);
  if (!time_major) {
    parallel_for(B, threads, grain, [&](std::size_t b0, std::size_t b1) {
      bool s = false;
      if (!isa4::gae_rows(in.rewards, in.values, in.next_values, term, done, b0, b1, T, g, gl, w, adv, ret,
                          &s))
        flags_ok = false;
      if (s) suspect = true;
    });
  } else {
    // Blocks of kTmBlock environments (whole 8-lane groups, so results do not
    // depend on where blocks end).
    const std::size_t nblk = (B + kTmBlock - 1) / kTmBlock;
    parallel_for(nblk, threads, 1, [&](std::size_t k0, std::size_t k1) {
      bool s = false;
      if (!isa4::gae_cols(in.rewards, in.values, in.next_values, term, done, k0 * kTmBlock,
                          std::min(B, k1 * kTmBlock), B, T, g, gl, w, adv, ret, &s))
        flags_ok = false;
      if (s) suspect = true;
    });
  }
  if (!flags_ok) return false;
  // A non-finite A_0 comes from a non-finite input, or from finite inputs
  // whose δ overflows float; only the first is an error.
  if (suspect)
    return locate_non_finite(in.rewards, n) < 0 && locate_non_finite(in.values, n) < 0 &&
           locate_non_finite(in.next_values, n) < 0;
  return true;
}
#endif

}  // namespace

int gae_isa_level(int cap) {
  int level = kCpuLevel;
  if (cap >= 0 && cap < level) level = cap >= 3 ? 3 : 0;  // a cap, never a raise
  return level;
}

bool gae(const GaeInputs& in, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
         float* adv, float* ret, std::size_t threads, int isa) {
#ifdef F2G_GAE_SCAN
  if (isa >= 4 && kCpuLevel >= 4) return gae_scan(in, B, T, gamma, lambda, time_major, adv, ret, threads);
#else
  (void)isa;
#endif
  return gae_step(in, B, T, gamma, lambda, time_major, adv, ret, threads);
}

}  // namespace rl
}  // namespace f2g

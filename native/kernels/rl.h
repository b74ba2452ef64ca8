// Policy-optimisation math of Feat2Go (SPEC §5–8) over raw pointers. No N-API.
//
// Conventions shared by every function here:
//  * Tensors are row-major float32. `[B,T]` = B environments (or sequences) of
//    T steps; with `time_major` the same data is stored `[T,B]`.
//  * Flags (terminated, done, mask, success) are a FlagView: either uint8 0/1
//    or float32 0.0/1.0 data. Exactly one pointer is set (mask: both may be
//    null = "all ones").
//  * Sums, means and variances accumulate in double; results are stored as
//    float32 (or returned as double for scalar losses). Per-step loss terms
//    (ρ = exp(Δlogπ) via a vectorised float exp of ≈1 ulp, k3 = expm1(x) − x
//    by a series for |x| < 0.5 so it does not cancel) are formed in float.
//  * Callers validate sizes and scalar parameters (see the binding
//    native/bindings/rl.cc and src/rl.ts). Kernels DO check the data itself in
//    the same pass that computes (no extra read): functions returning `bool`
//    return false when some input is NaN/Inf or some float flag is not 0/1, in
//    which case the outputs are unspecified; `locate_bad_*` then names the
//    culprit on the (slow) error path.
//  * Work is split over environments/sequences on the shared pool
//    (f2g::parallel_for); `threads` = 0 uses every core. Results do not depend
//    on the thread count (reductions combine per-row partials in row order).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/rl_modes.h"

namespace f2g {
namespace rl {

/// A 0/1 flag array: uint8 or float32 storage (at most one pointer set).
struct FlagView {
  const std::uint8_t* u8 = nullptr;
  const float* f32 = nullptr;
  bool present() const { return u8 != nullptr || f32 != nullptr; }
};

/// Index of the first non-finite element of x[0..n), or -1.
std::int64_t locate_non_finite(const float* x, std::size_t n);
/// Index of the first flag that is not 0 or 1, or -1.
std::int64_t locate_bad_flag(FlagView f, std::size_t n);

// ---------------------------------------------------------------- §5 rewards

/// R_i = y_i + (1 − y_i) · failure_scale · clamp(v_i, 0, 1)   (SPEC §5).
/// `success` must hold 0/1. Returns false if some v_i is NaN/Inf.
bool shape_terminal_rewards(const std::uint8_t* success, const float* terminal_values, std::size_t n,
                            double failure_scale, float* out);

/// out[B,horizon] = 0 except out[i, lengths[i]−1] = R[i]. Requires
/// 1 ≤ lengths[i] ≤ horizon (unchecked).
void terminal_rewards(const std::int32_t* lengths, const float* R, std::size_t B, std::size_t horizon,
                      float* out, std::size_t threads);

// ---------------------------------------------------------------- §6 GAE

struct GaeInputs {
  const float* rewards;      // r_t
  const float* values;       // V(s_t)
  const float* next_values;  // V(s_{t+1}), the observation after step t
  FlagView terminated;       // ended by the task: do not bootstrap from next_values
  FlagView done;             // terminated or truncated: stop the recursion
};

/// TorchRL-convention GAE, for t = T−1 … 0 (A_T = 0):
///   δ_t = r_t + γ(1 − terminated_t)·V'_t − V_t
///   A_t = δ_t + γλ(1 − done_t)·A_{t+1},   returns_t = A_t + V_t
/// δ_t is formed in float (γ rounded to float there: one rounding per step,
/// not compounded); the recursion — the only accumulation — runs in double
/// with γλ in double, and A_t + V_t is rounded once. With AVX-512 the
/// recursion runs as a blocked scan over 16-step chunks (gae.cc), elsewhere
/// step by step (gae_step.cc); the two agree to float rounding. Layout
/// `[B,T]`, or `[T,B]` when time_major; both layouts, and every thread count,
/// give bit-identical results.
/// `isa` is the level to run at (gae_isa_level(cap)): 4 runs the scan.
/// Returns false if an input is non-finite or a flag is not 0/1. (Finite
/// inputs whose δ overflows float are not an error: A is then ±Inf.)
bool gae(const GaeInputs& in, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
         float* advantages, float* returns, std::size_t threads, int isa);

/// The x86-64 level GAE can run at on this CPU, lowered to `cap` (a cap,
/// never a raise; negative: no cap): 4 (AVX-512: the blocked scan), 3
/// (AVX2 + FMA) or 0 (baseline / not x86); below 4 the step-by-step kernel
/// runs. The binding layer reads the cap (FEAT2GO_GAE_ISA) once at load.
int gae_isa_level(int cap);

// ---------------------------------------------------------------- §7 GRPO

/// Â_i = (R_i − mean_g) / (std + ε) over contiguous groups of `group_size`
/// (SPEC §7). std: sample (n−1), population (n) or none (no division).
/// Scale::kGroup divides by the group's std; Scale::kBatch centres by the
/// group mean and divides by the std of all n rewards (TRL scale_rewards=
/// 'batch'). A group of size 1 gives 0 (its sample std is defined as 0), and
/// so does a zero denominator (all-equal rewards with ε = 0): never NaN.
/// Returns false if some R_i is NaN/Inf.
bool grpo_advantages(const float* R, std::size_t n, std::size_t group_size, double epsilon, StdKind std_kind,
                     Scale scale, float* out);

struct GroupStats {
  std::size_t zero_std_groups = 0;  // groups whose rewards are all equal
  double mean_std = 0;              // mean over groups of the group std
};
/// Spread of each group (std_kind kNone is treated as kSample).
GroupStats grpo_group_stats(const float* R, std::size_t n, std::size_t group_size, StdKind std_kind);

/// out[i,t] = γ^{L_i−1−t} · adv[i] for t < L_i, 0 otherwise (SPEC §7).
/// Requires 1 ≤ lengths[i] ≤ horizon. Extra memory: max(lengths) doubles.
/// With `out_zeroed` (out is known to hold zeros) the tail beyond L_i is
/// not written, so a large fresh output is touched only where it is used.
/// Returns false if some adv[i] is NaN/Inf.
bool step_advantages(const float* adv, const std::int32_t* lengths, std::size_t B, std::size_t horizon,
                     double gamma, float* out, std::size_t threads, bool out_zeroed);

struct WhitenStats {
  double mean = 0, std = 0;
  std::size_t count = 0;  // mask ones (n when no mask)
  bool ok = true;         // false: non-finite input or bad float flag
};
/// out = (x − mean) / (std + ε) where mask = 1, 0 where mask = 0; mean and
/// std (sample: n−1, else population; count 1 gives std 0) over masked
/// entries. count = 0 leaves `out` untouched.
WhitenStats normalize_advantages(const float* x, FlagView mask, std::size_t n, double epsilon,
                                 bool sample_std, float* out, std::size_t threads);

// ---------------------------------------------------------------- §8 losses

// Aggregation, KlEstimator, StdKind and Scale: kernels/rl_modes.h.

struct LossResult {
  double loss = 0;
  /// Surrogate: masked share of steps where the ratio clip was active (the
  /// clipped term was selected and differs from the unclipped one).
  /// Value loss: masked share where the clipped error was the larger one.
  double clip_fraction = 0;
  /// Surrogate: masked share where the dual clip c·|A| replaced the loss.
  double dual_clip_fraction = 0;
  /// Surrogate: mean over masked steps of (ρ − 1) − log ρ.
  double approx_kl = 0;
  std::size_t masked = 0;  // Σ m
  bool ok = true;          // false: non-finite input or bad float flag
};

/// Every field is set by the caller (the defaults live in TypeScript only).
struct SurrogateParams {
  double clip_low;   // ε_low ∈ [0,1)
  double clip_high;  // ε_high ≥ 0
  double dual_clip;  // c > 1, or 0 = off
  Aggregation aggregation;
};

/// PPO/GRPO clipped surrogate (SPEC §8) with ρ = exp(logπ − logπ_old):
///   ℓ = −min(ρA, clip(ρ, 1−ε_low, 1+ε_high)·A);  where A < 0 and c > 1:
///   ℓ ← min(ℓ, c·|A|).  All inputs [B,T].
LossResult clipped_surrogate(const float* log_probs, const float* old_log_probs, const float* advantages,
                             FlagView mask, std::size_t B, std::size_t T, const SurrogateParams& p,
                             std::size_t threads);

/// Every field is set by the caller (the defaults live in TypeScript only).
struct ValueLossParams {
  double clip;         // > 0: clip V around old values to old ± clip (needs old_values), 0 = off
  double huber_delta;  // > 0: Huber loss with this delta instead of ½e², 0 = off
  Aggregation aggregation;
};

/// Value loss per step, e = V − R: ½e² (or Huber_δ(e) = ½e² for |e| ≤ δ,
/// δ(|e| − ½δ) beyond). With clip: V_c = V_old ± clip where |V − V_old| > clip
/// (else V itself) and ℓ = max(f(V − R), f(V_c − R)) (PPO2 / CleanRL).
/// `old_values` may be null when clip = 0.
LossResult clipped_value_loss(const float* values, const float* returns, const float* old_values,
                              FlagView mask, std::size_t B, std::size_t T, const ValueLossParams& p,
                              std::size_t threads);

/// KL(π‖π_ref) estimators per step (KlEstimator), aggregated like the losses.
LossResult kl_penalty(const float* log_probs, const float* ref_log_probs, FlagView mask, std::size_t B,
                      std::size_t T, KlEstimator est, Aggregation agg, std::size_t threads);

}  // namespace rl
}  // namespace f2g

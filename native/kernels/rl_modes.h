// The modes of the RL math (SPEC §7–8), defined once for the CPU kernels, the
// CUDA kernels, the libtorch trainer and the bindings, with the names that
// SPEC and the TypeScript API give them (src/core/rl.ts: AGGREGATIONS, …).
// A mode's value is its index in the name list; the bindings read a mode by
// name (EnumArg in bindings/napi_util.h), so a name the two sides do not
// share is refused, never cast.
#pragma once

namespace f2g {
namespace rl {

/// How per-step losses ℓ[B,T] with mask m become one number:
///  kTokenMean         Σ m·ℓ / Σ m
///  kSeqMeanTokenMean  mean over rows with Σ_t m > 0 of Σ_t m·ℓ / Σ_t m
///  kSeqMeanTokenSum   mean over rows with Σ_t m > 0 of Σ_t m·ℓ
enum class Aggregation { kTokenMean, kSeqMeanTokenMean, kSeqMeanTokenSum };
inline constexpr const char* kAggregationNames[] = {"token-mean", "seq-mean-token-mean",
                                                    "seq-mean-token-sum"};

/// KL(π‖π_ref) estimators per step with x = logπ − logπ_ref (Schulman 2020):
///   k1 = x,  k2 = ½x²,  k3 = (e^{−x} − 1) + x.
enum class KlEstimator { kK1, kK2, kK3 };
inline constexpr const char* kKlEstimatorNames[] = {"k1", "k2", "k3"};

/// The std of GRPO groups: sample (n−1), population (n) or none (no division).
enum class StdKind { kSample, kPopulation, kNone };
inline constexpr const char* kStdKindNames[] = {"sample", "population", "none"};

/// What GRPO divides by: the group's std, or the std of the whole batch.
enum class Scale { kGroup, kBatch };
inline constexpr const char* kScaleNames[] = {"group", "batch"};

}  // namespace rl
}  // namespace f2g

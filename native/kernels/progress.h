// Feat2Go progress targets (SPEC §1-3) over raw pointers. No N-API here.
//
// Features are row-major float32 [T, N, D]; a frame is N*D contiguous floats.
// Callers validate sizes; these functions trust them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/stages.h"

namespace f2g {

/// How stages are found (the option values live in TypeScript).
enum class Segmenter : std::uint8_t {
  kPaper = 0,   // SPEC §2: the backward slope test with threshold τ
  kMotion = 1,  // docs/progress.md: motion onsets and the pauses before them (kernels/stages.h)
};
/// The names of Segmenter's values, in its order (the option `segmenter` in TypeScript).
inline constexpr const char* kSegmenterNames[] = {"paper", "motion"};

/// Every field is set by the caller (the defaults live in TypeScript only).
struct ProgressParams {
  double lambda;            // λ ≥ 0, L1 penalty scale (β = λ / D)
  std::size_t window;       // w ≥ 2
  std::size_t max_cluster;  // M ≥ w; 0 = no cap
  double threshold;         // τ (kPaper only)
  Segmenter segmenter;
};

struct Segment {
  std::int64_t start, end;         // inclusive
  CutRule rule = CutRule::kStart;  // what placed `start` (kStart for the first stage)
};

/// L2 norms of the goal's N patches (computed once per goal), in double so
/// that no finite patch gets a norm of 0 or Infinity.
void goal_norms(const float* goal, std::size_t N, std::size_t D, double* norms);

/// S(frame, goal) for one frame (SPEC §1), given the goal's patch norms.
/// One fused pass: dot product, the frame patch's norm and the L1 distance.
/// cos is scale-free: no floor on ‖x‖·‖g‖; a zero patch against a zero patch
/// has cos 1, a zero patch against a non-zero one cos 0 (docs/progress.md).
/// Every finite input gives a finite result; NaN/Inf in either frame gives NaN.
double frame_similarity(const float* frame, const float* goal, const double* goal_norm, std::size_t N,
                        std::size_t D, double lambda);

/// out[t] = S(features[t], goal) for t in [0, T), frames split over the pool.
void patch_similarity(const float* features, std::size_t T, std::size_t N, std::size_t D, const float* goal,
                      double lambda, float* out, std::size_t threads);

/// Least-squares slopes of every length-w window of each row of `series`
/// [B, L] against k = 0..w-1; out is [B, L-w+1]. O(L) per row (running sums).
void sliding_slopes(const float* series, std::size_t B, std::size_t L, std::size_t w, float* out,
                    std::size_t threads);

/// Segmentation (SPEC §2 for Segmenter::kPaper, the motion segmenter for
/// kMotion) + structural values (SPEC §3) for one episode.
/// Writes values[T] and similarity[T] (similarity to each frame's subgoal) and
/// fills `segments` in temporal order, each with the rule that placed its
/// start. Extra memory: the N goal norms (kPaper); O(T + K·N) (kMotion).
/// Returns the first frame whose similarity is not finite (NaN/Inf in the
/// features), or -1 when every value is finite.
std::int64_t progress_targets(const float* features, std::size_t T, std::size_t N, std::size_t D,
                              const ProgressParams& p, float* values, float* similarity,
                              std::vector<Segment>& segments, std::size_t threads);

/// Baseline "Steps-To-Go" target: V(t) = t / (T-1), V = [1] when T = 1.
void steps_to_go(std::size_t T, float* out);

}  // namespace f2g

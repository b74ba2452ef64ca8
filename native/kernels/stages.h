// Stage boundaries from the visual motion of an episode (docs/progress.md,
// "The motion segmenter"): plain functions over raw arrays, no N-API.
//
// An episode's speed is the mean absolute change of its features from one
// frame to the next. Smoothed and taken in log (so that no scale of the
// features matters), it is cut into regimes of constant level; every rise to a
// faster regime is a movement onset, and the start of the last pause before it
// (the hand comes to rest, e.g. on the object it grasps) is a boundary too.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace f2g {

/// Which rule placed a stage boundary (the start of a stage).
enum class CutRule : std::uint8_t {
  kStart = 0,  // the first stage's start: frame 0, not a boundary
  kTrend = 1,  // paper rule: the first window whose slope exceeds τ
  kCap = 2,    // the stage would exceed maxClusterFrames
  kOnset = 3,  // motion: a rise to a faster motion regime
  kPause = 4,  // motion: the start of the last pause before an onset
};

struct Cut {
  std::int64_t frame;  // the first frame of the stage that starts here
  CutRule rule;
};

/// Fixed constants of the motion segmenter (docs/progress.md).
struct MotionConstants {
  static constexpr double kFloor = 1e-6;           // speeds below kFloor · max speed count as kFloor · max
  static constexpr std::size_t kMaxRegimes = 10;   // most speed regimes the BIC may choose
  static constexpr std::size_t kGridFrames = 512;  // change points on a grid of ⌈T/512⌉ frames
  static constexpr double kPauseRatio = 2.0;       // a pause: the speed falls to ≤ 1/2 of both sides
  static constexpr double kPauseLevel = 0.3;       // it starts where log speed is within 30 % of its depth
  static constexpr std::size_t kSpeedElements = 16384;  // the speed reads about this many elements per frame
};

/// Feature dims per patch that the speed reads: min(D, ⌈16384 / N⌉), so that
/// wide features (V-JEPA 2: [256, 1024]) cost 1/16 of a pass, not a whole one.
std::size_t motion_speed_dims(std::size_t N, std::size_t D);

/// speed[t] = mean of |x_t − x_{t−1}| over the first motion_speed_dims(N, D)
/// dims of every patch (all N·D elements when D is small) for t ≥ 1,
/// speed[0] = speed[1] (0 when T = 1). Frames are split over the pool.
/// When a speed is not finite, returns the first frame that holds NaN or
/// ±Infinity anywhere; else -1 (dims the speed does not read are not checked).
std::int64_t motion_speed(const float* features, std::size_t T, std::size_t N, std::size_t D, double* speed,
                          std::size_t threads);

/// The first of T frames of F floats that holds NaN or ±Infinity, or -1.
std::int64_t first_nonfinite_frame(const float* features, std::size_t T, std::size_t F);

/// Stage boundaries (rules kOnset and kPause) of a speed series of T ≥ 1
/// finite values ≥ 0, smoothed with a triangle of half-width `window` ≥ 1.
/// Writes them to `cuts` in increasing frame order, each in [window, T − window].
void motion_cuts(const double* speed, std::size_t T, std::size_t window, std::vector<Cut>& cuts);

/// Adds kCap cuts so that no stage holds more than max_cluster frames: a
/// stage [a, g] longer than that is cut at g − max_cluster + 1, and so on
/// backwards (as SPEC §2's scan does). `cuts` is sorted, inside (0, T); it
/// stays sorted. max_cluster = 0: no cap.
void cap_cuts(std::size_t T, std::size_t max_cluster, std::vector<Cut>& cuts);

}  // namespace f2g

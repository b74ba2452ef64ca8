// Kernel parameter structs and random loss inputs for the C++ tests, each
// built in one call (the structs have no defaults: every field is set here).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "data.h"
#include "kernels/progress.h"
#include "kernels/rl.h"

namespace f2gtest {

inline f2g::ProgressParams progress_params(double lambda, std::size_t window, std::size_t max_cluster,
                                           double threshold) {
  f2g::ProgressParams p;
  p.lambda = lambda;
  p.window = window;
  p.max_cluster = max_cluster;
  p.threshold = threshold;
  p.segmenter = f2g::Segmenter::kPaper;
  return p;
}

inline f2g::rl::SurrogateParams surrogate_params(double clip_low, double clip_high, double dual_clip,
                                                 f2g::rl::Aggregation agg) {
  f2g::rl::SurrogateParams p;
  p.clip_low = clip_low;
  p.clip_high = clip_high;
  p.dual_clip = dual_clip;
  p.aggregation = agg;
  return p;
}

inline f2g::rl::ValueLossParams value_params(double clip, double huber_delta, f2g::rl::Aggregation agg) {
  f2g::rl::ValueLossParams p;
  p.clip = clip;
  p.huber_delta = huber_delta;
  p.aggregation = agg;
  return p;
}

/// The aggregation and KL estimator of index 0, 1, 2 (their order in kernels/rl_modes.h).
inline f2g::rl::Aggregation aggregation_of(int i) {
  return i == 0   ? f2g::rl::Aggregation::kTokenMean
         : i == 1 ? f2g::rl::Aggregation::kSeqMeanTokenMean
                  : f2g::rl::Aggregation::kSeqMeanTokenSum;
}
inline f2g::rl::KlEstimator estimator_of(int i) {
  return i == 0 ? f2g::rl::KlEstimator::kK1 : i == 1 ? f2g::rl::KlEstimator::kK2 : f2g::rl::KlEstimator::kK3;
}

/// Random inputs of the three losses over n steps: log-probabilities whose
/// ratios are mostly near 1 (every third far off, so clipping happens),
/// advantages, values, returns, old values near the values, and an 80 % mask
/// as uint8 and as float.
struct LossInputs {
  std::vector<float> lp, olp, adv, v, R, old;
  std::vector<std::uint8_t> mu;
  std::vector<float> mf;
};
inline LossInputs loss_inputs(Rng& r, std::size_t n) {
  LossInputs in;
  in.lp = r.normals(n, 0.5f);
  in.olp.resize(n);
  in.adv = r.normals(n);
  in.v = r.normals(n);
  in.R = r.normals(n);
  in.old.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    in.olp[i] = in.lp[i] + r.normal(i % 3 == 0 ? 1.0f : 0.1f);
    in.old[i] = in.v[i] + r.normal(0.3f);
  }
  in.mu = r.flags(n, 0.8);
  in.mf.assign(in.mu.begin(), in.mu.end());
  return in;
}

}  // namespace f2gtest

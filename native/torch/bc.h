// Behaviour cloning of a Policy: maximise the log-likelihood of demonstrated
// actions (Gaussian or categorical head) or, for a Gaussian head, minimise the
// squared error of the mean. Shuffled minibatches, Adam(W), a seeded order.
// All or nothing, like the other training calls: a non-finite loss, gradient
// or final weight throws NonFiniteError (naming the step) before that step is
// applied, and any failure restores the weights and the policy's random stream
// to what they were when the call began.
#pragma once
#include <functional>
#include <vector>

#include "kernels/cancel.h"
#include "torch/policy.h"

namespace f2g {

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct BcOptions {
  int64_t epochs = 0;
  int64_t batch_size = 0;
  double lr = 0;
  double weight_decay = 0;
  double max_grad_norm = 0;  // 0: no clipping
  bool mse = false;          // squared error of the mean (Gaussian head) instead of −log π(a|s)
  std::uint64_t seed = 0;
  // Data parallel over the initialised process group: rank 0's tensors (all of
  // the policy's) are broadcast first; every rank walks the global minibatches of the
  // single-rank fit (shared seed) and steps on its members of each, its loss
  // divided by the minibatch's global size; the gradients are summed over the
  // ranks before clipping, so every rank takes the single-rank step.
  bool distributed = false;
  /// Checked before every optimizer step: once set, the fit stops with
  /// Cancelled and the policy is restored as on any failure (null: never).
  const StopFlag* stop = nullptr;
};

struct BcResult {
  std::vector<double> epoch_loss;  // mean loss of each epoch, measured during the epoch
  int64_t steps = 0;               // optimizer steps taken
};

/// Trains the policy's actor tensors (trunk and head, or adapters + head with
/// LoRA attached; never the critic) on (obs [N, obs_dim], actions [N, width]).
/// `progress(epoch, epochs, loss)` is called after each epoch.
BcResult FitBehaviourCloning(Policy& policy, const torch::Tensor& obs, const torch::Tensor& actions,
                             const BcOptions& o,
                             const std::function<void(int64_t, int64_t, double)>& progress);

}  // namespace f2g

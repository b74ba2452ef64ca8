// PPO / GRPO updates of a Policy (SPEC §8): clipped surrogate with
// asymmetric and dual clip, three aggregation modes, clipped value loss,
// entropy bonus, k3 KL penalty to a frozen reference, gradient-norm clipping,
// AdamW with separate actor and critic learning rates.
#pragma once
#include <memory>

#include "kernels/rl_modes.h"
#include "torch/distributed.h"
#include "torch/policy.h"

namespace f2g {

using Aggregation = rl::Aggregation;  // kernels/rl_modes.h

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct TrainerOptions {
  double clip_low = 0, clip_high = 0;
  double dual_clip = 0;  // 0: off; else c > 1
  Aggregation aggregation = Aggregation::kTokenMean;
  double value_coef = 0;
  double value_clip = 0;  // 0: unclipped value loss
  double entropy_coef = 0;
  double kl_coef = 0;
  double max_grad_norm = 0;  // 0: no clipping (the norm is still reported)
  double actor_lr = 0, critic_lr = 0, weight_decay = 0;
  int64_t epochs = 0, minibatches = 0;
  bool use_critic = false;
  std::uint64_t seed = 0;
  /// Data parallel over the process group (native/torch/distributed.h).
  bool distributed = false;
};

/// A rollout batch of B sequences × T steps; minibatches split the sequences.
struct RolloutBatch {
  int64_t B = 0, T = 0;
  torch::Tensor obs;         // [B, T, obs_dim]
  torch::Tensor actions;     // [B, T, width]
  torch::Tensor old_logp;    // [B, T]
  torch::Tensor advantages;  // [B, T]
  torch::Tensor returns;     // [B, T] (critic only)
  torch::Tensor old_values;  // [B, T] (value clipping only)
  torch::Tensor mask;        // [B, T] 0/1 or undefined (all ones)
};

/// Upper bound of log(π/π_old) before exp (ρ ≤ e^20 ≈ 4.85e8): past it the
/// unclipped term of a negative advantage stops growing, as the dual clip
/// would make it; below it the surrogate is exactly SPEC §8's. The same bound
/// applies to the k3 penalty's log(π_ref/π).
constexpr double kMaxLogRatio = 20.0;

struct UpdateMetrics {
  double policy_loss = 0, value_loss = 0, entropy = 0, clip_fraction = 0, approx_kl = 0, grad_norm = 0,
         kl = 0, loss = 0;
  int64_t steps = 0;
};

/// The aggregation of SPEC §8 of per-step values l [b, T] under mask m.
torch::Tensor Aggregate(const torch::Tensor& l, const torch::Tensor& m, Aggregation mode);

/// Denominators of a minibatch's means: Σ mask (token means) and the number
/// of sequences with a counted step (sequence means). Data-parallel updates
/// use the sums over every rank's share, so each rank's loss is its part of
/// the global mean and the sum of the ranks' gradients is the gradient of
/// the whole minibatch, whatever the shares' sizes.
struct Denominators {
  double tokens = 0, seqs = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<Policy> policy, const TrainerOptions& o);
  /// epochs × minibatches optimizer steps; metrics averaged over the steps.
  /// All or nothing: a non-finite loss, metric or total gradient norm stops
  /// the step before the optimizer applies it (NonFiniteError naming the step
  /// and the quantity), and any failure restores the weights, AdamW moments
  /// and random streams that the policy and trainer had when the call began.
  /// After the last step the weights and the last minibatch's loss are checked
  /// too, so a successful update never leaves non-finite outputs behind.
  /// Distributed: this rank's batch is its share of the global batch (the
  /// ranks' batches concatenated in rank order); every rank must call it.
  UpdateMetrics Update(const RolloutBatch& batch);
  bool distributed() const { return o_.distributed; }
  /// The same losses on the whole batch, without a step or dropout.
  UpdateMetrics Losses(const RolloutBatch& batch);
  const std::shared_ptr<Policy>& policy() const { return policy_; }

 private:
  struct Terms {
    torch::Tensor total;
    UpdateMetrics m;
  };
  Terms Compute(const RolloutBatch& mb, bool train, const Denominators* global = nullptr);
  UpdateMetrics Steps(const RolloutBatch& batch);
  UpdateMetrics UpdateDistributed(const RolloutBatch& batch);
  UpdateMetrics UpdateDistributedSteps(const RolloutBatch& batch);
  /// Throws NonFiniteError when the loss or a metric of `t` is not finite.
  void CheckTerms(const Terms& t, const std::string& where, const char* tail) const;
  std::shared_ptr<Policy> policy_;
  std::unique_ptr<Policy> reference_;
  TrainerOptions o_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::vector<torch::Tensor> params_;
  std::vector<std::string> param_names_;  // state_dict / adapter names of params_
  at::Generator gen_;
  int64_t policy_version_;
  bool synced_ = false;  // parameters broadcast from rank 0 (distributed)
  /// Sums params_' gradients over the group (made by the first distributed
  /// update, again when the group's bucket size changed).
  dist::GradReducer& Reducer();
  std::unique_ptr<dist::GradReducer> reducer_;
  std::size_t reducer_bucket_bytes_ = 0;
};

}  // namespace f2g

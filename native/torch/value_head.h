// Embodied value head (SPEC §4): Linear(H, Hh) → LayerNorm(Hh) → GELU →
// Linear(Hh, nBins) over the atoms z_b = b / (nBins − 1) of [0, 1], trained
// with cross-entropy against two-hot (or one-hot) targets.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "torch/distributed.h"
#include "torch/tcommon.h"

namespace f2g {

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct ValueHeadConfig {
  int64_t input_dim = 0;
  int64_t hidden_dim = 0;
  int64_t bins = 0;
  bool one_hot = false;
  std::uint64_t seed = 0;
};

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct FitOptions {
  int64_t epochs = 0;
  int64_t batch_size = 0;
  double lr = 0;
  double weight_decay = 0;
  bool cosine = false;
  std::uint64_t seed = 0;
  /// Data parallel over the process group: (h, v) is this rank's share of the
  /// global set (the ranks' sets concatenated in rank order).
  bool distributed = false;
  /// Checked before every optimizer step: once set, the fit stops with
  /// Cancelled and the head is restored as on any failure (null: never).
  const StopFlag* stop = nullptr;
};

class ValueHead {
 public:
  explicit ValueHead(const ValueHeadConfig& cfg);
  const ValueHeadConfig& config() const { return cfg_; }

  /// Target distributions [B, bins] of values v ∈ [0, 1] (two-hot or one-hot).
  torch::Tensor Targets(const torch::Tensor& v) const;
  torch::Tensor Logits(const torch::Tensor& h) const;
  /// Expectation Σ softmax(logits)·z, [B]. Rows of finite but huge hidden
  /// states are computed through an exact power-of-two rescale (see Logits);
  /// a row whose result still is not finite throws std::invalid_argument.
  torch::Tensor Predict(const torch::Tensor& h) const;
  torch::Tensor Distribution(const torch::Tensor& h) const;
  /// Mean cross-entropy against the targets of v (no gradient).
  double Loss(const torch::Tensor& h, const torch::Tensor& v) const;
  /// One AdamW step on the batch; returns the loss before the step. All or
  /// nothing, like Fit.
  double TrainStep(const torch::Tensor& h, const torch::Tensor& v, double lr, double weight_decay);
  /// Epochs of shuffled minibatches; returns the mean loss of each epoch.
  /// The whole fit is one transaction: a non-finite loss or gradient norm
  /// stops the step before AdamW applies it (NonFiniteError naming the epoch,
  /// minibatch and quantity); after the last step the weights and the loss
  /// on (up to 64 rows of) the last minibatch are checked. On any failure the weights and the AdamW
  /// state return to what they were when Fit began (epochs already reported
  /// through `progress` are undone too). A set `o.stop` ends the fit before
  /// its next optimizer step (Cancelled), restored likewise.
  std::vector<double> Fit(const torch::Tensor& h, const torch::Tensor& v, const FitOptions& o,
                          const std::function<void(int64_t, int64_t, double)>& progress);

  NamedTensors StateDict() const;
  /// Copies tensors in; names and shapes must equal StateDict()'s exactly.
  void LoadStateDict(const NamedTensors& src);

  std::atomic<bool> busy{false};

 private:
  std::vector<torch::Tensor> Params() const;
  /// `denom` > 0: the loss is Σ/denom (this rank's part of a global mean) and
  /// the gradients are summed over the process group before the step.
  double Step(const torch::Tensor& h, const torch::Tensor& target, double lr, double wd,
              const std::string& where, double denom = 0);
  /// Throws NonFiniteError when a weight, or the loss on the first rows of (h, target), is not finite.
  void CheckAfter(const torch::Tensor& h, const torch::Tensor& target, const std::string& last,
                  const char* batch) const;
  /// Runs body(); on any exception restores the weights and optimizer state.
  template <typename F>
  auto Transaction(F&& body) -> decltype(body());
  static const char* kStopped;
  static const char* kRestored;
  std::vector<double> FitDistributed(const torch::Tensor& h, const torch::Tensor& targets,
                                     const FitOptions& o,
                                     const std::function<void(int64_t, int64_t, double)>& progress);
  std::vector<double> FitDistributedSteps(const torch::Tensor& h, const torch::Tensor& targets,
                                          const FitOptions& o,
                                          const std::function<void(int64_t, int64_t, double)>& progress);
  ValueHeadConfig cfg_;
  torch::Tensor w1_, b1_, ln_w_, ln_b_, w2_, b2_, atoms_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  /// Sums the gradients over the group (made by the first distributed step,
  /// again when the group's bucket size changed).
  std::unique_ptr<dist::GradReducer> reducer_;
  std::size_t reducer_bucket_bytes_ = 0;
};

}  // namespace f2g

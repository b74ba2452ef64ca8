// Policy built from a spec (SPEC §9): an MLP trunk, a Gaussian (optionally
// tanh-squashed) or categorical head, an optional critic MLP; LoRA adapters
// on chosen linear layers with the base frozen. Parameter names follow
// PyTorch's state_dict (`trunk.0.weight`, `head.mean.bias`, `critic.4.weight`).
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "torch/tcommon.h"

namespace f2g {

/// Bound of |logStdMin| and |logStdMax|: e^±40 and its square stay finite in float32.
constexpr double kMaxLogStd = 40.0;

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct PolicySpec {
  int64_t obs_dim = 0;
  std::vector<int64_t> hidden;
  std::string activation;
  bool categorical = false;
  // Gaussian head
  int64_t action_dim = 0;
  bool state_dependent_std = false;
  bool squash = false;
  double init_log_std = 0, log_std_min = 0, log_std_max = 0;
  // categorical head: action_dims tokens of `bins` classes
  int64_t action_dims = 0, bins = 0;
  bool critic = false;
  std::vector<int64_t> critic_hidden;
  std::string critic_activation;
  std::uint64_t seed = 0;
};

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct LoraConfig {
  int64_t rank = 0;
  double alpha = 0;
  double dropout = 0;
  std::vector<std::string> targets;
  bool rslora = false;
  std::uint64_t seed = 0;
};

struct LinearLayer {
  std::string path;
  torch::Tensor w, b;
  bool lora = false;
  torch::Tensor A, B;
  double scale = 0, dropout = 0;
  torch::Tensor Forward(const torch::Tensor& x, bool train, at::Generator* g) const;
};

class Policy {
 public:
  explicit Policy(const PolicySpec& spec);
  /// Deep copy of the current weights (adapters included), e.g. a frozen reference.
  std::unique_ptr<Policy> Clone() const;

  const PolicySpec& spec() const { return spec_; }
  /// Values per action row: action_dim (Gaussian) or action_dims (categorical).
  int64_t ActionWidth() const { return spec_.categorical ? spec_.action_dims : spec_.action_dim; }
  std::vector<const LinearLayer*> Linears() const;
  bool HasAdapters() const;
  /// Bumped whenever the set of trainable tensors changes (adapters added/merged).
  int64_t version() const { return version_; }

  NamedTensors StateDict() const;
  void LoadStateDict(const NamedTensors& src);
  void AddLora(const LoraConfig& c);
  void MergeAdapters();
  NamedTensors AdapterState() const;  // "<path>.lora_A.weight" [r,in], "<path>.lora_B.weight" [out,r]
  void LoadAdapterState(const NamedTensors& src);

  struct Eval {
    torch::Tensor logp, entropy, values;
  };
  /// Log-probabilities of `actions` [N, width], entropies and values, all [N].
  Eval Evaluate(const torch::Tensor& obs, const torch::Tensor& actions, bool train, at::Generator* g) const;
  struct ActOut {
    torch::Tensor actions, logp, values;
  };
  /// Throws std::invalid_argument naming the first observation row whose
  /// action, log-probability or value is not finite (e.g. an overflowing obs).
  ActOut Act(const torch::Tensor& obs, bool deterministic);
  /// Mean of a Gaussian head before any squashing, [N, action_dim] (with gradient when enabled).
  torch::Tensor Mean(const torch::Tensor& obs, bool train, at::Generator* g) const;

  std::vector<torch::Tensor> ActorParams() const;
  std::vector<torch::Tensor> CriticParams() const;
  /// Names of the tensors an update changes.
  std::vector<std::string> TrainableNames() const;

  std::atomic<bool> busy{false};
  at::Generator gen;

 private:
  Policy() = default;
  LinearLayer* Find(const std::string& path);
  std::vector<LinearLayer*> AllLinears();
  torch::Tensor Mlp(const std::vector<LinearLayer>& layers, const std::string& act, torch::Tensor x,
                    bool last_linear, bool train, at::Generator* g) const;
  void UpdateRequiresGrad();

  PolicySpec spec_;
  std::vector<LinearLayer> trunk_, critic_;
  LinearLayer mean_, log_std_layer_, logits_;
  torch::Tensor log_std_;  // state-independent log-std [action_dim]
  int64_t version_ = 0;
};

}  // namespace f2g

#include "torch/bc.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace f2g {

namespace {

std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

const char* kStopped = "; training was stopped before that step and the policy is as before the call";

}  // namespace

BcResult FitBehaviourCloning(Policy& policy, const torch::Tensor& obs, const torch::Tensor& actions,
                             const BcOptions& o, const std::function<void(int64_t, int64_t, double)>& progress) {
  TorchThreadsHere();
  const PolicySpec& spec = policy.spec();
  if (o.mse && spec.categorical)
    throw std::invalid_argument("Expected a Gaussian head for loss 'mse' but the policy is categorical; use loss 'nll'");
  const int64_t n = obs.size(0);
  if (n < 1) throw std::invalid_argument("Expected at least one demonstration step");
  std::vector<torch::Tensor> params = policy.ActorParams();
  if (params.empty()) throw std::invalid_argument("The policy has no trainable actor parameters");
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  // The weights and the policy's random stream (adapter dropout) as the call found them.
  TrainSnapshot snapshot(params, nullptr, {&policy.gen});
  at::Generator g = MakeGen(o.seed);
  const int64_t bs = std::min<int64_t>(o.batch_size, n);
  const int64_t per_epoch = (n + bs - 1) / bs;
  const int64_t total = per_epoch * o.epochs;
  auto where = [&](int64_t e, int64_t s) {
    return "epoch " + std::to_string(e + 1) + " of " + std::to_string(o.epochs) + ", minibatch " +
           std::to_string(s + 1) + " of " + std::to_string(per_epoch) + " (optimizer step " +
           std::to_string(e * per_epoch + s + 1) + " of " + std::to_string(total) + ")";
  };
  auto param_name = [&](int64_t i) -> std::string {
    const torch::Tensor& t = params[static_cast<std::size_t>(i)];
    for (auto& [name, s] : policy.StateDict())
      if (s.is_same(t)) return "'" + name + "'";
    return "actor tensor " + std::to_string(i);
  };
  BcResult r;
  try {
    for (int64_t e = 0; e < o.epochs; ++e) {
      torch::Tensor perm = at::randperm(n, g);
      double sum = 0;
      for (int64_t s = 0; s < per_epoch; ++s) {
        torch::Tensor idx = perm.slice(0, s * bs, std::min(n, (s + 1) * bs));
        torch::Tensor x = obs.index_select(0, idx), a = actions.index_select(0, idx);
        torch::Tensor loss;
        if (o.mse) {
          torch::Tensor target = spec.squash ? torch::atanh(torch::clamp(a, -1.0 + 1e-6, 1.0 - 1e-6)) : a;
          loss = (policy.Mean(x, true, &policy.gen) - target).pow(2).sum(-1).mean();
        } else {
          loss = -policy.Evaluate(x, a, true, &policy.gen).logp.mean();
        }
        opt.zero_grad();
        const double value = loss.item<double>();
        if (!std::isfinite(value)) throw NonFiniteError("Non-finite loss (" + Num(value) + ") at " + where(e, s) + kStopped);
        loss.backward();
        const double norm = std::sqrt(GradNormSquared(params));
        if (!std::isfinite(norm)) {
          const int64_t i = FirstNonFinite(params, true);
          throw NonFiniteError((i >= 0 ? "Non-finite gradient of " + param_name(i) : std::string("Non-finite total gradient norm")) +
                               " at " + where(e, s) + " (total gradient norm " + Num(norm) + ")" + kStopped);
        }
        if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
        opt.step();
        ++r.steps;
        sum += value * static_cast<double>(idx.size(0));
      }
      r.epoch_loss.push_back(sum / static_cast<double>(n));
      if (progress) progress(e + 1, o.epochs, r.epoch_loss.back());
    }
    const int64_t bad = FirstNonFinite(params, false);
    if (bad >= 0)
      throw NonFiniteError("Non-finite weight " + param_name(bad) + " after " + where(o.epochs - 1, per_epoch - 1) +
                           "; the policy is as before the call");
  } catch (...) {
    snapshot.Restore();
    throw;
  }
  return r;
}

}  // namespace f2g

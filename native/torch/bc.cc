#include "torch/bc.h"

#include <cmath>
#include <stdexcept>

namespace f2g {

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
  // The weights the fit starts from, restored if anything throws midway.
  std::vector<torch::Tensor> start;
  {
    torch::NoGradGuard ng;
    for (const torch::Tensor& p : params) start.push_back(p.detach().clone());
  }
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  at::Generator g = MakeGen(o.seed);
  const int64_t bs = std::min<int64_t>(o.batch_size, n);
  const int64_t per_epoch = (n + bs - 1) / bs;
  BcResult r;
  try {
    for (int64_t e = 0; e < o.epochs; ++e) {
      torch::Tensor perm = at::randperm(n, g);
      double sum = 0, rows = 0;
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
        const double lv = loss.item<double>();
        bool ok = std::isfinite(lv);
        if (ok) {
          loss.backward();
          const double norm = torch::nn::utils::clip_grad_norm_(
              params, o.max_grad_norm > 0 ? o.max_grad_norm : std::numeric_limits<double>::infinity());
          ok = std::isfinite(norm);
        }
        if (!ok) {
          opt.zero_grad();
          ++r.skipped;
          continue;
        }
        opt.step();
        ++r.steps;
        sum += lv * static_cast<double>(idx.size(0));
        rows += static_cast<double>(idx.size(0));
      }
      r.epoch_loss.push_back(rows > 0 ? sum / rows : std::nan(""));
      if (progress) progress(e + 1, o.epochs, r.epoch_loss.back());
    }
  } catch (...) {
    torch::NoGradGuard ng;
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(start[i]);
    throw;
  }
  return r;
}

}  // namespace f2g

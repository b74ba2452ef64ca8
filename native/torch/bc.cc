#include "torch/bc.h"

#include "torch/distributed.h"

#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace f2g {

namespace {

const char* kStopped = "; training was stopped before that step and the policy is as before the call";

}  // namespace

BcResult FitBehaviourCloning(Policy& policy, const torch::Tensor& obs, const torch::Tensor& actions,
                             const BcOptions& o,
                             const std::function<void(int64_t, int64_t, double)>& progress) {
  TorchThreadsHere();
  const PolicySpec& spec = policy.spec();
  if (o.mse && spec.categorical)
    throw std::invalid_argument(
        "Expected a Gaussian head for loss 'mse' but the policy is categorical; use loss 'nll'");
  const int64_t n = obs.size(0);
  if (o.distributed && !dist::IsInitialized())
    throw std::runtime_error(
        "fitBehaviourCloning: distributed is set but no process group is initialised; call initDistributed() first");
  if (n < 1 && !o.distributed) throw std::invalid_argument("Expected at least one demonstration step");
  std::vector<torch::Tensor> params = policy.ActorParams();
  if (params.empty()) throw std::invalid_argument("The policy has no trainable actor parameters");
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
  // Distributed fits start from rank 0's whole policy (the critic too, so every
  // rank holds the same model afterwards).
  std::vector<torch::Tensor> all;
  if (o.distributed)
    for (auto& kv : policy.StateDict()) all.push_back(kv.second);
  // The weights and the policy's random stream (adapter dropout) as the call found them.
  TrainSnapshot snapshot(o.distributed ? all : params, nullptr, {&policy.gen});
  at::Generator g = MakeGen(o.seed);
  BcResult r;
  try {
    // Data parallel: this rank holds rows [offset, offset + n) of the global set of G rows.
    int64_t offset = 0, G = n;
    if (o.distributed) {
      dist::BroadcastTensors(all, "fitBehaviourCloning (parameter broadcast from rank 0)");
      const std::vector<int64_t> sizes = dist::GatherSizes(n, "fitBehaviourCloning (set sizes)");
      G = 0;
      for (std::size_t k = 0; k < sizes.size(); ++k) {
        if (static_cast<int64_t>(k) < dist::Rank()) offset += sizes[k];
        G += sizes[k];
      }
      if (G < 1) throw std::invalid_argument("Expected at least one demonstration step over all ranks");
    }
    std::optional<dist::GradReducer> reducer;
    if (o.distributed) reducer.emplace(params, "fitBehaviourCloning (gradient all-reduce)");
    const int64_t bs = std::min<int64_t>(o.batch_size, G);
    const int64_t per_epoch = (G + bs - 1) / bs;
    const int64_t total = per_epoch * o.epochs;
    auto where = [&](int64_t e, int64_t s) {
      return "epoch " + std::to_string(e + 1) + " of " + std::to_string(o.epochs) + ", minibatch " +
             std::to_string(s + 1) + " of " + std::to_string(per_epoch) + " (optimizer step " +
             std::to_string(e * per_epoch + s + 1) + " of " + std::to_string(total) + ")";
    };
    auto param_name = [&](int64_t i) -> std::string {
      const torch::Tensor& t = params[static_cast<std::size_t>(i)];
      for (auto& [name, st] : policy.StateDict())
        if (st.is_same(t)) return "'" + name + "'";
      return "actor tensor " + std::to_string(i);
    };
    auto loss_of = [&](const torch::Tensor& x, const torch::Tensor& a) {
      if (o.mse) {
        torch::Tensor target = spec.squash ? torch::atanh(torch::clamp(a, -1.0 + 1e-6, 1.0 - 1e-6)) : a;
        return (policy.Mean(x, true, &policy.gen) - target).pow(2).sum(-1);
      }
      return -policy.Evaluate(x, a, true, &policy.gen).logp;
    };
    for (int64_t e = 0; e < o.epochs; ++e) {
      torch::Tensor perm = at::randperm(G, g);
      double sum = 0;
      for (int64_t s = 0; s < per_epoch; ++s) {
        dist::StopPoint(o.stop, "fitBehaviourCloning", o.distributed);
        const int64_t lo = s * bs, hi = std::min(G, (s + 1) * bs);
        const double count = static_cast<double>(hi - lo);
        opt.zero_grad();
        double value;
        if (o.distributed) {
          // This rank's part of the minibatch mean; the summed loss and
          // gradients are alike on every rank, so all ranks stop together.
          // The loss is summed first, so that backward (during which the
          // gradient all-reduce starts) runs only when every rank steps.
          torch::Tensor idx = dist::LocalShare(perm.slice(0, lo, hi), offset, n);
          std::vector<double> part{0.0};
          torch::Tensor loss;
          if (idx.size(0) > 0) {
            loss = loss_of(obs.index_select(0, idx), actions.index_select(0, idx)).sum() / count;
            part[0] = loss.item<double>();
          }
          dist::AllReduceSum(part, "fitBehaviourCloning (minibatch loss)");
          value = part[0];
          if (!std::isfinite(value))
            throw NonFiniteError("Non-finite loss (" + Num(value) + ") summed over the ranks at " +
                                 where(e, s) + kStopped);
          if (loss.defined()) reducer->Backward(loss);
          reducer->Finish();
        } else {
          torch::Tensor idx = perm.slice(0, lo, hi);
          torch::Tensor loss = loss_of(obs.index_select(0, idx), actions.index_select(0, idx)).mean();
          value = loss.item<double>();
          if (!std::isfinite(value))
            throw NonFiniteError("Non-finite loss (" + Num(value) + ") at " + where(e, s) + kStopped);
          loss.backward();
        }
        const double norm = std::sqrt(GradNormSquared(params));
        if (!std::isfinite(norm)) {
          const int64_t i = FirstNonFinite(params, true);
          throw NonFiniteError((i >= 0 ? "Non-finite gradient of " + param_name(i)
                                       : std::string("Non-finite total gradient norm")) +
                               (o.distributed ? " summed over the ranks" : "") + " at " + where(e, s) +
                               " (total gradient norm " + Num(norm) + ")" + kStopped);
        }
        if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
        opt.step();
        ++r.steps;
        sum += value * count;
      }
      r.epoch_loss.push_back(sum / static_cast<double>(G));
      if (progress) progress(e + 1, o.epochs, r.epoch_loss.back());
    }
    const int64_t bad = FirstNonFinite(params, false);
    if (bad >= 0)
      throw NonFiniteError("Non-finite weight " + param_name(bad) + " after " +
                           where(o.epochs - 1, per_epoch - 1) + "; the policy is as before the call");
  } catch (...) {
    snapshot.Restore();
    throw;
  }
  return r;
}

}  // namespace f2g

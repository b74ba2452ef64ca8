#include "torch/trainer.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "torch/distributed.h"

namespace f2g {

namespace {

/// "epoch 2 of 4, minibatch 3 of 4 (optimizer step 7 of 16)"
std::string StepName(int64_t e, int64_t epochs, int64_t k, int64_t minibatches) {
  return "epoch " + std::to_string(e + 1) + " of " + std::to_string(epochs) + ", minibatch " +
         std::to_string(k + 1) + " of " + std::to_string(minibatches) + " (optimizer step " +
         std::to_string(e * minibatches + k + 1) + " of " + std::to_string(epochs * minibatches) + ")";
}

const char* kUnchanged =
    "; the update was stopped before that step and the policy, its optimizer state and random streams are as before "
    "the update";
const char* kAllMasked =
    "Expected at least one 1 in batch.mask but received no ones (every step masked out, on every rank): an update "
    "would have nothing to learn from; the policy and its optimizer state are unchanged";
const char* kRestored = "; the policy, its optimizer state and random streams are as before the update";

}  // namespace

torch::Tensor Aggregate(const torch::Tensor& l, const torch::Tensor& m, Aggregation mode) {
  if (mode == Aggregation::kTokenMean) return (l * m).sum() / m.sum().clamp_min(1.0);
  torch::Tensor per_seq_mask = m.sum(1);
  torch::Tensor s = (l * m).sum(1);
  if (mode == Aggregation::kSeqMeanTokenMean) s = s / per_seq_mask.clamp_min(1.0);
  torch::Tensor valid = (per_seq_mask > 0).to(torch::kFloat32);
  return (s * valid).sum() / valid.sum().clamp_min(1.0);
}

Trainer::Trainer(std::shared_ptr<Policy> policy, const TrainerOptions& o)
    : policy_(std::move(policy)), o_(o), gen_(MakeGen(o.seed)), policy_version_(policy_->version()) {
  TorchThreadsHere();
  if (o_.use_critic && !policy_->spec().critic)
    throw std::invalid_argument("The policy has no critic: build it with a critic or set valueCoef to 0");
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<torch::Tensor> actor = policy_->ActorParams();
  params_ = actor;
  if (!actor.empty())
    groups.emplace_back(actor, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(o_.actor_lr).weight_decay(o_.weight_decay)));
  if (o_.use_critic) {
    std::vector<torch::Tensor> critic = policy_->CriticParams();
    params_.insert(params_.end(), critic.begin(), critic.end());
    if (!critic.empty())
      groups.emplace_back(critic,
                          std::make_unique<torch::optim::AdamWOptions>(
                              torch::optim::AdamWOptions(o_.critic_lr).weight_decay(o_.weight_decay)));
  }
  if (groups.empty()) throw std::invalid_argument("The policy has no trainable parameters");
  opt_ = std::make_unique<torch::optim::AdamW>(
      groups, torch::optim::AdamWOptions(o_.actor_lr).weight_decay(o_.weight_decay));
  if (o_.kl_coef > 0) reference_ = policy_->Clone();
  NamedTensors named = policy_->StateDict();
  for (auto& nt : policy_->AdapterState()) named.push_back(nt);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    std::string name = "parameter " + std::to_string(i);
    for (auto& [n, t] : named)
      if (t.unsafeGetTensorImpl() == params_[i].unsafeGetTensorImpl()) name = n;
    param_names_.push_back(name);
  }
}

static torch::Tensor MaskOf(const RolloutBatch& b) {
  return b.mask.defined() ? b.mask : torch::ones({b.B, b.T}, torch::kFloat32);
}

static Denominators Local(const RolloutBatch& b) {
  if (b.B == 0) return {};
  torch::Tensor m = MaskOf(b);
  return {m.sum().item<double>(), (m.sum(1) > 0).sum().item<double>()};
}

// Σ over sequences / steps of the aggregation's terms, before the division.
static torch::Tensor AggregateSum(const torch::Tensor& l, const torch::Tensor& m, Aggregation mode) {
  if (mode == Aggregation::kTokenMean) return (l * m).sum();
  torch::Tensor per_seq_mask = m.sum(1);
  torch::Tensor s = (l * m).sum(1);
  if (mode == Aggregation::kSeqMeanTokenMean) s = s / per_seq_mask.clamp_min(1.0);
  return (s * (per_seq_mask > 0).to(torch::kFloat32)).sum();
}

Trainer::Terms Trainer::Compute(const RolloutBatch& mb, bool train, const Denominators* global) {
  const int64_t n = mb.B * mb.T;
  const torch::Tensor obs = mb.obs.reshape({n, -1});
  const torch::Tensor act = mb.actions.reshape({n, -1});
  Policy::Eval e = policy_->Evaluate(obs, act, train, &policy_->gen);
  const torch::Tensor m = MaskOf(mb);
  const torch::Tensor logp = e.logp.view({mb.B, mb.T});
  // Clamped before exp so that finite but stale old log-probs cannot overflow ρ.
  const torch::Tensor log_ratio = (logp - mb.old_logp).clamp_max(kMaxLogRatio);
  const torch::Tensor ratio = torch::exp(log_ratio);
  const torch::Tensor& adv = mb.advantages;
  const torch::Tensor s1 = ratio * adv;
  const torch::Tensor s2 = torch::clamp(ratio, 1.0 - o_.clip_low, 1.0 + o_.clip_high) * adv;
  torch::Tensor l = -torch::min(s1, s2);
  if (o_.dual_clip > 0) l = torch::where(adv < 0, torch::min(l, o_.dual_clip * adv.abs()), l);
  Terms t;
  torch::Tensor pg;
  torch::Tensor msum;
  if (global) {
    const double den = o_.aggregation == Aggregation::kTokenMean ? global->tokens : global->seqs;
    pg = AggregateSum(l, m, o_.aggregation) / std::max(den, 1.0);
    msum = torch::full({}, std::max(global->tokens, 1.0), torch::kFloat32);
  } else {
    pg = Aggregate(l, m, o_.aggregation);
    msum = m.sum().clamp_min(1.0);
  }
  torch::Tensor ent = (e.entropy.view({mb.B, mb.T}) * m).sum() / msum;
  t.total = pg - o_.entropy_coef * ent;
  if (o_.use_critic) {
    torch::Tensor v = e.values.view({mb.B, mb.T});
    torch::Tensor err = (v - mb.returns).pow(2);
    if (o_.value_clip > 0) {
      torch::Tensor vc = mb.old_values + torch::clamp(v - mb.old_values, -o_.value_clip, o_.value_clip);
      err = torch::max(err, (vc - mb.returns).pow(2));
    }
    torch::Tensor vl = 0.5 * (err * m).sum() / msum;
    t.total = t.total + o_.value_coef * vl;
    t.m.value_loss = vl.item<double>();
  }
  if (o_.kl_coef > 0) {
    torch::Tensor ref;
    {
      torch::NoGradGuard ng;
      ref = reference_->Evaluate(obs, act, false, nullptr).logp.view({mb.B, mb.T});
    }
    torch::Tensor d = (ref - logp).clamp_max(kMaxLogRatio);
    torch::Tensor k3 = ((torch::exp(d) - d - 1.0) * m).sum() / msum;
    t.total = t.total + o_.kl_coef * k3;
    t.m.kl = k3.item<double>();
  }
  {
    torch::NoGradGuard ng;
    t.m.policy_loss = pg.item<double>();
    t.m.entropy = ent.item<double>();
    t.m.clip_fraction = (((s2 < s1).to(torch::kFloat32)) * m).sum().item<double>() / msum.item<double>();
    t.m.approx_kl = ((((ratio - 1.0) - log_ratio)) * m).sum().item<double>() / msum.item<double>();
    t.m.loss = t.total.item<double>();
  }
  return t;
}

static RolloutBatch Slice(const RolloutBatch& b, const torch::Tensor& idx) {
  RolloutBatch mb;
  mb.B = idx.size(0);
  mb.T = b.T;
  auto pick = [&idx](const torch::Tensor& t) { return t.defined() ? t.index_select(0, idx) : t; };
  mb.obs = pick(b.obs);
  mb.actions = pick(b.actions);
  mb.old_logp = pick(b.old_logp);
  mb.advantages = pick(b.advantages);
  mb.returns = pick(b.returns);
  mb.old_values = pick(b.old_values);
  mb.mask = pick(b.mask);
  return mb;
}

void Trainer::CheckTerms(const Terms& t, const std::string& where, const char* tail) const {
  const std::pair<const char*, double> parts[] = {
      {"policyLoss", t.m.policy_loss}, {"valueLoss", t.m.value_loss},
      {"entropy", t.m.entropy},        {"kl", t.m.kl},
      {"approxKl", t.m.approx_kl},     {"clipFraction", t.m.clip_fraction}};
  std::string bad;
  for (auto& [name, v] : parts)
    if (!std::isfinite(v)) bad += std::string(bad.empty() ? "" : ", ") + name + " = " + Num(v);
  if (!std::isfinite(t.m.loss))
    throw NonFiniteError("Non-finite loss (" + Num(t.m.loss) + ") at " + where +
                         (bad.empty() ? std::string() : " from " + bad) + tail);
  if (!bad.empty()) throw NonFiniteError("Non-finite metric " + bad + " at " + where + tail);
}

UpdateMetrics Trainer::Update(const RolloutBatch& batch) {
  TorchThreadsHere();
  if (policy_->version() != policy_version_)
    throw std::runtime_error(
        "The policy's adapters changed after this trainer was created; create a new trainer");
  if (o_.distributed) return UpdateDistributed(batch);
  if (o_.minibatches > batch.B)
    throw std::invalid_argument("Expected minibatches ≤ the batch's sequence count " +
                                std::to_string(batch.B) + " but received " + std::to_string(o_.minibatches));
  TrainSnapshot snapshot(params_, opt_.get(), {&gen_, &policy_->gen});
  try {
    return Steps(batch);
  } catch (...) {
    snapshot.Restore();
    throw;
  }
}

UpdateMetrics Trainer::Steps(const RolloutBatch& batch) {
  UpdateMetrics sum;
  RolloutBatch last;
  std::string last_step;
  for (int64_t e = 0; e < o_.epochs; ++e) {
    torch::Tensor perm = at::randperm(batch.B, gen_);
    for (int64_t k = 0; k < o_.minibatches; ++k) {
      const int64_t lo = batch.B * k / o_.minibatches, hi = batch.B * (k + 1) / o_.minibatches;
      RolloutBatch mb = Slice(batch, perm.slice(0, lo, hi));
      // A minibatch whose steps are all masked out has nothing to learn from: no AdamW step
      // (which would still move the weights by its moments and weight decay, and count a step).
      if (mb.mask.defined() && Local(mb).tokens == 0) continue;
      const std::string where = StepName(e, o_.epochs, k, o_.minibatches);
      Terms t = Compute(mb, true);
      CheckTerms(t, where, kUnchanged);
      opt_->zero_grad();
      t.total.backward();
      double norm = torch::nn::utils::clip_grad_norm_(
          params_, o_.max_grad_norm > 0 ? o_.max_grad_norm : std::numeric_limits<double>::infinity());
      if (!std::isfinite(norm)) {
        const int64_t i = FirstNonFinite(params_, true);
        throw NonFiniteError(
            i >= 0 ? "Non-finite gradient of '" + param_names_[static_cast<std::size_t>(i)] + "' at " +
                         where + " (total gradient norm " + Num(norm) + ")" + kUnchanged
                   : "Non-finite total gradient norm (" + Num(norm) + ") at " + where + kUnchanged);
      }
      opt_->step();
      last = std::move(mb);
      last_step = where;
      sum.policy_loss += t.m.policy_loss;
      sum.value_loss += t.m.value_loss;
      sum.entropy += t.m.entropy;
      sum.clip_fraction += t.m.clip_fraction;
      sum.approx_kl += t.m.approx_kl;
      sum.kl += t.m.kl;
      sum.loss += t.m.loss;
      sum.grad_norm += norm;
      ++sum.steps;
    }
  }
  if (sum.steps == 0) throw std::invalid_argument(kAllMasked);
  // The last step's result has not been looked at yet: its weights, and the
  // loss they give on the last minibatch (one forward pass, no dropout).
  const int64_t bad = FirstNonFinite(params_, false);
  if (bad >= 0)
    throw NonFiniteError("Non-finite weight '" + param_names_[static_cast<std::size_t>(bad)] + "' after " +
                         last_step + kRestored);
  {
    torch::NoGradGuard ng;
    Terms t = Compute(last, false);
    CheckTerms(t, "the last minibatch with the weights after " + last_step, kRestored);
  }
  const double n = static_cast<double>(sum.steps);
  for (double* p : {&sum.policy_loss, &sum.value_loss, &sum.entropy, &sum.clip_fraction, &sum.approx_kl,
                    &sum.kl, &sum.loss, &sum.grad_norm})
    *p /= n;
  return sum;
}

// Data parallel: one permutation of the global batch from the shared seed
// (the same on every rank, and the same a single rank holding the whole batch
// draws); each rank takes the members of each global minibatch that it holds,
// scales its loss by the global minibatch's denominators, and the ranks'
// gradients are summed. So every step equals the single-rank step on the
// whole minibatch up to float summation order, and every rank applies the same
// update (identical parameters after every step).
UpdateMetrics Trainer::UpdateDistributed(const RolloutBatch& batch) {
  if (!dist::IsInitialized())
    throw std::runtime_error(
        "update: the trainer is distributed but no process group is initialised; call initDistributed() first");
  // A collective can fail part-way (a rank died): the update is then undone
  // (weights, AdamW state, shuffling generator), so a failed update leaves
  // the model as it was.
  TrainSnapshot snapshot(params_, opt_.get(), {&gen_, &policy_->gen});
  const bool saved_synced = synced_;
  try {
    return UpdateDistributedSteps(batch);
  } catch (...) {
    snapshot.Restore();
    synced_ = saved_synced;
    throw;
  }
}

dist::GradReducer& Trainer::Reducer() {
  const std::size_t bytes = dist::BucketBytes();
  if (!reducer_ || reducer_bucket_bytes_ != bytes) {
    reducer_ = std::make_unique<dist::GradReducer>(params_, "update (gradient all-reduce)", bytes);
    reducer_bucket_bytes_ = bytes;
  }
  return *reducer_;
}

UpdateMetrics Trainer::UpdateDistributedSteps(const RolloutBatch& batch) {
  if (!synced_) {
    std::vector<torch::Tensor> all;
    for (auto& kv : policy_->StateDict()) all.push_back(kv.second);
    if (reference_)
      for (auto& kv : reference_->StateDict()) all.push_back(kv.second);
    dist::BroadcastTensors(all, "update (parameter broadcast from rank 0)");
    synced_ = true;
  }
  const std::vector<int64_t> sizes = dist::GatherSizes(batch.B, "update (batch sizes)");
  const int64_t rank = dist::Rank();
  int64_t offset = 0, G = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    if (static_cast<int64_t>(r) < rank) offset += sizes[r];
    G += sizes[r];
  }
  if (o_.minibatches > G)
    throw std::invalid_argument("Expected minibatches ≤ the global batch's sequence count " +
                                std::to_string(G) + " but received " + std::to_string(o_.minibatches));
  const int64_t M = o_.minibatches;
  dist::GradReducer& reducer = Reducer();
  UpdateMetrics sum;
  std::vector<double> partial(7, 0.0);
  for (int64_t e = 0; e < o_.epochs; ++e) {
    torch::Tensor perm = at::randperm(G, gen_);
    std::vector<RolloutBatch> mbs;
    std::vector<double> den(static_cast<std::size_t>(2 * M), 0.0);
    for (int64_t k = 0; k < M; ++k) {
      const int64_t lo = G * k / M, hi = G * (k + 1) / M;
      mbs.push_back(Slice(batch, dist::LocalShare(perm.slice(0, lo, hi), offset, batch.B)));
      Denominators d = Local(mbs.back());
      den[static_cast<std::size_t>(2 * k)] = d.tokens;
      den[static_cast<std::size_t>(2 * k + 1)] = d.seqs;
    }
    dist::AllReduceSum(den, "update (minibatch sizes)");
    for (int64_t k = 0; k < M; ++k) {
      const Denominators d{den[static_cast<std::size_t>(2 * k)], den[static_cast<std::size_t>(2 * k + 1)]};
      // every step of this global minibatch is masked out: no step, on every rank alike (d is global)
      if (d.tokens == 0) continue;
      opt_->zero_grad();
      if (mbs[static_cast<std::size_t>(k)].B > 0) {
        Terms t = Compute(mbs[static_cast<std::size_t>(k)], true, &d);
        // The gradient all-reduce starts bucket by bucket while backward runs.
        reducer.Backward(t.total);
        const double v[7] = {t.m.policy_loss, t.m.value_loss, t.m.entropy, t.m.clip_fraction,
                             t.m.approx_kl,   t.m.kl,         t.m.loss};
        for (int i = 0; i < 7; ++i) partial[static_cast<std::size_t>(i)] += v[i];
      }
      reducer.Finish();
      // The summed gradients are the same on every rank, so this check stops all ranks together.
      const double norm = torch::nn::utils::clip_grad_norm_(
          params_, o_.max_grad_norm > 0 ? o_.max_grad_norm : std::numeric_limits<double>::infinity());
      if (!std::isfinite(norm))
        throw NonFiniteError("Non-finite total gradient norm (" + Num(norm) + ") summed over the ranks at " +
                             StepName(e, o_.epochs, k, M) + kUnchanged);
      sum.grad_norm += norm;
      opt_->step();
      ++sum.steps;
    }
  }
  // sum.steps is the same on every rank (the skips follow the global minibatch sizes): all throw together
  if (sum.steps == 0) throw std::invalid_argument(kAllMasked);
  dist::AllReduceSum(partial, "update (metrics)");
  const double n = static_cast<double>(sum.steps);
  sum.policy_loss = partial[0] / n;
  sum.value_loss = partial[1] / n;
  sum.entropy = partial[2] / n;
  sum.clip_fraction = partial[3] / n;
  sum.approx_kl = partial[4] / n;
  sum.kl = partial[5] / n;
  sum.loss = partial[6] / n;
  sum.grad_norm /= n;
  return sum;
}

UpdateMetrics Trainer::Losses(const RolloutBatch& batch) {
  TorchThreadsHere();
  torch::NoGradGuard ng;
  Terms t = Compute(batch, false);
  t.m.steps = 0;
  return t.m;
}

}  // namespace f2g

// N-API class TrainerNative over f2g::Trainer (SPEC §8): PPO / GRPO updates
// of a PolicyNative. The TS layer (src/torch/trainer.ts) resolves and
// validates every option once and sends each one; this layer re-checks every
// size it reads. update(batch, { B, T, cancel? }) reads the batch's host memory or
// SharedArrayBuffers in place and copies the rest (AsyncTensor): the caller
// may detach its buffers meanwhile. A set cancel flag (CallStopArg) ends it
// before its next optimizer step, with the policy and trainer restored.
#include <memory>
#include <optional>

#include "bindings/torch/policy.h"
#include "bindings/torch/tensors.h"
#include "kernels/rl_modes.h"
#include "torch/distributed.h"
#include "torch/trainer.h"

namespace f2g {
namespace {

class TrainerWrap : public GuardedWrap<TrainerWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "TrainerNative",
        {GuardedMethod<&TrainerWrap::UpdateSync>("updateSync"), GuardedMethod<&TrainerWrap::Update>("update"),
         GuardedMethod<&TrainerWrap::Losses>("losses")});
    exports.Set("TrainerNative", cls);
  }

  // new TrainerNative(input: { policy: PolicyNative }, opts)
  explicit TrainerWrap(const Napi::CallbackInfo& info) : GuardedWrap<TrainerWrap>(info) {
    Guard(info.Env(), "TrainerNative", [&] {
      std::shared_ptr<Policy> policy = PolicyArg(Fields(info[0], "input").Maybe("policy"), "policy");
      Fields o(info[1], "opts");
      TrainerOptions t;
      t.clip_low = o.Number("clipLow");
      t.clip_high = o.Number("clipHigh");
      t.dual_clip = o.Number("dualClip");
      t.aggregation = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
      t.value_coef = o.Number("valueCoef");
      t.value_clip = o.Number("valueClip");
      t.entropy_coef = o.Number("entropyCoef");
      t.kl_coef = o.Number("klCoef");
      t.max_grad_norm = o.Number("maxGradNorm");
      t.actor_lr = o.Number("actorLr");
      t.critic_lr = o.Number("criticLr");
      t.weight_decay = o.Number("weightDecay");
      t.epochs = static_cast<int64_t>(o.Size("epochs", 1));
      t.minibatches = static_cast<int64_t>(o.Size("minibatches", 1));
      t.use_critic = o.Bool("useCritic");
      t.seed = static_cast<std::uint64_t>(o.Size("seed"));
      t.distributed = o.Bool("distributed");
      trainer_ = std::make_shared<Trainer>(policy, t);
    });
  }

 private:
  // (input: { obs, actions, oldLogProbs, advantages, returns?, oldValues?, mask? }, opts: { B, T })
  RolloutBatch Batch(const Napi::CallbackInfo& info) {
    Fields in(info[0], "batch"), o(info[1], "opts");
    const Policy& p = *trainer_->policy();
    RolloutBatch b;
    b.B = static_cast<int64_t>(SizeArg(o.Need("B"), "batch.B", 1));
    b.T = static_cast<int64_t>(SizeArg(o.Need("T"), "batch.T", 1));
    auto tensor = [&](const char* key, std::vector<int64_t> shape, bool required, double lo, double hi) {
      Napi::Value x = in.Maybe(key);
      if (x.IsUndefined() && !required) return torch::Tensor();
      std::string name = std::string("batch.") + key;
      const float* d = TensorArg(x, name.c_str(), shape);
      std::size_t count = 1;
      for (int64_t s : shape) count *= static_cast<std::size_t>(s);
      CheckValues(d, count, name.c_str(), lo, hi);
      return Blob(d, shape);
    };
    b.obs = tensor("obs", {b.B, b.T, p.spec().obs_dim}, true, -INFINITY, INFINITY);
    b.actions = tensor("actions", {b.B, b.T, p.ActionWidth()}, true, -INFINITY, INFINITY);
    b.old_logp = tensor("oldLogProbs", {b.B, b.T}, true, -INFINITY, INFINITY);
    b.advantages = tensor("advantages", {b.B, b.T}, true, -INFINITY, INFINITY);
    b.returns = tensor("returns", {b.B, b.T}, false, -INFINITY, INFINITY);
    b.old_values = tensor("oldValues", {b.B, b.T}, false, -INFINITY, INFINITY);
    b.mask = tensor("mask", {b.B, b.T}, false, -INFINITY, INFINITY);  // 0/1: src/torch/trainer.ts checks it
    return b;
  }

  static Napi::Value Metrics(Napi::Env env, const UpdateMetrics& m) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("policyLoss", m.policy_loss);
    o.Set("valueLoss", m.value_loss);
    o.Set("entropy", m.entropy);
    o.Set("clipFraction", m.clip_fraction);
    o.Set("approxKl", m.approx_kl);
    o.Set("gradNorm", m.grad_norm);
    o.Set("kl", m.kl);
    o.Set("loss", m.loss);
    o.Set("steps", static_cast<double>(m.steps));
    return o;
  }

  Napi::Value UpdateSync(const Napi::CallbackInfo& info) {
    RolloutBatch b = Batch(info);
    BusyGuard g(trainer_->policy()->busy, "Policy");
    std::optional<dist::Turn> turn;
    if (trainer_->distributed()) turn.emplace(dist::TakeTicket());
    return Metrics(info.Env(), trainer_->Update(b));
  }
  Napi::Value Losses(const Napi::CallbackInfo& info) {
    RolloutBatch b = Batch(info);
    BusyGuard g(trainer_->policy()->busy, "Policy");
    return Metrics(info.Env(), trainer_->Losses(b));
  }
  Napi::Value Update(const Napi::CallbackInfo& info) {
    RolloutBatch b = Batch(info);
    std::vector<Napi::Value> keep{info.This()};
    std::vector<std::shared_ptr<unsigned char>> pins;
    auto stop = CallStopArg(Fields(info[1], "opts").Maybe("cancel"), "opts.cancel", keep);
    Fields in(info[0], "batch");
    const std::pair<torch::Tensor*, const char*> parts[] = {{&b.obs, "obs"},
                                                            {&b.actions, "actions"},
                                                            {&b.old_logp, "oldLogProbs"},
                                                            {&b.advantages, "advantages"},
                                                            {&b.returns, "returns"},
                                                            {&b.old_values, "oldValues"},
                                                            {&b.mask, "mask"}};
    for (auto& [t, key] : parts) *t = AsyncTensor(*t, in.Maybe(key), std::string("batch.") + key, pins, keep);
    auto busy = std::make_shared<BusyGuard>(trainer_->policy()->busy, "Policy");
    auto trainer = trainer_;
    auto out = std::make_shared<UpdateMetrics>();
    // Distributed updates keep the order of the process's collectives.
    const std::optional<std::uint64_t> ticket =
        trainer->distributed() ? std::optional<std::uint64_t>(dist::TakeTicket()) : std::nullopt;
    auto* w = new PromiseWorker(
        info.Env(), "TrainerNative.update",
        [trainer, b, out, busy, ticket, pins, stop] {
          std::optional<dist::Turn> turn;
          if (ticket) turn.emplace(*ticket);
          dist::StopScope scope(&stop->flag);
          *out = trainer->Update(b, &stop->flag);
        },
        [out, busy](Napi::Env env) mutable {
          busy.reset();
          return Metrics(env, *out);
        },
        keep);
    w->SetStop(stop);
    return w->Queue();
  }

  std::shared_ptr<Trainer> trainer_;
};

void Init(Napi::Env env, Napi::Object exports) { TrainerWrap::Init(env, exports); }

}  // namespace

F2G_REGISTER(trainer, Init);

}  // namespace f2g

// N-API class PolicyNative over f2g::Policy (SPEC §9). The TS layer
// (src/torch/policy.ts) normalises specs and options; this layer re-checks
// every size it reads. fitBc() copies its data: the caller may detach its
// buffers meanwhile. The trainer's binding is bindings/torch/trainer.cc.
#include <memory>
#include <optional>

#include "bindings/torch/policy.h"
#include "bindings/torch/tensors.h"
#include "torch/bc.h"
#include "torch/distributed.h"
#include "torch/policy.h"

namespace f2g {
namespace {

std::vector<int64_t> SizesArg(const Napi::Value& v, const char* name) {
  if (!v.IsArray())
    ThrowType(std::string("Expected an array of sizes for ") + name + " but received " + Describe(v));
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i)
    out.push_back(static_cast<int64_t>(
        SizeArg(a.Get(i), (std::string(name) + "[" + std::to_string(i) + "]").c_str(), 1)));
  return out;
}

// Tags PolicyNative objects so TrainerNative can check its argument without a
// per-process constructor reference (safe with worker_threads).
const napi_type_tag kPolicyTag = {0x6f2a9b3c51d04e77ULL, 0x8c1de5a2f09b4d13ULL};

class PolicyWrap : public GuardedWrap<PolicyWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "PolicyNative",
        {GuardedMethod<&PolicyWrap::LinearModules>("linearModules"),
         GuardedMethod<&PolicyWrap::StateDict>("stateDict"),
         GuardedMethod<&PolicyWrap::LoadStateDict>("loadStateDict"),
         GuardedMethod<&PolicyWrap::AddLora>("addLora"),
         GuardedMethod<&PolicyWrap::MergeAdapters>("mergeAdapters"),
         GuardedMethod<&PolicyWrap::AdapterState>("adapterState"),
         GuardedMethod<&PolicyWrap::LoadAdapterState>("loadAdapterState"),
         GuardedMethod<&PolicyWrap::TrainableNames>("trainableNames"), GuardedMethod<&PolicyWrap::Act>("act"),
         GuardedMethod<&PolicyWrap::Evaluate>("evaluate"), GuardedMethod<&PolicyWrap::FitBcSync>("fitBcSync"),
         GuardedMethod<&PolicyWrap::FitBc>("fitBc")});
    exports.Set("PolicyNative", cls);
  }

  // new PolicyNative(input: {}, spec: the spec as src/torch/policy.ts normalises it)
  explicit PolicyWrap(const Napi::CallbackInfo& info) : GuardedWrap<PolicyWrap>(info) {
    Guard(info.Env(), "PolicyNative", [&] {
      Fields o(info[1], "spec");
      PolicySpec s;
      s.obs_dim = static_cast<int64_t>(o.Size("obsDim", 1));
      s.hidden = SizesArg(o.Need("hidden"), "spec.trunk.sizes");
      s.activation = StringArg(o.Need("activation"), "spec.trunk.activation");
      s.categorical = o.Bool("categorical");
      if (s.categorical) {
        s.action_dims = static_cast<int64_t>(SizeArg(o.Need("actionDims"), "spec.head.actionDims", 1));
        s.bins = static_cast<int64_t>(SizeArg(o.Need("bins"), "spec.head.bins", 2));
      } else {
        s.action_dim = static_cast<int64_t>(SizeArg(o.Need("actionDim"), "spec.head.actionDim", 1));
        s.state_dependent_std = BoolArg(o.Need("stateDependentStd"), "spec.head.stateDependentStd");
        s.squash = BoolArg(o.Need("squash"), "spec.head.squash");
        s.init_log_std = NumberArg(o.Need("initLogStd"), "spec.head.initLogStd");
        s.log_std_min = NumberArg(o.Need("logStdMin"), "spec.head.logStdMin");
        s.log_std_max = NumberArg(o.Need("logStdMax"), "spec.head.logStdMax");
      }
      s.critic = o.Bool("critic");
      if (s.critic) {
        s.critic_hidden = SizesArg(o.Need("criticHidden"), "spec.critic.sizes");
        s.critic_activation = StringArg(o.Need("criticActivation"), "spec.critic.activation");
      }
      s.seed = static_cast<std::uint64_t>(o.Size("seed"));
      double width = static_cast<double>(s.obs_dim);
      double params = 0;
      for (int64_t h : s.hidden) params += width * h + h, width = static_cast<double>(h);
      for (int64_t h : s.critic_hidden) params += static_cast<double>(s.obs_dim) * h + h;
      params += width * static_cast<double>(s.categorical ? s.action_dims * s.bins : 2 * s.action_dim);
      // Parameters, their gradients and AdamW's two moments: 4 floats each.
      policy_ =
          TorchAllocating("a Policy of about " + std::to_string(static_cast<long long>(params)) +
                              " parameters (spec.obsDim, spec.trunk.sizes, spec.head, spec.critic.sizes)",
                          params * 16.0, [&] { return std::make_shared<Policy>(s); });
      info.This().As<Napi::Object>().TypeTag(&kPolicyTag);
    });
  }

  std::shared_ptr<Policy> policy_;

 private:
  Napi::Value LinearModules(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto layers = policy_->Linears();
    Napi::Array out = Napi::Array::New(env, layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
      Napi::Array item = Napi::Array::New(env, 4);
      item.Set(0u, layers[i]->path);
      item.Set(1u, static_cast<double>(layers[i]->w.size(1)));
      item.Set(2u, static_cast<double>(layers[i]->w.size(0)));
      item.Set(3u, layers[i]->lora);
      out.Set(static_cast<uint32_t>(i), item);
    }
    return out;
  }
  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    BusyGuard g(policy_->busy, "Policy");
    return NamedToJs(info.Env(), policy_->StateDict());
  }
  // loadStateDict({ weights }, {})
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info) {
    NamedTensors src = NamedFromJs(Fields(info[0], "input").Need("weights"), "weights");
    BusyGuard g(policy_->busy, "Policy");
    policy_->LoadStateDict(src);
    return info.Env().Undefined();
  }
  // addLora({}, { rank, alpha, dropout, targets, rslora, seed })
  Napi::Value AddLora(const Napi::CallbackInfo& info) {
    Fields o(info[1], "lora");
    LoraConfig c;
    c.rank = static_cast<int64_t>(o.Size("rank", 1));
    c.alpha = o.Number("alpha");
    c.dropout = o.Number("dropout");  // in [0, 1): src/torch/policy.ts checks it
    c.rslora = o.Bool("rslora");
    c.seed = static_cast<std::uint64_t>(o.Size("seed"));
    Napi::Value t = o.Need("targets");
    if (!t.IsArray())
      ThrowType("Expected an array of module paths for lora.targets but received " + Describe(t));
    Napi::Array ta = t.As<Napi::Array>();
    for (uint32_t i = 0; i < ta.Length(); ++i)
      c.targets.push_back(StringArg(ta.Get(i), ("lora.targets[" + std::to_string(i) + "]").c_str()));
    BusyGuard g(policy_->busy, "Policy");
    policy_->AddLora(c);
    return info.Env().Undefined();
  }
  Napi::Value MergeAdapters(const Napi::CallbackInfo& info) {
    BusyGuard g(policy_->busy, "Policy");
    policy_->MergeAdapters();
    return info.Env().Undefined();
  }
  Napi::Value AdapterState(const Napi::CallbackInfo& info) {
    BusyGuard g(policy_->busy, "Policy");
    return NamedToJs(info.Env(), policy_->AdapterState());
  }
  // loadAdapterState({ adapters }, {})
  Napi::Value LoadAdapterState(const Napi::CallbackInfo& info) {
    NamedTensors src = NamedFromJs(Fields(info[0], "input").Need("adapters"), "adapters");
    BusyGuard g(policy_->busy, "Policy");
    policy_->LoadAdapterState(src);
    return info.Env().Undefined();
  }
  Napi::Value TrainableNames(const Napi::CallbackInfo& info) {
    auto names = policy_->TrainableNames();
    Napi::Array out = Napi::Array::New(info.Env(), names.size());
    for (std::size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), names[i]);
    return out;
  }

  // (input: { obs, actions? }, opts: { B, ... })
  torch::Tensor Obs(const Napi::CallbackInfo& info, int64_t* B) {
    *B = static_cast<int64_t>(SizeArg(Fields(info[1], "opts").Need("B"), "obs.shape[0]", 1));
    const int64_t O = policy_->spec().obs_dim;
    const float* p = TensorArg(Fields(info[0], "input").Need("obs"), "obs.data", {*B, O});
    CheckValues(p, static_cast<std::size_t>(*B * O), "obs");
    return Blob(p, {*B, O});
  }

  // act({ obs }, { B, deterministic }) → { actions [B*width], logProbs [B], values [B] }
  Napi::Value Act(const Napi::CallbackInfo& info) {
    int64_t B;
    torch::Tensor obs = Obs(info, &B);
    bool det = Fields(info[1], "opts").Bool("deterministic");
    BusyGuard g(policy_->busy, "Policy");
    TorchThreadsHere();
    Policy::ActOut a = policy_->Act(obs, det);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("actions", ToJs(info.Env(), a.actions));
    o.Set("logProbs", ToJs(info.Env(), a.logp));
    o.Set("values", ToJs(info.Env(), a.values));
    return o;
  }
  // evaluate({ obs, actions }, { B }) → { logProbs, entropy, values } (no dropout, no gradient)
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    int64_t B;
    torch::Tensor obs = Obs(info, &B);
    const int64_t W = policy_->ActionWidth();
    const float* a = TensorArg(Fields(info[0], "input").Need("actions"), "actions.data", {B, W});
    CheckValues(a, static_cast<std::size_t>(B * W), "actions");
    BusyGuard g(policy_->busy, "Policy");
    TorchThreadsHere();
    c10::InferenceMode im;  // outputs are copied out; no autograd bookkeeping
    Policy::Eval e = policy_->Evaluate(obs, Blob(a, {B, W}), false, nullptr);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("logProbs", ToJs(info.Env(), e.logp));
    o.Set("entropy", ToJs(info.Env(), e.entropy));
    o.Set("values", ToJs(info.Env(), e.values));
    return o;
  }

  // Behaviour cloning: ({ obs, actions }, { B, ...options, onEpoch? }) → { epochLosses, steps }.
  struct BcArgs {
    torch::Tensor obs, actions;
    BcOptions o;
  };
  BcArgs ParseBc(const Napi::CallbackInfo& info) {
    BcArgs a;
    int64_t B;
    a.obs = Obs(info, &B);
    const int64_t W = policy_->ActionWidth();
    const float* act = TensorArg(Fields(info[0], "input").Need("actions"), "actions.data", {B, W});
    CheckValues(act, static_cast<std::size_t>(B * W), "actions");
    a.actions = Blob(act, {B, W});
    Fields o(info[1], "opts");
    a.o.epochs = static_cast<int64_t>(o.Size("epochs", 1));
    a.o.batch_size = static_cast<int64_t>(o.Size("batchSize", 1));
    a.o.lr = o.Number("lr");
    a.o.weight_decay = o.Number("weightDecay");
    a.o.max_grad_norm = o.Number("maxGradNorm");
    a.o.mse = o.Bool("mse");
    a.o.seed = static_cast<std::uint64_t>(o.Size("seed"));
    a.o.distributed = o.Bool("distributed");
    return a;
  }
  static Napi::Value BcToJs(Napi::Env env, const BcResult& r) {
    Napi::Object out = Napi::Object::New(env);
    Napi::Array l = Napi::Array::New(env, r.epoch_loss.size());
    for (std::size_t i = 0; i < r.epoch_loss.size(); ++i) l.Set(static_cast<uint32_t>(i), r.epoch_loss[i]);
    out.Set("epochLosses", l);
    out.Set("steps", static_cast<double>(r.steps));
    return out;
  }
  Napi::Value FitBcSync(const Napi::CallbackInfo& info) {
    BcArgs a = ParseBc(info);
    BusyGuard g(policy_->busy, "Policy");
    std::optional<dist::Turn> turn;
    if (a.o.distributed) turn.emplace(dist::TakeTicket());
    return BcToJs(info.Env(), FitBehaviourCloning(*policy_, a.obs, a.actions, a.o, nullptr));
  }
  // fitBc({ obs, actions }, { B, ...options, onEpoch?, cancel? }) → Promise<{ epochLosses, steps }>;
  // onEpoch(epoch, epochs, loss)
  Napi::Value FitBc(const Napi::CallbackInfo& info) {
    BcArgs a = ParseBc(info);
    const Napi::Value on_epoch = Fields(info[1], "opts").Maybe("onEpoch");
    if (!on_epoch.IsUndefined() && !on_epoch.IsFunction())
      ThrowType("Expected a function for opts.onEpoch but received " + Describe(on_epoch));
    // The worker reads host memory (pinned) in place and copies the rest: the
    // caller may detach its buffers meanwhile.
    std::vector<Napi::Value> keep{info.This()};
    std::vector<std::shared_ptr<unsigned char>> pins;
    auto stop = CallStopArg(Fields(info[1], "opts").Maybe("cancel"), "opts.cancel", keep);
    a.o.stop = &stop->flag;
    Fields in(info[0], "input");
    a.obs = AsyncTensor(a.obs, in.Need("obs"), "obs.data", pins, keep);
    a.actions = AsyncTensor(a.actions, in.Need("actions"), "actions.data", pins, keep);
    auto busy = std::make_shared<BusyGuard>(policy_->busy, "Policy");
    auto policy = policy_;
    auto out = std::make_shared<BcResult>();
    // Distributed fits keep the order of the process's collectives.
    const std::optional<std::uint64_t> ticket =
        a.o.distributed ? std::optional<std::uint64_t>(dist::TakeTicket()) : std::nullopt;
    auto* w = new PromiseWorker(
        info.Env(), "PolicyNative.fitBc",
        [policy, a, out, busy, ticket, pins, stop](const PromiseWorker::Report& report) {
          std::optional<dist::Turn> turn;
          if (ticket) turn.emplace(*ticket);
          dist::StopScope scope(&stop->flag);
          *out =
              FitBehaviourCloning(*policy, a.obs, a.actions, a.o, [&report](int64_t e, int64_t n, double l) {
                double msg[3] = {static_cast<double>(e), static_cast<double>(n), l};
                report(msg, 3);
              });
        },
        [out, busy](Napi::Env env) mutable {
          busy.reset();
          return BcToJs(env, *out);
        },
        on_epoch, keep);
    w->SetStop(stop);
    return w->Queue();
  }
};

void Init(Napi::Env env, Napi::Object exports) { PolicyWrap::Init(env, exports); }

}  // namespace

std::shared_ptr<Policy> PolicyArg(const Napi::Value& v, const char* name) {
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kPolicyTag))
    ThrowType(std::string("Expected a Policy for ") + name + " but received " + Describe(v));
  return PolicyWrap::Unwrap(v.As<Napi::Object>())->policy_;
}

F2G_REGISTER(policy, Init);

}  // namespace f2g

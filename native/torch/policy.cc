#include "torch/policy.h"

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

namespace f2g {

namespace {

torch::Tensor Activate(const std::string& act, const torch::Tensor& x) {
  if (act == "tanh") return torch::tanh(x);
  if (act == "relu") return torch::relu(x);
  if (act == "gelu") return torch::gelu(x);
  if (act == "silu") return torch::silu(x);
  throw std::invalid_argument("Expected an activation 'tanh', 'relu', 'gelu' or 'silu' but received '" + act +
                              "'");
}

LinearLayer MakeLinear(const std::string& path, int64_t in, int64_t out, double gain, at::Generator& g) {
  LinearLayer l;
  l.path = path;
  l.w = torch::empty({out, in}, torch::kFloat32);
  OrthogonalInit(l.w, gain, g);
  l.b = torch::zeros({out}, torch::kFloat32);
  return l;
}

std::string Shape(const torch::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? "," : "") << t.size(i);
  s << "]";
  return s.str();
}

/// Copies src tensors into dst by name; names and shapes must match exactly.
void CopyNamed(const NamedTensors& dst, const NamedTensors& src, const char* what) {
  std::set<std::string> known;
  for (auto& d : dst) known.insert(d.first);
  for (auto& s : src)
    if (!known.count(s.first))
      throw std::invalid_argument(std::string("Unexpected tensor '") + s.first + "' in the " + what);
  for (auto& [name, t] : dst) {
    const torch::Tensor* s = nullptr;
    for (auto& [n2, t2] : src)
      if (n2 == name) s = &t2;
    if (!s) throw std::invalid_argument(std::string("Missing tensor '") + name + "' in the " + what);
    if (!s->sizes().equals(t.sizes()))
      throw std::invalid_argument(std::string("Expected tensor '") + name + "' of shape " + Shape(t) +
                                  " in the " + what + " but received shape " + Shape(*s));
    RequireFinite(*s, name, what);
  }
  torch::NoGradGuard ng;
  for (auto& [name, t] : dst)
    for (auto& [n2, t2] : src)
      if (n2 == name) t.copy_(t2);
}

constexpr double kLog2Pi = 1.8378770664093453;

/// The log-std the head uses: a state-dependent one is the layer's output,
/// a state-independent one the learned vector; both clamped into
/// [log_std_min, log_std_max] so that σ = e^log_std stays finite and positive.
torch::Tensor ClampLogStd(const torch::Tensor& raw, const PolicySpec& s) {
  return torch::clamp(raw, s.log_std_min, s.log_std_max);
}

}  // namespace

torch::Tensor LinearLayer::Forward(const torch::Tensor& x, bool train, at::Generator* g) const {
  torch::Tensor y = torch::linear(x, w, b);
  if (!lora) return y;
  torch::Tensor xd = x;
  if (train && dropout > 0) {
    torch::Tensor keep = torch::empty_like(x).bernoulli_(1.0 - dropout, *g);
    xd = x * keep / (1.0 - dropout);
  }
  return y + torch::linear(torch::linear(xd, A), B) * scale;
}

Policy::Policy(const PolicySpec& spec) : gen(MakeGen(spec.seed)), spec_(spec) {
  TorchThreadsHere();
  if (!spec.categorical) {
    const double lo = spec.log_std_min, hi = spec.log_std_max;
    if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi && hi <= kMaxLogStd && lo >= -kMaxLogStd)) {
      std::ostringstream m;
      m << "Expected spec.head.logStdMin < spec.head.logStdMax within [" << -kMaxLogStd << ", " << kMaxLogStd
        << "] (σ = e^logStd must stay a finite positive float32) but received [" << lo << ", " << hi << "]";
      throw std::invalid_argument(m.str());
    }
    if (!(spec.init_log_std >= lo && spec.init_log_std <= hi)) {
      std::ostringstream m;
      m << "Expected spec.head.initLogStd in [spec.head.logStdMin, spec.head.logStdMax] = [" << lo << ", "
        << hi << "] but received " << spec.init_log_std;
      throw std::invalid_argument(m.str());
    }
  }
  at::Generator g = MakeGen(spec.seed ^ 0x9e3779b97f4a7c15ULL);
  Activate(spec.activation, torch::zeros({1}));
  if (spec.critic) Activate(spec.critic_activation, torch::zeros({1}));
  int64_t in = spec.obs_dim;
  for (std::size_t i = 0; i < spec.hidden.size(); ++i) {
    trunk_.push_back(MakeLinear("trunk." + std::to_string(2 * i), in, spec.hidden[i], std::sqrt(2.0), g));
    in = spec.hidden[i];
  }
  if (spec.categorical) {
    logits_ = MakeLinear("head.logits", in, spec.action_dims * spec.bins, 0.01, g);
  } else {
    mean_ = MakeLinear("head.mean", in, spec.action_dim, 0.01, g);
    if (spec.state_dependent_std) {
      log_std_layer_ = MakeLinear("head.log_std", in, spec.action_dim, 0.01, g);
      torch::NoGradGuard ng;
      log_std_layer_.b.fill_(spec.init_log_std);
    } else {
      log_std_ = torch::full({spec.action_dim}, spec.init_log_std, torch::kFloat32);
    }
  }
  if (spec.critic) {
    int64_t cin = spec.obs_dim;
    std::size_t i = 0;
    for (; i < spec.critic_hidden.size(); ++i) {
      critic_.push_back(
          MakeLinear("critic." + std::to_string(2 * i), cin, spec.critic_hidden[i], std::sqrt(2.0), g));
      cin = spec.critic_hidden[i];
    }
    critic_.push_back(MakeLinear("critic." + std::to_string(2 * i), cin, 1, 1.0, g));
  }
  UpdateRequiresGrad();
}

std::unique_ptr<Policy> Policy::Clone() const {
  std::unique_ptr<Policy> p(new Policy());
  p->spec_ = spec_;
  p->gen = MakeGen(spec_.seed);
  auto copy = [](const LinearLayer& l) {
    LinearLayer c = l;
    c.w = l.w.detach().clone();
    c.b = l.b.detach().clone();
    if (l.lora) {
      c.A = l.A.detach().clone();
      c.B = l.B.detach().clone();
    }
    return c;
  };
  for (auto& l : trunk_) p->trunk_.push_back(copy(l));
  for (auto& l : critic_) p->critic_.push_back(copy(l));
  if (mean_.w.defined()) p->mean_ = copy(mean_);
  if (log_std_layer_.w.defined()) p->log_std_layer_ = copy(log_std_layer_);
  if (logits_.w.defined()) p->logits_ = copy(logits_);
  if (log_std_.defined()) p->log_std_ = log_std_.detach().clone();
  return p;
}

std::vector<LinearLayer*> Policy::AllLinears() {
  std::vector<LinearLayer*> out;
  for (auto& l : trunk_) out.push_back(&l);
  for (LinearLayer* l : {&mean_, &log_std_layer_, &logits_})
    if (l->w.defined()) out.push_back(l);
  for (auto& l : critic_) out.push_back(&l);
  return out;
}

std::vector<const LinearLayer*> Policy::Linears() const {
  auto all = const_cast<Policy*>(this)->AllLinears();
  return {all.begin(), all.end()};
}

LinearLayer* Policy::Find(const std::string& path) {
  for (LinearLayer* l : AllLinears())
    if (l->path == path) return l;
  return nullptr;
}

bool Policy::HasAdapters() const {
  for (const LinearLayer* l : Linears())
    if (l->lora) return true;
  return false;
}

NamedTensors Policy::StateDict() const {
  NamedTensors out;
  auto add = [&out](const LinearLayer& l) {
    out.emplace_back(l.path + ".weight", l.w);
    out.emplace_back(l.path + ".bias", l.b);
  };
  for (auto& l : trunk_) add(l);
  if (spec_.categorical) {
    add(logits_);
  } else {
    add(mean_);
    if (spec_.state_dependent_std) add(log_std_layer_);
    else out.emplace_back("head.log_std", log_std_);
  }
  for (auto& l : critic_) add(l);
  return out;
}

void Policy::LoadStateDict(const NamedTensors& src) { CopyNamed(StateDict(), src, "policy weights"); }

void Policy::UpdateRequiresGrad() {
  const bool adapters = HasAdapters();
  for (LinearLayer* l : AllLinears()) {
    const bool head_or_critic = l->path.rfind("trunk.", 0) != 0;
    const bool train_base = !adapters || (head_or_critic && !l->lora);
    l->w.set_requires_grad(train_base);
    l->b.set_requires_grad(train_base);
    if (l->lora) {
      l->A.set_requires_grad(true);
      l->B.set_requires_grad(true);
    }
  }
  if (log_std_.defined()) log_std_.set_requires_grad(true);
  ++version_;
}

void Policy::AddLora(const LoraConfig& c) {
  if (c.rank < 1)
    throw std::invalid_argument("Expected lora.rank ≥ 1 but received " + std::to_string(c.rank));
  if (c.targets.empty()) throw std::invalid_argument("Expected at least one module path in lora.targets");
  std::string known;
  for (const LinearLayer* l : Linears()) known += (known.empty() ? "" : ", ") + l->path;
  std::vector<LinearLayer*> layers;
  for (std::size_t i = 0; i < c.targets.size(); ++i) {
    LinearLayer* l = Find(c.targets[i]);
    if (!l)
      throw std::invalid_argument("Expected lora.targets[" + std::to_string(i) +
                                  "] to name a linear module of the policy (" + known + ") but received '" +
                                  c.targets[i] + "'");
    if (l->lora) throw std::invalid_argument("Module '" + c.targets[i] + "' already has an adapter");
    layers.push_back(l);
  }
  at::Generator g = MakeGen(c.seed);
  for (LinearLayer* l : layers) {
    l->lora = true;
    l->A = torch::empty({c.rank, l->w.size(1)}, torch::kFloat32);
    KaimingUniformA5(l->A, g);
    l->B = torch::zeros({l->w.size(0), c.rank}, torch::kFloat32);
    l->scale =
        c.rslora ? c.alpha / std::sqrt(static_cast<double>(c.rank)) : c.alpha / static_cast<double>(c.rank);
    l->dropout = c.dropout;
  }
  UpdateRequiresGrad();
}

void Policy::MergeAdapters() {
  torch::NoGradGuard ng;
  for (LinearLayer* l : AllLinears()) {
    if (!l->lora) continue;
    l->w.add_(torch::matmul(l->B, l->A) * l->scale);
    l->lora = false;
    l->A = torch::Tensor();
    l->B = torch::Tensor();
  }
  UpdateRequiresGrad();
}

NamedTensors Policy::AdapterState() const {
  NamedTensors out;
  for (const LinearLayer* l : Linears()) {
    if (!l->lora) continue;
    out.emplace_back(l->path + ".lora_A.weight", l->A);
    out.emplace_back(l->path + ".lora_B.weight", l->B);
  }
  return out;
}

void Policy::LoadAdapterState(const NamedTensors& src) { CopyNamed(AdapterState(), src, "adapter weights"); }

torch::Tensor Policy::Mlp(const std::vector<LinearLayer>& layers, const std::string& act, torch::Tensor x,
                          bool last_linear, bool train, at::Generator* g) const {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    x = layers[i].Forward(x, train, g);
    if (!(last_linear && i + 1 == layers.size())) x = Activate(act, x);
  }
  return x;
}

Policy::Eval Policy::Evaluate(const torch::Tensor& obs, const torch::Tensor& actions, bool train,
                              at::Generator* g) const {
  Eval e;
  torch::Tensor feat = Mlp(trunk_, spec_.activation, obs, false, train, g);
  if (spec_.categorical) {
    torch::Tensor logits = logits_.Forward(feat, train, g).view({obs.size(0), spec_.action_dims, spec_.bins});
    torch::Tensor lsm = torch::log_softmax(logits, -1);
    torch::Tensor idx = actions.to(torch::kLong).unsqueeze(-1);
    e.logp = lsm.gather(-1, idx).squeeze(-1).sum(-1);
    e.entropy = -(lsm.exp() * lsm).sum(-1).sum(-1);
  } else {
    torch::Tensor mu = mean_.Forward(feat, train, g);
    torch::Tensor log_std = ClampLogStd(
        spec_.state_dependent_std ? log_std_layer_.Forward(feat, train, g) : log_std_.expand_as(mu), spec_);
    torch::Tensor u = actions;
    if (spec_.squash) u = torch::atanh(torch::clamp(actions, -1.0 + 1e-6, 1.0 - 1e-6));
    torch::Tensor z = (u - mu) * torch::exp(-log_std);
    e.logp = (-0.5 * z * z - log_std - 0.5 * kLog2Pi).sum(-1);
    if (spec_.squash) e.logp = e.logp - (2.0 * (std::log(2.0) - u - torch::softplus(-2.0 * u))).sum(-1);
    e.entropy = (0.5 + 0.5 * kLog2Pi + log_std).sum(-1);
  }
  if (spec_.critic) e.values = Mlp(critic_, spec_.critic_activation, obs, true, train, g).squeeze(-1);
  else e.values = torch::zeros({obs.size(0)}, torch::kFloat32);
  return e;
}

torch::Tensor Policy::Mean(const torch::Tensor& obs, bool train, at::Generator* g) const {
  if (spec_.categorical) throw std::invalid_argument("A categorical policy has no Gaussian mean");
  return mean_.Forward(Mlp(trunk_, spec_.activation, obs, false, train, g), train, g);
}

Policy::ActOut Policy::Act(const torch::Tensor& obs, bool deterministic) {
  c10::InferenceMode im;  // no autograd bookkeeping at all (outputs are copied out)
  torch::Tensor feat = Mlp(trunk_, spec_.activation, obs, false, false, nullptr);
  ActOut out;
  if (spec_.categorical) {
    torch::Tensor logits = logits_.Forward(feat, false, nullptr).view({-1, spec_.bins});
    RequireFiniteRows(logits.view({obs.size(0), -1}), "action logits");  // before sampling from them
    torch::Tensor idx = deterministic
                            ? logits.argmax(-1)
                            : torch::multinomial(torch::softmax(logits, -1), 1, true, gen).squeeze(-1);
    out.actions = idx.to(torch::kFloat32).view({obs.size(0), spec_.action_dims});
  } else {
    torch::Tensor mu = mean_.Forward(feat, false, nullptr);
    torch::Tensor u = mu;
    if (!deterministic) {
      torch::Tensor log_std = ClampLogStd(
          spec_.state_dependent_std ? log_std_layer_.Forward(feat, false, nullptr) : log_std_.expand_as(mu),
          spec_);
      u = mu + torch::exp(log_std) * at::normal(0.0, 1.0, mu.sizes(), gen);
    }
    out.actions = spec_.squash ? torch::tanh(u) : u;
  }
  Eval e = Evaluate(obs, out.actions, false, nullptr);
  out.logp = e.logp;
  out.values = e.values;
  RequireFiniteRows(out.actions, "actions");
  RequireFiniteRows(out.logp, "log-probabilities");
  RequireFiniteRows(out.values, "values");
  return out;
}

std::vector<torch::Tensor> Policy::ActorParams() const {
  std::vector<torch::Tensor> out;
  for (const LinearLayer* l : Linears()) {
    if (l->path.rfind("critic.", 0) == 0) continue;
    for (const torch::Tensor* t : {&l->w, &l->b, &l->A, &l->B})
      if (t->defined() && t->requires_grad()) out.push_back(*t);
  }
  if (log_std_.defined()) out.push_back(log_std_);
  return out;
}

std::vector<torch::Tensor> Policy::CriticParams() const {
  std::vector<torch::Tensor> out;
  for (const auto& l : critic_)
    for (const torch::Tensor* t : {&l.w, &l.b, &l.A, &l.B})
      if (t->defined() && t->requires_grad()) out.push_back(*t);
  return out;
}

std::vector<std::string> Policy::TrainableNames() const {
  std::vector<std::string> out;
  for (auto& [n, t] : StateDict())
    if (t.requires_grad()) out.push_back(n);
  for (auto& [n, t] : AdapterState()) out.push_back(n);
  return out;
}

}  // namespace f2g

#include "torch/value_head.h"

#include <sstream>

#include "torch/distributed.h"

namespace f2g {

ValueHead::ValueHead(const ValueHeadConfig& cfg) : cfg_(cfg) {
  TorchThreadsHere();
  at::Generator g = MakeGen(cfg.seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  w1_ = torch::empty({cfg.hidden_dim, cfg.input_dim}, opts);
  w2_ = torch::empty({cfg.bins, cfg.hidden_dim}, opts);
  OrthogonalInit(w1_, 1.0, g);
  OrthogonalInit(w2_, 1.0, g);
  b1_ = torch::zeros({cfg.hidden_dim}, opts);
  b2_ = torch::zeros({cfg.bins}, opts);
  ln_w_ = torch::ones({cfg.hidden_dim}, opts);
  ln_b_ = torch::zeros({cfg.hidden_dim}, opts);
  for (auto* p : {&w1_, &b1_, &ln_w_, &ln_b_, &w2_, &b2_}) p->set_requires_grad(true);
  atoms_ = torch::linspace(0.0, 1.0, cfg.bins, opts);
}

torch::Tensor ValueHead::Targets(const torch::Tensor& v) const {
  const int64_t B = v.size(0), nb = cfg_.bins;
  torch::Tensor out = torch::zeros({B, nb}, torch::kFloat32);
  auto vv = v.contiguous();
  const float* pv = vv.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int64_t i = 0; i < B; ++i) {
    const double pos = static_cast<double>(pv[i]) * static_cast<double>(nb - 1);
    float* row = po + i * nb;
    if (cfg_.one_hot) {
      row[static_cast<int64_t>(std::llround(pos))] = 1.0f;
      continue;
    }
    int64_t lo = static_cast<int64_t>(std::floor(pos));
    if (lo > nb - 2) lo = nb - 2;
    if (lo < 0) lo = 0;
    const double w = pos - static_cast<double>(lo);
    row[lo] += static_cast<float>(1.0 - w);
    row[lo + 1] += static_cast<float>(w);
  }
  return out;
}

torch::Tensor ValueHead::Logits(const torch::Tensor& h) const {
  torch::Tensor x = torch::linear(h, w1_, b1_);
  x = torch::layer_norm(x, {cfg_.hidden_dim}, ln_w_, ln_b_, 1e-5);
  x = torch::gelu(x);
  return torch::linear(x, w2_, b2_);
}

torch::Tensor ValueHead::Distribution(const torch::Tensor& h) const {
  c10::InferenceMode im;
  return torch::softmax(Logits(h), -1);
}

torch::Tensor ValueHead::Predict(const torch::Tensor& h) const {
  c10::InferenceMode im;
  return torch::matmul(torch::softmax(Logits(h), -1), atoms_);
}

double ValueHead::Loss(const torch::Tensor& h, const torch::Tensor& v) const {
  c10::InferenceMode im;
  torch::Tensor t = Targets(v);
  return -(t * torch::log_softmax(Logits(h), -1)).sum(-1).mean().item<double>();
}

double ValueHead::Step(const torch::Tensor& h, const torch::Tensor& target, double lr, double wd, double denom) {
  if (!opt_) {
    opt_ = std::make_unique<torch::optim::AdamW>(
        std::vector<torch::Tensor>{w1_, b1_, ln_w_, ln_b_, w2_, b2_},
        torch::optim::AdamWOptions(lr).weight_decay(wd));
  }
  auto& go = static_cast<torch::optim::AdamWOptions&>(opt_->param_groups()[0].options());
  go.lr(lr);
  go.weight_decay(wd);
  opt_->zero_grad();
  if (denom > 0) {
    double out = 0;
    if (h.size(0) > 0) {
      torch::Tensor loss = -(target * torch::log_softmax(Logits(h), -1)).sum() / denom;
      loss.backward();
      out = loss.item<double>();
    }
    dist::AllReduceGradients({w1_, b1_, ln_w_, ln_b_, w2_, b2_}, "fit (gradient all-reduce)");
    opt_->step();
    return out;
  }
  torch::Tensor loss = -(target * torch::log_softmax(Logits(h), -1)).sum(-1).mean();
  loss.backward();
  opt_->step();
  return loss.item<double>();
}

double ValueHead::TrainStep(const torch::Tensor& h, const torch::Tensor& v, double lr, double wd) {
  TorchThreadsHere();
  return Step(h, Targets(v), lr, wd);
}

std::vector<double> ValueHead::Fit(const torch::Tensor& h, const torch::Tensor& v, const FitOptions& o,
                                   const std::function<void(int64_t, int64_t, double)>& progress) {
  TorchThreadsHere();
  if (o.distributed) return FitDistributed(h, Targets(v), o, progress);
  const int64_t n = h.size(0);
  const int64_t bs = std::min<int64_t>(o.batch_size, n);
  const int64_t per_epoch = (n + bs - 1) / bs;
  const int64_t total = per_epoch * o.epochs;
  torch::Tensor targets = Targets(v);
  at::Generator g = MakeGen(o.seed);
  std::vector<double> epoch_loss;
  int64_t step = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    torch::Tensor perm = at::randperm(n, g);
    double sum = 0;
    for (int64_t s = 0; s < per_epoch; ++s, ++step) {
      torch::Tensor idx = perm.slice(0, s * bs, std::min(n, (s + 1) * bs));
      const double lr = o.cosine ? o.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total)) : o.lr;
      sum += Step(h.index_select(0, idx), targets.index_select(0, idx), lr, o.weight_decay) *
             static_cast<double>(idx.size(0));
    }
    epoch_loss.push_back(sum / static_cast<double>(n));
    if (progress) progress(e + 1, o.epochs, epoch_loss.back());
  }
  return epoch_loss;
}

// The single-rank Fit over the global set: the same permutation (shared
// seed), the same global minibatches; each rank steps on its members of each
// minibatch with the loss divided by the minibatch's global size, and the
// summed gradients make every rank take the single-rank step.
std::vector<double> ValueHead::FitDistributed(const torch::Tensor& h, const torch::Tensor& targets, const FitOptions& o,
                                              const std::function<void(int64_t, int64_t, double)>& progress) {
  if (!dist::IsInitialized())
    throw std::runtime_error("fit: distributed is set but no process group is initialised; call initDistributed() first");
  // A collective can fail part-way (a rank died): the fit is then undone
  // (weights and AdamW state), so a failed fit leaves the head as it was.
  const std::vector<torch::Tensor> weights{w1_, b1_, ln_w_, ln_b_, w2_, b2_};
  std::vector<torch::Tensor> saved;
  for (const auto& w : weights) saved.push_back(w.detach().clone());
  ska::flat_hash_map<std::string, std::unique_ptr<torch::optim::OptimizerParamState>> saved_state;
  const bool had_opt = opt_ != nullptr;
  if (had_opt)
    for (auto& kv : opt_->state()) saved_state[kv.first] = kv.second->clone();
  try {
    return FitDistributedSteps(h, targets, o, progress);
  } catch (...) {
    torch::NoGradGuard ng;
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i].detach().copy_(saved[i]);
    if (!had_opt) {
      opt_.reset();
    } else {
      opt_->state().clear();
      for (auto& kv : saved_state) opt_->state()[kv.first] = std::move(kv.second);
    }
    throw;
  }
}

std::vector<double> ValueHead::FitDistributedSteps(const torch::Tensor& h, const torch::Tensor& targets, const FitOptions& o,
                                                   const std::function<void(int64_t, int64_t, double)>& progress) {
  dist::BroadcastTensors({w1_, b1_, ln_w_, ln_b_, w2_, b2_}, "fit (parameter broadcast from rank 0)");
  const int64_t n = h.size(0);
  const std::vector<int64_t> sizes = dist::GatherSizes(n, "fit (set sizes)");
  int64_t offset = 0, G = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    if (static_cast<int64_t>(r) < dist::Rank()) offset += sizes[r];
    G += sizes[r];
  }
  const int64_t bs = std::min<int64_t>(o.batch_size, G);
  const int64_t per_epoch = (G + bs - 1) / bs;
  const int64_t total = per_epoch * o.epochs;
  at::Generator g = MakeGen(o.seed);
  std::vector<double> epoch_loss;
  int64_t step = 0;
  for (int64_t e = 0; e < o.epochs; ++e) {
    torch::Tensor perm = at::randperm(G, g);
    std::vector<double> sum{0.0};
    for (int64_t s = 0; s < per_epoch; ++s, ++step) {
      const int64_t lo = s * bs, hi = std::min(G, (s + 1) * bs);
      torch::Tensor idx = dist::LocalShare(perm.slice(0, lo, hi), offset, n);
      const double lr = o.cosine ? o.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total)) : o.lr;
      const double count = static_cast<double>(hi - lo);
      sum[0] += Step(h.index_select(0, idx), targets.index_select(0, idx), lr, o.weight_decay, count) * count;
    }
    dist::AllReduceSum(sum, "fit (epoch loss)");
    epoch_loss.push_back(sum[0] / static_cast<double>(G));
    if (progress) progress(e + 1, o.epochs, epoch_loss.back());
  }
  return epoch_loss;
}

NamedTensors ValueHead::StateDict() const {
  return {{"net.0.weight", w1_}, {"net.0.bias", b1_}, {"net.1.weight", ln_w_},
          {"net.1.bias", ln_b_}, {"net.3.weight", w2_}, {"net.3.bias", b2_}};
}

static std::string ShapeOf(const torch::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? "," : "") << t.size(i);
  s << "]";
  return s.str();
}

void ValueHead::LoadStateDict(const NamedTensors& src) {
  NamedTensors mine = StateDict();
  for (auto& [name, t] : src) {
    bool found = false;
    for (auto& [n2, t2] : mine)
      if (n2 == name) found = true;
    if (!found) throw std::invalid_argument("Unexpected tensor '" + name + "' in the value head's weights");
  }
  for (auto& [name, dst] : mine) {
    const torch::Tensor* s = nullptr;
    for (auto& [n2, t2] : src)
      if (n2 == name) s = &t2;
    if (!s) throw std::invalid_argument("Missing tensor '" + name + "' in the value head's weights");
    if (!s->sizes().equals(dst.sizes()))
      throw std::invalid_argument("Expected tensor '" + name + "' of shape " + ShapeOf(dst) +
                                  " but received shape " + ShapeOf(*s));
  }
  torch::NoGradGuard ng;
  for (auto& [name, dst] : mine)
    for (auto& [n2, t2] : src)
      if (n2 == name) dst.copy_(t2);
  opt_.reset();
}

}  // namespace f2g

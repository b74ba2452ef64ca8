#include "torch/value_head.h"

#include <cmath>
#include <sstream>

#include "torch/distributed.h"

namespace f2g {

namespace {

/// Largest |y| of the first Linear's output that LayerNorm takes as is: its
/// variance sums Hh squares of at most 2^96, far inside float32's range.
constexpr double kSafeY = 281474976710656.0;  // 2^48
/// Rows of the batch whose loss is checked after the last step (CheckAfter).
constexpr int64_t kCheckRows = 64;
/// Max |h| of a row recomputed through the rescale (see Logits).
constexpr double kSafeMax = 16777216.0;  // 2^24

}  // namespace

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
  // LayerNorm(y / s) = LayerNorm(y) for s > 0 (up to its ε, negligible next to
  // such a row's variance). A row whose first-layer output y = W·h + b is not
  // finite or exceeds kSafeY (past which LayerNorm's float32 variance could
  // overflow) is recomputed as W·(h/s) + b/s, with s the power of two that
  // brings the row's max |h| to at most kSafeMax: the division is exact. Every
  // other row keeps the plain result, bit for bit; the check costs one pass
  // over y.
  torch::Tensor x = torch::linear(h, w1_, b1_);
  const auto range = torch::aminmax(x.detach());  // one pass; a NaN makes the test below fail
  const bool fine =
      std::get<0>(range).item<double>() >= -kSafeY && std::get<1>(range).item<double>() <= kSafeY;
  const torch::Tensor bad = fine ? torch::Tensor() : (x.detach().abs().amax(1) <= kSafeY).logical_not();
  if (!fine && bad.any().item<bool>()) {
    const torch::Tensor idx = bad.nonzero().squeeze(1);
    const torch::Tensor hb = h.index_select(0, idx);
    const torch::Tensor amax = std::get<0>(hb.detach().abs().max(1));
    const torch::Tensor s =
        torch::exp2(torch::ceil(torch::log2(amax / kSafeMax))).clamp_min(1.0).unsqueeze(1);
    c10::List<c10::optional<at::Tensor>> rows;
    rows.push_back(idx);
    x = x.index_put(rows, torch::linear(hb / s, w1_) + b1_ / s);
  }
  x = torch::layer_norm(x, {cfg_.hidden_dim}, ln_w_, ln_b_, 1e-5);
  x = torch::gelu(x);
  return torch::linear(x, w2_, b2_);
}

torch::Tensor ValueHead::Distribution(const torch::Tensor& h) const {
  c10::InferenceMode im;
  torch::Tensor p = torch::softmax(Logits(h), -1);
  RequireFiniteRows(p, "predicted distributions");
  return p;
}

torch::Tensor ValueHead::Predict(const torch::Tensor& h) const {
  c10::InferenceMode im;
  torch::Tensor v = torch::matmul(torch::softmax(Logits(h), -1), atoms_);
  RequireFiniteRows(v, "predicted values");
  return v;
}

double ValueHead::Loss(const torch::Tensor& h, const torch::Tensor& v) const {
  c10::InferenceMode im;
  torch::Tensor t = Targets(v);
  return -(t * torch::log_softmax(Logits(h), -1)).sum(-1).mean().item<double>();
}

std::vector<torch::Tensor> ValueHead::Params() const { return {w1_, b1_, ln_w_, ln_b_, w2_, b2_}; }

double ValueHead::Step(const torch::Tensor& h, const torch::Tensor& target, double lr, double wd,
                       const std::string& where, double denom) {
  if (!opt_) {
    opt_ = std::make_unique<torch::optim::AdamW>(Params(), torch::optim::AdamWOptions(lr).weight_decay(wd));
  }
  auto& go = static_cast<torch::optim::AdamWOptions&>(opt_->param_groups()[0].options());
  go.lr(lr);
  go.weight_decay(wd);
  opt_->zero_grad();
  if (denom > 0) {
    // Data parallel: this rank's part of the global mean; the checks use the
    // summed gradients, which every rank holds alike, so all ranks stop together.
    const std::vector<torch::Tensor> params = Params();
    const std::size_t bytes = dist::BucketBytes();
    if (!reducer_ || reducer_bucket_bytes_ != bytes) {
      reducer_ = std::make_unique<dist::GradReducer>(params, "fit (gradient all-reduce)", bytes);
      reducer_bucket_bytes_ = bytes;
    }
    double out = 0;
    if (h.size(0) > 0) {
      torch::Tensor loss = -(target * torch::log_softmax(Logits(h), -1)).sum() / denom;
      reducer_->Backward(loss);
      out = loss.item<double>();
    }
    reducer_->Finish();
    const double norm = std::sqrt(GradNormSquared(params));
    if (!std::isfinite(norm))
      throw NonFiniteError("Non-finite total gradient norm (" + Num(norm) + ") summed over the ranks at " +
                           where + kStopped);
    opt_->step();
    return out;
  }
  torch::Tensor loss = -(target * torch::log_softmax(Logits(h), -1)).sum(-1).mean();
  const double value = loss.item<double>();
  if (!std::isfinite(value))
    throw NonFiniteError("Non-finite loss (" + Num(value) + ") at " + where + kStopped);
  loss.backward();
  const std::vector<torch::Tensor> params = Params();
  const double norm = std::sqrt(GradNormSquared(params));
  if (!std::isfinite(norm)) {
    const int64_t i = FirstNonFinite(params, true);
    throw NonFiniteError(
        (i >= 0 ? "Non-finite gradient of '" + StateDict()[static_cast<std::size_t>(i)].first + "'"
                : std::string("Non-finite total gradient norm")) +
        " at " + where + " (total gradient norm " + Num(norm) + ")" + kStopped);
  }
  opt_->step();
  return value;
}

void ValueHead::CheckAfter(const torch::Tensor& h, const torch::Tensor& target, const std::string& last,
                           const char* batch) const {
  // The loss on at most kCheckRows rows of the batch: any NaN/Infinity among
  // the weights reaches it (every logit feeds the log-softmax), so the weights
  // are scanned only to name the culprit. The check stays a small part of a step.
  double value;
  int64_t n;
  {
    c10::InferenceMode im;
    n = std::min<int64_t>(h.size(0), kCheckRows);
    value = -(target.slice(0, 0, n) * torch::log_softmax(Logits(h.slice(0, 0, n)), -1))
                 .sum(-1)
                 .mean()
                 .item<double>();
  }
  if (std::isfinite(value)) return;
  const int64_t i = FirstNonFinite(Params(), false);
  if (i >= 0)
    throw NonFiniteError("Non-finite weight '" + StateDict()[static_cast<std::size_t>(i)].first + "' after " +
                         last + kRestored);
  throw NonFiniteError("Non-finite loss (" + Num(value) + ") of " + batch + " (its first " +
                       std::to_string(n) + " rows) with the weights after " + last + kRestored);
}

template <typename F>
auto ValueHead::Transaction(F&& body) -> decltype(body()) {
  const bool had_opt = opt_ != nullptr;
  TrainSnapshot snapshot(Params(), opt_.get());
  try {
    return body();
  } catch (...) {
    snapshot.Restore();
    if (!had_opt) opt_.reset();
    throw;
  }
}

double ValueHead::TrainStep(const torch::Tensor& h, const torch::Tensor& v, double lr, double wd) {
  TorchThreadsHere();
  const torch::Tensor target = Targets(v);
  return Transaction([&] {
    const double loss = Step(h, target, lr, wd, "the training step");
    CheckAfter(h, target, "the training step", "the batch");
    return loss;
  });
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
  return Transaction([&] {
    std::vector<double> epoch_loss;
    int64_t step = 0;
    torch::Tensor last_idx;
    std::string last;
    for (int64_t e = 0; e < o.epochs; ++e) {
      torch::Tensor perm = at::randperm(n, g);
      double sum = 0;
      for (int64_t s = 0; s < per_epoch; ++s, ++step) {
        ThrowIfStopped(o.stop, "ValueHead.fit");
        torch::Tensor idx = perm.slice(0, s * bs, std::min(n, (s + 1) * bs));
        const double lr =
            o.cosine ? o.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total)) : o.lr;
        const std::string where = "epoch " + std::to_string(e + 1) + " of " + std::to_string(o.epochs) +
                                  ", minibatch " + std::to_string(s + 1) + " of " +
                                  std::to_string(per_epoch) + " (optimizer step " + std::to_string(step + 1) +
                                  " of " + std::to_string(total) + ")";
        sum += Step(h.index_select(0, idx), targets.index_select(0, idx), lr, o.weight_decay, where) *
               static_cast<double>(idx.size(0));
        last_idx = idx;
        last = where;
      }
      epoch_loss.push_back(sum / static_cast<double>(n));
      if (e + 1 == o.epochs)
        CheckAfter(h.index_select(0, last_idx), targets.index_select(0, last_idx), last,
                   "the last minibatch");
      if (progress) progress(e + 1, o.epochs, epoch_loss.back());
    }
    return epoch_loss;
  });
}

const char* ValueHead::kStopped =
    "; training was stopped before that step and the head and its optimizer state are as before the call";
const char* ValueHead::kRestored = "; the head and its optimizer state are as before the call";

// The single-rank Fit over the global set: the same permutation (shared
// seed), the same global minibatches; each rank steps on its members of each
// minibatch with the loss divided by the minibatch's global size, and the
// summed gradients make every rank take the single-rank step.
std::vector<double> ValueHead::FitDistributed(const torch::Tensor& h, const torch::Tensor& targets,
                                              const FitOptions& o,
                                              const std::function<void(int64_t, int64_t, double)>& progress) {
  if (!dist::IsInitialized())
    throw std::runtime_error(
        "fit: distributed is set but no process group is initialised; call initDistributed() first");
  // A collective can fail part-way (a rank died): the fit is then undone
  // (weights and AdamW state), so a failed fit leaves the head as it was.
  return Transaction([&] { return FitDistributedSteps(h, targets, o, progress); });
}

std::vector<double> ValueHead::FitDistributedSteps(
    const torch::Tensor& h, const torch::Tensor& targets, const FitOptions& o,
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
      dist::StopPoint(o.stop, "ValueHead.fit", true);
      const int64_t lo = s * bs, hi = std::min(G, (s + 1) * bs);
      torch::Tensor idx = dist::LocalShare(perm.slice(0, lo, hi), offset, n);
      const double lr =
          o.cosine ? o.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total)) : o.lr;
      const double count = static_cast<double>(hi - lo);
      const std::string where = "epoch " + std::to_string(e + 1) + " of " + std::to_string(o.epochs) +
                                ", minibatch " + std::to_string(s + 1) + " of " + std::to_string(per_epoch) +
                                " (optimizer step " + std::to_string(step + 1) + " of " +
                                std::to_string(total) + ")";
      sum[0] += Step(h.index_select(0, idx), targets.index_select(0, idx), lr, o.weight_decay, where, count) *
                count;
    }
    dist::AllReduceSum(sum, "fit (epoch loss)");
    epoch_loss.push_back(sum[0] / static_cast<double>(G));
    if (progress) progress(e + 1, o.epochs, epoch_loss.back());
  }
  return epoch_loss;
}

NamedTensors ValueHead::StateDict() const {
  return {{"net.0.weight", w1_}, {"net.0.bias", b1_},   {"net.1.weight", ln_w_},
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
    RequireFinite(*s, name, "value head's weights");
  }
  torch::NoGradGuard ng;
  for (auto& [name, dst] : mine)
    for (auto& [n2, t2] : src)
      if (n2 == name) dst.copy_(t2);
  opt_.reset();
}

}  // namespace f2g

#include "torch/image_value.h"

#include <cmath>
#include <stdexcept>

namespace f2g {

namespace {

/// Frames converted and embedded per chunk outside training (bounds memory).
constexpr int64_t kChunk = 256;
/// Rows of the last minibatch whose loss is checked after the last step.
constexpr int64_t kCheckRows = 64;

const char* kStopped =
    "; training was stopped before that step and the model (backbone and head) and its optimizer state are as "
    "before the call";
const char* kRestored = "; the model (backbone and head) and its optimizer state are as before the call";

torch::Tensor CrossEntropy(const torch::Tensor& logits, const torch::Tensor& target) {
  return -(target * torch::log_softmax(logits, -1)).sum(-1);
}

void ClearGrads(const std::vector<torch::Tensor>& params) {
  for (const torch::Tensor& p : params) const_cast<torch::Tensor&>(p).mutable_grad() = torch::Tensor();
}

}  // namespace

ImageValueModel::ImageValueModel(std::shared_ptr<ConvBackbone> backbone, const ValueHeadConfig& head)
    : backbone_(std::move(backbone)), head_([&] {
        ValueHeadConfig c = head;
        c.input_dim = backbone_->config().embed_dim;
        return c;
      }()) {}

std::vector<torch::Tensor> ImageValueModel::HeadParams() const {
  std::vector<torch::Tensor> out;
  for (auto& [name, t] : head_.StateDict()) out.push_back(t);
  return out;
}

std::vector<torch::Tensor> ImageValueModel::AllParams() const {
  std::vector<torch::Tensor> out = backbone_->Params();
  for (const torch::Tensor& t : HeadParams()) out.push_back(t);
  return out;
}

std::string ImageValueModel::NameOf(const torch::Tensor& t) const {
  for (auto& [name, s] : StateDict())
    if (s.is_same(t)) return "'" + name + "'";
  return "a model tensor";
}

torch::Tensor ImageValueModel::EmbedRows(const FrameSet& f, int64_t lo, int64_t hi) const {
  torch::NoGradGuard ng;  // not InferenceMode: the result may feed a head step
  std::vector<torch::Tensor> parts;
  for (int64_t s = lo; s < hi; s += kChunk) {
    const torch::Tensor rows = torch::arange(s, std::min(hi, s + kChunk), torch::kInt64);
    parts.push_back(backbone_->Forward(PrepareFrames(f, rows, nullptr)));
  }
  if (parts.empty()) return torch::empty({0, backbone_->config().embed_dim}, torch::kFloat32);
  return parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
}

torch::Tensor ImageValueModel::Embed(const FrameSet& f) const {
  TorchThreadsHere();
  return EmbedRows(f, 0, f.n);
}

torch::Tensor ImageValueModel::Predict(const FrameSet& f) const { return head_.Predict(Embed(f)); }

torch::Tensor ImageValueModel::Distribution(const FrameSet& f) const { return head_.Distribution(Embed(f)); }

double ImageValueModel::Loss(const FrameSet& f, const torch::Tensor& v) const {
  const torch::Tensor h = Embed(f);
  torch::NoGradGuard ng;
  return CrossEntropy(head_.Logits(h), head_.Targets(v)).mean().item<double>();
}

std::vector<double> ImageValueModel::Fit(const FrameSet& f, const torch::Tensor& v, const ImageFitOptions& o,
                                         const std::function<void(int64_t, int64_t, double)>& progress) {
  TorchThreadsHere();
  if (o.distributed && !dist::IsInitialized())
    throw std::runtime_error(
        "fit: distributed is set but no process group is initialised; call initDistributed() first");
  if (!o.distributed && f.n < 1) throw std::invalid_argument("Expected at least one frame to fit on");
  const torch::Tensor targets = head_.Targets(v);
  const std::vector<torch::Tensor> all = AllParams();
  const bool had_opt = opt_ != nullptr;
  if (!opt_) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(backbone_->Params(), std::make_unique<torch::optim::AdamWOptions>(o.backbone_lr));
    groups.emplace_back(HeadParams(), std::make_unique<torch::optim::AdamWOptions>(o.lr));
    opt_ = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(o.lr));
  }
  // The whole fit is one transaction: any failure (a non-finite step, a
  // collective that failed part-way) puts every tensor and moment back.
  TrainSnapshot snapshot(all, opt_.get());
  try {
    return FitSteps(f, targets, o, progress);
  } catch (...) {
    snapshot.Restore();
    if (!had_opt) opt_.reset();
    throw;
  }
}

std::vector<double> ImageValueModel::FitSteps(const FrameSet& f, const torch::Tensor& targets,
                                              const ImageFitOptions& o,
                                              const std::function<void(int64_t, int64_t, double)>& progress) {
  const std::vector<torch::Tensor> all = AllParams();
  const std::vector<torch::Tensor> trainable = o.joint ? all : HeadParams();
  const int64_t n = f.n;
  // Data parallel: this rank holds rows [offset, offset + n) of the global set of G rows.
  int64_t offset = 0, G = n;
  dist::GradReducer* reducer = nullptr;
  if (o.distributed) {
    dist::BroadcastTensors(all, "fit (parameter broadcast from rank 0)");
    const std::vector<int64_t> sizes = dist::GatherSizes(n, "fit (set sizes)");
    G = 0;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      if (static_cast<int64_t>(r) < dist::Rank()) offset += sizes[r];
      G += sizes[r];
    }
    if (G < 1) throw std::invalid_argument("Expected at least one frame to fit on over all ranks");
    const std::size_t bytes = dist::BucketBytes();
    if (reducer_bytes_ != bytes) {
      reducer_head_.reset();
      reducer_joint_.reset();
      reducer_bytes_ = bytes;
    }
    auto& slot = o.joint ? reducer_joint_ : reducer_head_;
    if (!slot) slot = std::make_unique<dist::GradReducer>(trainable, "fit (gradient all-reduce)", bytes);
    reducer = slot.get();
  }
  // The head stage without augmentation sees each frame's one embedding:
  // computed once instead of every epoch.
  const torch::Tensor cached = !o.joint && !o.augment ? EmbedRows(f, 0, n) : torch::Tensor();
  const int64_t bs = std::min<int64_t>(o.batch_size, G);
  const int64_t per_epoch = (G + bs - 1) / bs;
  const int64_t total = per_epoch * o.epochs;
  at::Generator g = MakeGen(o.seed);
  auto& groups = opt_->param_groups();
  auto embed = [&](const torch::Tensor& idx, int64_t epoch) {
    if (cached.defined()) return cached.index_select(0, idx);
    const torch::Tensor x = PrepareFrames(f, idx, o.augment ? &o.aug : nullptr, o.seed,
                                          static_cast<std::uint64_t>(epoch), idx + offset);
    if (o.joint) return backbone_->Forward(x);
    torch::NoGradGuard ng;
    return backbone_->Forward(x);
  };
  std::vector<double> epoch_loss;
  int64_t step = 0;
  torch::Tensor last_idx;
  int64_t last_epoch = 0;
  std::string last;
  for (int64_t e = 0; e < o.epochs; ++e) {
    const torch::Tensor perm = at::randperm(G, g);
    std::vector<double> sum{0.0};
    for (int64_t s = 0; s < per_epoch; ++s, ++step) {
      const int64_t lo = s * bs, hi = std::min(G, (s + 1) * bs);
      const double count = static_cast<double>(hi - lo);
      const torch::Tensor idx =
          o.distributed ? dist::LocalShare(perm.slice(0, lo, hi), offset, n) : perm.slice(0, lo, hi);
      const double scale = o.cosine ? 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total)) : 1.0;
      auto& bo = static_cast<torch::optim::AdamWOptions&>(groups[0].options());
      auto& ho = static_cast<torch::optim::AdamWOptions&>(groups[1].options());
      bo.lr(o.backbone_lr * scale).weight_decay(o.weight_decay);
      ho.lr(o.lr * scale).weight_decay(o.weight_decay);
      const std::string where = "epoch " + std::to_string(e + 1) + " of " + std::to_string(o.epochs) +
                                ", minibatch " + std::to_string(s + 1) + " of " + std::to_string(per_epoch) +
                                " (optimizer step " + std::to_string(step + 1) + " of " +
                                std::to_string(total) + ")";
      // Gradients start undefined on every tensor: AdamW then skips what this
      // stage does not train (the frozen backbone) entirely.
      ClearGrads(all);
      double value = 0;
      if (o.distributed) {
        if (idx.size(0) > 0) {
          const torch::Tensor loss =
              CrossEntropy(head_.Logits(embed(idx, e)), targets.index_select(0, idx)).sum() / count;
          reducer->Backward(loss);
          value = loss.item<double>();
        }
        reducer->Finish();
      } else {
        const torch::Tensor loss =
            CrossEntropy(head_.Logits(embed(idx, e)), targets.index_select(0, idx)).mean();
        value = loss.item<double>();
        if (!std::isfinite(value))
          throw NonFiniteError("Non-finite loss (" + Num(value) + ") at " + where + kStopped);
        loss.backward();
      }
      const double norm = std::sqrt(GradNormSquared(trainable));
      if (!std::isfinite(norm)) {
        const int64_t i = FirstNonFinite(trainable, true);
        throw NonFiniteError((i >= 0
                                  ? "Non-finite gradient of " + NameOf(trainable[static_cast<std::size_t>(i)])
                                  : std::string("Non-finite total gradient norm")) +
                             (o.distributed ? " summed over the ranks" : "") + " at " + where +
                             " (total gradient norm " + Num(norm) + ")" + kStopped);
      }
      opt_->step();
      sum[0] += value * (o.distributed ? count : static_cast<double>(idx.size(0)));
      last_idx = idx;
      last_epoch = e;
      last = where;
    }
    if (o.distributed) dist::AllReduceSum(sum, "fit (epoch loss)");
    epoch_loss.push_back(sum[0] / static_cast<double>(G));
    if (e + 1 == o.epochs) {
      // The weights after the last step, and (this rank's share of) the last
      // minibatch's loss with them: any NaN/Infinity among the weights reaches it.
      const int64_t bad = FirstNonFinite(trainable, false);
      if (bad >= 0)
        throw NonFiniteError("Non-finite weight " + NameOf(trainable[static_cast<std::size_t>(bad)]) +
                             " after " + last + kRestored);
      const int64_t rows = std::min<int64_t>(last_idx.size(0), kCheckRows);
      if (rows > 0) {
        torch::NoGradGuard ng;
        const torch::Tensor idx = last_idx.slice(0, 0, rows);
        const double check = CrossEntropy(head_.Logits(embed(idx, last_epoch)), targets.index_select(0, idx))
                                 .mean()
                                 .item<double>();
        if (!std::isfinite(check))
          throw NonFiniteError("Non-finite loss (" + Num(check) + ") of the last minibatch (its first " +
                               std::to_string(rows) + " rows) with the weights after " + last + kRestored);
      }
    }
    if (progress) progress(e + 1, o.epochs, epoch_loss.back());
  }
  return epoch_loss;
}

NamedTensors ImageValueModel::StateDict() const {
  NamedTensors out;
  for (auto& [name, t] : backbone_->StateDict()) out.emplace_back("backbone." + name, t);
  for (auto& [name, t] : head_.StateDict()) out.emplace_back("head." + name, t);
  return out;
}

void ImageValueModel::LoadStateDict(const NamedTensors& src) {
  CopyNamedStrict(StateDict(), src, "image value model's weights");
  opt_.reset();
}

}  // namespace f2g

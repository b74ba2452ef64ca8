#include "torch/conv_backbone.h"

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

namespace f2g {

namespace {

torch::Tensor Activate(const std::string& act, const torch::Tensor& x) {
  if (act == "relu") return torch::relu(x);
  if (act == "gelu") return torch::gelu(x);
  if (act == "silu") return torch::silu(x);
  if (act == "tanh") return torch::tanh(x);
  throw std::invalid_argument("Expected config.activation 'relu', 'gelu', 'silu' or 'tanh' but received '" +
                              act + "'");
}

std::string Shape(const torch::Tensor& t) {
  std::ostringstream s;
  s << "[";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? "," : "") << t.size(i);
  s << "]";
  return s.str();
}

}  // namespace

void CopyNamedStrict(const NamedTensors& dst, const NamedTensors& src, const std::string& what) {
  std::set<std::string> known;
  for (auto& d : dst) known.insert(d.first);
  for (auto& s : src)
    if (!known.count(s.first))
      throw std::invalid_argument("Unexpected tensor '" + s.first + "' in the " + what);
  for (auto& [name, t] : dst) {
    const torch::Tensor* s = nullptr;
    for (auto& [n2, t2] : src)
      if (n2 == name) s = &t2;
    if (!s) throw std::invalid_argument("Missing tensor '" + name + "' in the " + what);
    if (!s->sizes().equals(t.sizes()))
      throw std::invalid_argument("Expected tensor '" + name + "' of shape " + Shape(t) + " in the " + what +
                                  " but received shape " + Shape(*s));
    RequireFinite(*s, name, what);
  }
  torch::NoGradGuard ng;
  for (auto& [name, t] : dst)
    for (auto& [n2, t2] : src)
      if (n2 == name) t.copy_(t2);
}

ConvBackbone::ConvBackbone(const ConvBackboneConfig& cfg) : cfg_(cfg) {
  TorchThreadsHere();
  Activate(cfg.activation, torch::zeros({1}));
  at::Generator g = MakeGen(cfg.seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  int64_t c = 3, h = cfg.height, w = cfg.width;
  for (std::size_t i = 0; i < cfg.layers.size(); ++i) {
    const ConvLayerSpec& l = cfg.layers[i];
    const int64_t ho = ConvOut(h, l.kernel, l.stride, l.padding),
                  wo = ConvOut(w, l.kernel, l.stride, l.padding);
    const int64_t hp = l.pool > 1 ? ho / l.pool : ho, wp = l.pool > 1 ? wo / l.pool : wo;
    if (ho < 1 || wo < 1 || hp < 1 || wp < 1) {
      std::ostringstream m;
      m << "Expected config.layers[" << i << "] to leave a feature map of at least 1×1 but its input of " << h
        << "×" << w << " gives " << std::max<int64_t>(ho, 0) << "×" << std::max<int64_t>(wo, 0)
        << (l.pool > 1 ? " before a max-pool of " + std::to_string(l.pool) : std::string());
      throw std::invalid_argument(m.str());
    }
    torch::Tensor wt = torch::empty({l.channels, c, l.kernel, l.kernel}, opts);
    OrthogonalInit(wt, std::sqrt(2.0), g);
    conv_w_.push_back(wt);
    conv_b_.push_back(torch::zeros({l.channels}, opts));
    c = l.channels;
    h = hp;
    w = wp;
  }
  if (cfg.pool == "flatten") feature_dim_ = c * h * w;
  else if (cfg.pool == "avg" || cfg.pool == "max") feature_dim_ = c;
  else if (cfg.pool == "spatial-softmax") feature_dim_ = 2 * c;
  else
    throw std::invalid_argument(
        "Expected config.pool 'flatten', 'avg', 'max' or 'spatial-softmax' but received '" + cfg.pool + "'");
  proj_w_ = torch::empty({cfg.embed_dim, feature_dim_}, opts);
  OrthogonalInit(proj_w_, 1.0, g);
  proj_b_ = torch::zeros({cfg.embed_dim}, opts);
  norm_w_ = torch::ones({cfg.embed_dim}, opts);
  norm_b_ = torch::zeros({cfg.embed_dim}, opts);
  for (torch::Tensor& t : conv_w_) t.set_requires_grad(true);
  for (torch::Tensor& t : conv_b_) t.set_requires_grad(true);
  for (torch::Tensor* t : {&proj_w_, &proj_b_, &norm_w_, &norm_b_}) t->set_requires_grad(true);
}

torch::Tensor ConvBackbone::Features(const torch::Tensor& x) const {
  // Channels-last memory throughout (PrepareFrames writes it): libtorch's CPU
  // convolutions (oneDNN) run their backward pass several times faster in it
  // than in NCHW (measured: 94 against 252 µs per 64×64 frame, one thread, for
  // the default stack).
  torch::Tensor y = x.contiguous(at::MemoryFormat::ChannelsLast);
  for (std::size_t i = 0; i < conv_w_.size(); ++i) {
    const ConvLayerSpec& l = cfg_.layers[i];
    y = Activate(cfg_.activation, torch::conv2d(y, conv_w_[i], conv_b_[i], l.stride, l.padding));
    if (l.pool > 1) y = torch::max_pool2d(y, l.pool, l.pool);
  }
  return y;
}

torch::Tensor ConvBackbone::Forward(const torch::Tensor& x) const {
  torch::Tensor f = Features(x);
  const int64_t B = f.size(0), C = f.size(1), h = f.size(2), w = f.size(3);
  torch::Tensor r;
  if (cfg_.pool == "flatten") {
    r = f.reshape({B, C * h * w});
  } else if (cfg_.pool == "avg") {
    r = f.mean({2, 3});
  } else if (cfg_.pool == "max") {
    r = f.amax({2, 3});
  } else {
    // Expected coordinates under each channel's softmax over the h·w positions,
    // x and y in [−1, 1] (pixel centres): [B, C, 2] flattened as (x, y) pairs.
    torch::Tensor p = torch::softmax(f.reshape({B, C, h * w}), -1);
    torch::Tensor ys = torch::linspace(-1.0, 1.0, h, f.options()).repeat_interleave(w);
    torch::Tensor xs = torch::linspace(-1.0, 1.0, w, f.options()).repeat({h});
    if (h == 1) ys = torch::zeros({h * w}, f.options());
    if (w == 1) xs = torch::zeros({h * w}, f.options());
    r = torch::stack({torch::matmul(p, xs), torch::matmul(p, ys)}, -1).reshape({B, 2 * C});
  }
  torch::Tensor e = torch::linear(r, proj_w_, proj_b_);
  e = torch::layer_norm(e, {cfg_.embed_dim}, norm_w_, norm_b_, 1e-5);
  return torch::tanh(e);
}

std::vector<torch::Tensor> ConvBackbone::Params() const {
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < conv_w_.size(); ++i) {
    out.push_back(conv_w_[i]);
    out.push_back(conv_b_[i]);
  }
  for (const torch::Tensor* t : {&proj_w_, &proj_b_, &norm_w_, &norm_b_}) out.push_back(*t);
  return out;
}

NamedTensors ConvBackbone::StateDict() const {
  NamedTensors out;
  for (std::size_t i = 0; i < conv_w_.size(); ++i) {
    out.emplace_back("conv." + std::to_string(i) + ".weight", conv_w_[i]);
    out.emplace_back("conv." + std::to_string(i) + ".bias", conv_b_[i]);
  }
  out.emplace_back("proj.weight", proj_w_);
  out.emplace_back("proj.bias", proj_b_);
  out.emplace_back("norm.weight", norm_w_);
  out.emplace_back("norm.bias", norm_b_);
  return out;
}

torch::Tensor PrepareFrames(const FrameSet& f, const torch::Tensor& rows, const AugmentSpec* aug,
                            std::uint64_t seed, std::uint64_t stream, const torch::Tensor& keys) {
  const torch::Tensor r = rows.to(torch::kInt64).contiguous();
  const torch::Tensor k = keys.defined() ? keys.to(torch::kInt64).contiguous() : r;
  const int64_t n = r.size(0);
  // [n, H, W, 3] memory seen as [n, 3, H, W]: channels last, as the convolutions want it.
  torch::Tensor out = torch::empty({n, f.H, f.W, 3}, torch::kFloat32);
  if (n > 0)
    augment_frames(f.data, f.layout, static_cast<std::size_t>(f.n), static_cast<std::size_t>(f.H),
                   static_cast<std::size_t>(f.W), r.data_ptr<int64_t>(), static_cast<std::size_t>(n), aug,
                   seed, stream, k.data_ptr<int64_t>(), out.data_ptr<float>(), 0, true);
  return out.permute({0, 3, 1, 2});
}

void ConvBackbone::LoadStateDict(const NamedTensors& src) {
  CopyNamedStrict(StateDict(), src, "backbone's weights");
}

}  // namespace f2g

// Shared helpers of the libtorch classes (header-only; compiled only with
// libtorch): zero-copy tensors over caller memory, seeded generators, the
// initialisers of SPEC §4/§9, and per-thread libtorch thread setup.
#pragma once
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "torch/torch_info.h"

namespace f2g {

/// A number for error messages: as iostreams print it (6 significant digits), with the
/// non-finite values named as JavaScript names them (NaN, Infinity, -Infinity, not nan/inf).
inline std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::ostringstream s;
  s << v;
  return s.str();
}

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// A float32 tensor over `p` (no copy; the caller keeps the memory alive).
inline torch::Tensor Blob(const float* p, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(p), shape, torch::kFloat32);
}

/// A CPU generator with its own Mersenne-Twister state (no global RNG use).
inline at::Generator MakeGen(std::uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

/// Orthogonal initialisation (as torch.nn.init.orthogonal_): QR of a normal
/// matrix with the sign of R's diagonal folded in, times `gain`.
inline void OrthogonalInit(torch::Tensor w, double gain, at::Generator& g) {
  torch::NoGradGuard ng;
  const int64_t rows = w.size(0), cols = w.numel() / rows;
  torch::Tensor flat = at::normal(0.0, 1.0, {rows, cols}, g);
  if (rows < cols) flat = flat.t();
  auto qr = at::linalg_qr(flat);
  torch::Tensor q = std::get<0>(qr), r = std::get<1>(qr);
  q = q * torch::diagonal(r, 0).sign();
  if (rows < cols) q = q.t();
  w.view({rows, cols}).copy_(q * gain);
}

/// Kaiming-uniform with a = √5 (torch.nn.Linear's default, PEFT's lora_A):
/// U(−1/√fan_in, 1/√fan_in).
inline void KaimingUniformA5(torch::Tensor w, at::Generator& g) {
  torch::NoGradGuard ng;
  const double fan_in = static_cast<double>(w.size(1));
  const double gain = std::sqrt(2.0 / (1.0 + 5.0));
  const double bound = gain * std::sqrt(3.0 / fan_in);
  w.uniform_(-bound, bound, g);
}

/// Makes libtorch's intra-op thread count apply on the calling thread (the
/// count is per thread with OpenMP; libuv workers start with the default).
inline void TorchThreadsHere() {
  EnsureTorchThreads();
  static thread_local bool done = false;
  if (!done) {
    torch::set_num_threads(torch::get_num_threads());
    done = true;
  }
}

/// Marks an object busy for the duration of a call; a second concurrent call
/// fails with a clear message instead of racing on the same weights.
class BusyGuard {
 public:
  BusyGuard(std::atomic<bool>& flag, const char* what) : flag_(flag) {
    bool expected = false;
    if (!flag_.compare_exchange_strong(expected, true))
      throw std::runtime_error(std::string(what) +
                               " is busy with an asynchronous call (fit/update) in progress; await it first");
  }
  ~BusyGuard() { flag_.store(false); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& flag_;
};

/// A training step met a non-finite loss, gradient, metric or weight. Thrown
/// before the optimizer applies that step; the caller restores the state it
/// had when the call began (see TrainSnapshot), so the model is unchanged.
/// The message starts with "Non-finite " and names the quantity and the step.
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Σ‖grad‖² over `params` in double (undefined grads count as zero): the
/// squared total gradient norm, non-finite when any gradient element is.
inline double GradNormSquared(const std::vector<torch::Tensor>& params) {
  double sum = 0;
  for (const torch::Tensor& p : params) {
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    const double n = g.norm().item<double>();
    sum += n * n;
  }
  return sum;
}

/// Index of the first tensor holding a NaN or ±Infinity (−1 when none);
/// `grad` inspects the tensors' gradients instead of their values.
inline int64_t FirstNonFinite(const std::vector<torch::Tensor>& ts, bool grad) {
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const torch::Tensor t = grad ? ts[i].grad() : ts[i];
    if (t.defined() && !torch::isfinite(t).all().item<bool>()) return static_cast<int64_t>(i);
  }
  return -1;
}

/// The state a failed call must put back: the values of the trained tensors,
/// the AdamW moments and step counts, and any generators the call draws from.
/// Taken when a fit/update begins; Restore() returns the model, its optimizer
/// and its random streams bit for bit to that moment.
class TrainSnapshot {
 public:
  TrainSnapshot(const std::vector<torch::Tensor>& params, torch::optim::AdamW* opt,
                std::vector<at::Generator*> gens = {})
      : params_(params), opt_(opt) {
    torch::NoGradGuard ng;
    for (const torch::Tensor& p : params) values_.push_back(p.detach().clone());
    if (opt_) {
      for (auto& [key, st] : opt_->state()) {
        auto& s = static_cast<torch::optim::AdamWParamState&>(*st);
        auto c = std::make_unique<torch::optim::AdamWParamState>();
        c->step(s.step());
        c->exp_avg(s.exp_avg().clone());
        c->exp_avg_sq(s.exp_avg_sq().clone());
        if (s.max_exp_avg_sq().defined()) c->max_exp_avg_sq(s.max_exp_avg_sq().clone());
        state_.emplace_back(key, std::move(c));
      }
    }
    for (at::Generator* g : gens) gens_.emplace_back(g, g->clone());
  }

  /// Puts every tensor, moment and generator back; gradients are cleared.
  void Restore() {
    torch::NoGradGuard ng;
    for (std::size_t i = 0; i < params_.size(); ++i) {
      params_[i].detach().copy_(values_[i]);
      params_[i].mutable_grad() = torch::Tensor();
    }
    if (opt_) {
      auto& st = opt_->state();
      st.clear();
      for (auto& [key, s] : state_) {
        auto c = std::make_unique<torch::optim::AdamWParamState>();
        c->step(s->step());
        c->exp_avg(s->exp_avg().clone());
        c->exp_avg_sq(s->exp_avg_sq().clone());
        if (s->max_exp_avg_sq().defined()) c->max_exp_avg_sq(s->max_exp_avg_sq().clone());
        st[key] = std::move(c);
      }
    }
    for (auto& [g, saved] : gens_) *g = saved.clone();
  }

 private:
  std::vector<torch::Tensor> params_, values_;
  torch::optim::AdamW* opt_;
  std::vector<std::pair<std::string, std::unique_ptr<torch::optim::AdamWParamState>>> state_;
  std::vector<std::pair<at::Generator*, at::Generator>> gens_;
};

/// Throws std::invalid_argument (a RangeError in JS) naming the tensor and
/// its first NaN/±Infinity element.
inline void RequireFinite(const torch::Tensor& t, const std::string& name, const std::string& what) {
  if (t.numel() == 0 || torch::isfinite(t).all().item<bool>()) return;
  const torch::Tensor flat = t.detach().reshape({-1}).to(torch::kFloat32).contiguous();
  const float* p = flat.data_ptr<float>();
  for (int64_t i = 0; i < flat.numel(); ++i)
    if (!std::isfinite(p[i]))
      throw std::invalid_argument("Expected finite values in tensor '" + name + "' of the " + what +
                                  " but element " + std::to_string(i) + " is " +
                                  (std::isnan(p[i]) ? "NaN"
                                   : p[i] > 0       ? "Infinity"
                                                    : "-Infinity"));
}

/// Throws std::invalid_argument naming the first row (dim 0) of an output that
/// holds a NaN/±Infinity: the inputs of that row overflowed the model.
inline void RequireFiniteRows(const torch::Tensor& t, const char* what) {
  if (t.numel() == 0 || torch::isfinite(t).all().item<bool>()) return;
  const torch::Tensor rows = torch::isfinite(t.reshape({t.size(0), -1})).all(1).logical_not().nonzero();
  const int64_t row = rows.numel() ? rows[0][0].item<int64_t>() : 0;
  throw std::invalid_argument(std::string("The model's ") + what + " for row " + std::to_string(row) +
                              " of the input are not finite (its values overflow float32 inside the model)");
}

/// Copies a contiguous float tensor into `out` (length must match).
inline void CopyOut(const torch::Tensor& t, float* out) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(c.numel()));
}

}  // namespace f2g

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
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "torch/torch_info.h"

namespace f2g {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

/// A float32 tensor over `p` (no copy; the caller keeps the memory alive).
inline torch::Tensor Blob(const float* p, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<float*>(p), shape, torch::kFloat32);
}

/// A CPU generator with its own Mersenne-Twister state (no global RNG use).
inline at::Generator MakeGen(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

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

/// Copies a contiguous float tensor into `out` (length must match).
inline void CopyOut(const torch::Tensor& t, float* out) {
  torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  std::memcpy(out, c.data_ptr<float>(), sizeof(float) * static_cast<std::size_t>(c.numel()));
}

}  // namespace f2g

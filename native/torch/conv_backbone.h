// A small trainable convolutional backbone: frames [B, 3, H, W]
// in [0, 1] → conv stack (each layer Conv2d → activation → optional max-pool)
// → spatial reduction (flatten, global average, global max, or spatial
// softmax keypoints) → Linear → LayerNorm → tanh: an embedding [B, E].
// Parameter names follow a PyTorch module with `conv` an nn.ModuleList of
// Conv2d, `proj` an nn.Linear and `norm` an nn.LayerNorm:
//   conv.<i>.weight [C_i, C_{i−1}, k_i, k_i], conv.<i>.bias [C_i],
//   proj.weight [E, F], proj.bias [E], norm.weight [E], norm.bias [E].
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "kernels/augment.h"
#include "torch/tcommon.h"

namespace f2g {

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct ConvLayerSpec {
  int64_t channels = 0, kernel = 0, stride = 0, padding = 0;
  /// Max-pool window (and stride) after the activation; 1: none.
  int64_t pool = 0;
};

struct ConvBackboneConfig {
  int64_t height = 0, width = 0;
  std::vector<ConvLayerSpec> layers;
  /// "relu", "gelu", "silu" or "tanh".
  std::string activation;
  /// Spatial reduction of the last feature map: "flatten" (C·h·w features),
  /// "avg" or "max" (C), "spatial-softmax" (2C: the expected x and y in
  /// [−1, 1] of each channel's softmax over positions).
  std::string pool;
  int64_t embed_dim = 0;
  std::uint64_t seed = 0;
};

/// Output size of a convolution or pooling along one axis (≤ 0: too small).
inline int64_t ConvOut(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

class ConvBackbone {
 public:
  /// Throws std::invalid_argument naming the layer whose output would be empty.
  explicit ConvBackbone(const ConvBackboneConfig& cfg);
  const ConvBackboneConfig& config() const { return cfg_; }
  /// Size of the reduced features that `proj` maps to the embedding.
  int64_t FeatureDim() const { return feature_dim_; }

  /// Embeddings [B, E] of frames [B, 3, H, W] (autograd follows the caller's mode).
  torch::Tensor Forward(const torch::Tensor& x) const;
  /// The feature map of the conv stack, [B, C, h, w].
  torch::Tensor Features(const torch::Tensor& x) const;

  std::vector<torch::Tensor> Params() const;
  NamedTensors StateDict() const;
  /// Copies tensors in; names and shapes must equal StateDict()'s exactly (checked before any copy).
  void LoadStateDict(const NamedTensors& src);

  std::atomic<bool> busy{false};

 private:
  ConvBackboneConfig cfg_;
  std::vector<torch::Tensor> conv_w_, conv_b_;
  torch::Tensor proj_w_, proj_b_, norm_w_, norm_b_;
  int64_t feature_dim_ = 0;
};

/// A set of frames in caller (or call-owned) memory: n images of H×W in `layout`.
struct FrameSet {
  const void* data = nullptr;
  FrameLayout layout = FrameLayout::kU8HWC;
  int64_t n = 0, H = 0, W = 0;
};

/// Frames `rows` (int64, each in [0, n)) of `f` as float32 [rows, 3, H, W] in
/// [0, 1] (channels-last memory); augmented when `aug` is set, the draws of row i keyed by
/// (seed, stream, keys[i]) (keys int64 like rows; undefined: the rows).
torch::Tensor PrepareFrames(const FrameSet& f, const torch::Tensor& rows, const AugmentSpec* aug,
                            std::uint64_t seed = 0, std::uint64_t stream = 0,
                            const torch::Tensor& keys = torch::Tensor());

/// Copies `src` into `dst` by name; names and shapes must match exactly and
/// values be finite (std::invalid_argument naming the tensor and `what`),
/// checked for every tensor before any is copied.
void CopyNamedStrict(const NamedTensors& dst, const NamedTensors& src, const std::string& what);

}  // namespace f2g

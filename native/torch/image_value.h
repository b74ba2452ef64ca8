// The image value model: a ConvBackbone (shared, e.g. with a
// standalone JS handle) and the distributional value head of SPEC §4 over its
// embedding, trained in the paper's two stages — the head on the frozen
// backbone, then both jointly — with image augmentation on the training
// batches (kernels/augment.h). One AdamW with two parameter groups (backbone,
// head); a head-stage step leaves the backbone's gradients undefined, so
// AdamW skips its tensors (their values and moments stay bit for bit).
#pragma once
#include <atomic>
#include <functional>
#include <memory>

#include "torch/conv_backbone.h"
#include "torch/distributed.h"
#include "torch/value_head.h"

namespace f2g {

// Every field is set by the binding from the resolved TypeScript options,
// whose defaults are the only ones; the zeros here are not defaults.
struct ImageFitOptions {
  /// false: the head stage (backbone frozen); true: everything jointly.
  bool joint = false;
  int64_t epochs = 0;
  int64_t batch_size = 0;
  double lr = 0;           // the head's
  double backbone_lr = 0;  // the backbone's (joint stage)
  double weight_decay = 0;
  bool cosine = false;
  std::uint64_t seed = 0;
  bool augment = false;
  AugmentSpec aug;
  /// Data parallel over the process group: the frames are this rank's share
  /// of the global set (the ranks' sets concatenated in rank order).
  bool distributed = false;
};

class ImageValueModel {
 public:
  ImageValueModel(std::shared_ptr<ConvBackbone> backbone, const ValueHeadConfig& head);
  const std::shared_ptr<ConvBackbone>& backbone() const { return backbone_; }
  const ValueHead& head() const { return head_; }

  /// Embeddings [n, E] of every frame (no augmentation, no gradient).
  torch::Tensor Embed(const FrameSet& f) const;
  /// Values [n] in [0, 1] (expectation over the atoms).
  torch::Tensor Predict(const FrameSet& f) const;
  /// Distributions [n, bins].
  torch::Tensor Distribution(const FrameSet& f) const;
  /// Mean cross-entropy against the targets of v (no augmentation, no update).
  double Loss(const FrameSet& f, const torch::Tensor& v) const;

  /// Epochs of shuffled minibatches; returns the mean loss of each epoch. All
  /// or nothing, like ValueHead::Fit: a non-finite loss or gradient throws
  /// NonFiniteError before that step is applied, the weights are checked
  /// after the last step, and any failure puts the backbone, the head and
  /// the optimizer state back as they were when Fit began.
  std::vector<double> Fit(const FrameSet& f, const torch::Tensor& v, const ImageFitOptions& o,
                          const std::function<void(int64_t, int64_t, double)>& progress);

  /// `backbone.<name>` then `head.<name>`.
  NamedTensors StateDict() const;
  /// Names and shapes must equal StateDict()'s exactly (checked before any copy).
  void LoadStateDict(const NamedTensors& src);

  std::atomic<bool> busy{false};

 private:
  std::vector<torch::Tensor> HeadParams() const;
  std::vector<torch::Tensor> AllParams() const;
  torch::Tensor EmbedRows(const FrameSet& f, int64_t lo, int64_t hi) const;
  std::vector<double> FitSteps(const FrameSet& f, const torch::Tensor& targets, const ImageFitOptions& o,
                               const std::function<void(int64_t, int64_t, double)>& progress);
  std::string NameOf(const torch::Tensor& t) const;

  std::shared_ptr<ConvBackbone> backbone_;
  ValueHead head_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  std::unique_ptr<dist::GradReducer> reducer_head_, reducer_joint_;
  std::size_t reducer_bytes_ = 0;
};

}  // namespace f2g

// Training-time image augmentation for the learned convolutional backbone
// (native/torch/conv_backbone.h): frames are gathered from a set, converted to
// channel-first float32 in [0, 1] and, when asked, randomly shifted (pad with
// the edge pixels, then crop back: a shift of each image by whole pixels) and
// colour-jittered (contrast, brightness, per-channel gain, then clamped to
// [0, 1]). The random draws of an image depend only on (seed, stream, key),
// never on the order or the batch it is processed in, so a data-parallel fit
// augments a frame as a single process does.
#pragma once
#include <cstddef>
#include <cstdint>

namespace f2g {

/// Layout of a frame set: RGB bytes [n, H, W, 3] (the simulator's frames,
/// scaled by 1/255) or float32 [n, 3, H, W] already in [0, 1].
enum class FrameLayout { kU8HWC, kF32CHW };

/// Strengths of the augmentation; every field is set by the caller (the
/// binding, from TypeScript's resolved options). 0 turns a part off.
struct AugmentSpec {
  /// Largest shift in pixels along each axis: dx, dy uniform in [−shift, shift].
  std::int64_t shift = 0;
  /// Brightness factor b uniform in [1 − brightness, 1 + brightness].
  double brightness = 0;
  /// Contrast factor c uniform in [1 − contrast, 1 + contrast] around the image mean.
  double contrast = 0;
  /// Per-channel gain g_ch uniform in [1 − gain, 1 + gain], one per channel.
  double gain = 0;
};

/// The draws of one image.
struct ImageJitter {
  std::int64_t dx = 0, dy = 0;
  float brightness = 1, contrast = 1;
  float gain[3] = {1, 1, 1};
};

/// The draws for `key` in `stream` of `seed` (a counter-based hash: no state).
/// Parts that are off keep their identity value and draw nothing.
ImageJitter draw_jitter(const AugmentSpec& spec, std::uint64_t seed, std::uint64_t stream, std::uint64_t key);

/// out[i] = image rows[i] of `src` (n_src images of H×W) as float32 [3, H, W]
/// (or [H, W, 3] with hwc_out: the channels-last memory the convolutions use):
///   x = src / 255 (bytes) or src (floats), sampled at (y + dy, x + dx) with
///   coordinates clamped to the image (edge padding); then, with a jitter,
///   x ← ((x − m)·c + m)·b·g_ch clamped to [0, 1], computed as x·a + b' with
///   a = c·b·g_ch and b' = (1 − c)·m·b·g_ch; m is the mean of the shifted
///   image over its channels and pixels (bytes: Σ bytes / (255·3HW), exact).
/// `aug` null: conversion only (no draws). keys[i] (or rows[i] when keys is
/// null) keys the draws of out[i]. Rows must lie in [0, n_src) (checked by
/// the caller). Images run in parallel on the shared pool (at most `threads`,
/// 0 = all).
void augment_frames(const void* src, FrameLayout layout, std::size_t n_src, std::size_t H, std::size_t W,
                    const std::int64_t* rows, std::size_t n, const AugmentSpec* aug, std::uint64_t seed,
                    std::uint64_t stream, const std::int64_t* keys, float* out, std::size_t threads,
                    bool hwc_out = false);

}  // namespace f2g

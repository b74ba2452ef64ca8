// Image preprocessing of the model hub's image processors (transformers'
// PIL backend): resize with one of Pillow's resampling filters, centre crop,
// rescale and normalise, from RGB uint8 [n, H, W, 3] to channel-first float32
// [n, 3, h, w].
//
// The resize follows Pillow's 8-bit resampler step for step, so its bytes are
// the ones `Image.resize` gives: separable filter weights (support scaled by
// the reduction factor, so downscaling is antialiased), normalised to sum 1
// and rounded to 22-bit fixed point; a horizontal pass whose result is
// rounded and clipped to 8 bits, then a vertical pass; a pass is skipped when
// its side keeps its size; NEAREST picks the source pixel under each output
// pixel's centre. The weights are computed without fused multiply-adds (as
// Pillow's x86-64 build does), so the same doubles come out.
#pragma once
#include <cstddef>
#include <cstdint>

namespace f2g {

/// Pillow's filter numbers (PIL.Image.Resampling), as in preprocessor_config.json's `resample`.
enum ResampleFilter : int {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

/// What to do with every frame, in this order: resize to resize_h × resize_w
/// (skipped when `resize` is false or the size is unchanged); centre crop to
/// out_h × out_w (when `crop`; a crop larger than the image pads with zeros,
/// offsets floor((size − crop) / 2) as transformers' `center_crop`); then
/// x = float(u8 · rescale) (double product, when `rescale_on`) and, when
/// `normalize`, (x − mean[c]) / std[c] in float32. Without a crop the output
/// is the resized size.
struct ImagePrep {
  bool resize = false;
  std::size_t resize_h = 0, resize_w = 0;
  int filter = kBilinear;
  bool crop = false;
  std::size_t out_h = 0, out_w = 0;
  bool rescale_on = true;
  double rescale = 1.0 / 255.0;
  bool normalize = true;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
};

/// True for a filter number Pillow knows (0…5).
bool resample_filter_known(int filter);

/// Pillow's `Image.resize((ow, oh), filter)` of one RGB uint8 image [H, W, 3] → [oh, ow, 3].
void pil_resize_rgb(const std::uint8_t* in, std::size_t H, std::size_t W, std::size_t oh, std::size_t ow,
                    int filter, std::uint8_t* out);

/// Preprocesses `n` frames [n, H, W, 3] into `out` [n, 3, out_h, out_w] (see ImagePrep), frames in
/// parallel on the shared pool (at most `threads`, 0 = all). Only the part of the resized image the
/// crop keeps is computed.
void image_prep(const std::uint8_t* rgb, std::size_t n, std::size_t H, std::size_t W, const ImagePrep& p,
                float* out, std::size_t threads);

}  // namespace f2g

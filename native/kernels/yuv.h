// YUV → RGB for decoded video frames: planar 4:2:0 (ffmpeg's yuv420p raw
// layout) to interleaved RGB24, as ffmpeg's swscale converts them by default:
// each chroma sample covers a 2 × 2 block of luma (no interpolation), BT.601
// or BT.709 matrix, limited ("tv") or full ("pc") range. Plain C++ over pointers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/patchstats.h"

namespace f2g {

/// The YCbCr → RGB matrix.
enum class YuvMatrix { kBt601 = 601, kBt709 = 709 };

/// Bytes of one yuv420p frame: W·H luma, then ⌈W/2⌉·⌈H/2⌉ Cb and as many Cr bytes.
inline std::size_t yuv420p_frame_bytes(std::size_t W, std::size_t H) {
  return W * H + 2 * ((W + 1) / 2) * ((H + 1) / 2);
}

/// yuv: n frames of yuv420p_frame_bytes(W, H) bytes each, planes tight (no row padding).
/// rgb: n × H × W × 3 bytes. With Kr, Kb the matrix's constants (BT.601: 0.299, 0.114;
/// BT.709: 0.2126, 0.0722), Kg = 1 − Kr − Kb, and, in limited range,
/// y = (Y − 16)·255/219, cb = (Cb − 128)·255/224, cr = (Cr − 128)·255/224 (full range:
/// y = Y, cb = Cb − 128, cr = Cr − 128), where Cb, Cr are the samples of the pixel's 2 × 2 block:
///   R = y + 2(1 − Kr)·cr,  G = y − (2Kb(1 − Kb)·cb + 2Kr(1 − Kr)·cr) / Kg,  B = y + 2(1 − Kb)·cb,
/// each rounded to the nearest integer (in 16-bit fixed point) and clamped to [0, 255].
/// Rows run in parallel on the shared pool (at most `threads`, 0 = all).
void yuv420p_to_rgb24(const std::uint8_t* yuv, std::size_t n, std::size_t W, std::size_t H, YuvMatrix matrix,
                      bool full_range, std::uint8_t* rgb, std::size_t threads);

/// The built-in encoder (patch_stats) on yuv420p frames: each frame is converted as by
/// yuv420p_to_rgb24 into a per-thread scratch frame and encoded from there, so the result equals
/// patch_stats of the converted frames exactly, with no full-size RGB copy. Frames run in parallel
/// on the shared pool (at most `threads`, 0 = all). out: [n, grid_h*grid_w, 6+bins].
void patch_stats_yuv420p(const std::uint8_t* yuv, std::size_t n, std::size_t W, std::size_t H,
                         YuvMatrix matrix, bool full_range, const PatchStatsParams& p, float* out,
                         std::size_t threads);

}  // namespace f2g

// Built-in, weight-free patch encoder: every frame is cut into a grid of
// patches and each patch is described by its colour statistics (mean and
// standard deviation of R, G, B) and a magnitude-weighted histogram of
// gradient orientations of its luminance. Plain C++ over pointers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace f2g {

/// Every field is set by the caller (the defaults live in TypeScript only).
struct PatchStatsParams {
  std::size_t grid_h;  // patch rows
  std::size_t grid_w;  // patch columns
  std::size_t bins;    // orientation bins over [0, pi)
};

/// Feature length per patch: 6 colour statistics + `bins` histogram values.
inline std::size_t patch_stats_dim(const PatchStatsParams& p) { return 6 + p.bins; }

/// frames: [T, H, W, 3] uint8 RGB (row-major). out: [T, grid_h*grid_w, 6+bins].
/// Patch (i, j) covers rows [floor(i*H/gh), floor((i+1)*H/gh)) and columns
/// likewise; requires H ≥ grid_h and W ≥ grid_w. Per patch:
///   [meanR, meanG, meanB, stdR, stdG, stdB] / 255 (population std), then
///   hist[b] = Σ_px m·w_b / (n·255) where Y = 0.299R + 0.587G + 0.114B,
///   gx = (Y[y][x+1] − Y[y][x−1]) / 2, gy likewise (indices clamped at the
///   border), m = √(gx²+gy²), θ = atan2(gy, gx) mod π (a minimax arctangent,
///   |error| < 1e-5 rad), and θ is split linearly
///   between the two nearest bin centres (b + ½)·π/bins, circularly.
/// Frames run in parallel on the shared pool (at most `threads`, 0 = all).
void patch_stats(const std::uint8_t* frames, std::size_t T, std::size_t H, std::size_t W,
                 const PatchStatsParams& p, float* out, std::size_t threads);

}  // namespace f2g

// Frame preprocessing for learned encoders: RGB uint8 [n, H, W, 3] →
// normalised channel-first float32 [n, 3, H, W], (x/255 − mean[c]) / std[c].
#pragma once
#include <cstddef>
#include <cstdint>

namespace f2g {

/// Frames run in parallel on the shared pool (at most `threads`, 0 = all).
void frames_to_chw(const std::uint8_t* rgb, std::size_t n, std::size_t H, std::size_t W, const float mean[3],
                   const float std[3], float* out, std::size_t threads);

}  // namespace f2g

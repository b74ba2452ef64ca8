// Argument readers shared by the augmentation binding and the ConvBackbone
// bindings: a frame set in one of its two layouts and an augmentation spec.
#pragma once
#include <optional>
#include <sstream>
#include <string>

#include "bindings/napi_util.h"
#include "kernels/augment.h"
#include "kernels/finite.h"

namespace f2g {

/// Frames as the caller passed them (not copied).
struct FramesView {
  const void* data = nullptr;
  FrameLayout layout = FrameLayout::kU8HWC;
  std::size_t n = 0, H = 0, W = 0;
  /// Elements (bytes for kU8HWC, floats for kF32CHW) of the n frames.
  std::size_t count = 0;
  View<std::uint8_t> u8;
  View<float> f32;
};

/// A Uint8Array of n RGB frames [n, H, W, 3] or a Float32Array [n, 3, H, W]
/// whose values lie in [0, 1] (checked here: RangeError naming the element).
inline FramesView FramesArg(const Napi::Value& v, std::size_t n, std::size_t H, std::size_t W,
                            const char* name) {
  FramesView f;
  f.n = n;
  f.H = H;
  f.W = W;
  f.count = CheckedProduct({n, H, W, 3}, name);
  const std::string data = std::string(name) + ".data";
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    f.u8 = Uint8Arg(v, data.c_str());
    RequireLength(
        f.u8.length, f.count, data.c_str(),
        "[" + std::to_string(n) + "," + std::to_string(H) + "," + std::to_string(W) + ",3] (RGB bytes)");
    f.layout = FrameLayout::kU8HWC;
    f.data = f.u8.data;
    return f;
  }
  if (!(v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array))
    ThrowType(
        "Expected a Uint8Array ([B, H, W, 3] RGB bytes) or a Float32Array ([B, 3, H, W] in [0, 1]) for " +
        data + " but received " + Describe(v));
  f.f32 = Float32Arg(v, data.c_str());
  RequireLength(f.f32.length, f.count, data.c_str(),
                "[" + std::to_string(n) + ",3," + std::to_string(H) + "," + std::to_string(W) + "]");
  if (!AllInRange(f.f32.data, f.count, 0.0f, 1.0f)) {
    for (std::size_t i = 0; i < f.count; ++i) {
      const float x = f.f32.data[i];
      if (!(x >= 0.0f && x <= 1.0f)) {
        std::ostringstream m;
        m << "Expected float frames with values in [0, 1] for " << data << " but element " << i << " is ";
        if (x != x) m << "NaN";
        else m << x;
        ThrowRange(m.str());
      }
    }
  }
  f.layout = FrameLayout::kF32CHW;
  f.data = f.f32.data;
  return f;
}

/// {shift, brightness, contrast, gain}: every key present (TypeScript resolves them).
inline AugmentSpec AugmentArg(const Napi::Value& v, const char* name) {
  Fields o(v, name);
  AugmentSpec a;
  a.shift = static_cast<std::int64_t>(o.Size("shift"));
  a.brightness = o.Number("brightness");
  a.contrast = o.Number("contrast");
  a.gain = o.Number("gain");
  // Their ranges are src/torch/backbone.ts's (resolveAugment) to check; any
  // shift stays inside the image (the kernel clamps shifted coordinates).
  return a;
}

}  // namespace f2g

// What the RL bindings and their CUDA twins (bindings/rl.cc, rl_cuda.cc)
// share: the one result object of the losses and the check that a mask
// counted some step.
#pragma once
#include "bindings/napi_util.h"

namespace f2g {

/// A reduced loss as JavaScript receives it from either twin:
/// { loss, clipFraction, dualClipFraction, approxKl, count } (count = Σ mask).
inline Napi::Value LossToJs(Napi::Env env, double loss, double clip_fraction, double dual_clip_fraction,
                            double approx_kl, double count) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", loss);
  o.Set("clipFraction", clip_fraction);
  o.Set("dualClipFraction", dual_clip_fraction);
  o.Set("approxKl", approx_kl);
  o.Set("count", count);
  return o;
}

/// A RangeError when the mask counted no step (every loss would divide by 0).
inline void RequireMasked(double count) {
  if (count == 0) ThrowRange("Expected at least one 1 in mask.data but received no ones");
}

}  // namespace f2g

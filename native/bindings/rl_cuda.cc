// The CUDA twins of bindings/rl.cc (SPEC §6–8 on DeviceBuffers, kernels in
// cuda/rl.cu): the same calling convention (input, opts, out), the same
// option names and modes (kernels/rl_modes.h), device memory instead of typed
// arrays. Flag inputs are uint8 or float32 device memory, as opts.<name>Dtype
// says. Each twin runs on a fresh stream and waits for it; CUDA errors become
// JS Errors naming the call, bad data a RangeError.
#include <cstdint>
#include <string>

#include "bindings/cuda_glue.h"
#include "bindings/rl_glue.h"

namespace f2g {
namespace {

// rlGaeCuda({ rewards, values, nextValues, terminated, done },
//           { B, T, gamma, lambda, timeMajor, terminatedDtype, doneDtype }, { advantages, returns })
Napi::Value Gae(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  const std::size_t B = o.Size("B"), T = o.Size("T"), n = CheckedProduct({B, T, 4}, "rewards") / 4;
  DeviceMemPtr r = DeviceArg(in.Need("rewards"), "rewards", n * 4, -1);
  const int dev = r->device;
  DeviceMemPtr v = DeviceArg(in.Need("values"), "values", n * 4, dev);
  DeviceMemPtr nv = DeviceArg(in.Need("nextValues"), "nextValues", n * 4, dev);
  DeviceFlags term = DeviceFlagsArg(in, o, "terminated", n, dev, false);
  DeviceFlags done = DeviceFlagsArg(in, o, "done", n, dev, false);
  DeviceMemPtr a = DeviceArg(out.Need("advantages"), "out.advantages", n * 4, dev);
  DeviceMemPtr ret = DeviceArg(out.Need("returns"), "out.returns", n * 4, dev);
  const double gamma = o.Number("gamma"), lambda = o.Number("lambda");
  const bool tm = o.Bool("timeMajor");
  RunChecked(
      dev, "gae",
      "expected finite rewards, values and nextValues and 0/1 flags (a value is NaN/Inf or a flag is not 0/1)",
      [&](cuda::Stream s, int* st) {
        cuda::gae(F32(r), F32(v), F32(nv), term.f, done.f, B, T, gamma, lambda, tm, F32w(a), F32w(ret), st,
                  s);
      });
  return info.Env().Undefined();
}

// rlGrpoAdvantagesCuda({ rewards }, { n, groupSize, epsilon, std, scale }, { advantages })
Napi::Value Grpo(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  const std::size_t n = o.Size("n"), g = o.Size("groupSize", 1);
  // Groups are read g at a time: g must divide n to stay inside the rewards.
  if (n % g != 0)
    ThrowRange("Expected opts.groupSize to divide the number of rewards (" + std::to_string(n) +
               ") but received " + std::to_string(g));
  DeviceMemPtr R = DeviceArg(in.Need("rewards"), "rewards", n * 4, -1);
  DeviceMemPtr adv = DeviceArg(out.Need("advantages"), "out.advantages", n * 4, R->device);
  const auto kind = o.Enum<rl::StdKind>("std", rl::kStdKindNames);
  const auto scale = o.Enum<rl::Scale>("scale", rl::kScaleNames);
  const double eps = o.Number("epsilon");
  RunChecked(R->device, "grpoAdvantages", "expected finite rewards (a reward is NaN/Inf)",
             [&](cuda::Stream s, int* st) {
               cuda::grpo_advantages(F32(R), n, g, eps, kind, scale == rl::Scale::kBatch, F32w(adv), st, s);
             });
  return info.Env().Undefined();
}

// rlStepAdvantagesCuda({ trajectoryAdvantages, lengths (int32) }, { B, horizon, gamma }, { advantages })
//   lengths must lie in [1, horizon] (the TypeScript core checks them on the host before the upload).
Napi::Value StepAdv(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  const std::size_t B = o.Size("B"), H = o.Size("horizon", 1);
  DeviceMemPtr a = DeviceArg(in.Need("trajectoryAdvantages"), "trajectoryAdvantages", B * 4, -1);
  DeviceMemPtr L = DeviceArg(in.Need("lengths"), "lengths", B * 4, a->device);
  DeviceMemPtr adv =
      DeviceArg(out.Need("advantages"), "out.advantages", CheckedProduct({B, H, 4}, "out"), a->device);
  const double gamma = o.Number("gamma");
  RunChecked(a->device, "stepAdvantages", "expected finite advantages", [&](cuda::Stream s, int* st) {
    cuda::step_advantages(F32(a), static_cast<const std::int32_t*>(L->ptr), B, H, gamma, F32w(adv), st, s);
  });
  return info.Env().Undefined();
}

// The reduced loss of `launch(d_out, stream)` on `device`, as LossToJs.
template <class F>
Napi::Value RunLoss(Napi::Env env, int device, const char* call, F launch) {
  cuda::LossOut h{};
  cuda::set_device(device, call);
  CallStream s(call);
  StreamScratch d(sizeof(cuda::LossOut), s.s, call);
  launch(static_cast<cuda::LossOut*>(d.p), s.s);
  cuda::copy_d2h(&h, d.p, sizeof h, s.s, call);
  cuda::stream_sync(s.s, call);
  if (!h.ok)
    ThrowRange(std::string(call) +
               ": expected finite inputs and a 0/1 mask (a value is NaN/Inf or a flag is not 0/1)");
  RequireMasked(h.masked);
  return LossToJs(env, h.loss, h.clip_fraction, h.dual_clip_fraction, h.approx_kl, h.masked);
}

// The [B,T] float inputs of a loss, in order (`required`, then `optional` when
// given), on the device of the first, and its optional mask.
struct LossArgs {
  std::size_t B, T, n;
  DeviceMemPtr x[3];
  DeviceFlags mask;
  int device = -1;
};
LossArgs LossInputs(const Fields& in, const Fields& o, std::initializer_list<const char*> required,
                    const char* optional = nullptr) {
  LossArgs a;
  a.B = o.Size("B");
  a.T = o.Size("T");
  a.n = CheckedProduct({a.B, a.T, 4}, "input") / 4;
  std::size_t i = 0;
  for (const char* k : required) {
    a.x[i] = DeviceArg(in.Need(k), k, a.n * 4, a.device);
    a.device = a.x[i++]->device;
  }
  const Napi::Value v = optional ? in.Maybe(optional) : Napi::Value();
  if (optional && !v.IsUndefined() && !v.IsNull()) a.x[i] = DeviceArg(v, optional, a.n * 4, a.device);
  a.mask = DeviceFlagsArg(in, o, "mask", a.n, a.device, true);
  return a;
}

// rlClippedSurrogateCuda({ logProbs, oldLogProbs, advantages, mask? },
//                        { B, T, clipLow, clipHigh, dualClip (0 = off), aggregation, maskDtype? })
Napi::Value Surrogate(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts");
  LossArgs a = LossInputs(in, o, {"logProbs", "oldLogProbs", "advantages"});
  const double lo = o.Number("clipLow"), hi = o.Number("clipHigh"), dual = o.Number("dualClip");
  const auto agg = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  return RunLoss(info.Env(), a.device, "clippedSurrogate", [&](cuda::LossOut* d, cuda::Stream s) {
    cuda::clipped_surrogate(F32(a.x[0]), F32(a.x[1]), F32(a.x[2]), a.mask.f, a.B, a.T, lo, hi, dual, agg, d,
                            s);
  });
}

// rlClippedValueLossCuda({ values, returns, oldValues?, mask? },
//                        { B, T, clip (0 = off), huberDelta (0 = off), aggregation, maskDtype? })
Napi::Value ValueLoss(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts");
  LossArgs a = LossInputs(in, o, {"values", "returns"}, "oldValues");
  const double clip = o.Number("clip"), delta = o.Number("huberDelta");
  // The kernel reads oldValues where clip > 0.
  if (clip > 0 && !a.x[2])
    ThrowType("Expected a DeviceTensor for oldValues (needed by opts.clip) but received " +
              Describe(in.Maybe("oldValues")));
  const auto agg = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  return RunLoss(info.Env(), a.device, "clippedValueLoss", [&](cuda::LossOut* d, cuda::Stream s) {
    cuda::value_loss(F32(a.x[0]), F32(a.x[1]), a.x[2] ? F32(a.x[2]) : nullptr, a.mask.f, a.B, a.T, clip,
                     delta, agg, d, s);
  });
}

// rlKlPenaltyCuda({ logProbs, refLogProbs, mask? }, { B, T, estimator, aggregation, maskDtype? })
Napi::Value Kl(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts");
  LossArgs a = LossInputs(in, o, {"logProbs", "refLogProbs"});
  const auto est = o.Enum<rl::KlEstimator>("estimator", rl::kKlEstimatorNames);
  const auto agg = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  return RunLoss(info.Env(), a.device, "klPenalty", [&](cuda::LossOut* d, cuda::Stream s) {
    cuda::kl_penalty(F32(a.x[0]), F32(a.x[1]), a.mask.f, a.B, a.T, est, agg, d, s);
  });
}

void Init(Napi::Env env, Napi::Object exports) {
  ExportCuda<Gae>(env, exports, "rlGaeCuda");
  ExportCuda<Grpo>(env, exports, "rlGrpoAdvantagesCuda");
  ExportCuda<StepAdv>(env, exports, "rlStepAdvantagesCuda");
  ExportCuda<Surrogate>(env, exports, "rlClippedSurrogateCuda");
  ExportCuda<ValueLoss>(env, exports, "rlClippedValueLossCuda");
  ExportCuda<Kl>(env, exports, "rlKlPenaltyCuda");
}

}  // namespace

F2G_REGISTER(rl_cuda, Init);

}  // namespace f2g

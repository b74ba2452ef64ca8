// N-API bindings for the RL kernels (SPEC §5–8). Thin: check sizes against
// the arrays, view typed arrays in place, call kernels/rl.h. Every call is
// (input, opts, out?) (bindings/napi_util.h); the TypeScript core (src/core/rl.ts)
// resolves and validates every option once and sends it, so nothing here
// checks an option's range. On the error path (a kernel reports bad data)
// name the first offending argument and element. An output that partially
// overlaps an input is refused (RejectOverlap). The CUDA twins are in
// rl_cuda.cc.
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <string>

#include "bindings/napi_util.h"
#include "bindings/rl_glue.h"
#include "kernels/rl.h"

namespace f2g {
namespace {

using rl::FlagView;

std::string Shape2(std::size_t B, std::size_t T) {
  return "[" + std::to_string(B) + "," + std::to_string(T) + "]";
}

View<float> Tensor2(const Napi::Value& v, const char* name, std::size_t n, const std::string& shape) {
  View<float> x = Float32Arg(v, name);
  RequireLength(x.length, n, name, shape);
  return x;
}

// Flag array: Uint8Array or Float32Array; null/undefined allowed when optional.
FlagView FlagArg(const Napi::Value& v, const char* name, std::size_t n, const std::string& shape,
                 bool optional) {
  FlagView f;
  if (optional && (v.IsUndefined() || v.IsNull())) return f;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    View<std::uint8_t> u = Uint8Arg(v, name);
    RequireLength(u.length, n, name, shape);
    f.u8 = u.data;
  } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    View<float> x = Float32Arg(v, name);
    RequireLength(x.length, n, name, shape);
    f.f32 = x.data;
  } else {
    ThrowType(std::string("Expected a Uint8Array or a 0/1 Float32Array for ") + name + " but received " +
              Describe(v));
  }
  return f;
}

// "index i (row b, step t)" for [B,T] data; time-major [T,B] data reads
// "index i (step t, env b)". row_len = 0: flat data.
std::string Where(std::int64_t i, std::size_t row_len, bool time_major) {
  if (row_len == 0) return "index " + std::to_string(i);
  const std::int64_t n = static_cast<std::int64_t>(row_len);
  return "index " + std::to_string(i) + (time_major ? " (step " : " (row ") + std::to_string(i / n) +
         (time_major ? ", env " : ", step ") + std::to_string(i % n) + ")";
}

Span FloatSpan(const float* p, std::size_t n, const char* name) { return {p, n * sizeof(float), name}; }
Span FlagSpan(const FlagView& f, std::size_t n, const char* name) {
  if (f.u8) return {f.u8, n, name};
  return {f.f32, f.f32 ? n * sizeof(float) : 0, name};
}

// The GAE level: the CPU's, capped by FEAT2GO_GAE_ISA=0|3 (to test both
// kernels on one machine), read once per process when the addon loads.
// Kernels never read the environment; they take the level as an argument.
int GaeIsa() {
  static const int level = [] {
    int cap = -1;
    if (const char* v = std::getenv("FEAT2GO_GAE_ISA")) cap = std::atoi(v);
    return rl::gae_isa_level(cap);
  }();
  return level;
}

std::string FloatStr(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", x);
  return buf;
}

struct Named {
  const char* name;
  const float* data = nullptr;
  FlagView flag;
};

// Throws RangeError naming the first non-finite value / non-0/1 flag in the
// given arguments (checked in order). `T` = row length for row/step in the
// message (0: flat).
[[noreturn]] void ThrowBadData(std::initializer_list<Named> args, std::size_t n, std::size_t T,
                               bool time_major = false) {
  for (const Named& a : args) {
    if (a.data) {
      std::int64_t i = rl::locate_non_finite(a.data, n);
      if (i >= 0)
        ThrowRange(std::string("Expected finite values for ") + a.name + " but received " +
                   FloatStr(a.data[i]) + " at " + Where(i, T, time_major));
    } else if (a.flag.present()) {
      std::int64_t i = rl::locate_bad_flag(a.flag, n);
      if (i >= 0) {
        double v = a.flag.u8 ? a.flag.u8[i] : a.flag.f32[i];
        ThrowRange(std::string("Expected 0 or 1 for ") + a.name + " but received " + FloatStr(v) + " at " +
                   Where(i, T, time_major));
      }
    }
  }
  ThrowRange("Expected finite results but the computation overflowed");
}

Napi::Value ToJs(Napi::Env env, const rl::LossResult& r) {
  RequireMasked(static_cast<double>(r.masked));
  return LossToJs(env, r.loss, r.clip_fraction, r.dual_clip_fraction, r.approx_kl,
                  static_cast<double>(r.masked));
}

// rlShapeTerminalRewards({ success: Uint8Array 0/1, terminalValues }, { failureScale }, { rewards })
Napi::Value ShapeTerminal(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto s = Uint8Arg(in.Need("success"), "success");
  auto v = Float32Arg(in.Need("terminalValues"), "terminalValues");
  if (v.length != s.length)
    ThrowRange("Expected terminalValues of length " + std::to_string(s.length) + " (success) but received " +
               std::to_string(v.length));
  double scale = o.Number("failureScale");
  auto out = Float32Arg(res.Need("rewards"), "out");
  RequireLength(out.length, s.length, "out", "[n]");
  RejectOverlap(FloatSpan(out.data, s.length, "out"), {FloatSpan(v.data, v.length, "terminalValues")});
  RejectOverlap(FloatSpan(out.data, s.length, "out"), {{s.data, s.length, "success"}}, false);
  if (rl::locate_bad_flag(FlagView{s.data, nullptr}, s.length) >= 0)
    ThrowBadData({{"success", nullptr, {s.data, nullptr}}}, s.length, 0);
  if (!rl::shape_terminal_rewards(s.data, v.data, s.length, scale, out.data))
    ThrowBadData({{"terminalValues", v.data, {}}}, v.length, 0);
  return info.Env().Undefined();
}

// Checks lengths[i] ∈ [1, H].
void CheckLengths(const View<std::int32_t>& L, std::size_t H) {
  for (std::size_t i = 0; i < L.length; ++i)
    if (L.data[i] < 1 || static_cast<std::size_t>(L.data[i]) > H)
      ThrowRange("Expected an integer in [1, " + std::to_string(H) + "] for lengths[" + std::to_string(i) +
                 "] but received " + std::to_string(L.data[i]));
}

// rlTerminalRewards({ lengths: Int32Array, rewards }, { horizon, threads }, { stepRewards: [B*horizon] })
Napi::Value TerminalRewards(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto L = Int32Arg(in.Need("lengths"), "lengths");
  auto R = Float32Arg(in.Need("rewards"), "rewards");
  if (R.length != L.length)
    ThrowRange("Expected rewards of length " + std::to_string(L.length) + " (lengths) but received " +
               std::to_string(R.length));
  std::size_t H = SizeArg(o.Need("horizon"), "horizon", 1);
  std::size_t threads = o.Size("threads");
  auto out = Float32Arg(res.Need("stepRewards"), "out");
  const std::size_t n = CheckedProduct({L.length, H}, "out");
  RequireLength(out.length, n, "out", Shape2(L.length, H));
  RejectOverlap(
      FloatSpan(out.data, n, "out"),
      {{L.data, L.length * sizeof(std::int32_t), "lengths"}, FloatSpan(R.data, R.length, "rewards")}, false);
  CheckLengths(L, H);
  if (rl::locate_non_finite(R.data, R.length) >= 0) ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
  rl::terminal_rewards(L.data, R.data, L.length, H, out.data, threads);
  return info.Env().Undefined();
}

// rlGae({ rewards, values, nextValues, terminated, done },
//       { B, T, gamma, lambda, timeMajor, threads }, { advantages, returns })
Napi::Value Gae(const Napi::CallbackInfo& info) {
  Fields x(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  std::size_t B = o.Size("B"), T = o.Size("T");
  std::size_t n = CheckedProduct({B, T}, "rewards");
  bool tm = o.Bool("timeMajor");
  std::string shape = tm ? Shape2(T, B) : Shape2(B, T);
  rl::GaeInputs in;
  in.rewards = Tensor2(x.Need("rewards"), "rewards.data", n, shape).data;
  in.values = Tensor2(x.Need("values"), "values.data", n, shape).data;
  in.next_values = Tensor2(x.Need("nextValues"), "nextValues.data", n, shape).data;
  in.terminated = FlagArg(x.Need("terminated"), "terminated.data", n, shape, false);
  in.done = FlagArg(x.Need("done"), "done.data", n, shape, false);
  double gamma = o.Number("gamma"), lambda = o.Number("lambda");
  std::size_t threads = o.Size("threads");
  auto adv = Tensor2(out.Need("advantages"), "opts.out.advantages", n, shape);
  auto ret = Tensor2(out.Need("returns"), "opts.out.returns", n, shape);
  RejectOverlap(FloatSpan(ret.data, n, "opts.out.returns"), {FloatSpan(adv.data, n, "opts.out.advantages")},
                false);
  for (const float* o_ : {adv.data, ret.data}) {
    const char* oname = o_ == adv.data ? "opts.out.advantages" : "opts.out.returns";
    RejectOverlap(FloatSpan(o_, n, oname),
                  {FloatSpan(in.rewards, n, "rewards.data"), FloatSpan(in.values, n, "values.data"),
                   FloatSpan(in.next_values, n, "nextValues.data")});
    RejectOverlap(FloatSpan(o_, n, oname),
                  {FlagSpan(in.terminated, n, "terminated.data"), FlagSpan(in.done, n, "done.data")}, false);
  }
  // An output may be the very same array as an input (checked above). The
  // kernels then overwrite inputs they no longer need, but the blocked scan
  // re-reads its inputs to tell a bad input from a δ that overflowed float:
  // so check the inputs first, and a later failure can only be the flags.
  bool aliased = false;
  for (const float* o_ : {adv.data, ret.data})
    for (const float* i_ : {in.rewards, in.values, in.next_values}) aliased = aliased || o_ == i_;
  std::size_t row = tm ? B : T;
  if (aliased)
    for (const float* i_ : {in.rewards, in.values, in.next_values})
      if (rl::locate_non_finite(i_, n) >= 0)
        ThrowBadData({{"rewards.data", in.rewards, {}},
                      {"values.data", in.values, {}},
                      {"nextValues.data", in.next_values, {}}},
                     n, row, tm);
  if (!rl::gae(in, B, T, gamma, lambda, tm, adv.data, ret.data, threads, GaeIsa())) {
    if (aliased) {
      if (rl::locate_bad_flag(in.terminated, n) < 0 && rl::locate_bad_flag(in.done, n) < 0)
        return info.Env().Undefined();  // finite inputs whose δ overflowed: A is ±Infinity, as documented
      ThrowBadData({{"terminated.data", nullptr, in.terminated}, {"done.data", nullptr, in.done}}, n, row,
                   tm);
    }
    ThrowBadData({{"rewards.data", in.rewards, {}},
                  {"values.data", in.values, {}},
                  {"nextValues.data", in.next_values, {}},
                  {"terminated.data", nullptr, in.terminated},
                  {"done.data", nullptr, in.done}},
                 n, row, tm);
  }
  return info.Env().Undefined();
}

// Groups are read g at a time: g must divide n to stay inside the rewards.
std::size_t GroupSize(const Fields& o, std::size_t n) {
  std::size_t g = o.Size("groupSize", 1);
  if (n % g != 0)
    ThrowRange("Expected opts.groupSize to divide the number of rewards (" + std::to_string(n) +
               ") but received " + std::to_string(g));
  return g;
}

// rlGrpoAdvantages({ rewards }, { groupSize, epsilon, std, scale }, { advantages })
Napi::Value Grpo(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto R = Float32Arg(in.Need("rewards"), "rewards");
  std::size_t g = GroupSize(o, R.length);
  double eps = o.Number("epsilon");
  auto kind = o.Enum<rl::StdKind>("std", rl::kStdKindNames);
  auto scale = o.Enum<rl::Scale>("scale", rl::kScaleNames);
  auto out = Float32Arg(res.Need("advantages"), "out");
  RequireLength(out.length, R.length, "out", "[n]");
  RejectOverlap(FloatSpan(out.data, R.length, "out"), {FloatSpan(R.data, R.length, "rewards")});
  if (!rl::grpo_advantages(R.data, R.length, g, eps, kind, scale, out.data))
    ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
  return info.Env().Undefined();
}

// rlGrpoGroupStats({ rewards }, { groupSize, std }) → { zeroStdGroups, meanStd, groups }
Napi::Value GrpoStats(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts");
  auto R = Float32Arg(in.Need("rewards"), "rewards");
  std::size_t g = GroupSize(o, R.length);
  auto kind = o.Enum<rl::StdKind>("std", rl::kStdKindNames);
  if (rl::locate_non_finite(R.data, R.length) >= 0) ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
  rl::GroupStats s = rl::grpo_group_stats(R.data, R.length, g, kind);
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("zeroStdGroups", static_cast<double>(s.zero_std_groups));
  r.Set("meanStd", s.mean_std);
  r.Set("groups", static_cast<double>(R.length / g));
  return r;
}

// rlStepAdvantages({ trajectoryAdvantages, lengths: Int32Array }, { horizon, gamma, threads, outZeroed },
//                  { advantages: [B*horizon] })
Napi::Value StepAdv(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto A = Float32Arg(in.Need("trajectoryAdvantages"), "trajectoryAdvantages");
  auto L = Int32Arg(in.Need("lengths"), "lengths");
  if (L.length != A.length)
    ThrowRange("Expected lengths of length " + std::to_string(A.length) +
               " (trajectoryAdvantages) but received " + std::to_string(L.length));
  std::size_t H = SizeArg(o.Need("horizon"), "horizon", 1);
  double gamma = o.Number("gamma");
  std::size_t threads = o.Size("threads");
  bool zeroed = o.Bool("outZeroed");
  auto out = Float32Arg(res.Need("advantages"), "out");
  const std::size_t n = CheckedProduct({A.length, H}, "out");
  RequireLength(out.length, n, "out", Shape2(A.length, H));
  RejectOverlap(FloatSpan(out.data, n, "opts.out"), {FloatSpan(A.data, A.length, "trajectoryAdvantages")});
  RejectOverlap(FloatSpan(out.data, n, "opts.out"), {{L.data, L.length * sizeof(std::int32_t), "lengths"}},
                false);
  CheckLengths(L, H);
  if (!rl::step_advantages(A.data, L.data, A.length, H, gamma, out.data, threads, zeroed))
    ThrowBadData({{"trajectoryAdvantages", A.data, {}}}, A.length, 0);
  return info.Env().Undefined();
}

// rlNormalizeAdvantages({ advantages, mask|null }, { epsilon, sampleStd, threads }, { normalized })
//   → { mean, std, count }
Napi::Value Normalize(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto x = Float32Arg(in.Need("advantages"), "advantages.data");
  std::size_t n = x.length;
  FlagView m = FlagArg(in.Maybe("mask"), "mask.data", n, "[" + std::to_string(n) + "]", true);
  double eps = o.Number("epsilon");
  bool sample = o.Bool("sampleStd");
  std::size_t threads = o.Size("threads");
  auto out = Float32Arg(res.Need("normalized"), "out");
  RequireLength(out.length, n, "out", "[n]");
  RejectOverlap(FloatSpan(out.data, n, "out"), {FloatSpan(x.data, n, "advantages.data")});
  RejectOverlap(FloatSpan(out.data, n, "out"), {FlagSpan(m, n, "mask.data")}, false);
  rl::WhitenStats w = rl::normalize_advantages(x.data, m, n, eps, sample, out.data, threads);
  if (!w.ok) ThrowBadData({{"advantages.data", x.data, {}}, {"mask.data", nullptr, m}}, n, 0);
  if (w.count == 0) ThrowRange("Expected at least one 1 in mask.data but received no ones");
  Napi::Object r = Napi::Object::New(info.Env());
  r.Set("mean", w.mean);
  r.Set("std", w.std);
  r.Set("count", static_cast<double>(w.count));
  return r;
}

// rlClippedSurrogate({ logProbs, oldLogProbs, advantages, mask|null },
//                    { B, T, clipLow, clipHigh, dualClip (0 = off), aggregation, threads })
Napi::Value Surrogate(const Napi::CallbackInfo& info) {
  Fields x(info[0], "input"), o(info[1], "opts");
  std::size_t B = o.Size("B"), T = o.Size("T");
  std::size_t n = CheckedProduct({B, T}, "logProbs");
  std::string shape = Shape2(B, T);
  auto lp = Tensor2(x.Need("logProbs"), "logProbs.data", n, shape);
  auto olp = Tensor2(x.Need("oldLogProbs"), "oldLogProbs.data", n, shape);
  auto a = Tensor2(x.Need("advantages"), "advantages.data", n, shape);
  FlagView m = FlagArg(x.Maybe("mask"), "mask.data", n, shape, true);
  rl::SurrogateParams p;
  p.clip_low = o.Number("clipLow");
  p.clip_high = o.Number("clipHigh");
  p.dual_clip = o.Number("dualClip");
  p.aggregation = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  std::size_t threads = o.Size("threads");
  rl::LossResult r = rl::clipped_surrogate(lp.data, olp.data, a.data, m, B, T, p, threads);
  if (!r.ok)
    ThrowBadData({{"logProbs.data", lp.data, {}},
                  {"oldLogProbs.data", olp.data, {}},
                  {"advantages.data", a.data, {}},
                  {"mask.data", nullptr, m}},
                 n, T);
  return ToJs(info.Env(), r);
}

// rlClippedValueLoss({ values, returns, oldValues|null, mask|null },
//                    { B, T, clip (0 = off), huberDelta (0 = off), aggregation, threads })
Napi::Value ValueLoss(const Napi::CallbackInfo& info) {
  Fields x(info[0], "input"), o(info[1], "opts");
  std::size_t B = o.Size("B"), T = o.Size("T");
  std::size_t n = CheckedProduct({B, T}, "values");
  std::string shape = Shape2(B, T);
  auto v = Tensor2(x.Need("values"), "values.data", n, shape);
  auto R = Tensor2(x.Need("returns"), "returns.data", n, shape);
  Napi::Value ovv = x.Maybe("oldValues");
  const float* ov = nullptr;
  if (!ovv.IsNull() && !ovv.IsUndefined()) ov = Tensor2(ovv, "oldValues.data", n, shape).data;
  FlagView m = FlagArg(x.Maybe("mask"), "mask.data", n, shape, true);
  rl::ValueLossParams p;
  p.clip = o.Number("clip");
  // The kernel reads oldValues where clip > 0.
  if (p.clip > 0 && !ov)
    ThrowType("Expected a tensor for oldValues (needed by opts.clip) but received " + Describe(ovv));
  p.huber_delta = o.Number("huberDelta");
  p.aggregation = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  std::size_t threads = o.Size("threads");
  rl::LossResult r = rl::clipped_value_loss(v.data, R.data, ov, m, B, T, p, threads);
  if (!r.ok)
    ThrowBadData({{"values.data", v.data, {}},
                  {"returns.data", R.data, {}},
                  {"oldValues.data", p.clip > 0 ? ov : nullptr, {}},
                  {"mask.data", nullptr, m}},
                 n, T);
  return ToJs(info.Env(), r);
}

// rlKlPenalty({ logProbs, refLogProbs, mask|null }, { B, T, estimator 'k1'|'k2'|'k3', aggregation, threads })
//   → { loss, count, ... }
Napi::Value Kl(const Napi::CallbackInfo& info) {
  Fields x(info[0], "input"), o(info[1], "opts");
  std::size_t B = o.Size("B"), T = o.Size("T");
  std::size_t n = CheckedProduct({B, T}, "logProbs");
  std::string shape = Shape2(B, T);
  auto lp = Tensor2(x.Need("logProbs"), "logProbs.data", n, shape);
  auto ref = Tensor2(x.Need("refLogProbs"), "refLogProbs.data", n, shape);
  FlagView m = FlagArg(x.Maybe("mask"), "mask.data", n, shape, true);
  auto est = o.Enum<rl::KlEstimator>("estimator", rl::kKlEstimatorNames);
  auto agg = o.Enum<rl::Aggregation>("aggregation", rl::kAggregationNames);
  std::size_t threads = o.Size("threads");
  rl::LossResult r = rl::kl_penalty(lp.data, ref.data, m, B, T, est, agg, threads);
  if (!r.ok)
    ThrowBadData(
        {{"logProbs.data", lp.data, {}}, {"refLogProbs.data", ref.data, {}}, {"mask.data", nullptr, m}}, n,
        T);
  return ToJs(info.Env(), r);
}

Napi::Value GaeIsaJs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), GaeIsa()); }

void Init(Napi::Env env, Napi::Object exports) {
  GaeIsa();  // read FEAT2GO_GAE_ISA at load
  Export<ShapeTerminal>(env, exports, "rlShapeTerminalRewards");
  Export<TerminalRewards>(env, exports, "rlTerminalRewards");
  Export<Gae>(env, exports, "rlGae");
  Export<GaeIsaJs>(env, exports, "rlGaeIsa");
  Export<Grpo>(env, exports, "rlGrpoAdvantages");
  Export<GrpoStats>(env, exports, "rlGrpoGroupStats");
  Export<StepAdv>(env, exports, "rlStepAdvantages");
  Export<Normalize>(env, exports, "rlNormalizeAdvantages");
  Export<Surrogate>(env, exports, "rlClippedSurrogate");
  Export<ValueLoss>(env, exports, "rlClippedValueLoss");
  Export<Kl>(env, exports, "rlKlPenalty");
}

}  // namespace

F2G_REGISTER(rl, Init);

}  // namespace f2g

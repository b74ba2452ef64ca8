// N-API bindings for the RL kernels (SPEC §5–8). Thin: check lengths and
// scalars, view typed arrays in place, call kernels/rl.h. On the error path
// (a kernel reports bad data) name the first offending argument and element.
#include <cmath>
#include <string>

#include "bindings/napi_util.h"
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

rl::Aggregation AggArg(const Napi::Value& v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "token-mean") return rl::Aggregation::kTokenMean;
  if (s == "seq-mean-token-mean") return rl::Aggregation::kSeqMeanTokenMean;
  if (s == "seq-mean-token-sum") return rl::Aggregation::kSeqMeanTokenSum;
  ThrowRange("Expected 'token-mean', 'seq-mean-token-mean' or 'seq-mean-token-sum' for opts.aggregation but received " +
             Describe(v));
}

rl::StdKind StdArg(const Napi::Value& v) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "sample") return rl::StdKind::kSample;
  if (s == "population") return rl::StdKind::kPopulation;
  if (s == "none") return rl::StdKind::kNone;
  ThrowRange("Expected 'sample', 'population' or 'none' for opts.std but received " + Describe(v));
}

double UnitArg(const Napi::Value& v, const char* name) {
  double x = NumberArg(v, name);
  if (x < 0 || x > 1) ThrowRange(std::string("Expected a number in [0, 1] for ") + name + " but received " + Describe(v));
  return x;
}

Napi::Value LossToJs(Napi::Env env, const rl::LossResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("clipFraction", r.clip_fraction);
  o.Set("dualClipFraction", r.dual_clip_fraction);
  o.Set("approxKl", r.approx_kl);
  o.Set("count", static_cast<double>(r.masked));
  return o;
}

void RequireMasked(const rl::LossResult& r) {
  if (r.masked == 0) ThrowRange("Expected at least one 1 in mask.data but received no ones");
}

// rlShapeTerminalRewards(success: Uint8Array 0/1, terminalValues, failureScale, out)
Napi::Value ShapeTerminal(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto s = Uint8Arg(info[0], "success");
    auto v = Float32Arg(info[1], "terminalValues");
    if (v.length != s.length)
      ThrowRange("Expected terminalValues of length " + std::to_string(s.length) + " (success) but received " +
                 std::to_string(v.length));
    double scale = NumberArg(info[2], "opts.failureScale");
    auto out = Float32Arg(info[3], "out");
    RequireLength(out.length, s.length, "out", "[n]");
    if (rl::locate_bad_flag(FlagView{s.data, nullptr}, s.length) >= 0) ThrowBadData({{"success", nullptr, {s.data, nullptr}}}, s.length, 0);
    if (!rl::shape_terminal_rewards(s.data, v.data, s.length, scale, out.data))
      ThrowBadData({{"terminalValues", v.data, {}}}, v.length, 0);
    return info.Env().Undefined();
  })
}

// rlTerminalRewards(lengths: Int32Array, R, horizon, threads, out[B*horizon])
Napi::Value TerminalRewards(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto L = Int32Arg(info[0], "lengths");
    auto R = Float32Arg(info[1], "rewards");
    if (R.length != L.length)
      ThrowRange("Expected rewards of length " + std::to_string(L.length) + " (lengths) but received " +
                 std::to_string(R.length));
    std::size_t H = SizeArg(info[2], "horizon", 1);
    std::size_t threads = SizeArg(info[3], "opts.threads");
    auto out = Float32Arg(info[4], "out");
    RequireLength(out.length, CheckedProduct({L.length, H}, "out"), "out", Shape2(L.length, H));
    for (std::size_t i = 0; i < L.length; ++i)
      if (L.data[i] < 1 || static_cast<std::size_t>(L.data[i]) > H)
        ThrowRange("Expected an integer in [1, " + std::to_string(H) + "] for lengths[" + std::to_string(i) +
                   "] but received " + std::to_string(L.data[i]));
    if (rl::locate_non_finite(R.data, R.length) >= 0) ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
    rl::terminal_rewards(L.data, R.data, L.length, H, out.data, threads);
    return info.Env().Undefined();
  })
}

// rlGae(rewards, values, nextValues, terminated, done, B, T, gamma, lambda, timeMajor, threads, adv, ret)
Napi::Value Gae(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    std::size_t B = SizeArg(info[5], "B"), T = SizeArg(info[6], "T");
    std::size_t n = CheckedProduct({B, T}, "rewards");
    bool tm = info[9].ToBoolean().Value();
    std::string shape = tm ? Shape2(T, B) : Shape2(B, T);
    rl::GaeInputs in;
    in.rewards = Tensor2(info[0], "rewards.data", n, shape).data;
    in.values = Tensor2(info[1], "values.data", n, shape).data;
    in.next_values = Tensor2(info[2], "nextValues.data", n, shape).data;
    in.terminated = FlagArg(info[3], "terminated.data", n, shape, false);
    in.done = FlagArg(info[4], "done.data", n, shape, false);
    double gamma = UnitArg(info[7], "opts.gamma"), lambda = UnitArg(info[8], "opts.lambda");
    std::size_t threads = SizeArg(info[10], "opts.threads");
    auto adv = Tensor2(info[11], "advantages", n, shape);
    auto ret = Tensor2(info[12], "returns", n, shape);
    if (!rl::gae(in, B, T, gamma, lambda, tm, adv.data, ret.data, threads)) {
      std::size_t row = tm ? B : T;
      ThrowBadData({{"rewards.data", in.rewards, {}},
                    {"values.data", in.values, {}},
                    {"nextValues.data", in.next_values, {}},
                    {"terminated.data", nullptr, in.terminated},
                    {"done.data", nullptr, in.done}},
                   n, row, tm);
    }
    return info.Env().Undefined();
  })
}

// rlGrpoAdvantages(R, groupSize, epsilon, std, scale: 'group'|'batch', out)
Napi::Value Grpo(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto R = Float32Arg(info[0], "rewards");
    std::size_t g = SizeArg(info[1], "opts.groupSize", 1);
    if (R.length % g != 0)
      ThrowRange("Expected opts.groupSize to divide the number of rewards (" + std::to_string(R.length) +
                 ") but received " + std::to_string(g));
    double eps = NumberArg(info[2], "opts.epsilon");
    if (eps < 0) ThrowRange("Expected a number ≥ 0 for opts.epsilon but received " + Describe(info[2]));
    rl::StdKind kind = StdArg(info[3]);
    std::string sc = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
    if (sc != "group" && sc != "batch")
      ThrowRange("Expected 'group' or 'batch' for opts.scale but received " + Describe(info[4]));
    auto out = Float32Arg(info[5], "out");
    RequireLength(out.length, R.length, "out", "[n]");
    if (!rl::grpo_advantages(R.data, R.length, g, eps, kind, sc == "batch" ? rl::Scale::kBatch : rl::Scale::kGroup,
                             out.data))
      ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
    return info.Env().Undefined();
  })
}

// rlGrpoGroupStats(R, groupSize, std) → { zeroStdGroups, meanStd, groups }
Napi::Value GrpoStats(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto R = Float32Arg(info[0], "rewards");
    std::size_t g = SizeArg(info[1], "opts.groupSize", 1);
    if (R.length % g != 0)
      ThrowRange("Expected opts.groupSize to divide the number of rewards (" + std::to_string(R.length) +
                 ") but received " + std::to_string(g));
    rl::StdKind kind = StdArg(info[2]);
    if (rl::locate_non_finite(R.data, R.length) >= 0) ThrowBadData({{"rewards", R.data, {}}}, R.length, 0);
    rl::GroupStats s = rl::grpo_group_stats(R.data, R.length, g, kind);
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("zeroStdGroups", static_cast<double>(s.zero_std_groups));
    o.Set("meanStd", s.mean_std);
    o.Set("groups", static_cast<double>(R.length / g));
    return o;
  })
}

// rlStepAdvantages(adv, lengths: Int32Array, horizon, gamma, threads, out[B*horizon])
Napi::Value StepAdv(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto A = Float32Arg(info[0], "trajectoryAdvantages");
    auto L = Int32Arg(info[1], "lengths");
    if (L.length != A.length)
      ThrowRange("Expected lengths of length " + std::to_string(A.length) +
                 " (trajectoryAdvantages) but received " + std::to_string(L.length));
    std::size_t H = SizeArg(info[2], "horizon", 1);
    double gamma = UnitArg(info[3], "gamma");
    std::size_t threads = SizeArg(info[4], "opts.threads");
    auto out = Float32Arg(info[5], "out");
    RequireLength(out.length, CheckedProduct({A.length, H}, "out"), "out", Shape2(A.length, H));
    for (std::size_t i = 0; i < L.length; ++i)
      if (L.data[i] < 1 || static_cast<std::size_t>(L.data[i]) > H)
        ThrowRange("Expected an integer in [1, " + std::to_string(H) + "] for lengths[" + std::to_string(i) +
                   "] but received " + std::to_string(L.data[i]));
    if (!rl::step_advantages(A.data, L.data, A.length, H, gamma, out.data, threads))
      ThrowBadData({{"trajectoryAdvantages", A.data, {}}}, A.length, 0);
    return info.Env().Undefined();
  })
}

// rlNormalizeAdvantages(x, mask|null, epsilon, sampleStd, threads, out) → { mean, std, count }
Napi::Value Normalize(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    auto x = Float32Arg(info[0], "advantages.data");
    std::size_t n = x.length;
    FlagView m = FlagArg(info[1], "mask.data", n, "[" + std::to_string(n) + "]", true);
    double eps = NumberArg(info[2], "opts.epsilon");
    if (eps < 0) ThrowRange("Expected a number ≥ 0 for opts.epsilon but received " + Describe(info[2]));
    bool sample = info[3].ToBoolean().Value();
    std::size_t threads = SizeArg(info[4], "opts.threads");
    auto out = Float32Arg(info[5], "out");
    RequireLength(out.length, n, "out", "[n]");
    rl::WhitenStats w = rl::normalize_advantages(x.data, m, n, eps, sample, out.data, threads);
    if (!w.ok) ThrowBadData({{"advantages.data", x.data, {}}, {"mask.data", nullptr, m}}, n, 0);
    if (w.count == 0) ThrowRange("Expected at least one 1 in mask.data but received no ones");
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("mean", w.mean);
    o.Set("std", w.std);
    o.Set("count", static_cast<double>(w.count));
    return o;
  })
}

// rlClippedSurrogate(lp, oldLp, adv, mask|null, B, T, clipLow, clipHigh, dualClip (0=off), aggregation, threads)
Napi::Value Surrogate(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    std::size_t B = SizeArg(info[4], "B"), T = SizeArg(info[5], "T");
    std::size_t n = CheckedProduct({B, T}, "logProbs");
    std::string shape = Shape2(B, T);
    auto lp = Tensor2(info[0], "logProbs.data", n, shape);
    auto olp = Tensor2(info[1], "oldLogProbs.data", n, shape);
    auto a = Tensor2(info[2], "advantages.data", n, shape);
    FlagView m = FlagArg(info[3], "mask.data", n, shape, true);
    rl::SurrogateParams p;
    p.clip_low = NumberArg(info[6], "opts.clipLow");
    if (p.clip_low < 0 || p.clip_low >= 1)
      ThrowRange("Expected a number in [0, 1) for opts.clipLow but received " + Describe(info[6]));
    p.clip_high = NumberArg(info[7], "opts.clipHigh");
    if (p.clip_high < 0) ThrowRange("Expected a number ≥ 0 for opts.clipHigh but received " + Describe(info[7]));
    p.dual_clip = NumberArg(info[8], "opts.dualClip");
    if (p.dual_clip != 0 && p.dual_clip <= 1)
      ThrowRange("Expected a number > 1 for opts.dualClip but received " + Describe(info[8]));
    p.aggregation = AggArg(info[9]);
    std::size_t threads = SizeArg(info[10], "opts.threads");
    rl::LossResult r = rl::clipped_surrogate(lp.data, olp.data, a.data, m, B, T, p, threads);
    if (!r.ok)
      ThrowBadData({{"logProbs.data", lp.data, {}},
                    {"oldLogProbs.data", olp.data, {}},
                    {"advantages.data", a.data, {}},
                    {"mask.data", nullptr, m}},
                   n, T);
    RequireMasked(r);
    return LossToJs(info.Env(), r);
  })
}

// rlClippedValueLoss(values, returns, oldValues|null, mask|null, B, T, clip (0=off), huberDelta (0=off), aggregation, threads)
Napi::Value ValueLoss(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    std::size_t B = SizeArg(info[4], "B"), T = SizeArg(info[5], "T");
    std::size_t n = CheckedProduct({B, T}, "values");
    std::string shape = Shape2(B, T);
    auto v = Tensor2(info[0], "values.data", n, shape);
    auto R = Tensor2(info[1], "returns.data", n, shape);
    const float* ov = nullptr;
    if (!info[2].IsNull() && !info[2].IsUndefined()) ov = Tensor2(info[2], "oldValues.data", n, shape).data;
    FlagView m = FlagArg(info[3], "mask.data", n, shape, true);
    rl::ValueLossParams p;
    p.clip = NumberArg(info[6], "opts.clip");
    if (p.clip < 0) ThrowRange("Expected a number > 0 for opts.clip but received " + Describe(info[6]));
    if (p.clip > 0 && !ov) ThrowType("Expected a tensor for oldValues (needed by opts.clip) but received " + Describe(info[2]));
    p.huber_delta = NumberArg(info[7], "opts.huberDelta");
    if (p.huber_delta < 0) ThrowRange("Expected a number > 0 for opts.huberDelta but received " + Describe(info[7]));
    p.aggregation = AggArg(info[8]);
    std::size_t threads = SizeArg(info[9], "opts.threads");
    rl::LossResult r = rl::clipped_value_loss(v.data, R.data, ov, m, B, T, p, threads);
    if (!r.ok)
      ThrowBadData({{"values.data", v.data, {}},
                    {"returns.data", R.data, {}},
                    {"oldValues.data", p.clip > 0 ? ov : nullptr, {}},
                    {"mask.data", nullptr, m}},
                   n, T);
    RequireMasked(r);
    return LossToJs(info.Env(), r);
  })
}

// rlKlPenalty(lp, refLp, mask|null, B, T, estimator 'k1'|'k2'|'k3', aggregation, threads) → { loss, count }
Napi::Value Kl(const Napi::CallbackInfo& info) {
  F2G_GUARD({
    std::size_t B = SizeArg(info[3], "B"), T = SizeArg(info[4], "T");
    std::size_t n = CheckedProduct({B, T}, "logProbs");
    std::string shape = Shape2(B, T);
    auto lp = Tensor2(info[0], "logProbs.data", n, shape);
    auto ref = Tensor2(info[1], "refLogProbs.data", n, shape);
    FlagView m = FlagArg(info[2], "mask.data", n, shape, true);
    std::string e = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
    rl::KlEstimator est;
    if (e == "k1") est = rl::KlEstimator::kK1;
    else if (e == "k2") est = rl::KlEstimator::kK2;
    else if (e == "k3") est = rl::KlEstimator::kK3;
    else ThrowRange("Expected 'k1', 'k2' or 'k3' for opts.estimator but received " + Describe(info[5]));
    rl::Aggregation agg = AggArg(info[6]);
    std::size_t threads = SizeArg(info[7], "opts.threads");
    rl::LossResult r = rl::kl_penalty(lp.data, ref.data, m, B, T, est, agg, threads);
    if (!r.ok)
      ThrowBadData({{"logProbs.data", lp.data, {}}, {"refLogProbs.data", ref.data, {}}, {"mask.data", nullptr, m}},
                   n, T);
    RequireMasked(r);
    return LossToJs(info.Env(), r);
  })
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("rlShapeTerminalRewards", Napi::Function::New(env, ShapeTerminal, "rlShapeTerminalRewards"));
  exports.Set("rlTerminalRewards", Napi::Function::New(env, TerminalRewards, "rlTerminalRewards"));
  exports.Set("rlGae", Napi::Function::New(env, Gae, "rlGae"));
  exports.Set("rlGaeIsa", Napi::Function::New(
                              env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                                return Napi::Number::New(info.Env(), rl::gae_isa());
                              },
                              "rlGaeIsa"));
  exports.Set("rlGrpoAdvantages", Napi::Function::New(env, Grpo, "rlGrpoAdvantages"));
  exports.Set("rlGrpoGroupStats", Napi::Function::New(env, GrpoStats, "rlGrpoGroupStats"));
  exports.Set("rlStepAdvantages", Napi::Function::New(env, StepAdv, "rlStepAdvantages"));
  exports.Set("rlNormalizeAdvantages", Napi::Function::New(env, Normalize, "rlNormalizeAdvantages"));
  exports.Set("rlClippedSurrogate", Napi::Function::New(env, Surrogate, "rlClippedSurrogate"));
  exports.Set("rlClippedValueLoss", Napi::Function::New(env, ValueLoss, "rlClippedValueLoss"));
  exports.Set("rlKlPenalty", Napi::Function::New(env, Kl, "rlKlPenalty"));
}

}  // namespace

F2G_REGISTER(rl, Init);

}  // namespace f2g

// N-API bindings for the progress kernels (SPEC §1-3). Thin: check arguments,
// wrap typed arrays in place, call kernels/progress.h. The async calls read
// owned copies of their inputs (see OwnedCopy): a caller may transfer
// (detach) its buffers while the call runs. Inputs over a SharedArrayBuffer,
// which cannot be detached, are read in place (OwnedOrShared).
#include <cmath>
#include <memory>
#include <string>

#include "bindings/napi_util.h"
#include "kernels/finite.h"
#include "kernels/pool.h"
#include "kernels/progress.h"

namespace f2g {
namespace {

struct Episode {
  View<float> data;
  std::size_t T, N, D;
};

std::string ShapeStr(std::size_t T, std::size_t N, std::size_t D) {
  return "[" + std::to_string(T) + "," + std::to_string(N) + "," + std::to_string(D) + "]";
}

Episode EpisodeArgs(const Napi::Value& data, const Napi::Value& T, const Napi::Value& N, const Napi::Value& D,
                    const char* name) {
  Episode e;
  std::string dn = std::string(name) + ".data";
  e.data = Float32Arg(data, dn.c_str());
  e.T = SizeArg(T, (std::string(name) + ".shape[0]").c_str(), 1);
  e.N = SizeArg(N, (std::string(name) + ".shape[1]").c_str(), 1);
  e.D = SizeArg(D, (std::string(name) + ".shape[2]").c_str(), 1);
  std::size_t need = CheckedProduct({e.T, e.N, e.D}, name);
  RequireLength(e.data.length, need, dn.c_str(), ShapeStr(e.T, e.N, e.D));
  return e;
}

struct Opts {
  ProgressParams p;
  std::size_t threads;
};

// Every option arrives resolved (TypeScript's resolveProgressOptions); this
// checks what arrives.
Opts ParseOpts(const Napi::Value& v) {
  Fields f(v, "opts");
  Opts o;
  o.p.lambda = f.Number("lambda");
  if (o.p.lambda < 0) ThrowRange("Expected opts.lambda ≥ 0 but received " + Describe(f.Need("lambda")));
  o.p.window = f.Size("window", 2);
  o.p.max_cluster = f.Size("maxClusterFrames");  // 0 = no cap
  if (o.p.max_cluster != 0 && o.p.max_cluster < o.p.window)
    ThrowRange("Expected opts.maxClusterFrames ≥ opts.window (" + std::to_string(o.p.window) +
               ") or 0 but received " + std::to_string(o.p.max_cluster));
  o.p.threshold = f.Number("threshold");
  const std::string seg = f.String("segmenter");
  if (seg == "paper") o.p.segmenter = Segmenter::kPaper;
  else if (seg == "motion") o.p.segmenter = Segmenter::kMotion;
  else ThrowRange("Expected opts.segmenter 'motion' or 'paper' but received '" + seg + "'");
  o.threads = f.Size("threads");
  return o;
}

/// An episode whose data the call owns (async calls).
struct OwnedEpisode {
  std::shared_ptr<Owned<float>> copy;
  Episode e;
};
OwnedEpisode Own(const Episode& e, const std::string& name, std::vector<Napi::Value>& keep) {
  OwnedEpisode o;
  const std::size_t n = e.T * e.N * e.D;
  o.copy = OwnedOrShared(e.data, n, (name + ".data").c_str(), keep);
  o.e = e;
  o.e.data = View<float>{o.copy->data(), n};
  return o;
}

// "Expected finite values in features but frame 7 contains NaN or Inf
// (Infinity at patch 2, dim 5)". Finite features never produce a non-finite
// similarity (the kernel falls back to double), so only NaN/Inf get here.
std::string NonFiniteFrame(const Episode& e, std::size_t t, const std::string& where) {
  std::string msg =
      "Expected finite values in " + where + " but frame " + std::to_string(t) + " contains NaN or Inf";
  const std::size_t F = e.N * e.D;
  long long i = FirstNonFinite(e.data.data + t * F, F);
  if (i >= 0) {
    float v = e.data.data[t * F + static_cast<std::size_t>(i)];
    msg += std::string(" (") +
           (std::isnan(v) ? "NaN"
            : v > 0       ? "Infinity"
                          : "-Infinity") +
           " at patch " + std::to_string(static_cast<std::size_t>(i) / e.D) + ", dim " +
           std::to_string(static_cast<std::size_t>(i) % e.D) + ")";
  }
  return msg;
}

struct Result {
  std::unique_ptr<float[]> values, similarity;
  std::vector<Segment> segments;
  std::size_t T = 0;
};

void Run(const Episode& e, const Opts& o, Result& r, const std::string& where) {
  r.T = e.T;
  Allocating("the values and similarity of " + where + " (2 × " + std::to_string(e.T) + " floats)",
             8.0 * static_cast<double>(e.T), [&] {
               r.values.reset(new float[e.T]);
               r.similarity.reset(new float[e.T]);
             });
  std::int64_t bad = progress_targets(e.data.data, e.T, e.N, e.D, o.p, r.values.get(), r.similarity.get(),
                                      r.segments, o.threads);
  if (bad >= 0) ThrowRange(NonFiniteFrame(e, static_cast<std::size_t>(bad), where));
}

Napi::Value ToJs(Napi::Env env, Result& r) {
  Napi::Object o = Napi::Object::New(env);
  auto values = Napi::Float32Array::New(env, r.T);
  auto sim = Napi::Float32Array::New(env, r.T);
  std::copy(r.values.get(), r.values.get() + r.T, values.Data());
  std::copy(r.similarity.get(), r.similarity.get() + r.T, sim.Data());
  auto segs = Napi::Int32Array::New(env, r.segments.size() * 2);
  for (std::size_t k = 0; k < r.segments.size(); ++k) {
    segs[2 * k] = static_cast<std::int32_t>(r.segments[k].start);
    segs[2 * k + 1] = static_cast<std::int32_t>(r.segments[k].end);
  }
  auto rules = Napi::Uint8Array::New(env, r.segments.size());
  for (std::size_t k = 0; k < r.segments.size(); ++k)
    rules[k] = static_cast<std::uint8_t>(r.segments[k].rule);
  o.Set("values", values);
  o.Set("similarity", sim);
  o.Set("segments", segs);
  o.Set("rules", rules);
  return o;
}

// patchSimilarity(data, T, N, D, goal: Float32Array [N*D], { lambda, threads }, out: Float32Array[T])
//   → first non-finite frame or -1
Napi::Value PatchSimilarity(const Napi::CallbackInfo& info) {
  Episode e = EpisodeArgs(info[0], info[1], info[2], info[3], "features");
  auto goal = Float32Arg(info[4], "goal");
  RequireLength(goal.length, e.N * e.D, "goal", "[" + std::to_string(e.N) + "," + std::to_string(e.D) + "]");
  Fields f(info[5], "opts");
  double lambda = f.Number("lambda");
  if (lambda < 0) ThrowRange("Expected opts.lambda ≥ 0 but received " + Describe(f.Need("lambda")));
  std::size_t threads = f.Size("threads");
  auto out = Float32Arg(info[6], "out");
  RequireLength(out.length, e.T, "out", "[" + std::to_string(e.T) + "]");
  RejectOverlap({out.data, e.T * sizeof(float), "out"},
                {{e.data.data, e.T * e.N * e.D * sizeof(float), "features.data"},
                 {goal.data, e.N * e.D * sizeof(float), "goal"}},
                false);
  patch_similarity(e.data.data, e.T, e.N, e.D, goal.data, lambda, out.data, threads);
  for (std::size_t t = 0; t < e.T; ++t)
    if (!std::isfinite(out.data[t])) return Napi::Number::New(info.Env(), static_cast<double>(t));
  return Napi::Number::New(info.Env(), -1);
}

// slidingSlopes(series: Float32Array, B, L, window, threads, out: Float32Array [B*(L-w+1)])
//   → index of the first NaN/Inf element of series (nothing computed), or -1
Napi::Value SlidingSlopes(const Napi::CallbackInfo& info) {
  auto s = Float32Arg(info[0], "series.data");
  std::size_t B = SizeArg(info[1], "series.shape[0]", 1);
  std::size_t L = SizeArg(info[2], "series.shape[1]", 1);
  std::size_t w = SizeArg(info[3], "window", 2);
  if (w > L)
    ThrowRange("Expected window ≤ series.shape[1] (" + std::to_string(L) + ") but received " +
               std::to_string(w));
  std::size_t threads = SizeArg(info[4], "threads");
  const std::size_t n = CheckedProduct({B, L}, "series");
  RequireLength(s.length, n, "series.data", "[" + std::to_string(B) + "," + std::to_string(L) + "]");
  auto out = Float32Arg(info[5], "out");
  RequireLength(out.length, B * (L - w + 1), "out", "[B, L-window+1]");
  RejectOverlap({out.data, B * (L - w + 1) * sizeof(float), "out"},
                {{s.data, n * sizeof(float), "series.data"}}, false);
  long long bad = FirstNonFinite(s.data, n);
  if (bad >= 0) return Napi::Number::New(info.Env(), static_cast<double>(bad));
  sliding_slopes(s.data, B, L, w, out.data, threads);
  return Napi::Number::New(info.Env(), -1);
}

// progressTargetsSync(data, T, N, D, opts) → { values, similarity, segments: Int32Array, rules: Uint8Array }
// (rules[k]: the CutRule that placed segment k's start)
Napi::Value ProgressSync(const Napi::CallbackInfo& info) {
  Episode e = EpisodeArgs(info[0], info[1], info[2], info[3], "features");
  Opts o = ParseOpts(info[4]);
  Result r;
  Run(e, o, r, "features");
  return ToJs(info.Env(), r);
}

// progressTargets(data, T, N, D, opts) → Promise<same as sync>
Napi::Value ProgressAsync(const Napi::CallbackInfo& info) {
  Episode e = EpisodeArgs(info[0], info[1], info[2], info[3], "features");
  Opts o = ParseOpts(info[4]);
  std::vector<Napi::Value> keep;
  OwnedEpisode own = Own(e, "features", keep);
  auto r = std::make_shared<Result>();
  auto* w = new PromiseWorker(
      info.Env(), "progressTargets", [own, o, r] { Run(own.e, o, *r, "features"); },
      [r](Napi::Env env) { return ToJs(env, *r); }, keep);
  return w->Queue();
}

// progressTargetsBatch(episodes: Array<[data, T, N, D]>, opts) → Promise<result[]>
// Episodes run in parallel on the pool (each single-threaded inside); the
// first bad episode rejects the call, naming its index.
Napi::Value ProgressBatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsArray()) ThrowType("Expected an array for episodes but received " + Describe(info[0]));
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<OwnedEpisode> eps;
  std::vector<Episode> checked;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    std::string name = "episodes[" + std::to_string(i) + "]";
    Napi::Value item = arr.Get(i);
    if (!item.IsArray() || item.As<Napi::Array>().Length() != 4)
      ThrowType("Expected [data, T, N, D] for " + name + " but received " + Describe(item));
    Napi::Array a = item.As<Napi::Array>();
    checked.push_back(EpisodeArgs(a.Get(0u), a.Get(1u), a.Get(2u), a.Get(3u), name.c_str()));
  }
  Opts o = ParseOpts(info[1]);
  // Copies only once every argument passed its checks.
  std::vector<Napi::Value> keep;
  for (std::size_t i = 0; i < checked.size(); ++i)
    eps.push_back(Own(checked[i], "episodes[" + std::to_string(i) + "]", keep));
  auto results = std::make_shared<std::vector<Result>>(eps.size());
  auto* w = new PromiseWorker(
      info.Env(), "progressTargetsBatch",
      [eps, o, results] {
        std::vector<std::string> errors(eps.size());
        std::vector<ArgError::Kind> kinds(eps.size(), ArgError::kPlain);
        parallel_for(eps.size(), o.threads, 1, [&](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) {
            std::string name = "episodes[" + std::to_string(i) + "]";
            try {
              Run(eps[i].e, o, (*results)[i], name);
            } catch (...) {
              Failure f = Classify(std::current_exception(), "progressTargetsBatch");
              errors[i] = f.kind == ArgError::kPlain ? name + ": " + f.message : f.message;
              kinds[i] = f.kind;
            }
          }
        });
        for (std::size_t i = 0; i < eps.size(); ++i)
          if (!errors[i].empty()) throw ArgError{kinds[i], errors[i]};
      },
      [results](Napi::Env env) {
        Napi::Array out = Napi::Array::New(env, results->size());
        for (std::size_t i = 0; i < results->size(); ++i) out.Set(i, ToJs(env, (*results)[i]));
        return out;
      },
      keep);
  return w->Queue();
}

// stepsToGo(T, out)
Napi::Value StepsToGo(const Napi::CallbackInfo& info) {
  std::size_t T = SizeArg(info[0], "length", 1);
  auto out = Float32Arg(info[1], "out");
  RequireLength(out.length, T, "out", "[" + std::to_string(T) + "]");
  steps_to_go(T, out.data);
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<PatchSimilarity>(env, exports, "patchSimilarity");
  Export<SlidingSlopes>(env, exports, "slidingSlopes");
  Export<ProgressSync>(env, exports, "progressTargetsSync");
  Export<ProgressAsync>(env, exports, "progressTargets");
  Export<ProgressBatch>(env, exports, "progressTargetsBatch");
  Export<StepsToGo>(env, exports, "stepsToGo");
}

}  // namespace

F2G_REGISTER(progress, Init);

}  // namespace f2g

// N-API bindings for the progress kernels (SPEC §1-3). Thin: check sizes
// against the arrays, wrap typed arrays in place, call kernels/progress.h.
// Every call is (input, opts, out?) (bindings/napi_util.h); the options arrive
// resolved and validated by the TypeScript core (resolveProgressOptions), so
// only the sizes the kernels need to stay inside their arrays are checked. A
// NaN/Inf in the data is reported back as its place (frame, element, value),
// and the TypeScript core words the error. The async calls read their inputs
// in place when they are host memory or over a SharedArrayBuffer, and owned
// copies otherwise (AsyncInput): a caller may transfer (detach) its buffers
// while the call runs. They take an optional cancel flag (opts.cancel, see
// CallStopArg); a batch checks it before each episode. The CUDA twins are in
// progress_cuda.cc.
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

// An episode: `data` with its sizes T, N, D read from `dims` (the opts of a
// one-episode call, or the episode's own object in a batch).
Episode EpisodeArgs(const Napi::Value& data, const Fields& dims, const char* name) {
  Episode e;
  std::string dn = std::string(name) + ".data";
  e.data = Float32Arg(data, dn.c_str());
  e.T = SizeArg(dims.Need("T"), (std::string(name) + ".shape[0]").c_str(), 1);
  e.N = SizeArg(dims.Need("N"), (std::string(name) + ".shape[1]").c_str(), 1);
  e.D = SizeArg(dims.Need("D"), (std::string(name) + ".shape[2]").c_str(), 1);
  std::size_t need = CheckedProduct({e.T, e.N, e.D}, name);
  RequireLength(e.data.length, need, dn.c_str(), ShapeStr(e.T, e.N, e.D));
  return e;
}

struct Opts {
  ProgressParams p;
  std::size_t threads;
};

// Every option arrives resolved (TypeScript's resolveProgressOptions). The
// kernel needs a window of ≥ 2 frames (its slope divides by Σ(k − k̄)²);
// maxClusterFrames 0 means no cap. The rest (λ ≥ 0, maxClusterFrames 0 or
// ≥ window, the segmenter's name) are rules of the options, checked there;
// an unknown segmenter is still refused here, never cast to the enum.
Opts ParseOpts(const Fields& f) {
  Opts o;
  o.p.lambda = f.Number("lambda");
  o.p.window = f.Size("window", 2);
  o.p.max_cluster = f.Size("maxClusterFrames");  // 0 = no cap
  o.p.segmenter = f.Enum<Segmenter>("segmenter", kSegmenterNames);
  // τ is an option of the paper's rule only: resolveProgressOptions sends it
  // with segmenter 'paper' and leaves it out with 'motion'.
  o.p.threshold = o.p.segmenter == Segmenter::kPaper ? f.Number("threshold") : 0.0;
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
  o.copy = AsyncInput(e.data, n, (name + ".data").c_str(), keep);
  o.e = e;
  o.e.data = View<float>{o.copy->data(), n};
  return o;
}

struct Result {
  std::unique_ptr<float[]> values, similarity;
  std::vector<Segment> segments;
  std::size_t T = 0;
  // The first frame with NaN/Inf (−1: none), the first such element in it
  // (patch · D + dim; −1 when the frame itself is finite) and its value.
  std::int64_t bad_frame = -1, bad_element = -1;
  float bad_value = 0;
};

// Finite features never produce a non-finite similarity (the kernel falls
// back to double), so a bad frame holds a NaN/Inf, found here by one scan.
void Run(const Episode& e, const Opts& o, Result& r, const std::string& where) {
  r.T = e.T;
  Allocating("the values and similarity of " + where + " (2 × " + std::to_string(e.T) + " floats)",
             8.0 * static_cast<double>(e.T), [&] {
               r.values.reset(new float[e.T]);
               r.similarity.reset(new float[e.T]);
             });
  r.bad_frame = progress_targets(e.data.data, e.T, e.N, e.D, o.p, r.values.get(), r.similarity.get(),
                                 r.segments, o.threads);
  if (r.bad_frame < 0) return;
  const std::size_t F = e.N * e.D;
  const float* frame = e.data.data + static_cast<std::size_t>(r.bad_frame) * F;
  r.bad_element = FirstNonFinite(frame, F);
  if (r.bad_element >= 0) r.bad_value = frame[r.bad_element];
}

// { values, similarity, segments: Int32Array [start, end]…, rules: Uint8Array, badFrame, badElement, badValue }
Napi::Value ToJs(Napi::Env env, Result& r) {
  Napi::Object o = Napi::Object::New(env);
  auto values = HostFloat32Array(env, r.T, "the values");
  auto sim = HostFloat32Array(env, r.T, "the similarities");
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
  o.Set("badFrame", static_cast<double>(r.bad_frame));
  o.Set("badElement", static_cast<double>(r.bad_element));
  o.Set("badValue", static_cast<double>(r.bad_value));
  return o;
}

// progressPatchSimilarity({ features, goal: [N*D] }, { T, N, D, lambda, threads }, { similarity: [T] })
//   → first non-finite frame or -1
Napi::Value PatchSimilarity(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), f(info[1], "opts"), res(info[2], "out");
  Episode e = EpisodeArgs(in.Need("features"), f, "features");
  auto goal = Float32Arg(in.Need("goal"), "goal");
  RequireLength(goal.length, e.N * e.D, "goal", "[" + std::to_string(e.N) + "," + std::to_string(e.D) + "]");
  double lambda = f.Number("lambda");
  std::size_t threads = f.Size("threads");
  auto out = Float32Arg(res.Need("similarity"), "out");
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

// progressSlidingSlopes({ series }, { B, L, window, threads }, { slopes: [B*(L-w+1)] })
//   → index of the first NaN/Inf element of series (nothing computed), or -1
Napi::Value SlidingSlopes(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto s = Float32Arg(in.Need("series"), "series.data");
  std::size_t B = SizeArg(o.Need("B"), "series.shape[0]", 1);
  std::size_t L = SizeArg(o.Need("L"), "series.shape[1]", 1);
  std::size_t w = SizeArg(o.Need("window"), "window", 2);
  // Windows past the end of a row would be read.
  if (w > L)
    ThrowRange("Expected window ≤ series.shape[1] (" + std::to_string(L) + ") but received " +
               std::to_string(w));
  std::size_t threads = o.Size("threads");
  const std::size_t n = CheckedProduct({B, L}, "series");
  RequireLength(s.length, n, "series.data", "[" + std::to_string(B) + "," + std::to_string(L) + "]");
  auto out = Float32Arg(res.Need("slopes"), "out");
  RequireLength(out.length, B * (L - w + 1), "out", "[B, L-window+1]");
  RejectOverlap({out.data, B * (L - w + 1) * sizeof(float), "out"},
                {{s.data, n * sizeof(float), "series.data"}}, false);
  long long bad = FirstNonFinite(s.data, n);
  if (bad >= 0) return Napi::Number::New(info.Env(), static_cast<double>(bad));
  sliding_slopes(s.data, B, L, w, out.data, threads);
  return Napi::Number::New(info.Env(), -1);
}

// progressTargetsSync({ features }, { T, N, D, segmenter, lambda, window, maxClusterFrames, threshold?, threads })
//   → { values, similarity, segments: Int32Array, rules: Uint8Array, badFrame, badElement, badValue }
// (rules[k]: the CutRule that placed segment k's start; threshold with segmenter 'paper' only)
Napi::Value ProgressSync(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), f(info[1], "opts");
  Episode e = EpisodeArgs(in.Need("features"), f, "features");
  Opts o = ParseOpts(f);
  Result r;
  Run(e, o, r, "features");
  return ToJs(info.Env(), r);
}

// progressTargets(same as sync) → Promise<same as sync>
Napi::Value ProgressAsync(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), f(info[1], "opts");
  Episode e = EpisodeArgs(in.Need("features"), f, "features");
  Opts o = ParseOpts(f);
  std::vector<Napi::Value> keep;
  auto stop = CallStopArg(f.Maybe("cancel"), "opts.cancel", keep);
  OwnedEpisode own = Own(e, "features", keep);
  auto r = std::make_shared<Result>();
  auto* w = new PromiseWorker(
      info.Env(), "progressTargets",
      [own, o, r, stop] {
        ThrowIfStopped(&stop->flag, "progressTargets");
        Run(own.e, o, *r, "features");
        ThrowIfStopped(&stop->flag, "progressTargets");
      },
      [r](Napi::Env env) { return ToJs(env, *r); }, keep);
  w->SetStop(stop);
  return w->Queue();
}

// progressTargetsBatch({ episodes: Array<{ features, T, N, D }> },
//                      { segmenter, lambda, window, maxClusterFrames, threshold?, threads }) → Promise<result[]>
// Episodes run in parallel on the pool (each single-threaded inside); every
// result reports its own NaN/Inf, and a failure of another kind rejects the
// call, naming the episode's index.
Napi::Value ProgressBatch(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), f(info[1], "opts");
  Napi::Value list = in.Need("episodes");
  if (!list.IsArray()) ThrowType("Expected an array for episodes but received " + Describe(list));
  Napi::Array arr = list.As<Napi::Array>();
  std::vector<OwnedEpisode> eps;
  std::vector<Episode> checked;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    std::string name = "episodes[" + std::to_string(i) + "]";
    Fields ep(arr.Get(i), name.c_str());
    checked.push_back(EpisodeArgs(ep.Need("features"), ep, name.c_str()));
  }
  Opts o = ParseOpts(f);
  // Copies only once every argument passed its checks.
  std::vector<Napi::Value> keep;
  auto stop = CallStopArg(f.Maybe("cancel"), "opts.cancel", keep);
  for (std::size_t i = 0; i < checked.size(); ++i)
    eps.push_back(Own(checked[i], "episodes[" + std::to_string(i) + "]", keep));
  auto results = std::make_shared<std::vector<Result>>(eps.size());
  auto* w = new PromiseWorker(
      info.Env(), "progressTargetsBatch",
      [eps, o, results, stop] {
        std::vector<std::string> errors(eps.size());
        std::vector<ArgError::Kind> kinds(eps.size(), ArgError::kPlain);
        parallel_for(eps.size(), o.threads, 1, [&](std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) {
            if (StopRequested(&stop->flag)) return;
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
        ThrowIfStopped(&stop->flag, "progressTargetsBatch");
        for (std::size_t i = 0; i < eps.size(); ++i)
          if (!errors[i].empty()) throw ArgError{kinds[i], errors[i]};
      },
      [results](Napi::Env env) {
        Napi::Array out = Napi::Array::New(env, results->size());
        for (std::size_t i = 0; i < results->size(); ++i) out.Set(i, ToJs(env, (*results)[i]));
        return out;
      },
      keep);
  w->SetStop(stop);
  return w->Queue();
}

// progressStepsToGo({}, { T }, { values: [T] })
Napi::Value StepsToGo(const Napi::CallbackInfo& info) {
  Fields o(info[1], "opts"), res(info[2], "out");
  std::size_t T = SizeArg(o.Need("T"), "length", 1);
  auto out = Float32Arg(res.Need("values"), "out");
  RequireLength(out.length, T, "out", "[" + std::to_string(T) + "]");
  steps_to_go(T, out.data);
  return info.Env().Undefined();
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<PatchSimilarity>(env, exports, "progressPatchSimilarity");
  Export<SlidingSlopes>(env, exports, "progressSlidingSlopes");
  Export<ProgressSync>(env, exports, "progressTargetsSync");
  Export<ProgressAsync>(env, exports, "progressTargets");
  Export<ProgressBatch>(env, exports, "progressTargetsBatch");
  Export<StepsToGo>(env, exports, "progressStepsToGo");
}

}  // namespace

F2G_REGISTER(progress, Init);

}  // namespace f2g

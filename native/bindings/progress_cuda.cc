// The CUDA twins of bindings/progress.cc (SPEC §1–3 on DeviceBuffers, kernels
// in cuda/progress.cu): the same calling convention (input, opts, out), the
// same memory checks, device memory instead of typed arrays. Synchronous twins
// run on a fresh stream and wait for it; progressTargetsCuda returns a Promise
// resolved after its stream finished. CUDA errors become JS Errors naming the
// call.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings/cuda_glue.h"

namespace f2g {
namespace {

// progressPatchSimilarityCuda({ features, goal? }, { T, N, D, lambda, goalFrame? }, { similarity })
//   goal [N,D], or the frame goalFrame of features when goal is undefined.
Napi::Value PatchSimilarity(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  const std::size_t T = o.Size("T"), N = o.Size("N", 1), D = o.Size("D", 1);
  DeviceMemPtr f = DeviceArg(in.Need("features"), "features", CheckedProduct({T, N, D, 4}, "features"), -1);
  DeviceMemPtr g;
  const float* goal = nullptr;
  if (in.Maybe("goal").IsUndefined()) {
    const std::size_t k = o.Size("goalFrame");
    if (k >= T)
      ThrowRange("Expected opts.goalFrame < " + std::to_string(T) + " but received " + std::to_string(k));
    goal = F32(f) + k * N * D;
  } else {
    g = DeviceArg(in.Need("goal"), "goal", CheckedProduct({N, D, 4}, "goal"), f->device);
    goal = F32(g);
  }
  DeviceMemPtr s = DeviceArg(out.Need("similarity"), "out.similarity", T * 4, f->device);
  const double lambda = o.Number("lambda");
  RunChecked(f->device, "patchSimilarity", "", [&](cuda::Stream st, int*) {
    cuda::patch_similarity(F32(f), T, N, D, goal, lambda, F32w(s), st);
  });
  return info.Env().Undefined();
}

// progressSlidingSlopesCuda({ series }, { B, L, window }, { slopes })
Napi::Value SlidingSlopes(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  const std::size_t B = o.Size("B"), L = o.Size("L"), w = o.Size("window", 2);
  if (L < w)
    ThrowRange("Expected opts.window ≤ opts.L (" + std::to_string(L) + ") but received " + std::to_string(w));
  DeviceMemPtr x = DeviceArg(in.Need("series"), "series", CheckedProduct({B, L, 4}, "series"), -1);
  DeviceMemPtr s =
      DeviceArg(out.Need("slopes"), "out.slopes", CheckedProduct({B, L - w + 1, 4}, "out.slopes"), x->device);
  RunChecked(
      x->device, "slidingSlopes", "expected finite values in series (an element is NaN or Inf)",
      [&](cuda::Stream st, int* status) { cuda::sliding_slopes(F32(x), B, L, w, F32w(s), status, st); });
  return info.Env().Undefined();
}

// progressTargetsCuda({ features, offsets: Float64Array [E+1] }, { N, D, lambda, window,
//   maxClusterFrames, threshold }, { values, similarity })
//   -> Promise<{ segStart: Int32Array, segEnd: Int32Array, segCount: Int32Array, bad: Float64Array }>
Napi::Value ProgressTargets(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), out(info[2], "out");
  Napi::Value offv = in.Need("offsets");
  if (!offv.IsTypedArray() || offv.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    ThrowType("Expected a Float64Array for offsets but received " + Describe(offv));
  auto offa = offv.As<Napi::Float64Array>();
  if (offa.ElementLength() < 1) ThrowRange("Expected at least one offset");
  std::vector<std::int64_t> off(offa.ElementLength());
  for (std::size_t i = 0; i < off.size(); ++i) {
    off[i] = static_cast<std::int64_t>(offa[i]);
    if (offa[i] != static_cast<double>(off[i]) || (i > 0 && off[i] < off[i - 1]) || (i == 0 && off[0] != 0))
      ThrowRange("Expected offsets to be non-decreasing integers from 0");
  }
  const std::size_t E = off.size() - 1, total = static_cast<std::size_t>(off.back());
  const std::size_t N = o.Size("N", 1), D = o.Size("D", 1);
  const cuda::ProgressArgs p{o.Number("lambda"), o.Size("window", 2), o.Size("maxClusterFrames", 1),
                             o.Number("threshold")};
  DeviceMemPtr f =
      DeviceArg(in.Need("features"), "features", CheckedProduct({total, N, D, 4}, "features"), -1);
  DeviceMemPtr v = DeviceArg(out.Need("values"), "out.values", total * 4, f->device);
  DeviceMemPtr sim = DeviceArg(out.Need("similarity"), "out.similarity", total * 4, f->device);
  auto res = std::make_shared<std::vector<std::int32_t>>(3 * total + E);  // start, end, count
  auto bad = std::make_shared<std::vector<std::int64_t>>(E);
  auto exec = [f, v, sim, off, E, total, N, D, p, res, bad]() {
    const char* call = "progressTargets";
    cuda::set_device(f->device, call);
    CallStream s(call);
    const std::size_t ib = (E + 1) * 8, sb = (2 * total + E) * 4, bb = E * 8;
    StreamScratch scratch(ib + sb + bb + 8, s.s, call);
    char* base = static_cast<char*>(scratch.p);
    auto* doff = reinterpret_cast<std::int64_t*>(base);
    auto* dbad = reinterpret_cast<std::int64_t*>(base + ib);
    auto* dseg = reinterpret_cast<std::int32_t*>(base + ib + bb);
    cuda::copy_h2d(doff, off.data(), ib, s.s, call);
    cuda::progress_targets(F32(f), doff, E, N, D, p, F32w(v), F32w(sim), dseg, dseg + total, dseg + 2 * total,
                           dbad, s.s);
    cuda::copy_d2h(res->data(), dseg, sb, s.s, call);
    if (E) cuda::copy_d2h(bad->data(), dbad, bb, s.s, call);
    cuda::stream_sync(s.s, call);
  };
  auto done = [res, bad, E, total](Napi::Env env) -> Napi::Value {
    Napi::Object r = Napi::Object::New(env);
    auto ss = Napi::Int32Array::New(env, total), se = Napi::Int32Array::New(env, total);
    auto cnt = Napi::Int32Array::New(env, E);
    auto b = Napi::Float64Array::New(env, E);
    for (std::size_t i = 0; i < total; ++i) {
      ss[i] = (*res)[i];
      se[i] = (*res)[total + i];
    }
    for (std::size_t e = 0; e < E; ++e) {
      cnt[e] = (*res)[2 * total + e];
      b[e] = static_cast<double>((*bad)[e]);
    }
    r.Set("segStart", ss);
    r.Set("segEnd", se);
    r.Set("segCount", cnt);
    r.Set("bad", b);
    return r;
  };
  return (new PromiseWorker(info.Env(), "progressTargetsCuda", exec, done, {}))->Queue();
}

void Init(Napi::Env env, Napi::Object exports) {
  ExportCuda<PatchSimilarity>(env, exports, "progressPatchSimilarityCuda");
  ExportCuda<SlidingSlopes>(env, exports, "progressSlidingSlopesCuda");
  ExportCuda<ProgressTargets>(env, exports, "progressTargetsCuda");
}

}  // namespace

F2G_REGISTER(progress_cuda, Init);

}  // namespace f2g

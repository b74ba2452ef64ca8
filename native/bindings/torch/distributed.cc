// N-API layer of the process group (native/torch/distributed.h): every call
// that talks to other ranks returns a Promise and runs on a libuv thread, in
// the order JavaScript issued it. The collective runs on a copy of the
// array (so detaching it meanwhile cannot free memory the call uses); the
// result is written back into the array when the call settles, in place.
// Every call takes an optional cancel flag (the last argument, see
// CallStopArg) and is cancelled when the process exits or its worker_thread
// is terminated (dist::StopScope: the other ranks then fail within about a
// second, naming this rank).
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "bindings/napi_util.h"
#include "bindings/torch/tensors.h"
#include "torch/distributed.h"

namespace f2g {
namespace {

struct ArrayArg {
  torch::Tensor tensor;
  Napi::TypedArray array;
};

ArrayArg TypedArg(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray())
    ThrowType(
        std::string(
            "Expected a Float32Array, Float64Array, Int32Array, BigInt64Array, Int8Array or Uint8Array for ") +
        name + " but received " + Describe(v));
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  c10::ScalarType t;
  switch (a.TypedArrayType()) {
    case napi_float32_array:
      t = torch::kFloat32;
      break;
    case napi_float64_array:
      t = torch::kFloat64;
      break;
    case napi_int32_array:
      t = torch::kInt32;
      break;
    case napi_bigint64_array:
      t = torch::kInt64;
      break;
    case napi_int8_array:
      t = torch::kInt8;
      break;
    case napi_uint8_array:
      t = torch::kUInt8;
      break;
    default:
      ThrowType(
          std::string(
              "Expected a Float32Array, Float64Array, Int32Array, BigInt64Array, Int8Array or Uint8Array for ") +
          name + " but received " + Describe(v));
  }
  auto* base = static_cast<std::uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  const int64_t n = static_cast<int64_t>(a.ElementLength());
  torch::Tensor view =
      torch::from_blob(n ? static_cast<void*>(base) : nullptr, {n}, torch::TensorOptions().dtype(t));
  const double bytes = static_cast<double>(a.ByteLength());
  torch::Tensor owned = TorchAllocating(std::string("a copy of ") + name + " for the collective", bytes,
                                        [&] { return view.clone(); });
  return {owned, a};
}

// Writes the collective's result back into the caller's array (skipped when
// the array was detached or shrunk meanwhile: its memory is no longer ours).
void CopyBack(const Napi::Value& v, const torch::Tensor& t) {
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ArrayBuffer().ByteLength() < a.ByteOffset() + static_cast<std::size_t>(t.nbytes())) return;
  if (t.nbytes())
    std::memcpy(static_cast<std::uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), t.data_ptr(),
                t.nbytes());
}

Napi::TypedArray NewLike(Napi::Env env, const Napi::TypedArray& like, std::size_t n) {
  switch (like.TypedArrayType()) {
    case napi_float32_array:
      return Napi::Float32Array::New(env, n);
    case napi_float64_array:
      return Napi::Float64Array::New(env, n);
    case napi_int32_array:
      return Napi::Int32Array::New(env, n);
    case napi_bigint64_array:
      return Napi::BigInt64Array::New(env, n);
    case napi_int8_array:
      return Napi::Int8Array::New(env, n);
    default:
      return Napi::Uint8Array::New(env, n);
  }
}

// A worker that waits for its turn, maps the model-side exceptions to
// RangeError, and settles a Promise; `cancel` is the call's cancel flag.
Napi::Promise Ordered(Napi::Env env, std::function<void()> body, std::function<Napi::Value(Napi::Env)> done,
                      std::vector<Napi::Value> keep, const Napi::Value& cancel) {
  auto stop = CallStopArg(cancel, "cancel", keep);
  const std::uint64_t ticket = dist::TakeTicket();
  auto* w = new PromiseWorker(
      env, "distributed",
      [ticket, body = std::move(body), stop] {
        dist::Turn turn(ticket);
        dist::StopScope scope(&stop->flag);
        try {
          body();
        } catch (const std::invalid_argument& e) {
          throw ArgError{ArgError::kRange, e.what()};
        } catch (const std::out_of_range& e) {
          throw ArgError{ArgError::kRange, e.what()};
        }
      },
      std::move(done), keep);
  w->SetStop(stop);
  return w->Queue();
}

dist::Op OpArg(const Napi::Value& v) {
  if (v.IsUndefined()) return dist::Op::kSum;
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "sum") return dist::Op::kSum;
  if (s == "avg") return dist::Op::kAvg;
  if (s == "max") return dist::Op::kMax;
  if (s == "min") return dist::Op::kMin;
  if (s == "product") return dist::Op::kProduct;
  ThrowType("Expected op 'sum', 'avg', 'max', 'min' or 'product' but received " + Describe(v));
}

std::string StrOpt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString())
    ThrowType(std::string("Expected a string for opts.") + key + " but received " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

// distInit({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs[, overlapGradients, bucketBytes] }, cancel?)
// → Promise<void>
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) ThrowType("Expected an options object for opts but received " + Describe(info[0]));
  Napi::Object o = info[0].As<Napi::Object>();
  dist::InitOptions io;
  io.backend = StrOpt(o, "backend");
  io.world_size = static_cast<int64_t>(SizeArg(o.Get("worldSize"), "opts.worldSize", 1));
  io.rank = static_cast<int64_t>(SizeArg(o.Get("rank"), "opts.rank"));
  if (io.rank >= io.world_size)
    ThrowRange("Expected opts.rank in [0, " + std::to_string(io.world_size - 1) + "] but received " +
               std::to_string(io.rank));
  io.master_addr = StrOpt(o, "masterAddr");
  io.master_port = static_cast<int64_t>(SizeArg(o.Get("masterPort"), "opts.masterPort", 1));
  if (io.master_port > 65535)
    ThrowRange("Expected opts.masterPort in [1, 65535] but received " + std::to_string(io.master_port));
  io.timeout_ms = static_cast<int64_t>(SizeArg(o.Get("timeoutMs"), "opts.timeoutMs", 1));
  const Napi::Value overlap = o.Get("overlapGradients");
  if (!overlap.IsUndefined()) {
    if (!overlap.IsBoolean())
      ThrowType("Expected a boolean for opts.overlapGradients but received " + Describe(overlap));
    io.overlap_gradients = overlap.As<Napi::Boolean>().Value();
  }
  const Napi::Value bucket = o.Get("bucketBytes");
  if (!bucket.IsUndefined()) io.bucket_bytes = SizeArg(bucket, "opts.bucketBytes", 4);
  if (!dist::Available()) {
    try {
      dist::Init(io);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
  return Ordered(
      info.Env(), [io] { dist::Init(io); }, [](Napi::Env env) { return env.Undefined(); }, {}, info[1]);
}

Napi::Value DistDestroy(const Napi::CallbackInfo& info) {
  return Ordered(
      info.Env(), [] { dist::Destroy(); }, [](Napi::Env env) { return env.Undefined(); }, {},
      info.Env().Undefined());
}

Napi::Value DistState(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("initialized", dist::IsInitialized());
  o.Set("rank", static_cast<double>(dist::Rank()));
  o.Set("worldSize", static_cast<double>(dist::WorldSize()));
  return o;
}

// distSetOverlap(on): the group's gradient overlap from the next backward on.
Napi::Value DistSetOverlap(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) ThrowType("Expected a boolean for on but received " + Describe(info[0]));
  try {
    dist::SetOverlapGradients(info[0].As<Napi::Boolean>().Value());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
  return info.Env().Undefined();
}

Napi::Value DistStats(const Napi::CallbackInfo& info) {
  const dist::Stats st = dist::GetStats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("calls", st.calls);
  o.Set("ms", st.seconds * 1e3);
  o.Set("bytes", st.bytes);
  o.Set("gradientBuckets", st.buckets);
  o.Set("bucketsDuringBackward", st.buckets_in_backward);
  return o;
}

Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  return Ordered(
      info.Env(), [] { dist::Barrier(); }, [](Napi::Env env) { return env.Undefined(); }, {}, info[0]);
}

/// A collective on `t`, a copy of the typed array info[0]: the result is written
/// back into that array, which the promise resolves with.
Napi::Value InPlace(const Napi::CallbackInfo& info, const torch::Tensor& t, std::function<void()> run,
                    const Napi::Value& cancel) {
  auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[0]));
  return Ordered(
      info.Env(), std::move(run),
      [ref, t](Napi::Env) {
        CopyBack(ref->Value(), t);
        return ref->Value();
      },
      {info[0]}, cancel);
}

// distAllReduce(array, op, cancel?) → Promise<array> (in place)
Napi::Value DistAllReduce(const Napi::CallbackInfo& info) {
  torch::Tensor t = TypedArg(info[0], "array").tensor;
  dist::Op op = OpArg(info[1]);
  return InPlace(
      info, t, [t, op] { dist::AllReduce(t, op, "allReduce"); }, info[2]);
}

// distBroadcast(array, root, cancel?) → Promise<array> (in place)
Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  torch::Tensor t = TypedArg(info[0], "array").tensor;
  const int64_t root = static_cast<int64_t>(SizeArg(info[1], "root"));
  return InPlace(
      info, t, [t, root] { dist::Broadcast(t, root, "broadcast"); }, info[2]);
}

// distAllGather(array, cancel?) → Promise<new array of worldSize × length, in rank order>
Napi::Value DistAllGather(const Napi::CallbackInfo& info) {
  ArrayArg a = TypedArg(info[0], "array");
  torch::Tensor t = a.tensor;
  auto like = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(info[0]));
  auto out = std::make_shared<torch::Tensor>();
  return Ordered(
      info.Env(), [t, out] { *out = dist::AllGather(t, "allGather"); },
      [like, out](Napi::Env env) -> Napi::Value {
        Napi::TypedArray r =
            NewLike(env, like->Value().As<Napi::TypedArray>(), static_cast<std::size_t>(out->numel()));
        if (out->nbytes())
          std::memcpy(static_cast<std::uint8_t*>(r.ArrayBuffer().Data()) + r.ByteOffset(), out->data_ptr(),
                      out->nbytes());
        return r;
      },
      {info[0]}, info[1]);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("distAvailable", Napi::Boolean::New(env, dist::Available()));
  Export<DistInit>(env, exports, "distInit");
  Export<DistDestroy>(env, exports, "distDestroy");
  Export<DistState>(env, exports, "distState");
  Export<DistStats>(env, exports, "distStats");
  Export<DistSetOverlap>(env, exports, "distSetOverlap");
  Export<DistBarrier>(env, exports, "distBarrier");
  Export<DistAllReduce>(env, exports, "distAllReduce");
  Export<DistBroadcast>(env, exports, "distBroadcast");
  Export<DistAllGather>(env, exports, "distAllGather");
}

}  // namespace

F2G_REGISTER(distributed, Init);

}  // namespace f2g

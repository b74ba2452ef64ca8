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

/// The reduce operations in the order of dist::Op (their one owner is
/// src/torch/distributed.ts, which checks `op` and sends a name from this list).
const char* const kOpNames[] = {"sum", "avg", "max", "min", "product"};

// distInit({}, { backend, rank, worldSize, masterAddr, masterPort, timeoutMs, overlapGradients, bucketBytes,
// cancel? }) → Promise<void>. Every option is resolved and range-checked by src/torch/distributed.ts.
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Fields o(info[1], "opts");
  dist::InitOptions io;
  io.backend = o.String("backend");
  io.world_size = static_cast<int64_t>(o.Size("worldSize", 1));
  io.rank = static_cast<int64_t>(o.Size("rank"));
  // An index into the group's per-rank state: kept inside it.
  if (io.rank >= io.world_size)
    ThrowRange("Expected opts.rank in [0, " + std::to_string(io.world_size - 1) + "] but received " +
               std::to_string(io.rank));
  io.master_addr = o.String("masterAddr");
  io.master_port = static_cast<int64_t>(o.Size("masterPort", 1));
  io.timeout_ms = static_cast<int64_t>(o.Size("timeoutMs", 1));
  io.overlap_gradients = o.Bool("overlapGradients");
  io.bucket_bytes = o.Size("bucketBytes", 4);
  if (!dist::Available()) {
    try {
      dist::Init(io);
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
  return Ordered(
      info.Env(), [io] { dist::Init(io); }, [](Napi::Env env) { return env.Undefined(); }, {},
      o.Maybe("cancel"));
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

// distSetOverlap({}, { on }): the group's gradient overlap from the next backward on.
Napi::Value DistSetOverlap(const Napi::CallbackInfo& info) {
  const bool on = Fields(info[1], "opts").Bool("on");
  try {
    dist::SetOverlapGradients(on);
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

// distBarrier({}, { cancel? }) → Promise<void> (no arguments: no cancel flag)
Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  return Ordered(
      info.Env(), [] { dist::Barrier(); }, [](Napi::Env env) { return env.Undefined(); }, {},
      info[1].IsUndefined() ? info[1] : Fields(info[1], "opts").Maybe("cancel"));
}

/// A collective on `t`, a copy of the typed array `array`: the result is written
/// back into that array, which the promise resolves with.
Napi::Value InPlace(const Napi::CallbackInfo& info, const Napi::Value& array, const torch::Tensor& t,
                    std::function<void()> run) {
  auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(array));
  return Ordered(
      info.Env(), std::move(run),
      [ref, t](Napi::Env) {
        CopyBack(ref->Value(), t);
        return ref->Value();
      },
      {array}, Fields(info[1], "opts").Maybe("cancel"));
}

// distAllReduce({ array }, { op, cancel? }) → Promise<array> (in place)
Napi::Value DistAllReduce(const Napi::CallbackInfo& info) {
  const Napi::Value array = Fields(info[0], "input").Need("array");
  torch::Tensor t = TypedArg(array, "array").tensor;
  const dist::Op op = Fields(info[1], "opts").Enum<dist::Op>("op", kOpNames);
  return InPlace(info, array, t, [t, op] { dist::AllReduce(t, op, "allReduce"); });
}

// distBroadcast({ array }, { root, cancel? }) → Promise<array> (in place)
Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  const Napi::Value array = Fields(info[0], "input").Need("array");
  torch::Tensor t = TypedArg(array, "array").tensor;
  const int64_t root = static_cast<int64_t>(SizeArg(Fields(info[1], "opts").Need("root"), "root"));
  return InPlace(info, array, t, [t, root] { dist::Broadcast(t, root, "broadcast"); });
}

// distAllGather({ array }, { cancel? }) → Promise<new array of worldSize × length, in rank order>
Napi::Value DistAllGather(const Napi::CallbackInfo& info) {
  const Napi::Value array = Fields(info[0], "input").Need("array");
  ArrayArg a = TypedArg(array, "array");
  torch::Tensor t = a.tensor;
  auto like = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(array));
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
      {array}, Fields(info[1], "opts").Maybe("cancel"));
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

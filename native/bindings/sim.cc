// N-API class PickPlaceNative over kernels/pickplace.h: the batched
// pick-and-place task. The output buffers (frames, proprio, flags) are
// ArrayBuffers created here and held for the object's life; JavaScript reads
// them in place, every call rewrites them. The frames are host memory
// (NewHostArrayBuffer), so async calls (encode, framesToChw) read them in
// place; reset() and step() wait until no pending call reads them.
#include <cmath>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "kernels/pickplace.h"

namespace f2g {
namespace {

namespace pp = pickplace;

constexpr const char* kOptionKeys[] = {"numEnvs", "split",   "imageSize", "horizon",
                                       "render",  "threads", "task"};

struct EnvOpts {
  std::size_t n = 0, image = 64, horizon = 80, threads = 0;
  pp::Split split = pp::Split::kId;
  pp::Task task = pp::Task::kPickPlace;
  bool render = true;
};

pp::Split SplitArg(const Napi::Value& v, const char* name) {
  if (!v.IsString())
    ThrowType(std::string("Expected 'id', 'vision', 'semantic' or 'execution' for ") + name +
              " but received " + Describe(v));
  int s = pp::split_from_name(v.As<Napi::String>().Utf8Value().c_str());
  if (s < 0)
    ThrowRange(std::string("Expected 'id', 'vision', 'semantic' or 'execution' for ") + name +
               " but received " + Describe(v));
  return static_cast<pp::Split>(s);
}

std::size_t BoundedSize(const Napi::Value& v, const char* name, std::size_t lo, std::size_t hi) {
  std::size_t x = SizeArg(v, name, lo);
  if (x > hi)
    ThrowRange(std::string("Expected an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) +
               "] for " + name + " but received " + Describe(v));
  return x;
}

EnvOpts ParseOpts(const Napi::Value& v) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    ThrowType("Expected an options object for opts but received " + Describe(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (std::uint32_t k = 0; k < keys.Length(); ++k) {
    std::string key = keys.Get(k).ToString().Utf8Value();
    bool known = false;
    for (const char* name : kOptionKeys) known = known || key == name;
    if (!known)
      ThrowType(
          "Expected one of numEnvs, split, imageSize, horizon, render, threads, task for a key of opts but received '" +
          key + "'");
  }
  EnvOpts e;
  e.n = BoundedSize(o.Get("numEnvs"), "opts.numEnvs", 1, 1 << 20);
  Napi::Value x;
  if (!(x = o.Get("split")).IsUndefined()) e.split = SplitArg(x, "opts.split");
  if (!(x = o.Get("imageSize")).IsUndefined()) e.image = BoundedSize(x, "opts.imageSize", 16, 512);
  if (!(x = o.Get("horizon")).IsUndefined()) e.horizon = BoundedSize(x, "opts.horizon", 1, 1 << 20);
  if (!(x = o.Get("render")).IsUndefined()) {
    if (!x.IsBoolean()) ThrowType("Expected a boolean for opts.render but received " + Describe(x));
    e.render = x.As<Napi::Boolean>().Value();
  }
  if (!(x = o.Get("threads")).IsUndefined()) e.threads = SizeArg(x, "opts.threads");
  if (!(x = o.Get("task")).IsUndefined()) {
    if (!x.IsString())
      ThrowType("Expected 'pick-place', 'slip' or 'knock' for opts.task but received " + Describe(x));
    const int t = pp::task_from_name(x.As<Napi::String>().Utf8Value().c_str());
    if (t < 0)
      ThrowRange("Expected 'pick-place', 'slip' or 'knock' for opts.task but received " + Describe(x));
    e.task = static_cast<pp::Task>(t);
  }
  const std::size_t bytes =
      CheckedProduct({e.n, e.render ? e.image : 1, e.render ? e.image : 1, 3}, "frames");
  if (e.render && bytes > (std::size_t{1} << 32))
    ThrowRange("Expected numEnvs × imageSize² × 3 ≤ 4294967296 frame bytes but received " +
               std::to_string(e.n) + " × " + std::to_string(e.image) + "² × 3 = " + std::to_string(bytes));
  return e;
}

Napi::Object Colour(Napi::Env env, const std::uint8_t* c) {
  Napi::Array a = Napi::Array::New(env, 3);
  for (std::uint32_t k = 0; k < 3; ++k) a.Set(k, static_cast<double>(c[k]));
  return a;
}

class PickPlaceWrap : public GuardedWrap<PickPlaceWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "PickPlaceNative",
        {GuardedMethod<&PickPlaceWrap::Views>("views"), GuardedMethod<&PickPlaceWrap::Reset>("reset"),
         GuardedMethod<&PickPlaceWrap::Step>("step"), GuardedMethod<&PickPlaceWrap::Expert>("expert"),
         GuardedMethod<&PickPlaceWrap::Inspect>("inspect")});
    exports.Set("PickPlaceNative", cls);
    Napi::Object c = Napi::Object::New(env);
    c.Set("numStages", pp::kNumStages);
    c.Set("proprioDim", pp::kProprioDim);
    c.Set("actionDim", pp::kActionDim);
    c.Set("splitSize", static_cast<double>(pp::kSplitSize));
    c.Set("maxStep", pp::kMaxStep);
    exports.Set("pickPlaceConstants", c);
  }

  // new PickPlaceNative(input: {}, opts: { numEnvs, split, imageSize, horizon, render, threads, task })
  explicit PickPlaceWrap(const Napi::CallbackInfo& info) : GuardedWrap<PickPlaceWrap>(info) {
    Guard(info.Env(), "PickPlaceEnv", [&] {
      EnvOpts o = ParseOpts(info[1]);
      threads_ = o.threads;
      try {
        batch_ = std::make_unique<pp::Batch>(o.n, o.split, o.image, o.horizon, o.render, o.task);
      } catch (const std::bad_alloc&) {
        throw ArgError{ArgError::kRange, "PickPlaceEnv: out of memory for " + std::to_string(o.n) +
                                             " environments (frames and state); use fewer or smaller frames"};
      }
      Napi::Env env = info.Env();
      const std::size_t n = o.n, S = o.render ? o.image : 0;
      frame_bytes_ = n * S * S * 3;
      Napi::Object views = Napi::Object::New(env);
      const std::size_t frame_bytes = n * S * S * 3;
      auto frames = Napi::Uint8Array::New(
          env, frame_bytes, NewHostArrayBuffer(env, frame_bytes, "the frames", &frames_block_, true), 0);
      auto proprio = Napi::Float32Array::New(env, n * pp::kProprioDim);
      auto reward = Napi::Float32Array::New(env, n);
      auto terminated = Napi::Uint8Array::New(env, n);
      auto truncated = Napi::Uint8Array::New(env, n);
      auto success = Napi::Uint8Array::New(env, n);
      auto stage = Napi::Int32Array::New(env, n);
      auto max_stage = Napi::Int32Array::New(env, n);
      auto t = Napi::Int32Array::New(env, n);
      auto progress = Napi::Float32Array::New(env, n);
      out_.frames = frames.Data();
      out_.proprio = proprio.Data();
      out_.reward = reward.Data();
      out_.terminated = terminated.Data();
      out_.truncated = truncated.Data();
      out_.success = success.Data();
      out_.stage = stage.Data();
      out_.max_stage = max_stage.Data();
      out_.t = t.Data();
      out_.progress = progress.Data();
      views.Set("frames", frames);
      views.Set("proprio", proprio);
      views.Set("reward", reward);
      views.Set("terminated", terminated);
      views.Set("truncated", truncated);
      views.Set("success", success);
      views.Set("stage", stage);
      views.Set("maxStage", max_stage);
      views.Set("t", t);
      views.Set("progress", progress);
      for (Napi::TypedArray a :
           {Napi::TypedArray(frames), Napi::TypedArray(proprio), Napi::TypedArray(reward),
            Napi::TypedArray(terminated), Napi::TypedArray(truncated), Napi::TypedArray(success),
            Napi::TypedArray(stage), Napi::TypedArray(max_stage), Napi::TypedArray(t),
            Napi::TypedArray(progress)})
        buffers_.push_back(Napi::Persistent(a.ArrayBuffer()));
      views_ = Napi::Persistent(views);
    });
  }

 private:
  // The buffers are ours; a transferred (detached) one would leave a dangling pointer.
  // Frames that pending async calls read are left as they were until those calls end.
  void CheckBuffers() {
    for (auto& b : buffers_)
      if (b.Value().IsDetached())
        throw ArgError{
            ArgError::kPlain,
            "PickPlaceEnv: an output buffer was transferred or detached; create a new environment"};
    if (frames_block_) WaitForReaders(*frames_block_);
  }

  Napi::Value Views(const Napi::CallbackInfo& info) { return views_.Value(); }

  // Refuses an argument that shares memory with any of the env's outputs: a call rewrites
  // them, so the argument would change under it (and an output used as input is a bug).
  void RejectOutputOverlap(const void* data, std::size_t bytes, const char* name) const {
    const std::size_t n = batch_->size();
    RejectOverlap(
        Span{data, bytes, name},
        {Span{out_.frames, frame_bytes_, "env.frames"},
         Span{out_.proprio, n * pp::kProprioDim * sizeof(float), "env.proprio"},
         Span{out_.reward, n * sizeof(float), "env.reward"}, Span{out_.terminated, n, "env.terminated"},
         Span{out_.truncated, n, "env.truncated"}, Span{out_.success, n, "env.success"},
         Span{out_.stage, n * sizeof(std::int32_t), "env.stage"},
         Span{out_.max_stage, n * sizeof(std::int32_t), "env.maxStage"},
         Span{out_.t, n * sizeof(std::int32_t), "env.t"}},
        false);
  }

  // reset({ initIds: Int32Array [N], -1 = keep }, {}). The ids are copied, then checked: what
  // is checked is what is used, even when another thread writes a SharedArrayBuffer.
  Napi::Value Reset(const Napi::CallbackInfo& info) {
    CheckBuffers();
    auto arg = Int32Arg(Fields(info[0], "input").Need("initIds"), "initIds");
    const std::size_t n = batch_->size();
    if (arg.length != n)
      ThrowRange("Expected initIds of length " + std::to_string(n) + " (numEnvs) but received " +
                 std::to_string(arg.length));
    RejectOutputOverlap(arg.data, n * sizeof(std::int32_t), "initIds");
    ids_.assign(arg.data, arg.data + n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::int32_t id = ids_[i];
      if (id < -1 || id >= static_cast<std::int32_t>(pp::kSplitSize))
        ThrowRange("Expected an integer in [0, " + std::to_string(pp::kSplitSize - 1) +
                   "] (or -1 to keep) for initIds[" + std::to_string(i) + "] but received " +
                   std::to_string(id));
      if (id < 0 && !batch_->initialised(i))
        ThrowRange("Expected an initial-state id for initIds[" + std::to_string(i) + "] (env " +
                   std::to_string(i) + " was never reset) but received -1");
    }
    batch_->reset(ids_.data(), out_, threads_);
    return info.Env().Undefined();
  }

  // step({ actions: Float32Array [N*3] }, {}). Copied, then checked (see Reset).
  Napi::Value Step(const Napi::CallbackInfo& info) {
    CheckBuffers();
    auto arg = Float32Arg(Fields(info[0], "input").Need("actions"), "actions");
    const std::size_t n = batch_->size();
    if (arg.length != n * pp::kActionDim)
      ThrowRange("Expected actions of length " + std::to_string(n * pp::kActionDim) +
                 " ([numEnvs, 3]) but received " + std::to_string(arg.length));
    RejectOutputOverlap(arg.data, arg.length * sizeof(float), "actions");
    actions_.assign(arg.data, arg.data + arg.length);
    for (std::size_t k = 0; k < actions_.size(); ++k)
      if (!std::isfinite(actions_[k]))
        ThrowRange("Expected finite values for actions but received " +
                   std::string(std::isnan(actions_[k]) ? "NaN"
                               : actions_[k] < 0       ? "-Infinity"
                                                       : "Infinity") +
                   " at index " + std::to_string(k) + " (env " + std::to_string(k / 3) + ", component " +
                   std::to_string(k % 3) + ")");
    for (std::size_t i = 0; i < n; ++i)
      if (!batch_->initialised(i))
        throw ArgError{ArgError::kPlain, "PickPlaceEnv: call reset() before step() (env " +
                                             std::to_string(i) + " has no initial state)"};
    batch_->step(actions_.data(), out_, threads_);
    return info.Env().Undefined();
  }

  // expert({}, { noise, seed }, { actions: Float32Array [N*3] }); noise ≥ 0: src/sim/pick-place.ts checks it
  Napi::Value Expert(const Napi::CallbackInfo& info) {
    Fields o(info[1], "opts");
    double noise = NumberArg(o.Need("noise"), "noise");
    std::size_t seed = SizeArg(o.Need("seed"), "seed");
    auto out = Float32Arg(Fields(info[2], "out").Need("actions"), "out");
    RequireLength(out.length, batch_->size() * pp::kActionDim, "out", "[numEnvs, 3]");
    RejectOutputOverlap(out.data, batch_->size() * pp::kActionDim * sizeof(float), "out");
    batch_->expert(noise, static_cast<std::uint64_t>(seed), out.data, threads_);
    return info.Env().Undefined();
  }

  // inspect({}, { env }) → snapshot of env `env`
  Napi::Value Inspect(const Napi::CallbackInfo& info) {
    const Napi::Value env_index = Fields(info[1], "opts").Need("env");
    std::size_t i = SizeArg(env_index, "env");
    if (i >= batch_->size())
      ThrowRange("Expected an integer in [0, " + std::to_string(batch_->size() - 1) +
                 "] for env but received " + Describe(env_index));
    pp::EnvInfo e = batch_->info(i);
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("initId", e.init_id);
    o.Set("gripperX", e.gx);
    o.Set("gripperZ", e.gz);
    o.Set("opening", e.open);
    o.Set("holding", e.holding);
    o.Set("cubeX", e.cx);
    o.Set("cubeZ", e.cz);
    o.Set("cubeVz", e.cvz);
    o.Set("cubeSize", e.init.cs);
    o.Set("goalX", e.init.goal_x);
    o.Set("goalWidth", e.init.goal_w);
    o.Set("backgroundColor", Colour(env, e.init.bg));
    o.Set("tableColor", Colour(env, e.init.table));
    o.Set("cubeColor", Colour(env, e.init.cube));
    o.Set("stripes", e.init.stripes);
    o.Set("pixelNoise", e.init.noise);
    if (e.init.distractor) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("x", e.init.dx);
      d.Set("radius", e.init.dr);
      d.Set("color", Colour(env, e.init.dcol));
      o.Set("distractor", d);
    } else {
      o.Set("distractor", env.Null());
    }
    o.Set("moveStep", e.init.move_t);
    o.Set("moveX", e.init.move_t >= 0 ? Napi::Value(Napi::Number::New(env, e.init.move_x)) : env.Null());
    o.Set("moved", e.moved);
    o.Set("initialGripperX", e.init.gx);
    o.Set("initialGripperZ", e.init.gz);
    o.Set("initialCubeX", e.init.cx);
    return o;
  }

  std::unique_ptr<pp::Batch> batch_;
  std::shared_ptr<HostBlock> frames_block_;  // null when the frames are a plain ArrayBuffer
  pp::Outputs out_;
  std::size_t threads_ = 0;
  std::size_t frame_bytes_ = 0;
  std::vector<float> actions_;     // step's copy of the actions
  std::vector<std::int32_t> ids_;  // reset's copy of the ids
  std::vector<Napi::Reference<Napi::ArrayBuffer>> buffers_;
  Napi::ObjectReference views_;
};

void InitSim(Napi::Env env, Napi::Object exports) { PickPlaceWrap::Init(env, exports); }

}  // namespace

F2G_REGISTER(sim, InitSim);

}  // namespace f2g

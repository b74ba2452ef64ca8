// N-API class ValueHeadNative over f2g::ValueHead (SPEC §4). Typed arrays
// are wrapped with torch::from_blob (no copies) and kept alive for the call.
#include <memory>

#include "torch/tnapi.h"
#include <optional>

#include "torch/distributed.h"
#include "torch/value_head.h"

namespace f2g {
namespace {

class ValueHeadWrap : public Napi::ObjectWrap<ValueHeadWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "ValueHeadNative",
        {InstanceMethod("targets", &ValueHeadWrap::Targets), InstanceMethod("predict", &ValueHeadWrap::Predict),
         InstanceMethod("predictDistribution", &ValueHeadWrap::Distribution),
         InstanceMethod("loss", &ValueHeadWrap::Loss), InstanceMethod("trainStep", &ValueHeadWrap::TrainStep),
         InstanceMethod("fitSync", &ValueHeadWrap::FitSync), InstanceMethod("fit", &ValueHeadWrap::Fit),
         InstanceMethod("stateDict", &ValueHeadWrap::StateDict),
         InstanceMethod("loadStateDict", &ValueHeadWrap::LoadStateDict)});
    exports.Set("ValueHeadNative", cls);
  }

  explicit ValueHeadWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ValueHeadWrap>(info) {
    F2G_TGUARD(info.Env(), {
      if (!info[0].IsObject()) ThrowType("Expected a config object for config but received " + Describe(info[0]));
      Napi::Object o = info[0].As<Napi::Object>();
      ValueHeadConfig c;
      c.input_dim = static_cast<int64_t>(SizeArg(o.Get("inputDim"), "config.inputDim", 1));
      c.hidden_dim = static_cast<int64_t>(SizeArg(o.Get("hiddenDim"), "config.hiddenDim", 1));
      c.bins = static_cast<int64_t>(SizeArg(o.Get("bins"), "config.bins", 2));
      c.one_hot = o.Get("oneHot").ToBoolean().Value();
      c.seed = static_cast<std::uint64_t>(SizeArg(o.Get("seed"), "config.seed"));
      head_ = std::make_shared<ValueHead>(c);
    })
  }

 private:
  struct Batch {
    torch::Tensor h, v;
    int64_t B = 0;
  };

  Batch Args(const Napi::CallbackInfo& info, bool with_targets) {
    Batch b;
    b.B = static_cast<int64_t>(SizeArg(info[1], "hidden.shape[0]", 1));
    const int64_t H = head_->config().input_dim;
    const float* h = TensorArg(info[0], "hidden.data", {b.B, H});
    CheckValues(h, static_cast<std::size_t>(b.B * H), "hidden");
    b.h = Blob(h, {b.B, H});
    if (with_targets) {
      const float* v = TensorArg(info[2], "targets", {b.B});
      CheckValues(v, static_cast<std::size_t>(b.B), "targets", 0.0, 1.0);
      b.v = Blob(v, {b.B});
    }
    return b;
  }

  // targets(values: Float32Array) → Float32Array [B*bins]
  Napi::Value Targets(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      View<float> v = Float32Arg(info[0], "values");
      CheckValues(v.data, v.length, "values", 0.0, 1.0);
      return ToJs(info.Env(), head_->Targets(Blob(v.data, {static_cast<int64_t>(v.length)})));
    })
  }
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, false);
      BusyGuard g(head_->busy, "ValueHead");
      TorchThreadsHere();
      return ToJs(info.Env(), head_->Predict(b.h));
    })
  }
  Napi::Value Distribution(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, false);
      BusyGuard g(head_->busy, "ValueHead");
      TorchThreadsHere();
      return ToJs(info.Env(), head_->Distribution(b.h));
    })
  }
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, true);
      BusyGuard g(head_->busy, "ValueHead");
      TorchThreadsHere();
      return Napi::Number::New(info.Env(), head_->Loss(b.h, b.v));
    })
  }
  // trainStep(h, B, targets, lr, weightDecay) → loss before the step
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, true);
      double lr = NumberArg(info[3], "opts.lr");
      double wd = NumberArg(info[4], "opts.weightDecay");
      BusyGuard g(head_->busy, "ValueHead");
      return Napi::Number::New(info.Env(), head_->TrainStep(b.h, b.v, lr, wd));
    })
  }

  static FitOptions ParseFit(const Napi::Value& v) {
    FitOptions o;
    if (!v.IsObject()) ThrowType("Expected an options object for opts but received " + Describe(v));
    Napi::Object obj = v.As<Napi::Object>();
    o.epochs = static_cast<int64_t>(SizeArg(obj.Get("epochs"), "opts.epochs", 1));
    o.batch_size = static_cast<int64_t>(SizeArg(obj.Get("batchSize"), "opts.batchSize", 1));
    o.lr = NumberArg(obj.Get("lr"), "opts.lr");
    o.weight_decay = NumberArg(obj.Get("weightDecay"), "opts.weightDecay");
    o.cosine = obj.Get("cosine").ToBoolean().Value();
    o.seed = static_cast<std::uint64_t>(SizeArg(obj.Get("seed"), "opts.seed"));
    o.distributed = obj.Get("distributed").ToBoolean().Value();
    return o;
  }

  static Napi::Value Losses(Napi::Env env, const std::vector<double>& l) {
    Napi::Array a = Napi::Array::New(env, l.size());
    for (std::size_t i = 0; i < l.size(); ++i) a.Set(static_cast<uint32_t>(i), l[i]);
    return a;
  }

  // fitSync(h, B, targets, opts) → number[] (mean loss per epoch)
  Napi::Value FitSync(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, true);
      FitOptions o = ParseFit(info[3]);
      BusyGuard g(head_->busy, "ValueHead");
      std::optional<dist::Turn> turn;
      if (o.distributed) turn.emplace(dist::TakeTicket());
      return Losses(info.Env(), head_->Fit(b.h, b.v, o, nullptr));
    })
  }

  // fit(h, B, targets, opts, onProgress?) → Promise<number[]>; onProgress(epoch, epochs, loss)
  Napi::Value Fit(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      Batch b = Args(info, true);
      FitOptions o = ParseFit(info[3]);
      if (!info[4].IsUndefined() && !info[4].IsFunction())
        ThrowType("Expected a function for opts.onProgress but received " + Describe(info[4]));
      auto busy = std::make_shared<BusyGuard>(head_->busy, "ValueHead");
      auto head = head_;
      auto out = std::make_shared<std::vector<double>>();
      // Distributed fits keep the order of the process's collectives.
      const std::optional<std::uint64_t> ticket = o.distributed ? std::optional<std::uint64_t>(dist::TakeTicket()) : std::nullopt;
      auto* w = new ProgressPromiseWorker(
          info.Env(),
          [head, b, o, out, busy, ticket](const ProgressPromiseWorker::Report& report) {
            std::optional<dist::Turn> turn;
            if (ticket) turn.emplace(*ticket);
            *out = head->Fit(b.h, b.v, o, [&report](int64_t e, int64_t n, double l) {
              double msg[3] = {static_cast<double>(e), static_cast<double>(n), l};
              report(msg, 3);
            });
          },
          [out, busy](Napi::Env env) mutable {
            busy.reset();
            return Losses(env, *out);
          },
          info[4], {info[0], info[2], info.This()});
      // The busy flag is released when the worker (and its lambdas) is destroyed,
      // after it resolved or rejected.
      return w->Queue();
    })
  }

  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      BusyGuard g(head_->busy, "ValueHead");
      return NamedToJs(info.Env(), head_->StateDict());
    })
  }
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info) {
    F2G_TGUARD(info.Env(), {
      NamedTensors src = NamedFromJs(info[0], "weights");
      BusyGuard g(head_->busy, "ValueHead");
      head_->LoadStateDict(src);
      return info.Env().Undefined();
    })
  }

  std::shared_ptr<ValueHead> head_;
};

void Init(Napi::Env env, Napi::Object exports) { ValueHeadWrap::Init(env, exports); }

}  // namespace

F2G_REGISTER(value_head, Init);

}  // namespace f2g

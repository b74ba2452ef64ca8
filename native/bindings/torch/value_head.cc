// N-API class ValueHeadNative over f2g::ValueHead (SPEC §4). Synchronous
// methods wrap typed arrays with torch::from_blob (no copies); fit() reads its
// inputs in place when they are host memory or over a SharedArrayBuffer and
// copies them otherwise (AsyncTensor), since the caller's buffers may be
// detached while it runs. fit() takes opts.cancel (CallStopArg): a set flag
// ends it before its next optimizer step, with the head restored.
#include <memory>

#include <optional>

#include "bindings/torch/tensors.h"
#include "torch/distributed.h"
#include "torch/value_head.h"

namespace f2g {
namespace {

class ValueHeadWrap : public GuardedWrap<ValueHeadWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "ValueHeadNative",
        {GuardedMethod<&ValueHeadWrap::Targets>("targets"), GuardedMethod<&ValueHeadWrap::Predict>("predict"),
         GuardedMethod<&ValueHeadWrap::Distribution>("predictDistribution"),
         GuardedMethod<&ValueHeadWrap::Loss>("loss"), GuardedMethod<&ValueHeadWrap::TrainStep>("trainStep"),
         GuardedMethod<&ValueHeadWrap::FitSync>("fitSync"), GuardedMethod<&ValueHeadWrap::Fit>("fit"),
         GuardedMethod<&ValueHeadWrap::StateDict>("stateDict"),
         GuardedMethod<&ValueHeadWrap::LoadStateDict>("loadStateDict")});
    exports.Set("ValueHeadNative", cls);
  }

  // new ValueHeadNative(input: {}, config: { inputDim, hiddenDim, bins, oneHot, seed })
  explicit ValueHeadWrap(const Napi::CallbackInfo& info) : GuardedWrap<ValueHeadWrap>(info) {
    Guard(info.Env(), "ValueHeadNative", [&] {
      Fields o(info[1], "config");
      ValueHeadConfig c;
      c.input_dim = static_cast<int64_t>(o.Size("inputDim", 1));
      c.hidden_dim = static_cast<int64_t>(o.Size("hiddenDim", 1));
      c.bins = static_cast<int64_t>(o.Size("bins", 2));
      c.one_hot = o.Bool("oneHot");
      c.seed = static_cast<std::uint64_t>(o.Size("seed"));
      // Parameters, their gradients and AdamW's two moments: 4 floats each.
      const double params = static_cast<double>(c.input_dim) * c.hidden_dim + 3.0 * c.hidden_dim +
                            static_cast<double>(c.hidden_dim) * c.bins + c.bins;
      head_ = TorchAllocating("a ValueHead with config.inputDim " + std::to_string(c.input_dim) +
                                  ", config.hiddenDim " + std::to_string(c.hidden_dim) + " and config.bins " +
                                  std::to_string(c.bins),
                              params * 16.0, [&] { return std::make_shared<ValueHead>(c); });
    });
  }

 private:
  struct Batch {
    torch::Tensor h, v;
    int64_t B = 0;
  };

  // (input: { hidden, targets? }, opts: { B, ... })
  Batch Args(const Napi::CallbackInfo& info, bool with_targets) {
    Fields in(info[0], "input"), o(info[1], "opts");
    Batch b;
    b.B = static_cast<int64_t>(SizeArg(o.Need("B"), "hidden.shape[0]", 1));
    const int64_t H = head_->config().input_dim;
    const float* h = TensorArg(in.Need("hidden"), "hidden.data", {b.B, H});
    CheckValues(h, static_cast<std::size_t>(b.B * H), "hidden");
    b.h = Blob(h, {b.B, H});
    if (with_targets) {
      const float* v = TensorArg(in.Need("targets"), "targets", {b.B});
      CheckValues(v, static_cast<std::size_t>(b.B), "targets", 0.0, 1.0);
      b.v = Blob(v, {b.B});
    }
    return b;
  }

  // targets({ values }, {}) → Float32Array [B*bins]
  Napi::Value Targets(const Napi::CallbackInfo& info) {
    View<float> v = Float32Arg(Fields(info[0], "input").Need("values"), "values");
    CheckValues(v.data, v.length, "values", 0.0, 1.0);
    return ToJs(info.Env(), head_->Targets(Blob(v.data, {static_cast<int64_t>(v.length)})));
  }
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Batch b = Args(info, false);
    BusyGuard g(head_->busy, "ValueHead");
    TorchThreadsHere();
    return ToJs(info.Env(), head_->Predict(b.h));
  }
  Napi::Value Distribution(const Napi::CallbackInfo& info) {
    Batch b = Args(info, false);
    BusyGuard g(head_->busy, "ValueHead");
    TorchThreadsHere();
    return ToJs(info.Env(), head_->Distribution(b.h));
  }
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    Batch b = Args(info, true);
    BusyGuard g(head_->busy, "ValueHead");
    TorchThreadsHere();
    return Napi::Number::New(info.Env(), head_->Loss(b.h, b.v));
  }
  // trainStep({ hidden, targets }, { B, lr, weightDecay }) → loss before the step
  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Batch b = Args(info, true);
    Fields o(info[1], "opts");
    double lr = o.Number("lr");
    double wd = o.Number("weightDecay");
    BusyGuard g(head_->busy, "ValueHead");
    return Napi::Number::New(info.Env(), head_->TrainStep(b.h, b.v, lr, wd));
  }

  static FitOptions ParseFit(const Napi::Value& v) {
    Fields f(v, "opts");
    FitOptions o;
    o.epochs = static_cast<int64_t>(f.Size("epochs", 1));
    o.batch_size = static_cast<int64_t>(f.Size("batchSize", 1));
    o.lr = f.Number("lr");
    o.weight_decay = f.Number("weightDecay");
    o.cosine = f.Bool("cosine");
    o.seed = static_cast<std::uint64_t>(f.Size("seed"));
    o.distributed = f.Bool("distributed");
    return o;
  }

  // fitSync({ hidden, targets }, { B, ...fit options }) → number[] (mean loss per epoch)
  Napi::Value FitSync(const Napi::CallbackInfo& info) {
    Batch b = Args(info, true);
    FitOptions o = ParseFit(info[1]);
    BusyGuard g(head_->busy, "ValueHead");
    std::optional<dist::Turn> turn;
    if (o.distributed) turn.emplace(dist::TakeTicket());
    return LossesToJs(info.Env(), head_->Fit(b.h, b.v, o, nullptr));
  }

  // fit({ hidden, targets }, { B, ...fit options, onProgress?, cancel? }) → Promise<number[]>;
  // onProgress(epoch, epochs, loss)
  Napi::Value Fit(const Napi::CallbackInfo& info) {
    Batch b = Args(info, true);
    FitOptions o = ParseFit(info[1]);
    const Napi::Value on_progress = Fields(info[1], "opts").Maybe("onProgress");
    if (!on_progress.IsUndefined() && !on_progress.IsFunction())
      ThrowType("Expected a function for opts.onProgress but received " + Describe(on_progress));
    // The worker reads host memory (pinned) in place and copies the rest: the
    // caller may detach its buffers meanwhile.
    std::vector<Napi::Value> keep{info.This()};
    std::vector<std::shared_ptr<unsigned char>> pins;
    auto stop = CallStopArg(Fields(info[1], "opts").Maybe("cancel"), "opts.cancel", keep);
    o.stop = &stop->flag;
    Fields in(info[0], "input");
    b.h = AsyncTensor(b.h, in.Need("hidden"), "hidden.data", pins, keep);
    b.v = AsyncTensor(b.v, in.Need("targets"), "targets", pins, keep);
    auto busy = std::make_shared<BusyGuard>(head_->busy, "ValueHead");
    auto head = head_;
    auto out = std::make_shared<std::vector<double>>();
    // Distributed fits keep the order of the process's collectives.
    const std::optional<std::uint64_t> ticket =
        o.distributed ? std::optional<std::uint64_t>(dist::TakeTicket()) : std::nullopt;
    auto* w = new PromiseWorker(
        info.Env(), "ValueHeadNative.fit",
        [head, b, o, out, busy, ticket, pins, stop](const PromiseWorker::Report& report) {
          std::optional<dist::Turn> turn;
          if (ticket) turn.emplace(*ticket);
          dist::StopScope scope(&stop->flag);
          *out = head->Fit(b.h, b.v, o, [&report](int64_t e, int64_t n, double l) {
            double msg[3] = {static_cast<double>(e), static_cast<double>(n), l};
            report(msg, 3);
          });
        },
        [out, busy](Napi::Env env) mutable {
          busy.reset();
          return LossesToJs(env, *out);
        },
        on_progress, keep);
    w->SetStop(stop);
    // The busy flag is released when the worker (and its lambdas) is destroyed,
    // after it resolved or rejected.
    return w->Queue();
  }

  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    BusyGuard g(head_->busy, "ValueHead");
    return NamedToJs(info.Env(), head_->StateDict());
  }
  // loadStateDict({ weights }, {})
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info) {
    NamedTensors src = NamedFromJs(Fields(info[0], "input").Need("weights"), "weights");
    BusyGuard g(head_->busy, "ValueHead");
    head_->LoadStateDict(src);
    return info.Env().Undefined();
  }

  std::shared_ptr<ValueHead> head_;
};

void Init(Napi::Env env, Napi::Object exports) { ValueHeadWrap::Init(env, exports); }

}  // namespace

F2G_REGISTER(value_head, Init);

}  // namespace f2g

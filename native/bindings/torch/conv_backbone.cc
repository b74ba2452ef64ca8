// N-API classes ConvBackboneNative and ImageValueModelNative over
// f2g::ConvBackbone and f2g::ImageValueModel. Frames arrive as
// RGB bytes [B, H, W, 3] (Uint8Array) or float32 [B, 3, H, W] in [0, 1]
// (Float32Array); H and W are the backbone's. Synchronous methods read them
// in place; fit() trains on a copy taken before it returns (a
// SharedArrayBuffer is read in place and kept alive), so the caller may
// reuse or transfer its buffers while it runs.
#include <memory>
#include <optional>

#include "bindings/augment_args.h"
#include "bindings/torch/tensors.h"
#include "torch/conv_backbone.h"
#include "torch/distributed.h"
#include "torch/image_value.h"

namespace f2g {
namespace {

// Tags ConvBackboneNative objects so other classes can check their argument.
const napi_type_tag kBackboneTag = {0x3b7e0c9d2a5f4168ULL, 0x9d04c1e7b2a35f86ULL};

ConvBackboneConfig ParseConfig(const Napi::Value& v) {
  Fields o(v, "config");
  ConvBackboneConfig c;
  c.height = static_cast<int64_t>(o.Size("height", 1));
  c.width = static_cast<int64_t>(o.Size("width", 1));
  Napi::Value layers = o.Need("layers");
  if (!layers.IsArray())
    ThrowType("Expected an array of layers for config.layers but received " + Describe(layers));
  Napi::Array a = layers.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string name = "config.layers[" + std::to_string(i) + "]";
    Fields l(a.Get(i), name.c_str());
    ConvLayerSpec s;
    s.channels = static_cast<int64_t>(l.Size("channels", 1));
    s.kernel = static_cast<int64_t>(l.Size("kernel", 1));
    s.stride = static_cast<int64_t>(l.Size("stride", 1));
    s.padding = static_cast<int64_t>(l.Size("padding"));
    s.pool = static_cast<int64_t>(l.Size("pool", 1));
    c.layers.push_back(s);
  }
  c.activation = o.String("activation");
  c.pool = o.String("pool");
  c.embed_dim = static_cast<int64_t>(o.Size("embedDim", 1));
  c.seed = static_cast<std::uint64_t>(o.Size("seed"));
  return c;
}

/// A FrameSet over `f` (caller memory, or an owned copy at `data`).
FrameSet SetOf(const FramesView& f, const void* data) {
  FrameSet s;
  s.data = data;
  s.layout = f.layout;
  s.n = static_cast<int64_t>(f.n);
  s.H = static_cast<int64_t>(f.H);
  s.W = static_cast<int64_t>(f.W);
  return s;
}

class ConvBackboneWrap : public GuardedWrap<ConvBackboneWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "ConvBackboneNative",
                                     {GuardedMethod<&ConvBackboneWrap::Embed>("embed"),
                                      GuardedMethod<&ConvBackboneWrap::FeatureDim>("featureDim"),
                                      GuardedMethod<&ConvBackboneWrap::StateDict>("stateDict"),
                                      GuardedMethod<&ConvBackboneWrap::LoadStateDict>("loadStateDict")});
    exports.Set("ConvBackboneNative", cls);
  }

  // new ConvBackboneNative(input: {}, config)
  explicit ConvBackboneWrap(const Napi::CallbackInfo& info) : GuardedWrap<ConvBackboneWrap>(info) {
    Guard(info.Env(), "ConvBackboneNative", [&] {
      ConvBackboneConfig c = ParseConfig(info[1]);
      double params = 0, ch = 3;
      for (const ConvLayerSpec& l : c.layers) {
        params += static_cast<double>(l.channels) * (ch * l.kernel * l.kernel + 1);
        ch = static_cast<double>(l.channels);
      }
      backbone_ = TorchAllocating("a ConvBackbone (config.layers, config.embedDim)", params * 16.0,
                                  [&] { return std::make_shared<ConvBackbone>(c); });
      info.This().As<Napi::Object>().TypeTag(&kBackboneTag);
    });
  }

  std::shared_ptr<ConvBackbone> backbone_;

 private:
  // (input: { frames }, opts: { B })
  FramesView Frames(const Napi::CallbackInfo& info) {
    const std::size_t n = SizeArg(Fields(info[1], "opts").Need("B"), "frames.shape[0]", 1);
    const ConvBackboneConfig& c = backbone_->config();
    return FramesArg(Fields(info[0], "input").Need("frames"), n, static_cast<std::size_t>(c.height),
                     static_cast<std::size_t>(c.width), "frames");
  }
  // embed({ frames }, { B }) → Float32Array [B, E]
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    BusyGuard g(backbone_->busy, "ConvBackbone");
    TorchThreadsHere();
    const FrameSet s = SetOf(f, f.data);
    torch::Tensor out;
    {
      c10::InferenceMode im;
      std::vector<torch::Tensor> parts;
      for (int64_t lo = 0; lo < s.n; lo += 256) {
        const torch::Tensor rows = torch::arange(lo, std::min<int64_t>(s.n, lo + 256), torch::kInt64);
        parts.push_back(backbone_->Forward(PrepareFrames(s, rows, nullptr)));
      }
      out = torch::cat(parts, 0);
    }
    RequireFiniteRows(out, "embeddings");
    return ToJs(info.Env(), out);
  }
  Napi::Value FeatureDim(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(backbone_->FeatureDim()));
  }
  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    BusyGuard g(backbone_->busy, "ConvBackbone");
    return NamedToJs(info.Env(), backbone_->StateDict());
  }
  // loadStateDict({ weights }, {})
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info) {
    NamedTensors src = NamedFromJs(Fields(info[0], "input").Need("weights"), "weights");
    BusyGuard g(backbone_->busy, "ConvBackbone");
    backbone_->LoadStateDict(src);
    return info.Env().Undefined();
  }
};

/// Both busy flags: the model's and its (possibly shared) backbone's.
struct ModelBusy {
  ModelBusy(ImageValueModel& m)
      : model(m.busy, "ImageValueModel"), backbone(m.backbone()->busy, "ConvBackbone") {}
  BusyGuard model, backbone;
};

class ImageValueModelWrap : public GuardedWrap<ImageValueModelWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls =
        DefineClass(env, "ImageValueModelNative",
                    {GuardedMethod<&ImageValueModelWrap::Predict>("predict"),
                     GuardedMethod<&ImageValueModelWrap::Distribution>("predictDistribution"),
                     GuardedMethod<&ImageValueModelWrap::Embed>("embed"),
                     GuardedMethod<&ImageValueModelWrap::Loss>("loss"),
                     GuardedMethod<&ImageValueModelWrap::FitSync>("fitSync"),
                     GuardedMethod<&ImageValueModelWrap::Fit>("fit"),
                     GuardedMethod<&ImageValueModelWrap::StateDict>("stateDict"),
                     GuardedMethod<&ImageValueModelWrap::LoadStateDict>("loadStateDict")});
    exports.Set("ImageValueModelNative", cls);
  }

  // new ImageValueModelNative(input: { backbone: ConvBackboneNative }, head: { hiddenDim, bins, oneHot, seed })
  explicit ImageValueModelWrap(const Napi::CallbackInfo& info) : GuardedWrap<ImageValueModelWrap>(info) {
    Guard(info.Env(), "ImageValueModelNative", [&] {
      const Napi::Value b = Fields(info[0], "input").Maybe("backbone");
      if (!b.IsObject() || !b.As<Napi::Object>().CheckTypeTag(&kBackboneTag))
        ThrowType("Expected a ConvBackbone for backbone but received " + Describe(b));
      std::shared_ptr<ConvBackbone> backbone = ConvBackboneWrap::Unwrap(b.As<Napi::Object>())->backbone_;
      Fields o(info[1], "config.head");
      ValueHeadConfig c;
      c.input_dim = backbone->config().embed_dim;
      c.hidden_dim = static_cast<int64_t>(o.Size("hiddenDim", 1));
      c.bins = static_cast<int64_t>(o.Size("bins", 2));
      c.one_hot = o.Bool("oneHot");
      c.seed = static_cast<std::uint64_t>(o.Size("seed"));
      const double params = static_cast<double>(c.input_dim) * c.hidden_dim + 3.0 * c.hidden_dim +
                            static_cast<double>(c.hidden_dim) * c.bins + c.bins;
      model_ =
          TorchAllocating("an ImageValueModel with config.head.hiddenDim " + std::to_string(c.hidden_dim) +
                              " and config.head.bins " + std::to_string(c.bins),
                          params * 16.0, [&] { return std::make_shared<ImageValueModel>(backbone, c); });
    });
  }

 private:
  // (input: { frames, targets? }, opts: { B, ... })
  FramesView Frames(const Napi::CallbackInfo& info) {
    const std::size_t n = SizeArg(Fields(info[1], "opts").Need("B"), "frames.shape[0]", 1);
    const ConvBackboneConfig& c = model_->backbone()->config();
    return FramesArg(Fields(info[0], "input").Need("frames"), n, static_cast<std::size_t>(c.height),
                     static_cast<std::size_t>(c.width), "frames");
  }
  torch::Tensor Targets(const Napi::Value& input, std::size_t n) {
    const float* t = TensorArg(Fields(input, "input").Need("targets"), "targets", {static_cast<int64_t>(n)});
    CheckValues(t, n, "targets", 0.0, 1.0);
    return Blob(t, {static_cast<int64_t>(n)});
  }

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    ModelBusy g(*model_);
    TorchThreadsHere();
    return ToJs(info.Env(), model_->Predict(SetOf(f, f.data)));
  }
  Napi::Value Distribution(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    ModelBusy g(*model_);
    TorchThreadsHere();
    return ToJs(info.Env(), model_->Distribution(SetOf(f, f.data)));
  }
  Napi::Value Embed(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    ModelBusy g(*model_);
    TorchThreadsHere();
    torch::Tensor h = model_->Embed(SetOf(f, f.data));
    RequireFiniteRows(h, "embeddings");
    return ToJs(info.Env(), h);
  }
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    torch::Tensor v = Targets(info[0], f.n);
    ModelBusy g(*model_);
    TorchThreadsHere();
    return Napi::Number::New(info.Env(), model_->Loss(SetOf(f, f.data), v));
  }

  static ImageFitOptions ParseFit(const Napi::Value& v) {
    static const char* const kStages[] = {"head", "joint"};
    Fields f(v, "opts");
    ImageFitOptions o;
    o.joint = f.Enum<int>("stage", kStages) == 1;
    o.epochs = static_cast<int64_t>(f.Size("epochs", 1));
    o.batch_size = static_cast<int64_t>(f.Size("batchSize", 1));
    o.lr = f.Number("lr");
    o.backbone_lr = f.Number("backboneLr");
    o.weight_decay = f.Number("weightDecay");
    o.cosine = f.Bool("cosine");
    o.seed = static_cast<std::uint64_t>(f.Size("seed"));
    Napi::Value aug = f.Need("augment");
    o.augment = !aug.IsNull();
    if (o.augment) o.aug = AugmentArg(aug, "opts.augment");
    o.distributed = f.Bool("distributed");
    return o;
  }

  // fitSync({ frames, targets }, { B, ...fit options }) → number[] (mean loss per epoch)
  Napi::Value FitSync(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    torch::Tensor v = Targets(info[0], f.n);
    ImageFitOptions o = ParseFit(info[1]);
    ModelBusy g(*model_);
    std::optional<dist::Turn> turn;
    if (o.distributed) turn.emplace(dist::TakeTicket());
    return LossesToJs(info.Env(), model_->Fit(SetOf(f, f.data), v, o, nullptr));
  }

  // fit({ frames, targets }, { B, ...fit options, onProgress?, cancel? }) → Promise<number[]>;
  // onProgress(epoch, epochs, loss)
  Napi::Value Fit(const Napi::CallbackInfo& info) {
    FramesView f = Frames(info);
    torch::Tensor v = Targets(info[0], f.n);
    ImageFitOptions o = ParseFit(info[1]);
    const Napi::Value on_progress = Fields(info[1], "opts").Maybe("onProgress");
    if (!on_progress.IsUndefined() && !on_progress.IsFunction())
      ThrowType("Expected a function for opts.onProgress but received " + Describe(on_progress));
    // The worker reads host memory or a SharedArrayBuffer in place (kept
    // alive) and copies the rest (AsyncInput): the caller may detach its
    // buffers meanwhile.
    std::vector<Napi::Value> keep{info.This()};
    auto stop = CallStopArg(Fields(info[1], "opts").Maybe("cancel"), "opts.cancel", keep);
    o.stop = &stop->flag;
    std::shared_ptr<void> frames;
    if (f.layout == FrameLayout::kU8HWC) frames = AsyncInput(f.u8, f.count, "frames.data", keep);
    else frames = AsyncInput(f.f32, f.count, "frames.data", keep);
    const void* data =
        f.layout == FrameLayout::kU8HWC
            ? static_cast<const void*>(std::static_pointer_cast<Owned<std::uint8_t>>(frames)->data())
            : static_cast<const void*>(std::static_pointer_cast<Owned<float>>(frames)->data());
    const FrameSet set = SetOf(f, data);
    v = OwnedCopy(v, "targets");
    auto busy = std::make_shared<ModelBusy>(*model_);
    auto model = model_;
    auto out = std::make_shared<std::vector<double>>();
    // Distributed fits keep the order of the process's collectives.
    const std::optional<std::uint64_t> ticket =
        o.distributed ? std::optional<std::uint64_t>(dist::TakeTicket()) : std::nullopt;
    auto* w = new PromiseWorker(
        info.Env(), "ImageValueModelNative.fit",
        [model, set, frames, v, o, out, busy, ticket, stop](const PromiseWorker::Report& report) {
          std::optional<dist::Turn> turn;
          if (ticket) turn.emplace(*ticket);
          dist::StopScope scope(&stop->flag);
          *out = model->Fit(set, v, o, [&report](int64_t e, int64_t n, double l) {
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
    return w->Queue();
  }

  Napi::Value StateDict(const Napi::CallbackInfo& info) {
    ModelBusy g(*model_);
    return NamedToJs(info.Env(), model_->StateDict());
  }
  // loadStateDict({ weights }, {})
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info) {
    NamedTensors src = NamedFromJs(Fields(info[0], "input").Need("weights"), "weights");
    ModelBusy g(*model_);
    model_->LoadStateDict(src);
    return info.Env().Undefined();
  }

  std::shared_ptr<ImageValueModel> model_;
};

void Init(Napi::Env env, Napi::Object exports) {
  ConvBackboneWrap::Init(env, exports);
  ImageValueModelWrap::Init(env, exports);
}

}  // namespace

F2G_REGISTER(conv_backbone, Init);

}  // namespace f2g

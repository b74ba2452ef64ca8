// N-API binding of the in-process video decoder (media/libav_decoder.h):
// FFmpeg's libraries, dlopen'ed at run time, decode a LeRobot video inside the
// process into host memory (src/io/lerobot-video.ts picks it over the ffmpeg
// CLI when systemLibavStatus says it is available).
//
//   systemLibavStatus(undefined, {}) → { available, reason, libraries, versions }
//   new VideoDecoderNative({}, { file })          nothing opened yet
//   .open({}, { cancel })  → Promise<{ codec, width, height, fpsNum, fpsDen, timeBaseNum, timeBaseDen }>
//   .seek({}, { time, cancel }) → Promise<FrameFormat | null>   (time ≤ 0: from the start, nothing dropped)
//   .read({}, { frames, frameBytes, cancel }, { data: Uint8Array [frames·frameBytes] })
//        → Promise<{ count, times: Float64Array(count), lastTime, problems: string[] }>
//   .close()   frees the decoder (a call still running keeps it until it ends)
//
// Open, seek and read run on a libuv thread (PromiseWorker); one call at a time per
// decoder (a second call while one runs is an Error). `data` is written in place when
// it is host memory (hostArray) or over a SharedArrayBuffer, otherwise into a buffer of
// the call's own, copied into `data` on the JS thread when the work is done.
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "media/libav_decoder.h"

namespace f2g {
namespace {

struct DecoderState {
  std::string file;
  /// Set by open (on the worker thread; read by later calls, which the busy flag serialises).
  std::unique_ptr<LibavDecoder> dec;
  std::atomic<bool> busy{false};
};

/// Clears the busy flag when the work ends (on the worker thread).
struct BusyScope {
  explicit BusyScope(std::shared_ptr<DecoderState> s) : state(std::move(s)) {}
  ~BusyScope() { state->busy.store(false); }
  std::shared_ptr<DecoderState> state;
};

Napi::Value FormatObject(Napi::Env env, const FrameFormat& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("width", f.width);
  o.Set("height", f.height);
  o.Set("pixFmt", f.pix_fmt);
  o.Set("colorRange", f.color_range);
  o.Set("colorSpace", f.color_space);
  return o;
}

Napi::Array Strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

Napi::Value Status(const Napi::CallbackInfo& info) {
  Fields o(info[1], "opts");
  (void)o;
  const LibavStatus& s = libav_status();
  Napi::Env env = info.Env();
  Napi::Object r = Napi::Object::New(env);
  r.Set("available", s.available);
  r.Set("reason", s.reason);
  r.Set("libraries", s.libraries);
  r.Set("versions", s.versions);
  return r;
}

class VideoDecoderWrap : public GuardedWrap<VideoDecoderWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(
        env, "VideoDecoderNative",
        {GuardedMethod<&VideoDecoderWrap::Open>("open"), GuardedMethod<&VideoDecoderWrap::Seek>("seek"),
         GuardedMethod<&VideoDecoderWrap::Read>("read"), GuardedMethod<&VideoDecoderWrap::Close>("close")});
    exports.Set("VideoDecoderNative", cls);
  }

  // new VideoDecoderNative({}, { file })
  explicit VideoDecoderWrap(const Napi::CallbackInfo& info) : GuardedWrap<VideoDecoderWrap>(info) {
    Guard(info.Env(), "VideoDecoderNative", [&] {
      Fields in(info[0], "input"), o(info[1], "opts");
      (void)in;
      const std::string file = o.String("file");
      if (file.empty() || file.find('\0') != std::string::npos)
        ThrowRange("Expected opts.file a path but received " + Describe(o.Need("file")));
      state_ = std::make_shared<DecoderState>();
      state_->file = file;
    });
  }

 private:
  /// The state for a new call: refuses a closed decoder and a second call while one runs.
  std::shared_ptr<DecoderState> Begin(const char* what, bool need_open) {
    if (!state_)
      throw ArgError{ArgError::kPlain, std::string("VideoDecoderNative.") + what + ": the decoder is closed"};
    if (state_->busy.exchange(true))
      throw ArgError{ArgError::kPlain,
                     std::string("VideoDecoderNative.") + what +
                         ": another call is still running on this decoder (one call at a time: "
                         "await the previous one)"};
    if (need_open && !state_->dec) {
      state_->busy.store(false);
      throw ArgError{ArgError::kPlain, std::string("VideoDecoderNative.") + what +
                                           ": the decoder is not open (call open first)"};
    }
    return state_;
  }

  // open({}, { cancel }) → Promise<info>
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Fields in(info[0], "input"), o(info[1], "opts");
    (void)in;
    std::vector<Napi::Value> keep;
    auto stop = CallStopArg(o.Maybe("cancel"), "opts.cancel", keep);
    auto s = Begin("open", false);
    if (s->dec) {
      s->busy.store(false);
      throw ArgError{ArgError::kPlain, "VideoDecoderNative.open: the decoder is already open"};
    }
    auto* w = new PromiseWorker(
        info.Env(), "VideoDecoderNative.open",
        [s, stop] {
          BusyScope busy(s);
          ThrowIfStopped(&stop->flag, "opening the video");
          s->dec = std::make_unique<LibavDecoder>(s->file);
        },
        [s](Napi::Env env) -> Napi::Value {
          if (!s->dec) return env.Undefined();
          const VideoInfo& v = s->dec->info();
          Napi::Object r = Napi::Object::New(env);
          r.Set("codec", v.codec);
          r.Set("width", v.width);
          r.Set("height", v.height);
          r.Set("fpsNum", v.fps_num);
          r.Set("fpsDen", v.fps_den);
          r.Set("timeBaseNum", v.time_base_num);
          r.Set("timeBaseDen", v.time_base_den);
          return r;
        },
        keep);
    w->SetStop(stop);
    return w->Queue();
  }

  // seek({}, { time, cancel }) → Promise<FrameFormat | null>
  Napi::Value Seek(const Napi::CallbackInfo& info) {
    Fields in(info[0], "input"), o(info[1], "opts");
    (void)in;
    const double time = o.Number("time");
    if (!std::isfinite(time))
      ThrowRange("Expected opts.time a finite number of seconds but received " + Describe(o.Need("time")));
    std::vector<Napi::Value> keep;
    auto stop = CallStopArg(o.Maybe("cancel"), "opts.cancel", keep);
    auto s = Begin("seek", true);
    auto fmt = std::make_shared<FrameFormat>();
    auto found = std::make_shared<bool>(false);
    auto* w = new PromiseWorker(
        info.Env(), "VideoDecoderNative.seek",
        [s, stop, time, fmt, found] {
          BusyScope busy(s);
          *found = s->dec->seek(time, fmt.get(), &stop->flag);
        },
        [fmt, found](Napi::Env env) -> Napi::Value { return *found ? FormatObject(env, *fmt) : env.Null(); },
        keep);
    w->SetStop(stop);
    return w->Queue();
  }

  // read({}, { frames, frameBytes, cancel }, { data }) → Promise<{ count, times, lastTime, problems }>
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
    (void)in;
    const std::size_t frames = SizeArg(o.Need("frames"), "opts.frames", 1);
    const std::size_t frame_bytes = SizeArg(o.Need("frameBytes"), "opts.frameBytes", 1);
    Napi::Value data_value = res.Need("data");
    auto data = Uint8Arg(data_value, "out.data");
    const std::size_t need = CheckedProduct({frames, frame_bytes}, "out.data");
    RequireLength(data.length, need, "out.data", "[frames · frameBytes]");
    std::vector<Napi::Value> keep;
    auto stop = CallStopArg(o.Maybe("cancel"), "opts.cancel", keep);
    auto s = Begin("read", true);
    std::shared_ptr<unsigned char> pin;
    std::shared_ptr<std::vector<unsigned char>> owned;
    try {
      pin = PinInPlace(data.data, need, data.shared, data.env, data.source, keep, false);
      if (!pin)
        owned = Allocating("the frames of VideoDecoderNative.read", static_cast<double>(need),
                           [&] { return std::make_shared<std::vector<unsigned char>>(need); });
    } catch (...) {
      s->busy.store(false);
      throw;
    }
    unsigned char* dst = pin ? pin.get() : owned->data();
    auto times = std::make_shared<std::vector<double>>(frames);
    auto count = std::make_shared<std::size_t>(0);
    auto last = std::make_shared<double>(NAN);
    auto problems = std::make_shared<std::vector<std::string>>();
    auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(data_value));
    auto* w = new PromiseWorker(
        info.Env(), "VideoDecoderNative.read",
        [s, stop, pin, dst, frames, frame_bytes, times, count, last, problems] {
          BusyScope busy(s);
          *count = s->dec->read(dst, frame_bytes, times->data(), frames, &stop->flag);
          *last = s->dec->last_time();
          *problems = s->dec->problems();
        },
        [out_ref, owned, frame_bytes, times, count, last, problems](Napi::Env env) -> Napi::Value {
          if (owned && *count > 0) {
            auto ta = out_ref->Value().As<Napi::Uint8Array>();
            if (ta.ArrayBuffer().IsDetached() || ta.ElementLength() < *count * frame_bytes)
              throw Napi::Error::New(env, "out.data was detached (transferred) while the call ran");
            std::memcpy(ta.Data(), owned->data(), *count * frame_bytes);
          }
          Napi::Object r = Napi::Object::New(env);
          r.Set("count", static_cast<double>(*count));
          auto t = Napi::Float64Array::New(env, *count);
          if (*count > 0) std::memcpy(t.Data(), times->data(), *count * sizeof(double));
          r.Set("times", t);
          r.Set("lastTime", *last);
          r.Set("problems", Strings(env, *problems));
          return r;
        },
        keep);
    w->SetStop(stop);
    return w->Queue();
  }

  // close() → undefined: frees the decoder now, or when a call still running ends.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<DecoderState> state_;
};

void Init(Napi::Env env, Napi::Object exports) {
  Export<Status>(env, exports, "systemLibavStatus");
  VideoDecoderWrap::Init(env, exports);
}

}  // namespace

F2G_REGISTER(video_decoder, Init);

}  // namespace f2g

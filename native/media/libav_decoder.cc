// See libav_decoder.h. With FEAT2GO_HAVE_LIBAV (the CMake option
// FEAT2GO_LIBAV, on when the libav*-dev headers are found) the libraries are
// dlopen'ed by the sonames of those headers; without it the feature is
// compiled out and reports "built without libav headers".
#include "media/libav_decoder.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <type_traits>

#ifdef FEAT2GO_HAVE_LIBAV
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
#include <libavutil/pixdesc.h>
}
#endif

namespace f2g {

#ifndef FEAT2GO_HAVE_LIBAV

const LibavStatus& libav_status() {
  static const LibavStatus s{
      false, "built without libav headers (libavformat-dev, libavcodec-dev, libavutil-dev)", "", ""};
  return s;
}
struct LibavDecoder::Impl {};
LibavDecoder::LibavDecoder(const std::string& file) {
  throw std::runtime_error(file + ": in-process decoding is unavailable: " + libav_status().reason);
}
LibavDecoder::~LibavDecoder() = default;
const VideoInfo& LibavDecoder::info() const {
  static const VideoInfo none;
  return none;
}
bool LibavDecoder::seek(double, FrameFormat*, const StopFlag*) { return false; }
bool LibavDecoder::peek(FrameFormat*, const StopFlag*) { return false; }
std::size_t LibavDecoder::read(std::uint8_t*, std::size_t, double*, std::size_t, const StopFlag*) {
  return 0;
}
double LibavDecoder::last_time() const { return std::numeric_limits<double>::quiet_NaN(); }
const std::vector<std::string>& LibavDecoder::problems() const {
  static const std::vector<std::string> none;
  return none;
}

#else

namespace {

#define F2G_STR2(x) #x
#define F2G_STR(x) F2G_STR2(x)
constexpr const char* kFormatSo = "libavformat.so." F2G_STR(LIBAVFORMAT_VERSION_MAJOR);
constexpr const char* kCodecSo = "libavcodec.so." F2G_STR(LIBAVCODEC_VERSION_MAJOR);
constexpr const char* kUtilSo = "libavutil.so." F2G_STR(LIBAVUTIL_VERSION_MAJOR);

/// The functions used, resolved with dlsym.
struct Api {
  // libavutil
  unsigned (*avutil_version)();
  AVFrame* (*av_frame_alloc)();
  void (*av_frame_free)(AVFrame**);
  void (*av_frame_unref)(AVFrame*);
  int (*av_strerror)(int, char*, size_t);
  const char* (*av_get_pix_fmt_name)(AVPixelFormat);
  const char* (*av_color_range_name)(AVColorRange);
  const char* (*av_color_space_name)(AVColorSpace);
  void (*av_log_set_callback)(void (*)(void*, int, const char*, va_list));
  int64_t (*av_rescale_q)(int64_t, AVRational, AVRational);
  // libavcodec
  unsigned (*avcodec_version)();
  const AVCodec* (*avcodec_find_decoder)(AVCodecID);
  AVCodecContext* (*avcodec_alloc_context3)(const AVCodec*);
  int (*avcodec_parameters_to_context)(AVCodecContext*, const AVCodecParameters*);
  int (*avcodec_open2)(AVCodecContext*, const AVCodec*, AVDictionary**);
  int (*avcodec_send_packet)(AVCodecContext*, const AVPacket*);
  int (*avcodec_receive_frame)(AVCodecContext*, AVFrame*);
  void (*avcodec_flush_buffers)(AVCodecContext*);
  void (*avcodec_free_context)(AVCodecContext**);
  const char* (*avcodec_get_name)(AVCodecID);
  AVPacket* (*av_packet_alloc)();
  void (*av_packet_free)(AVPacket**);
  void (*av_packet_unref)(AVPacket*);
  // libavformat
  unsigned (*avformat_version)();
  int (*avformat_open_input)(AVFormatContext**, const char*, const AVInputFormat*, AVDictionary**);
  int (*avformat_find_stream_info)(AVFormatContext*, AVDictionary**);
  int (*av_find_best_stream)(AVFormatContext*, AVMediaType, int, int, const AVCodec**, int);
  int (*av_read_frame)(AVFormatContext*, AVPacket*);
  int (*avformat_seek_file)(AVFormatContext*, int, int64_t, int64_t, int64_t, int);
  void (*avformat_close_input)(AVFormatContext**);
  AVRational (*av_guess_frame_rate)(AVFormatContext*, AVStream*, AVFrame*);
};

Api api;

/// Where the log callback puts error lines: the calling thread's decoder (set during its calls).
thread_local std::vector<std::string>* log_sink = nullptr;

void LogCallback(void*, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_ERROR || log_sink == nullptr || log_sink->size() >= 5) return;
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, vl);
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (!s.empty()) log_sink->push_back(s);
}

std::string Version(unsigned v) {
  return std::to_string(v >> 16) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
}

LibavStatus Load() {
  LibavStatus s;
  s.libraries = std::string(kFormatSo) + ", " + kCodecSo + ", " + kUtilSo;
  void* libs[3];
  const char* names[3] = {kUtilSo, kCodecSo, kFormatSo};
  for (int i = 0; i < 3; ++i) {
    libs[i] = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!libs[i]) {
      const char* e = dlerror();
      s.reason = std::string("cannot load ") + names[i] + " (" + (e ? e : "not found") +
                 "; install FFmpeg's libraries of that major version, e.g. Debian bookworm's ffmpeg)";
      return s;
    }
  }
  std::string missing;
  auto sym = [&](int lib, const char* name, auto& fn) {
    void* p = dlsym(libs[lib], name);
    if (!p) missing += (missing.empty() ? "" : ", ") + std::string(name);
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
  };
#define F2G_SYM(lib, name) sym(lib, #name, api.name)
  F2G_SYM(0, avutil_version);
  F2G_SYM(0, av_frame_alloc);
  F2G_SYM(0, av_frame_free);
  F2G_SYM(0, av_frame_unref);
  F2G_SYM(0, av_strerror);
  F2G_SYM(0, av_get_pix_fmt_name);
  F2G_SYM(0, av_color_range_name);
  F2G_SYM(0, av_color_space_name);
  F2G_SYM(0, av_log_set_callback);
  F2G_SYM(0, av_rescale_q);
  F2G_SYM(1, avcodec_version);
  F2G_SYM(1, avcodec_find_decoder);
  F2G_SYM(1, avcodec_alloc_context3);
  F2G_SYM(1, avcodec_parameters_to_context);
  F2G_SYM(1, avcodec_open2);
  F2G_SYM(1, avcodec_send_packet);
  F2G_SYM(1, avcodec_receive_frame);
  F2G_SYM(1, avcodec_flush_buffers);
  F2G_SYM(1, avcodec_free_context);
  F2G_SYM(1, avcodec_get_name);
  F2G_SYM(1, av_packet_alloc);
  F2G_SYM(1, av_packet_free);
  F2G_SYM(1, av_packet_unref);
  F2G_SYM(2, avformat_version);
  F2G_SYM(2, avformat_open_input);
  F2G_SYM(2, avformat_find_stream_info);
  F2G_SYM(2, av_find_best_stream);
  F2G_SYM(2, av_read_frame);
  F2G_SYM(2, avformat_seek_file);
  F2G_SYM(2, avformat_close_input);
  F2G_SYM(2, av_guess_frame_rate);
#undef F2G_SYM
  if (!missing.empty()) {
    s.reason = "the libav libraries lack " + missing;
    return s;
  }
  const unsigned have[3] = {api.avutil_version(), api.avcodec_version(), api.avformat_version()};
  const unsigned want[3] = {LIBAVUTIL_VERSION_INT, LIBAVCODEC_VERSION_INT, LIBAVFORMAT_VERSION_INT};
  s.versions = std::string("libavformat ") + Version(have[2]) + ", libavcodec " + Version(have[1]) +
               ", libavutil " + Version(have[0]);
  for (int i = 0; i < 3; ++i) {
    // Same major (the ABI); a minor at least the headers' (fields the headers know exist).
    if ((have[i] >> 16) != (want[i] >> 16) || ((have[i] >> 8) & 0xff) < ((want[i] >> 8) & 0xff)) {
      s.reason = std::string(names[i]) + " is version " + Version(have[i]) +
                 " but the addon was built against " + Version(want[i]) +
                 " (same major and at least that minor needed)";
      return s;
    }
  }
  // libav's messages go to the decoder that caused them (never to stderr).
  api.av_log_set_callback(LogCallback);
  s.available = true;
  return s;
}

std::string AvError(int code) {
  char buf[256] = {0};
  if (api.av_strerror(code, buf, sizeof buf) < 0) std::snprintf(buf, sizeof buf, "error %d", code);
  return buf;
}

/// Sets the thread's log sink for the duration of a call.
struct SinkScope {
  explicit SinkScope(std::vector<std::string>* s) : prev(log_sink) { log_sink = s; }
  ~SinkScope() { log_sink = prev; }
  std::vector<std::string>* prev;
};

}  // namespace

const LibavStatus& libav_status() {
  static const LibavStatus s = Load();
  return s;
}

struct LibavDecoder::Impl {
  std::string file;
  AVFormatContext* fmt = nullptr;
  AVCodecContext* dec = nullptr;
  AVPacket* pkt = nullptr;
  AVFrame* frame = nullptr;
  int stream = -1;
  AVRational tb{0, 1};
  VideoInfo info;
  /// A decoded frame waits in `frame` (peeked, not yet read).
  bool pending = false;
  bool eof_sent = false;
  bool ended = false;
  /// Frames with best_effort_timestamp below this are dropped (the accurate-seek trim).
  int64_t drop_before = std::numeric_limits<int64_t>::min();
  double last = std::numeric_limits<double>::quiet_NaN();
  /// The frames' format (from the first frame decoded).
  bool have_format = false;
  int format_pix = -1, format_w = 0, format_h = 0;
  std::vector<std::string> problems;

  ~Impl() {
    if (frame) api.av_frame_free(&frame);
    if (pkt) api.av_packet_free(&pkt);
    if (dec) api.avcodec_free_context(&dec);
    if (fmt) api.avformat_close_input(&fmt);
  }

  void Problem(const std::string& s) {
    if (problems.size() < 5) problems.push_back(s);
  }

  /// Decodes the next kept frame into `frame` (pending); false at the end.
  bool Next(const StopFlag* stop) {
    if (pending) return true;
    if (ended) return false;
    for (;;) {
      ThrowIfStopped(stop, "decoding the video");
      int r = api.avcodec_receive_frame(dec, frame);
      if (r == 0) {
        const int64_t ts = frame->best_effort_timestamp;
        if (ts == AV_NOPTS_VALUE) {
          Problem("a decoded frame has no timestamp (dropped)");
          api.av_frame_unref(frame);
          continue;
        }
        if (ts < drop_before) {
          api.av_frame_unref(frame);
          continue;
        }
        pending = true;
        return true;
      }
      if (r == AVERROR_EOF) {
        ended = true;
        return false;
      }
      if (r != AVERROR(EAGAIN)) {
        Problem("decoding: " + AvError(r));
        if (eof_sent) {
          ended = true;
          return false;
        }
      }
      if (eof_sent) continue;
      r = api.av_read_frame(fmt, pkt);
      if (r < 0) {
        if (r != AVERROR_EOF) Problem("reading: " + AvError(r));
        api.avcodec_send_packet(dec, nullptr);
        eof_sent = true;
        continue;
      }
      if (pkt->stream_index != stream) {
        api.av_packet_unref(pkt);
        continue;
      }
      r = api.avcodec_send_packet(dec, pkt);
      api.av_packet_unref(pkt);
      if (r < 0 && r != AVERROR(EAGAIN)) Problem("decoding: " + AvError(r));
    }
  }

  void Describe(FrameFormat* f) const {
    if (!f) return;
    f->width = frame->width;
    f->height = frame->height;
    const char* pf = api.av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format));
    f->pix_fmt = pf ? pf : "none";
    const char* cr = api.av_color_range_name(static_cast<AVColorRange>(frame->color_range));
    const char* cs = api.av_color_space_name(static_cast<AVColorSpace>(frame->colorspace));
    f->color_range = frame->color_range == AVCOL_RANGE_UNSPECIFIED || !cr ? "unknown" : cr;
    f->color_space = frame->colorspace == AVCOL_SPC_UNSPECIFIED || !cs ? "unknown" : cs;
  }
};

LibavDecoder::LibavDecoder(const std::string& file) : impl_(std::make_unique<Impl>()) {
  const LibavStatus& st = libav_status();
  if (!st.available) throw std::runtime_error(file + ": in-process decoding is unavailable: " + st.reason);
  Impl& d = *impl_;
  d.file = file;
  SinkScope sink(&d.problems);
  int r = api.avformat_open_input(&d.fmt, file.c_str(), nullptr, nullptr);
  if (r < 0) throw std::runtime_error(file + ": cannot read video (" + AvError(r) + ")");
  r = api.avformat_find_stream_info(d.fmt, nullptr);
  if (r < 0) throw std::runtime_error(file + ": cannot read video (" + AvError(r) + ")");
  const AVCodec* codec = nullptr;
  r = api.av_find_best_stream(d.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (r < 0) throw std::runtime_error(file + ": cannot read video (no video stream)");
  // The first video stream, as the CLI's -map 0:v:0 picks it.
  d.stream = -1;
  for (unsigned i = 0; i < d.fmt->nb_streams; ++i) {
    if (d.fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) {
      d.stream = static_cast<int>(i);
      break;
    }
  }
  AVStream* s = d.fmt->streams[d.stream];
  codec = api.avcodec_find_decoder(s->codecpar->codec_id);
  const char* cname = api.avcodec_get_name(s->codecpar->codec_id);
  d.info.codec = cname ? cname : "?";
  if (!codec) throw std::runtime_error(file + ": cannot read video (no decoder for " + d.info.codec + ")");
  d.dec = api.avcodec_alloc_context3(codec);
  if (!d.dec) throw std::bad_alloc();
  r = api.avcodec_parameters_to_context(d.dec, s->codecpar);
  if (r < 0) throw std::runtime_error(file + ": cannot read video (" + AvError(r) + ")");
  d.dec->pkt_timebase = s->time_base;
  d.dec->thread_count = 0;  // "auto", as the CLI sets it
  r = api.avcodec_open2(d.dec, codec, nullptr);
  if (r < 0)
    throw std::runtime_error(file + ": cannot open the " + d.info.codec + " decoder (" + AvError(r) + ")");
  d.pkt = api.av_packet_alloc();
  d.frame = api.av_frame_alloc();
  if (!d.pkt || !d.frame) throw std::bad_alloc();
  d.tb = s->time_base;
  d.info.width = s->codecpar->width;
  d.info.height = s->codecpar->height;
  d.info.time_base_num = d.tb.num;
  d.info.time_base_den = d.tb.den;
  const AVRational fr = api.av_guess_frame_rate(d.fmt, s, nullptr);
  d.info.fps_num = fr.num;
  d.info.fps_den = fr.den > 0 ? fr.den : 1;
}

LibavDecoder::~LibavDecoder() = default;

const VideoInfo& LibavDecoder::info() const { return impl_->info; }

bool LibavDecoder::seek(double seconds, FrameFormat* first, const StopFlag* stop) {
  Impl& d = *impl_;
  SinkScope sink(&d.problems);
  ThrowIfStopped(stop, "decoding the video");
  if (!std::isfinite(seconds)) throw std::invalid_argument("seek time must be finite");
  const int64_t start = d.fmt->start_time == AV_NOPTS_VALUE ? 0 : d.fmt->start_time;
  int64_t target = start;
  d.drop_before = std::numeric_limits<int64_t>::min();
  if (seconds > 0) {
    target = std::llround(seconds * AV_TIME_BASE) + start;
    d.drop_before = api.av_rescale_q(target, AVRational{1, AV_TIME_BASE}, d.tb);
  }
  const int r = api.avformat_seek_file(d.fmt, -1, std::numeric_limits<int64_t>::min(), target, target, 0);
  if (r < 0) d.Problem("could not seek to " + std::to_string(seconds) + " s (" + AvError(r) + ")");
  api.avcodec_flush_buffers(d.dec);
  if (d.pending) api.av_frame_unref(d.frame);
  d.pending = false;
  d.eof_sent = false;
  d.ended = false;
  return peek(first, stop);
}

bool LibavDecoder::peek(FrameFormat* next, const StopFlag* stop) {
  Impl& d = *impl_;
  SinkScope sink(&d.problems);
  if (!d.Next(stop)) return false;
  d.Describe(next);
  return true;
}

std::size_t LibavDecoder::read(std::uint8_t* dst, std::size_t frame_bytes, double* times,
                               std::size_t max_frames, const StopFlag* stop) {
  Impl& d = *impl_;
  SinkScope sink(&d.problems);
  std::size_t n = 0;
  while (n < max_frames && d.Next(stop)) {
    AVFrame* f = d.frame;
    if (f->format != AV_PIX_FMT_YUV420P && f->format != AV_PIX_FMT_YUVJ420P) {
      const char* pf = api.av_get_pix_fmt_name(static_cast<AVPixelFormat>(f->format));
      throw std::runtime_error(d.file + ": a decoded frame is " + (pf ? pf : "of no known format") +
                               ", not 8-bit YUV 4:2:0 (yuv420p)");
    }
    if (!d.have_format) {
      d.have_format = true;
      d.format_pix = f->format;
      d.format_w = f->width;
      d.format_h = f->height;
    } else if (f->format != d.format_pix || f->width != d.format_w || f->height != d.format_h) {
      throw std::runtime_error(d.file + ": the video changes frame size or format mid-stream (" +
                               std::to_string(d.format_w) + "x" + std::to_string(d.format_h) + " to " +
                               std::to_string(f->width) + "x" + std::to_string(f->height) + ")");
    }
    const std::size_t W = static_cast<std::size_t>(f->width), H = static_cast<std::size_t>(f->height);
    if (yuv420p_packed_bytes(W, H) != frame_bytes)
      throw std::runtime_error(d.file + ": the frames are " + std::to_string(W) + "x" + std::to_string(H) +
                               ", not the size the output was made for");
    std::uint8_t* o = dst + n * frame_bytes;
    const std::size_t cw = (W + 1) / 2, ch = (H + 1) / 2;
    for (std::size_t y = 0; y < H; ++y) std::memcpy(o + y * W, f->data[0] + y * f->linesize[0], W);
    o += W * H;
    for (int p = 1; p <= 2; ++p) {
      for (std::size_t y = 0; y < ch; ++y) std::memcpy(o + y * cw, f->data[p] + y * f->linesize[p], cw);
      o += cw * ch;
    }
    const double t = static_cast<double>(f->best_effort_timestamp) * d.tb.num / d.tb.den;
    times[n++] = t;
    d.last = t;
    api.av_frame_unref(f);
    d.pending = false;
  }
  return n;
}

double LibavDecoder::last_time() const { return impl_->last; }
const std::vector<std::string>& LibavDecoder::problems() const { return impl_->problems; }

#endif

}  // namespace f2g

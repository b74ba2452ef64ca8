// In-process video decoding with FFmpeg's own libraries (libavformat,
// libavcodec, libavutil), loaded at run time with dlopen by the exact sonames
// of the headers the addon was built against and resolved with dlsym into a
// table: the addon never links them, so it loads and works without them (the
// LeRobot frame source then runs the ffmpeg CLI, src/io/lerobot-video.ts).
//
// Plain C++ (no N-API, no getenv), shared by the binding
// (native/bindings/video_decoder.cc) and the C++ test (native/tests).
//
// What it reproduces of `ffmpeg -ss S -copyts -i FILE` (the CLI path): the
// decoder avcodec_find_decoder picks (libdav1d for AV1), threads "auto", the
// seek (avformat_seek_file to S + the file's start_time, any stream, no
// flags: the keyframe at or before it), the accurate-seek trim (frames before
// S + start_time dropped), each frame's time as best_effort_timestamp × the
// stream's time base (what showinfo prints as pts_time), the frame rate
// av_guess_frame_rate gives, and the pixel format and colour tags as the
// frames carry them. Decoding errors that do not stop the stream are kept as
// messages (at most 5), as the CLI path keeps ffmpeg's error lines.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cancel.h"

namespace f2g {

/// Whether in-process decoding is available, and why not.
struct LibavStatus {
  bool available = false;
  /// Why not ("" when available).
  std::string reason;
  /// The sonames loaded or looked for, e.g. "libavformat.so.59, libavcodec.so.59, libavutil.so.57".
  std::string libraries;
  /// The run-time versions found, e.g. "libavformat 59.27.100, …" ("" when not loaded).
  std::string versions;
};
/// Loads the libraries once (thread-safe) and reports the outcome.
const LibavStatus& libav_status();

/// The description of decoded frames: as the first frame after a seek has them.
struct FrameFormat {
  int width = 0, height = 0;
  /// av_get_pix_fmt_name (e.g. "yuv420p", "yuvj420p", "yuv444p10le").
  std::string pix_fmt;
  /// av_color_range_name / av_color_space_name ("unknown" when unspecified), as showinfo prints them.
  std::string color_range, color_space;
};

/// What a video file says about its first video stream.
struct VideoInfo {
  std::string codec;
  int width = 0, height = 0;
  /// av_guess_frame_rate (what ffmpeg's filter graph is told), num/den (0/1 when unknown).
  int fps_num = 0, fps_den = 1;
  int time_base_num = 0, time_base_den = 1;
};

/// One opened video: its first video stream, decoded forward from a seek
/// point. Not thread-safe: one call at a time (the binding enforces it).
class LibavDecoder {
 public:
  /// Opens `file` (demuxer, stream info, decoder). Throws std::runtime_error
  /// naming the file and libav's reason; LibavUnavailable when the libraries are not loaded.
  explicit LibavDecoder(const std::string& file);
  ~LibavDecoder();
  LibavDecoder(const LibavDecoder&) = delete;
  LibavDecoder& operator=(const LibavDecoder&) = delete;

  const VideoInfo& info() const;

  /// Seeks to the keyframe at or before `seconds` (+ the file's start time)
  /// and drops the frames before that time; then decodes up to the first
  /// frame kept and returns its format (false at the end of the video).
  bool seek(double seconds, FrameFormat* first, const StopFlag* stop);
  /// The format of the next frame, decoding it when none is pending (after
  /// open without a seek, or after read); false at the end of the video.
  bool peek(FrameFormat* next, const StopFlag* stop);

  /// Decodes up to `max_frames` frames into `dst` as packed yuv420p (per frame
  /// W·H luma, then ⌈W/2⌉·⌈H/2⌉ Cb and as many Cr bytes; `frame_bytes` each,
  /// which must match the format of the frames) and their times (seconds) into
  /// `times`. Only 8-bit 4:2:0 frames (yuv420p, yuvj420p) of the size and
  /// format of the first frame are read: another frame throws. Returns the
  /// count (0 at the end of the video). Checks `stop` between frames.
  std::size_t read(std::uint8_t* dst, std::size_t frame_bytes, double* times, std::size_t max_frames,
                   const StopFlag* stop);

  /// Time (seconds) of the last frame read, NaN before any.
  double last_time() const;
  /// Decoding problems that did not stop the stream (at most 5).
  const std::vector<std::string>& problems() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// Bytes of one packed yuv420p frame.
inline std::size_t yuv420p_packed_bytes(std::size_t w, std::size_t h) {
  return w * h + 2 * ((w + 1) / 2) * ((h + 1) / 2);
}

}  // namespace f2g

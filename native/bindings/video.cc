// N-API bindings for decoded video frames (src/io/lerobot-video.ts): the
// YUV → RGB conversion of ffmpeg's raw yuv420p output (kernels/yuv.h), the
// built-in encoder straight from yuv420p frames (src/encoders/builtin.ts), and
// an OS pipe for ffmpeg's frames, read with fs.read into a buffer of ours.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "kernels/yuv.h"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#define F2G_HAVE_PIPE 1
#endif

namespace f2g {
namespace {

/// opts.matrix, 601 or 709 (the colour matrix of the video's tags, which TypeScript reads).
YuvMatrix MatrixArg(const Fields& o) {
  const double m = o.Number("matrix");
  if (m != 601 && m != 709)
    ThrowRange("Expected opts.matrix 601 or 709 but received " + Describe(o.Need("matrix")));
  return m == 709 ? YuvMatrix::kBt709 : YuvMatrix::kBt601;
}

/// Bytes of one yuv420p frame (yuv420p_frame_bytes), overflow-checked.
std::size_t FrameBytes(std::size_t W, std::size_t H) {
  return CheckedProduct({W, H}, "yuv") + 2 * CheckedProduct({(W + 1) / 2, (H + 1) / 2}, "yuv");
}

// encoderYuvToRgb({ yuv: Uint8Array [n frames of W·H + 2·⌈W/2⌉·⌈H/2⌉] },
//                   { n, W, H, matrix: 601 | 709, fullRange, threads }, { rgb: Uint8Array [n,H,W,3] })
// Synchronous (pool-parallel, the JS thread takes a share).
Napi::Value Yuv420pToRgb(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto yuv = Uint8Arg(in.Need("yuv"), "yuv");
  const std::size_t n = SizeArg(o.Need("n"), "opts.n", 1);
  const std::size_t W = SizeArg(o.Need("W"), "opts.W", 1);
  const std::size_t H = SizeArg(o.Need("H"), "opts.H", 1);
  const YuvMatrix matrix = MatrixArg(o);
  const bool full = o.Bool("fullRange");
  const std::size_t threads = o.Size("threads");
  auto rgb = Uint8Arg(res.Need("rgb"), "rgb");
  const std::size_t fb = FrameBytes(W, H);
  const std::size_t in_need = CheckedProduct({n, fb}, "yuv");
  const std::size_t out_need = CheckedProduct({n, H, W, 3}, "rgb");
  RequireLength(yuv.length, in_need, "yuv", "[n, W·H + 2·⌈W/2⌉·⌈H/2⌉]");
  RequireLength(rgb.length, out_need, "rgb", "[n, H, W, 3]");
  RejectOverlap({rgb.data, out_need, "rgb"}, {{yuv.data, in_need, "yuv"}}, false);
  yuv420p_to_rgb24(yuv.data, n, W, H, matrix, full, rgb.data, threads);
  return info.Env().Undefined();
}

// encoderPatchStatsYuv({ yuv }, { T, H, W, gridH, gridW, bins, threads, matrix, fullRange },
//                          { features: Float32Array [T, gh*gw, 6+bins] }) → Promise<void>
// As encoderPatchStats on the frames encoderYuvToRgb would make. Reads `yuv` in place when it is
// host memory or shared (else an owned copy taken before it returns) and writes `features` in place
// when it is host memory (else on the JS thread once the work is done): AsyncInput/AsyncOutput.
Napi::Value PatchStatsYuv420p(const Napi::CallbackInfo& info) {
  Fields in(info[0], "input"), o(info[1], "opts"), res(info[2], "out");
  auto yuv = Uint8Arg(in.Need("yuv"), "yuv");
  const std::size_t T = SizeArg(o.Need("T"), "frames.shape[0]", 1);
  const std::size_t H = SizeArg(o.Need("H"), "frames.shape[1]", 1);
  const std::size_t W = SizeArg(o.Need("W"), "frames.shape[2]", 1);
  PatchStatsParams p;
  p.grid_h = SizeArg(o.Need("gridH"), "opts.grid[0]", 1);
  p.grid_w = SizeArg(o.Need("gridW"), "opts.grid[1]", 1);
  p.bins = o.Size("bins", 1);
  const std::size_t threads = o.Size("threads");
  const YuvMatrix matrix = MatrixArg(o);
  const bool full = o.Bool("fullRange");
  if (p.grid_h > H)
    ThrowRange("Expected opts.grid[0] ≤ frame height " + std::to_string(H) + " but received " +
               std::to_string(p.grid_h));
  if (p.grid_w > W)
    ThrowRange("Expected opts.grid[1] ≤ frame width " + std::to_string(W) + " but received " +
               std::to_string(p.grid_w));
  Napi::Value out_value = res.Need("features");
  auto out = Float32Arg(out_value, "out");
  const std::size_t fb = FrameBytes(W, H);
  const std::size_t in_need = CheckedProduct({T, fb}, "yuv");
  RequireLength(yuv.length, in_need, "yuv", "[T, W·H + 2·⌈W/2⌉·⌈H/2⌉]");
  const std::size_t need = CheckedProduct({T, p.grid_h, p.grid_w, patch_stats_dim(p)}, "out");
  RequireLength(out.length, need, "out", "[T, grid[0]*grid[1], 6+bins]");
  RejectOverlap({out.data, need * sizeof(float), "out"}, {{yuv.data, in_need, "yuv"}}, false);
  std::vector<Napi::Value> keep;
  auto frames = AsyncInput(yuv, in_need, "yuv", keep);
  auto result = std::make_shared<AsyncResult>(AsyncOutput(out, need, "patchStatsYuv420p"));
  auto out_ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(out_value));
  auto* w = new PromiseWorker(
      info.Env(), "patchStatsYuv420p",
      [frames, T, W, H, matrix, full, p, result, threads] {
        patch_stats_yuv420p(frames->data(), T, W, H, matrix, full, p, result->data(), threads);
      },
      [out_ref, result](Napi::Env env) { return CopyBack(env, *out_ref, *result); }, keep);
  return w->Queue();
}

// systemPipe(undefined, { size }) → { readFd, writeFd, size }: a pipe (both ends close-on-exec),
// its capacity raised towards `size` bytes where the OS allows it (Linux), `size` the capacity
// it has (0 where unknown). The caller passes writeFd to a child and closes both ends.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Fields o(info[1], "opts");
  const std::size_t want = o.Size("size");
  Napi::Env env = info.Env();
#ifdef F2G_HAVE_PIPE
  int fds[2];
#if defined(__linux__)
  if (pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe() failed: ") + std::strerror(errno));
#else
  if (pipe(fds) != 0) throw std::runtime_error(std::string("pipe() failed: ") + std::strerror(errno));
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  double size = 0;
#if defined(__linux__) && defined(F_SETPIPE_SZ)
  if (want > 0 && want <= (1u << 30)) fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(want));  // best effort
  const int got = fcntl(fds[0], F_GETPIPE_SZ);
  if (got > 0) size = got;
#else
  (void)want;
#endif
  Napi::Object r = Napi::Object::New(env);
  r.Set("readFd", Napi::Number::New(env, fds[0]));
  r.Set("writeFd", Napi::Number::New(env, fds[1]));
  r.Set("size", Napi::Number::New(env, size));
  return r;
#else
  (void)want;
  return env.Null();
#endif
}

void Init(Napi::Env env, Napi::Object exports) {
  Export<Yuv420pToRgb>(env, exports, "encoderYuvToRgb");
  Export<Pipe>(env, exports, "systemPipe");
  Export<PatchStatsYuv420p>(env, exports, "encoderPatchStatsYuv");
}

}  // namespace

F2G_REGISTER(video, Init);

}  // namespace f2g

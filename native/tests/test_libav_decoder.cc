// The in-process video decoder (media/libav_decoder.h) without Node: a
// lossless H.264 video with B-frames (made here by the ffmpeg CLI) whose frame
// i has luma 16 + 8·i everywhere decodes to those frames at i / 30 s, from
// the start and after seeks that land mid-GOP (earlier frames dropped); a
// missing file, a truncated file and a wrong output size are errors, never
// stray reads (run under ASan/UBSan by scripts/sanitize.sh's ctest subset).
// Exits 77 (skipped) where the libraries cannot be loaded or ffmpeg is missing.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "media/libav_decoder.h"

namespace {

const int kN = 20, kS = 32;
std::string g_file, g_cut;

/// Mean luma of each of `n` packed frames.
std::vector<int> Lumas(const std::vector<std::uint8_t>& buf, std::size_t n) {
  const std::size_t fb = f2g::yuv420p_packed_bytes(kS, kS);
  std::vector<int> out;
  for (std::size_t f = 0; f < n; ++f) {
    long sum = 0;
    for (int i = 0; i < kS * kS; ++i) sum += buf[f * fb + i];
    out.push_back(static_cast<int>(sum / (kS * kS)));
  }
  return out;
}

TEST(every_frame_from_the_start) {
  f2g::LibavDecoder d(g_file);
  CHECK(d.info().codec == "h264");
  CHECK_EQ(d.info().width, kS);
  CHECK_NEAR(static_cast<double>(d.info().fps_num) / d.info().fps_den, 30.0, 1e-9);
  f2g::FrameFormat f;
  CHECK(d.seek(0, &f, nullptr));
  CHECK(f.pix_fmt == "yuv420p");
  CHECK_EQ(f.width, kS);
  const std::size_t fb = f2g::yuv420p_packed_bytes(kS, kS);
  std::vector<std::uint8_t> buf(8 * fb);
  std::vector<double> times(8);
  int k = 0;
  for (;;) {
    const std::size_t n = d.read(buf.data(), fb, times.data(), 8, nullptr);
    if (n == 0) break;
    const auto l = Lumas(buf, n);
    for (std::size_t i = 0; i < n; ++i, ++k) {
      CHECK_EQ(l[i], 16 + 8 * k);
      CHECK_NEAR(times[i], k / 30.0, 1e-9);
    }
  }
  CHECK_EQ(k, kN);
  CHECK_EQ(d.read(buf.data(), fb, times.data(), 8, nullptr), std::size_t{0});
}

TEST(seeks_mid_gop_drop_the_frames_before) {
  f2g::LibavDecoder d(g_file);
  const std::size_t fb = f2g::yuv420p_packed_bytes(kS, kS);
  std::vector<std::uint8_t> buf(2 * fb);
  std::vector<double> times(2);
  for (int k : {7, 13, 2, 19}) {
    f2g::FrameFormat f;
    CHECK(d.seek((k - 0.5) / 30.0, &f, nullptr));
    const std::size_t n = d.read(buf.data(), fb, times.data(), 2, nullptr);
    CHECK_EQ(n, static_cast<std::size_t>(k == 19 ? 1 : 2));
    CHECK_EQ(Lumas(buf, 1)[0], 16 + 8 * k);
    CHECK_NEAR(times[0], k / 30.0, 1e-9);
  }
  f2g::FrameFormat f;
  CHECK(!d.seek(5.0, &f, nullptr));
  f2g::StopFlag stop{true};
  bool cancelled = false;
  try {
    d.seek(0, &f, &stop);
  } catch (const f2g::Cancelled&) {
    cancelled = true;
  }
  CHECK(cancelled);
}

TEST(bad_files_and_sizes_are_errors) {
  for (const std::string& file : {std::string("/nonexistent/feat2go.mp4"), g_cut}) {
    bool threw = false;
    try {
      f2g::LibavDecoder d(file);
      // A truncated file may open (its index intact) and then end early: never a stray read.
      f2g::FrameFormat f;
      std::vector<std::uint8_t> buf(f2g::yuv420p_packed_bytes(kS, kS) * kN);
      std::vector<double> times(kN);
      if (d.seek(0, &f, nullptr))
        d.read(buf.data(), f2g::yuv420p_packed_bytes(kS, kS), times.data(), kN, nullptr);
      threw = true;
    } catch (const std::runtime_error& e) {
      threw = std::string(e.what()).rfind(file + ": ", 0) == 0;
    }
    CHECK(threw);
  }
  f2g::LibavDecoder d(g_file);
  f2g::FrameFormat f;
  CHECK(d.seek(0, &f, nullptr));
  std::vector<std::uint8_t> buf(100);
  double t;
  bool threw = false;
  try {
    d.read(buf.data(), 100, &t, 1, nullptr);
  } catch (const std::runtime_error& e) {
    threw = std::string(e.what()).find("not the size the output was made for") != std::string::npos;
  }
  CHECK(threw);
}

}  // namespace

int main() {
  const f2g::LibavStatus& s = f2g::libav_status();
  if (!s.available) SKIP_ALL("test_libav_decoder", "in-process decoding unavailable: " + s.reason);
  char tmpl[] = "/tmp/feat2go-libav-XXXXXX";
  if (!mkdtemp(tmpl)) SKIP_ALL("test_libav_decoder", "no temporary folder");
  const std::string dir = tmpl;
  g_file = dir + "/v.mp4";
  g_cut = dir + "/cut.mp4";
  const std::string cmd =
      "ffmpeg -v error -y -f lavfi -i \"color=c=black:s=32x32:r=30:d=1,format=yuv420p,geq=lum='16+8*N':cb=128:cr=128\" -frames:v 20 "
      "-c:v libx264 -qp 0 -bf 2 -g 6 -pix_fmt yuv420p \"" +
      g_file + "\" 2>/dev/null";
  if (std::system(cmd.c_str()) != 0)
    SKIP_ALL("test_libav_decoder", "ffmpeg with libx264 could not make the fixture");
  {
    std::ifstream in(g_file, std::ios::binary);
    std::vector<char> all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(g_cut, std::ios::binary).write(all.data(), static_cast<std::streamsize>(all.size() / 2));
  }
  const int rc = f2gtest::run_all("test_libav_decoder");
  std::remove(g_file.c_str());
  std::remove(g_cut.c_str());
  rmdir(tmpl);
  return rc;
}

#include "kernels/pickplace.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/pool.h"

namespace f2g {
namespace pickplace {
namespace {

// ---- counter-based randomness (no state shared between environments) ----
std::uint64_t Mix(std::uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct Draw {
  std::uint64_t key;
  std::uint64_t k = 0;
  double U() { return static_cast<double>(Mix(key ^ Mix(++k)) >> 11) * 0x1.0p-53; }
  float U(float lo, float hi) { return lo + static_cast<float>(U()) * (hi - lo); }
  int Int(int lo, int hi) { return lo + static_cast<int>(U() * (hi - lo + 1)); }  // [lo, hi]
};

std::uint8_t Jitter(Draw& d, int base, int amp) {
  int v = base + d.Int(-amp, amp);
  return static_cast<std::uint8_t>(std::clamp(v, 0, 255));
}
void Colour(Draw& d, const int (&base)[3], int amp, std::uint8_t* out) {
  for (int c = 0; c < 3; ++c) out[c] = Jitter(d, base[c], amp);
}

// Training (id) appearance, the bases the OOD palettes stay away from.
constexpr int kBg[3] = {190, 195, 215};
constexpr int kTable[3] = {125, 110, 85};
constexpr int kCube[3] = {205, 45, 40};
constexpr int kIdJitter = 12, kCubeJitter = 15;
constexpr float kIdSize = 0.10f, kIdSizeJitter = 0.005f;
// Vision: unseen background / table colours.
constexpr int kVisionBg[4][3] = {{235, 205, 150}, {70, 120, 125}, {225, 160, 190}, {120, 150, 90}};
constexpr int kVisionTable[4][3] = {{60, 70, 120}, {185, 185, 185}, {150, 70, 50}, {40, 40, 40}};
constexpr int kVisionJitter = 10, kVisionNoise = 12;
// Semantic: unseen cube colours and sizes, a distractor ball.
constexpr int kSemCube[3][3] = {{40, 90, 220}, {235, 200, 40}, {150, 60, 200}};
constexpr float kSemSize[2] = {0.07f, 0.13f};
constexpr int kDistractor[2][3] = {{60, 170, 200}, {240, 140, 30}};
constexpr std::uint8_t kGoal[3] = {40, 170, 60}, kRim[3] = {30, 120, 45};
constexpr std::uint8_t kFinger[3] = {55, 55, 65}, kArm[3] = {80, 80, 92};

float Clip1(float v) { return v < -1.f ? -1.f : v > 1.f ? 1.f : v; }
float Gap(float o) { return kGapMin + o * (kGapMax - kGapMin); }
float ContactOpening(float s) { return std::clamp((s - kGapMin) / (kGapMax - kGapMin), 0.f, 1.f); }

// Pixel noise: one fixed table of uniform integers in [-kVisionNoise,
// kVisionNoise], read from a per-frame offset (the only amplitude in use).
constexpr std::size_t kNoiseLen = 1 << 16;
const std::int8_t* NoiseTable() {
  static const std::vector<std::int8_t> table = [] {
    std::vector<std::int8_t> t(2 * kNoiseLen);
    for (std::size_t i = 0; i < t.size(); ++i)
      t[i] = static_cast<std::int8_t>(static_cast<int>(Mix(0xC0FFEEULL + i) % (2 * kVisionNoise + 1)) -
                                      kVisionNoise);
    return t;
  }();
  return table.data();
}

// frame[k] += noise[k], saturated to [0, 255]: flipping the top bit maps
// uint8 to int8 order-preservingly, so a signed saturating add does it.
void AddNoise(std::uint8_t* frame, const std::int8_t* noise, std::size_t bytes) {
  std::size_t k = 0;
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi8(static_cast<char>(0x80));
  for (; k + 16 <= bytes; k += 16) {
    __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(frame + k)), flip);
    x = _mm_adds_epi8(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(noise + k)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(frame + k), _mm_xor_si128(x, flip));
  }
#endif
  for (; k < bytes; ++k) {
    const int v = frame[k] + noise[k];
    frame[k] = static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
  }
}

struct Canvas {
  std::uint8_t* px;
  int S, ty;
  // Fills world rectangle x in [x0, x1], z in [z0, z1] (at least one pixel wide/high).
  void Rect(float x0, float x1, float z0, float z1, const std::uint8_t* c) const {
    int a = static_cast<int>(std::lround(x0 * S)), b = static_cast<int>(std::lround(x1 * S));
    int r0 = static_cast<int>(std::lround(ty - z1 * S)), r1 = static_cast<int>(std::lround(ty - z0 * S));
    if (b <= a) b = a + 1;
    if (r1 <= r0) r1 = r0 + 1;
    a = std::max(a, 0), b = std::min(b, S), r0 = std::max(r0, 0), r1 = std::min(r1, S);
    for (int y = r0; y < r1; ++y) {
      std::uint8_t* p = px + (static_cast<std::size_t>(y) * S + a) * 3;
      for (int x = a; x < b; ++x, p += 3) p[0] = c[0], p[1] = c[1], p[2] = c[2];
    }
  }
};

}  // namespace

int split_from_name(const char* name) {
  static const char* names[] = {"id", "vision", "semantic", "execution"};
  for (int i = 0; i < 4; ++i)
    if (std::strcmp(name, names[i]) == 0) return i;
  return -1;
}
int task_from_name(const char* name) {
  static const char* names[] = {"pick-place", "slip", "knock"};
  for (int i = 0; i < 3; ++i)
    if (std::strcmp(name, names[i]) == 0) return i;
  return -1;
}

const char* split_name(Split s) {
  static const char* names[] = {"id", "vision", "semantic", "execution"};
  return names[static_cast<int>(s)];
}

InitState init_state(Split split, std::size_t id) {
  Draw d{Mix(0xF2C0DE00ULL + static_cast<std::uint64_t>(split) * 0x100000001B3ULL) ^ Mix(id + 1)};
  InitState s{};
  const bool exec = split == Split::kExecution;
  s.open = 1.f;
  s.goal_w = 0.2f;
  if (exec) {
    s.gx = d.U(0.08f, 0.92f);
    s.gz = d.U(0.15f, 0.6f);
    s.goal_x = d.U(0.6f, 0.86f);
    s.cx = d.U(0.08f, std::min(0.5f, s.goal_x - 0.2f));
  } else {
    s.gx = d.U(0.3f, 0.7f);
    s.gz = d.U(0.35f, 0.55f);
    s.goal_x = d.U(0.62f, 0.82f);
    s.cx = d.U(0.12f, 0.40f);
  }
  s.cs = kIdSize + d.U(-kIdSizeJitter, kIdSizeJitter);
  Colour(d, kBg, kIdJitter, s.bg);
  Colour(d, kTable, kIdJitter, s.table);
  Colour(d, kCube, kCubeJitter, s.cube);
  s.move_t = -1;
  s.move_x = s.cx;
  switch (split) {
    case Split::kVision:
      Colour(d, kVisionBg[d.Int(0, 3)], kVisionJitter, s.bg);
      Colour(d, kVisionTable[d.Int(0, 3)], kVisionJitter, s.table);
      s.stripes = 2 * d.Int(3, 5);
      s.noise = kVisionNoise;
      break;
    case Split::kSemantic: {
      Colour(d, kSemCube[d.Int(0, 2)], kVisionJitter, s.cube);
      s.cs = kSemSize[d.Int(0, 1)] + d.U(-0.003f, 0.003f);
      s.distractor = true;
      s.dr = d.U(0.035f, 0.05f);
      Colour(d, kDistractor[d.Int(0, 1)], kVisionJitter, s.dcol);
      const float lo = s.goal_x - s.goal_w / 2 - kRimW, hi = s.goal_x + s.goal_w / 2 + kRimW;
      s.dx = 0.03f + s.dr;
      for (int k = 0; k < 32; ++k) {
        float x = d.U(s.dr + 0.01f, 0.99f - s.dr);
        bool clear_cube = std::fabs(x - s.cx) > s.cs / 2 + s.dr + 0.03f;
        bool clear_goal = x + s.dr + 0.02f < lo || x - s.dr - 0.02f > hi;
        if (clear_cube && clear_goal) {
          s.dx = x;
          break;
        }
      }
      break;
    }
    case Split::kExecution: {
      s.move_t = d.Int(8, 16);
      const float lo = 0.08f, hi = std::min(0.5f, s.goal_x - 0.2f);
      float dist = d.U(0.1f, 0.2f);
      float m = d.U() < 0.5 ? s.cx - dist : s.cx + dist;
      if (m < lo || m > hi) m = m < lo ? s.cx + dist : s.cx - dist;
      s.move_x = std::clamp(m, lo, hi);
      break;
    }
    default:
      break;
  }
  return s;
}

Batch::Batch(std::size_t n, Split split, std::size_t image, std::size_t horizon, bool render, Task task)
    : n_(n),
      image_(image),
      horizon_(horizon),
      split_(split),
      task_(task),
      render_(render),
      init_(n),
      init_id_(n, -1),
      gx_(n),
      gz_(n),
      open_(n),
      cx_(n),
      cz_(n),
      cvz_(n),
      off_(n),
      holding_(n),
      moved_(n),
      done_(n),
      t_(n),
      bg_(render ? n * image * image * 3 : 0) {}

// ---- geometry helpers ----
bool Batch::in_gap(std::size_t i) const {
  const float g = Gap(open_[i]) / 2, h = init_[i].cs / 2;
  return cx_[i] - h >= gx_[i] - g - 1e-4f && cx_[i] + h <= gx_[i] + g + 1e-4f;
}
bool Batch::finger_overlaps_z(std::size_t i) const {
  return gz_[i] < cz_[i] + init_[i].cs && gz_[i] + kFingerLen > cz_[i];
}
float Batch::support(std::size_t i, float cx) const {
  const InitState& s = init_[i];
  const float h = s.cs / 2, L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  const bool on_left = cx + h > L - kRimW && cx - h<L, on_right = cx + h> R && cx - h < R + kRimW;
  return on_left || on_right ? kRimH : 0.f;
}

std::pair<float, float> Batch::slide_range(std::size_t i, float cx, float cz) const {
  const InitState& s = init_[i];
  const float h = s.cs / 2, L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  float lo = h, hi = 1.f - h;
  if (cz < kRimH) {  // low enough to hit a rim: stay on the side of the rims it is on
    if (cx + h <= L - kRimW + 1e-4f) hi = std::min(hi, L - kRimW - h);
    else if (cx - h >= R + kRimW - 1e-4f) lo = std::max(lo, R + kRimW + h);
    else if (cx - h >= L - 1e-4f && cx + h <= R + 1e-4f) lo = std::max(lo, L + h), hi = std::min(hi, R - h);
  }
  return {lo, std::max(lo, hi)};
}

int Batch::stage_of(std::size_t i) const {
  const InitState& s = init_[i];
  const float h = s.cs / 2, L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  const bool over_goal = cx_[i] - h >= L - 1e-6f && cx_[i] + h <= R + 1e-6f;
  if (holding_[i]) return over_goal ? 3 : 2;
  if (over_goal) return 3;  // released into the tray (rims stop a sliding cube)
  if (in_gap(i) && finger_overlaps_z(i) && gz_[i] <= cz_[i] + kGraspFrac * s.cs) return 1;
  return 0;
}

namespace {
float Clamp01(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }
// The expert's grasp height for a cube of side s resting at cz (fingertip z).
float GraspZ(float cz, float s) {
  return std::max(std::min(cz + 0.3f * s, cz + 0.55f * s), cz + s - kFingerLen + 0.01f);
}
// Horizontal distance from a cube centred at cx (half side h) to lying wholly over the tray.
float ToTray(float cx, float h, float goal_x, float goal_w) {
  return std::max(0.f, std::fabs(cx - goal_x) - (goal_w / 2 - h));
}
}  // namespace

float Batch::progress_of(std::size_t i, int stage) const {
  const InitState& s = init_[i];
  const float h = s.cs / 2;
  float f = 0.f;
  switch (stage) {
    case 0: {
      const float d0 = std::hypot(s.gx - s.cx, s.gz - GraspZ(0.f, s.cs));
      const float d = std::hypot(gx_[i] - cx_[i], gz_[i] - GraspZ(cz_[i], s.cs));
      f = d0 > 0.f ? Clamp01(1.f - d / d0) : 1.f;
      break;
    }
    case 1: {
      const float contact = ContactOpening(s.cs);
      f = contact < 1.f ? Clamp01((1.f - open_[i]) / (1.f - contact)) : 1.f;
      break;
    }
    case 2: {
      const float e0 = ToTray(s.cx, h, s.goal_x, s.goal_w) + kCarryZ;
      const float e = ToTray(cx_[i], h, s.goal_x, s.goal_w) + std::max(0.f, kCarryZ - cz_[i]);
      f = e0 > 0.f ? Clamp01(1.f - e / e0) : 1.f;
      break;
    }
    case 3:
      f = holding_[i] ? 0.5f * Clamp01(1.f - cz_[i] / kCarryZ) : 0.5f + 0.5f * Clamp01(open_[i]);
      break;
    default:
      return 1.f;
  }
  return (static_cast<float>(stage) + f) / 4.f;
}

bool Batch::slips(std::size_t i) const {
  const InitState& s = init_[i];
  const float h = s.cs / 2, L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  const bool over_tray = cx_[i] - h >= L - kRimW && cx_[i] + h <= R + kRimW;
  if (!holding_[i] || over_tray || cz_[i] <= 1e-4f || off_[i] <= kSlipGrip * s.cs) return false;
  const std::uint64_t key =
      Mix(0x51195119ULL ^ (static_cast<std::uint64_t>(split_) << 56) ^
          (static_cast<std::uint64_t>(init_id_[i]) << 24) ^ static_cast<std::uint64_t>(t_[i]));
  return static_cast<double>(key >> 11) * 0x1.0p-53 < kSlipP;
}

// ---- reset / step ----
void Batch::reset_one(std::size_t i, std::int32_t id, const Outputs& out) {
  const InitState s = init_state(split_, static_cast<std::size_t>(id));
  init_[i] = s;
  init_id_[i] = id;
  gx_[i] = s.gx, gz_[i] = s.gz, open_[i] = s.open;
  cx_[i] = s.cx, cz_[i] = 0.f, cvz_[i] = 0.f, off_[i] = 0.f;
  holding_[i] = 0, moved_[i] = 0, done_[i] = 0, t_[i] = 0;
  out.reward[i] = 0.f;
  out.terminated[i] = 0, out.truncated[i] = 0, out.success[i] = 0;
  out.max_stage[i] = 0;
  if (render_) draw_background(i);
  finish(i, out);
}

void Batch::step_one(std::size_t i, const float* a, const Outputs& out) {
  out.reward[i] = 0.f;
  if (done_[i]) return;
  const InitState& s = init_[i];
  const float size = s.cs, h = size / 2;
  const float ax = Clip1(a[0]), az = Clip1(a[1]);
  const bool close = a[2] > 0.f;
  float& gx = gx_[i];
  float& gz = gz_[i];
  float& o = open_[i];
  float& cx = cx_[i];
  float& cz = cz_[i];

  // 0. slip task: a lifted cube carried outside the tray may slip out of a high grip and
  // drops straight to the table (so the closing fingers cannot catch it again)
  if (task_ == Task::kSlip && slips(i)) {
    holding_[i] = 0;
    cvz_[i] = 0.f;
    cz_[i] = support(i, cx_[i]);
  }

  // 1. fingers: open / close, grasp, release
  if (holding_[i]) {
    if (!close) {
      holding_[i] = 0;
      cvz_[i] = 0.f;
      o = std::min(1.f, o + kOpenRate);
    }
  } else if (close) {
    float next = std::max(0.f, o - kOpenRate);
    if (finger_overlaps_z(i) && in_gap(i) && Gap(next) < size) {
      next = std::max(next, ContactOpening(size));
      if (gz <= cz + kGraspFrac * size) {
        holding_[i] = 1;
        off_[i] = gz - cz;
        cx = gx;
        cvz_[i] = 0.f;
      }
    }
    o = next;
  } else {
    o = std::min(1.f, o + kOpenRate);
  }

  // 2. horizontal move; a held cube below the rims' height cannot pass through them
  {
    float nx = std::clamp(gx + ax * kMaxStep, kGxMin, kGxMax);
    if (holding_[i]) {
      const auto [lo, hi] = slide_range(i, cx, cz);
      const float to = std::min(std::max(nx, std::max(lo, kGxMin)),
                                std::min(hi, kGxMax));  // bounds may cross at the walls
      const bool at_rim = cz < kRimH && ((nx > hi && hi < 1.f - h) || (nx < lo && lo > h));
      if (task_ == Task::kKnock && at_rim) {
        // knock task: the rim knocks the cube out of the fingers (they spring open) and it
        // bounces back, landing 0.08-0.2 beyond the open finger on its side (a hash of split,
        // initial state, step), clear of the fingers
        const std::uint64_t key =
            Mix(0x4B4E4F43ULL ^ (static_cast<std::uint64_t>(split_) << 56) ^
                (static_cast<std::uint64_t>(init_id_[i]) << 24) ^ static_cast<std::uint64_t>(t_[i]));
        const float back = 0.08f + 0.12f * static_cast<float>(static_cast<double>(key >> 11) * 0x1.0p-53);
        const float clear = Gap(1.f) / 2 + kFingerW + h + back;  // beyond the open finger's outer edge
        holding_[i] = 0;
        cvz_[i] = 0.f;
        o = 1.f;
        cx = std::clamp(nx > hi ? to - clear : to + clear, h, 1.f - h);
        nx = to;
      } else {
        nx = to;
        cx = nx;
      }
    }
    gx = nx;
  }

  // 3. fingers push a free cube sideways; the tray rims stop a cube sliding on the table
  if (!holding_[i] && finger_overlaps_z(i)) {
    const float g = Gap(o) / 2;
    for (int side = 0; side < 2; ++side) {
      const float f0 = side == 0 ? gx - g - kFingerW : gx + g, f1 = f0 + kFingerW;
      if (cx + h <= f0 || cx - h >= f1) continue;
      const float target = cx >= (f0 + f1) / 2 ? f1 + h : f0 - h;
      const auto [lo, hi] = slide_range(i, cx, cz);
      const float to = std::clamp(target, lo, hi);
      // A cube stopped by a rim or the scene's edge stops the finger pushing it.
      if (to != target) gx = std::clamp(gx + (to - target), kGxMin, kGxMax);
      cx = to;
    }
  }

  // 4. vertical move; fingertips or palm land on the cube's top
  float nz = std::clamp(gz + az * kMaxStep, 0.f, kGzMax);
  if (holding_[i]) {
    nz = std::max(nz, off_[i] + support(i, cx));
    cz = nz - off_[i];
  } else if (nz < gz) {
    const float g = Gap(o) / 2, top = cz + size;
    const bool fl = cx + h > gx - g - kFingerW && cx - h < gx - g;
    const bool fr = cx + h > gx + g && cx - h < gx + g + kFingerW;
    if ((fl || fr) && gz >= top - 1e-5f && nz < top) nz = top;
    else if (in_gap(i) && gz + kFingerLen >= top - 1e-5f && nz + kFingerLen < top) nz = top - kFingerLen;
    nz = std::max(nz, 0.f);
  }
  gz = nz;

  // 5. gravity on a free cube
  if (!holding_[i]) {
    const float sup = support(i, cx);
    if (cz < sup) cz = sup, cvz_[i] = 0.f;  // a cube never rests inside a rim
    if (cz > sup + 1e-6f || cvz_[i] != 0.f) {
      cvz_[i] -= kGravity;
      cz += cvz_[i];
      if (cz <= sup) cz = sup, cvz_[i] = 0.f;
    }
  }

  ++t_[i];
  // 6. execution split: the cube is moved once, out of the gripper if held
  if (s.move_t >= 0 && !moved_[i] && t_[i] == s.move_t) {
    moved_[i] = 1;
    holding_[i] = 0;
    cx = s.move_x, cz = 0.f, cvz_[i] = 0.f;
  }

  // 7. success / horizon
  const float L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  const bool placed =
      !holding_[i] && cz == 0.f && cvz_[i] == 0.f && cx - h >= L - 1e-6f && cx + h <= R + 1e-6f;
  if (placed && o >= 1.f) {
    out.success[i] = 1, out.terminated[i] = 1, out.reward[i] = 1.f;
    done_[i] = 1;
  } else if (static_cast<std::size_t>(t_[i]) >= horizon_) {
    out.truncated[i] = 1;
    done_[i] = 1;
  }
  finish(i, out);
}

void Batch::finish(std::size_t i, const Outputs& out) {
  const int st = out.success[i] ? 4 : stage_of(i);
  out.stage[i] = st;
  if (out.progress) out.progress[i] = progress_of(i, st);
  out.max_stage[i] = std::max(out.max_stage[i], st);
  out.t[i] = t_[i];
  float* p = out.proprio + i * kProprioDim;
  p[0] = gx_[i], p[1] = gz_[i], p[2] = open_[i], p[3] = holding_[i] ? 1.f : 0.f;
  if (render_) render(i, out.frames + i * image_ * image_ * 3);
}

void Batch::reset(const std::int32_t* ids, const Outputs& out, std::size_t threads) {
  parallel_for(n_, threads, 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i)
      if (ids[i] >= 0) reset_one(i, ids[i], out);
  });
}

void Batch::step(const float* actions, const Outputs& out, std::size_t threads) {
  parallel_for(n_, threads, 16, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) step_one(i, actions + i * kActionDim, out);
  });
}

// ---- rendering ----
void Batch::draw_background(std::size_t i) {
  const InitState& s = init_[i];
  const int S = static_cast<int>(image_);
  const int ty = static_cast<int>(std::lround(kTableRow * S));
  std::uint8_t* px = bg_.data() + i * image_ * image_ * 3;
  const int period = s.stripes > 0 ? std::max(2, static_cast<int>(std::lround(s.stripes * S / 64.0))) : 0;
  for (int y = 0; y < S; ++y) {
    const bool table = y >= ty;
    const std::uint8_t* base = table ? s.table : s.bg;
    // background darkens towards the table; the table's front edge is darker
    const float shade = table ? (y == ty ? 0.75f : 1.f) : 1.f - 0.18f * static_cast<float>(y) / ty;
    std::uint8_t plain[3], striped[3];
    for (int c = 0; c < 3; ++c) {
      plain[c] = static_cast<std::uint8_t>(std::min(255.f, base[c] * shade + 0.5f));
      striped[c] =
          static_cast<std::uint8_t>(std::min(255.f, base[c] * shade * (table ? 0.82f : 1.12f) + 0.5f));
    }
    std::uint8_t* p = px + static_cast<std::size_t>(y) * S * 3;
    for (int x = 0; x < S; ++x, p += 3) {
      const bool stripe = period && (((table ? x + y : x) / (period / 2)) & 1);
      const std::uint8_t* c = stripe ? striped : plain;
      p[0] = c[0], p[1] = c[1], p[2] = c[2];
    }
  }
  Canvas cv{px, S, ty};
  const float L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
  // goal tray: green floor on the table top, two rims
  const float floor = std::max(1.f, S / 32.f) / S;
  cv.Rect(L, R, -floor, 0.f, kGoal);
  cv.Rect(L - kRimW, L, -floor, kRimH, kRim);
  cv.Rect(R, R + kRimW, -floor, kRimH, kRim);
  if (s.distractor) {  // a ball resting on the table
    const float cxp = s.dx * S, czp = ty - s.dr * S, r = s.dr * S;
    for (int y = std::max(0, static_cast<int>(czp - r - 1)); y < std::min(S, static_cast<int>(czp + r + 2));
         ++y)
      for (int x = std::max(0, static_cast<int>(cxp - r - 1)); x < std::min(S, static_cast<int>(cxp + r + 2));
           ++x) {
        const float ddx = x + 0.5f - cxp, ddy = y + 0.5f - czp;
        if (ddx * ddx + ddy * ddy > r * r) continue;
        const float lit = ddx + ddy < -0.6f * r ? 1.25f : 1.f;  // a highlight on the upper left
        std::uint8_t* p = px + (static_cast<std::size_t>(y) * S + x) * 3;
        for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(std::min(255.f, s.dcol[c] * lit));
      }
  }
}

void Batch::render(std::size_t i, std::uint8_t* frame) const {
  const InitState& s = init_[i];
  const std::size_t bytes = image_ * image_ * 3;
  std::memcpy(frame, bg_.data() + i * bytes, bytes);
  const int S = static_cast<int>(image_);
  Canvas cv{frame, S, static_cast<int>(std::lround(kTableRow * S))};
  // cube with a lighter band near its top
  const float h = s.cs / 2, cx = cx_[i], cz = cz_[i];
  cv.Rect(cx - h, cx + h, cz, cz + s.cs, s.cube);
  if (s.cs * S >= 6.f) {  // too small a cube would be all band
    std::uint8_t light[3];
    for (int c = 0; c < 3; ++c) light[c] = static_cast<std::uint8_t>((s.cube[c] + 255) / 2);
    cv.Rect(cx - h + 0.15f * s.cs, cx + h - 0.15f * s.cs, cz + 0.68f * s.cs, cz + 0.8f * s.cs, light);
  }
  // gripper: arm from the top, palm, two fingers
  const float g = Gap(open_[i]) / 2, gx = gx_[i], gz = gz_[i];
  const float palm = gz + kFingerLen;
  cv.Rect(gx - kArmW / 2, gx + kArmW / 2, palm + kPalmH, 2.f, kArm);
  cv.Rect(gx - g - kFingerW, gx + g + kFingerW, palm, palm + kPalmH, kFinger);
  cv.Rect(gx - g - kFingerW, gx - g, gz, palm, kFinger);
  cv.Rect(gx + g, gx + g + kFingerW, gz, palm, kFinger);
  if (s.noise > 0) {  // the table covers one frame of up to kNoiseLen bytes from any offset
    const std::uint64_t key =
        Mix((static_cast<std::uint64_t>(init_id_[i]) << 32) ^ static_cast<std::uint64_t>(t_[i]));
    for (std::size_t k0 = 0; k0 < bytes; k0 += kNoiseLen)
      AddNoise(frame + k0, NoiseTable() + (Mix(key + k0) % kNoiseLen), std::min(kNoiseLen, bytes - k0));
  }
}

// ---- expert ----
void Batch::expert(double noise, std::uint64_t seed, float* actions, std::size_t threads) const {
  parallel_for(n_, threads, 64, [&](std::size_t b, std::size_t e) {
    for (std::size_t i = b; i < e; ++i) {
      float* a = actions + i * kActionDim;
      if (done_[i] || init_id_[i] < 0) {
        a[0] = a[1] = a[2] = 0.f;
        continue;
      }
      const InitState& s = init_[i];
      const float size = s.cs, h = size / 2;
      const float gx = gx_[i], gz = gz_[i], cx = cx_[i], cz = cz_[i];
      const float L = s.goal_x - s.goal_w / 2, R = s.goal_x + s.goal_w / 2;
      float tx = gx, tz = gz, grip = -1.f;
      const float carry = kCarryZ;  // cube bottom height while carrying
      if (holding_[i]) {
        grip = 1.f;
        if (std::fabs(gx - s.goal_x) > 0.008f) {
          tz = off_[i] + carry;
          tx = cz > kRimH + 0.03f ? s.goal_x : gx;  // lift clear of the rims first
        } else {
          tx = s.goal_x;
          tz = off_[i] + 0.01f;
          if (cz <= 0.03f) grip = -1.f;
        }
      } else if (cx - h >= L && cx + h <= R) {
        tz = gz + kMaxStep;  // released into the tray: open and back off upwards
      } else {
        const float grasp_z = GraspZ(cz, size);
        const float above = cz + size + 0.04f;
        const float g = Gap(open_[i]) / 2;
        if (std::fabs(gx - cx) > 0.01f) {
          tx = cx;
          tz = above;
          const bool near = std::fabs(gx - cx) < g + kFingerW + h + kMaxStep + 0.01f;
          if (gz < cz + size + 0.01f && near) tx = gx;  // rise before moving over the cube
        } else {
          tx = cx;
          const bool pose = in_gap(i) && finger_overlaps_z(i) && gz <= cz + kGraspFrac * size;
          if (open_[i] < 1.f && !pose) {
            tz = gz;  // finish opening first
          } else if (gz > grasp_z + 0.004f) {
            tz = grasp_z;
          } else {
            grip = 1.f;
          }
        }
      }
      a[0] = Clip1((tx - gx) / kMaxStep);
      a[1] = Clip1((tz - gz) / kMaxStep);
      a[2] = grip;
      if (noise > 0) {
        const std::uint64_t key =
            Mix(seed ^ Mix((static_cast<std::uint64_t>(i) << 20) ^ static_cast<std::uint64_t>(t_[i])));
        for (int k = 0; k < 3; ++k) {
          const double u1 = (static_cast<double>(Mix(key + 2 * k + 1) >> 11) + 1.0) * 0x1.0p-53;
          const double u2 = static_cast<double>(Mix(key + 2 * k + 2) >> 11) * 0x1.0p-53;
          const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
          a[k] = Clip1(static_cast<float>(a[k] + noise * z));
        }
      }
    }
  });
}

EnvInfo Batch::info(std::size_t i) const {
  EnvInfo e;
  e.init = init_[i];
  e.init_id = init_id_[i];
  e.gx = gx_[i], e.gz = gz_[i], e.open = open_[i], e.cx = cx_[i], e.cz = cz_[i], e.cvz = cvz_[i];
  e.holding = holding_[i] != 0;
  e.moved = moved_[i] != 0;
  return e;
}

}  // namespace pickplace
}  // namespace f2g

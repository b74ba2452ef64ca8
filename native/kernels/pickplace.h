// The built-in pick-and-place task: N independent 2-D side-view environments
// stepped together over the shared pool, each rendering an RGB frame.
//
// World: x in [0, 1] left to right, z ≥ 0 up from the table top. A two-finger
// gripper (fingertip centre gx, gz; opening o in [0, 1]) moves by actions
// [dx, dz, grip] (dx, dz in [-1, 1] times kMaxStep; grip > 0 closes). A cube
// (bottom centre cx, cz; side s) is grasped when the fingers close around it,
// is carried while held, falls under gravity once released, is pushed by the
// fingers and stopped by the rims of the goal tray while it slides on the
// table. Success: the cube rests on the tray floor between the rims and the
// gripper is fully open.
//
// Everything is deterministic: initial states and appearance come from a hash
// of (split, initial-state id), the expert's noise from a hash of (seed, env,
// step); no state is shared between environments, so results do not depend on
// the number of threads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace f2g {
namespace pickplace {

enum class Split : int { kId = 0, kVision = 1, kSemantic = 2, kExecution = 3 };

// Task variants (the same scene and splits, different carry physics):
// - kPickPlace: the base task; a held cube carried into a rim is stopped by it.
// - kSlip: a lifted cube carried outside the tray slips out of the fingers
//   with probability kSlipP per step when the fingertips grip it above
//   kSlipGrip of its side (so a low grip avoids it), and falls to the table.
//   The draw is a hash of (split, initial state, step).
// - kKnock: a held cube carried into a tray rim below the rim's top is knocked
//   out of the fingers (they spring open) and bounces back, landing 0.08-0.2
//   beyond the open finger on its side (a hash of split, initial state,
//   step), instead of being stopped.
enum class Task : int { kPickPlace = 0, kSlip = 1, kKnock = 2 };

constexpr int kNumStages = 5;   // reach, grasp, carry, over goal, placed
constexpr int kProprioDim = 4;  // gripper x, gripper z, opening, holding
constexpr int kActionDim = 3;   // dx, dz, grip
constexpr std::size_t kSplitSize = 1000;

// Geometry and dynamics (world units; one step = one action).
constexpr float kMaxStep = 0.04f;    // gripper travel per step at |action| = 1
constexpr float kOpenRate = 0.25f;   // opening change per step
constexpr float kGapMin = 0.02f;     // finger gap fully closed
constexpr float kGapMax = 0.20f;     // finger gap fully open
constexpr float kFingerW = 0.025f;   // finger width
constexpr float kFingerLen = 0.09f;  // finger length (fingertip to palm)
constexpr float kPalmH = 0.03f;
constexpr float kArmW = 0.04f;
constexpr float kGravity = 0.01f;   // per step²
constexpr float kGraspFrac = 0.6f;  // fingertips at most this far up the cube to hold it
constexpr float kRimW = 0.02f;      // goal tray rim width
constexpr float kRimH = 0.035f;     // goal tray rim height
constexpr float kGxMin = 0.06f, kGxMax = 0.94f;
constexpr float kGzMax = 0.6f;
constexpr float kTableRow = 0.78f;       // table top at this fraction of the image height
constexpr float kSlipP = 0.1f;           // kSlip: slip probability per carried step outside the tray
constexpr float kSlipGrip = 0.25f;       // kSlip: slips only when the grip is above this fraction of the side
constexpr float kCarryZ = kRimH + 0.1f;  // the expert's carry height (cube bottom), used by progress

/// Appearance and geometry of one initial state (everything a reset needs).
struct InitState {
  float gx, gz, open;
  float cx, cs;          // cube centre x and side
  float goal_x, goal_w;  // tray centre and inner width
  std::uint8_t bg[3], table[3], cube[3];
  int stripes;  // 0: none; else stripe period in pixels at 64 px
  int noise;    // pixel noise amplitude (grey levels): 0 or 12
  bool distractor;
  float dx, dr;  // distractor ball centre x and radius
  std::uint8_t dcol[3];
  int move_t;    // step at which the cube is moved (-1: never)
  float move_x;  // where it is moved to
};

/// The initial state `id` (< kSplitSize) of `split`.
InitState init_state(Split split, std::size_t id);

/// Output views the kernel writes (all length N, frames N*S*S*3).
struct Outputs {
  std::uint8_t* frames = nullptr;
  float* proprio = nullptr;  // [N, kProprioDim]
  float* reward = nullptr;
  std::uint8_t* terminated = nullptr;
  std::uint8_t* truncated = nullptr;
  std::uint8_t* success = nullptr;
  std::int32_t* stage = nullptr;
  std::int32_t* max_stage = nullptr;
  std::int32_t* t = nullptr;
  float* progress = nullptr;  // dense true progress in [0, 1] (see Batch::progress_of)
};

/// Snapshot of one environment's state (for tests and analysis).
struct EnvInfo {
  InitState init;
  std::int32_t init_id;
  float gx, gz, open, cx, cz, cvz;
  bool holding, moved;
};

/// N environments, structure of arrays.
class Batch {
 public:
  Batch(std::size_t n, Split split, std::size_t image, std::size_t horizon, bool render,
        Task task = Task::kPickPlace);

  std::size_t size() const { return n_; }
  std::size_t image() const { return image_; }

  /// Resets env i to initial state ids[i]; ids[i] < 0 leaves env i as it is.
  /// Ids must be < kSplitSize (checked by the caller). Renders when enabled.
  void reset(const std::int32_t* ids, const Outputs& out, std::size_t threads);
  /// Steps every env that is not done with actions [N, 3] (finite; checked by
  /// the caller). Done envs keep their state and frame; their reward is 0.
  void step(const float* actions, const Outputs& out, std::size_t threads);
  /// The scripted expert's actions [N, 3] with N(0, noise²) added to each
  /// component (then clipped to [-1, 1]); zeros for done envs.
  void expert(double noise, std::uint64_t seed, float* actions, std::size_t threads) const;
  /// True once env i was reset at least once.
  bool initialised(std::size_t i) const { return init_id_[i] >= 0; }
  EnvInfo info(std::size_t i) const;

 private:
  void reset_one(std::size_t i, std::int32_t id, const Outputs& out);
  void step_one(std::size_t i, const float* a, const Outputs& out);
  void finish(std::size_t i, const Outputs& out);  // stage, proprio, frame
  void draw_background(std::size_t i);
  void render(std::size_t i, std::uint8_t* frame) const;
  bool in_gap(std::size_t i) const;
  bool finger_overlaps_z(std::size_t i) const;
  float support(std::size_t i, float cx) const;
  // x range the cube's centre may slide to from (cx, cz) without crossing a rim
  std::pair<float, float> slide_range(std::size_t i, float cx, float cz) const;
  int stage_of(std::size_t i) const;
  // Dense true progress (k + f) / 4 of stage k with the fraction f done within it:
  // reach f = 1 - d/d0 (gripper to the grasp pose over the cube, d0 from the
  // initial state); grasp f = how far the fingers closed toward contact; carry
  // f = 1 - e/e0 (cube to the region over the tray, e0 from the initial state);
  // over goal f = half for lowering the held cube, then the opening once it is
  // released. 1 once placed; a dropped cube is back in reach.
  float progress_of(std::size_t i, int stage) const;
  bool slips(std::size_t i) const;

  std::size_t n_, image_, horizon_;
  Split split_;
  Task task_;
  bool render_;
  std::vector<InitState> init_;
  std::vector<std::int32_t> init_id_;
  std::vector<float> gx_, gz_, open_, cx_, cz_, cvz_, off_;
  std::vector<std::uint8_t> holding_, moved_, done_;
  std::vector<std::int32_t> t_;
  std::vector<std::uint8_t> bg_;  // [N, S, S, 3] static background per env
};

/// Index of the split named `name`, or -1.
int split_from_name(const char* name);
const char* split_name(Split s);
/// Index of the task named `name` ("pick-place", "slip", "rim"), or -1.
int task_from_name(const char* name);

}  // namespace pickplace
}  // namespace f2g

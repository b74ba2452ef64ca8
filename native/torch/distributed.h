// One process group per process over libtorch's c10d: rendezvous through a
// TCPStore hosted by rank 0, collectives through ProcessGroupGloo (CPU).
// Every collective checks its arguments against the other ranks' first, runs
// with the group's timeout, and on failure names the collective and the
// ranks that did not take part. After a failure the group is broken: every
// later collective fails at once until Destroy() and a new Init().
//
// Calls that talk to other ranks block: run them off the JavaScript thread.
// Collectives of one process run in the order their tickets were taken
// (TakeTicket on the JavaScript thread, Turn on the worker), which keeps the
// order the same on every rank when JavaScript issues several at once.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace f2g {
namespace dist {

/// True when this build links c10d with the Gloo backend.
bool Available();
/// "gloo" (and "nccl" on CUDA builds with NCCL).
std::vector<std::string> Backends();

/// Largest timeout in milliseconds (2^31 − 1, about 24.8 days): a longer one overflows the
/// millisecond and nanosecond counts that the store and Gloo convert it to.
constexpr int64_t kMaxTimeoutMs = 2147483647;

struct InitOptions {
  std::string backend = "gloo";
  int64_t rank = 0, world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  int64_t timeout_ms = 30000;
  /// Whether GradReducer starts each bucket's all-reduce during backward
  /// (false: one blocking all-reduce per bucket after backward).
  bool overlap_gradients = true;
  /// Cap of a gradient bucket after the first (which is at most 1 MiB).
  std::size_t bucket_bytes = 25u << 20;
};

/// Joins the group (blocks until every rank arrived or the timeout passed).
void Init(const InitOptions& o);
/// Leaves the group; a no-op when none.
void Destroy();
bool IsInitialized();
int64_t Rank();
int64_t WorldSize();
/// The group's gradient settings (InitOptions); defaults without a group.
bool OverlapGradients();
std::size_t BucketBytes();
/// Changes the group's overlap setting from the next backward on (throws without a group).
void SetOverlapGradients(bool on);

enum class Op { kSum, kAvg, kMax, kMin, kProduct };

/// In place over `t` (contiguous CPU; float32/64, int8/32/64, uint8; avg: floats only).
void AllReduce(torch::Tensor t, Op op, const char* what = "allReduce");
void Broadcast(torch::Tensor t, int64_t root, const char* what = "broadcast");
/// [world * t.numel()] in rank order.
torch::Tensor AllGather(const torch::Tensor& t, const char* what = "allGather");
void Barrier();

/// Cumulative figures of this process's collectives since Init (for
/// benchmarks and logs): calls, seconds spent waiting on them, bytes passed.
struct Stats {
  double calls = 0, seconds = 0, bytes = 0;
  /// Gradient buckets all-reduced by GradReducer, and how many of them were
  /// launched while backward still ran (the overlapped ones).
  double buckets = 0, buckets_in_backward = 0;
};
Stats GetStats();

/// Ordering of collectives issued from JavaScript (see the header comment).
std::uint64_t TakeTicket();
class Turn {
 public:
  explicit Turn(std::uint64_t ticket);
  ~Turn();
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;

 private:
  std::uint64_t ticket_;
};

// ---- data-parallel training helpers (the group must be initialised) ----

/// Copies rank 0's values into every tensor (flattened into one buffer).
void BroadcastTensors(const std::vector<torch::Tensor>& tensors, const char* what);
/// Sums the gradients of `params` over ranks, blocking, in the buckets a
/// GradReducer over `params` uses (0: the group's bucket size); undefined
/// gradients count as zeros and are defined afterwards.
void AllReduceGradients(const std::vector<torch::Tensor>& params, const char* what,
                        std::size_t bucket_bytes = 0);

/// Sums the gradients of a fixed list of parameters over ranks, starting each
/// bucket's all-reduce while backward still runs, as torch DDP's Reducer does.
/// Buckets are fixed up front: parameters in reverse order (the order backward
/// tends to finish them in), a first bucket of at most 1 MiB, then at most
/// `bucket_bytes` each. A post hook on each parameter's AccumulateGrad node
/// marks its gradient ready; a bucket is copied into a flat buffer and its
/// all-reduce launched (asynchronously) once all its gradients are ready and
/// every earlier bucket has been launched, so every rank launches the same
/// collectives in the same order. The hooks do nothing outside Begin()..Finish().
///
///   reducer.Begin();          // before backward (skip both on a rank with nothing to back-propagate)
///   loss.backward();
///   reducer.Finish();         // launches the rest, waits, writes the sums into .grad
///
/// With the group's overlap off (InitOptions::overlap_gradients), Begin() arms
/// nothing and Finish() runs one blocking all-reduce per bucket.
class GradReducer {
 public:
  /// `bucket_bytes` 0: the group's bucket size (InitOptions::bucket_bytes).
  GradReducer(std::vector<torch::Tensor> params, std::string what, std::size_t bucket_bytes = 0);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  /// Arms the hooks for one backward pass (when the group overlaps).
  void Begin();
  /// Launches every bucket not launched yet (with zeros for gradients backward
  /// did not produce), waits for all of them and copies the sums into .grad;
  /// disarms the hooks. Throws like any collective (naming the collective and
  /// the missing rank); the gradients are then left as they were, un-summed.
  void Finish();
  /// Disarms without finishing (backward threw); launched all-reduces keep
  /// their own buffers.
  void Abandon();
  /// Begin(), then loss.backward() (the buckets start as their gradients
  /// become ready); Abandon() and rethrow when backward throws.
  void Backward(const torch::Tensor& loss);
  /// Number of buckets and the parameters (indices into `params`) of each.
  const std::vector<std::vector<std::size_t>>& Buckets() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};
/// Sums `v` over ranks (float64).
void AllReduceSum(std::vector<double>& v, const char* what);
/// Sizes held by each rank, in rank order.
std::vector<int64_t> GatherSizes(int64_t mine, const char* what);
/// Throws unless every rank holds the same values (a checksum all-gather).
void CheckSameTensors(const std::vector<torch::Tensor>& tensors, const char* what);

/// The members of a global index set [perm] that fall into [lo, lo + n),
/// shifted to local indices (ascending by position in perm).
torch::Tensor LocalShare(const torch::Tensor& global_idx, int64_t lo, int64_t n);

}  // namespace dist
}  // namespace f2g

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
#include <string>
#include <vector>

namespace f2g {
namespace dist {

/// True when this build links c10d with the Gloo backend.
bool Available();
/// "gloo" (and "nccl" on CUDA builds with NCCL).
std::vector<std::string> Backends();

struct InitOptions {
  std::string backend = "gloo";
  int64_t rank = 0, world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  int64_t timeout_ms = 30000;
};

/// Joins the group (blocks until every rank arrived or the timeout passed).
void Init(const InitOptions& o);
/// Leaves the group; a no-op when none.
void Destroy();
bool IsInitialized();
int64_t Rank();
int64_t WorldSize();

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
/// Sums the gradients of `params` over ranks, in buckets of at most
/// `bucket_bytes` (flattened); undefined gradients count as zeros and are
/// defined afterwards.
void AllReduceGradients(const std::vector<torch::Tensor>& params, const char* what,
                        std::size_t bucket_bytes = 25u << 20);
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

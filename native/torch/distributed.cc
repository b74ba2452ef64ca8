#include "torch/distributed.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#ifdef FEAT2GO_HAS_DISTRIBUTED
#include <signal.h>
#include <unistd.h>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace f2g {
namespace dist {

// ---- cancellation ----
namespace {
thread_local const StopFlag* t_stop = nullptr;
}  // namespace
StopScope::StopScope(const StopFlag* stop) : saved_(t_stop) { t_stop = stop; }
StopScope::~StopScope() { t_stop = saved_; }

// ---- ordering of JS-issued calls ----
namespace {
std::mutex g_turn_mu;
std::condition_variable g_turn_cv;
std::uint64_t g_next_ticket = 0, g_serving = 0;
}  // namespace

std::uint64_t TakeTicket() {
  std::lock_guard<std::mutex> l(g_turn_mu);
  return g_next_ticket++;
}
Turn::Turn(std::uint64_t ticket) : ticket_(ticket) {
  std::unique_lock<std::mutex> l(g_turn_mu);
  g_turn_cv.wait(l, [&] { return g_serving == ticket_; });
}
Turn::~Turn() {
  {
    std::lock_guard<std::mutex> l(g_turn_mu);
    g_serving = ticket_ + 1;
  }
  g_turn_cv.notify_all();
}

torch::Tensor LocalShare(const torch::Tensor& global_idx, int64_t lo, int64_t n) {
  torch::Tensor g = global_idx.to(torch::kLong);
  torch::Tensor in = (g >= lo).logical_and(g < lo + n);
  return g.masked_select(in) - lo;
}

namespace {
// Gradient buckets: parameters in reverse order, the first bucket at most
// min(1 MiB, cap), the others at most `cap` bytes (a larger parameter alone).
std::vector<std::vector<std::size_t>> LayOut(const std::vector<torch::Tensor>& params, std::size_t cap) {
  const std::size_t first = std::min<std::size_t>(cap, std::size_t{1} << 20);
  std::vector<std::vector<std::size_t>> out;
  std::size_t bytes = 0;
  for (std::size_t k = params.size(); k-- > 0;) {
    const std::size_t b = static_cast<std::size_t>(params[k].numel()) * params[k].element_size();
    if (out.empty() || bytes + b > (out.size() == 1 ? first : cap)) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(k);
    bytes += b;
  }
  return out;
}
}  // namespace

namespace {
std::mutex g_stats_mu;
Stats g_stats;
[[maybe_unused]] void AddStats(double seconds, double bytes) {
  std::lock_guard<std::mutex> l(g_stats_mu);
  g_stats.calls += 1;
  g_stats.seconds += seconds;
  g_stats.bytes += bytes;
}
[[maybe_unused]] void AddBucketStats(bool in_backward) {
  std::lock_guard<std::mutex> l(g_stats_mu);
  g_stats.buckets += 1;
  if (in_backward) g_stats.buckets_in_backward += 1;
}
}  // namespace

Stats GetStats() {
  std::lock_guard<std::mutex> l(g_stats_mu);
  return g_stats;
}

#ifndef FEAT2GO_HAS_DISTRIBUTED

static const char* kNoDist =
    "feat2go was built without c10d distributed support (capabilities().distributed is false): "
    "it needs libtorch with c10d/Gloo (Debian: apt-get install libtorch-dev libgloo-dev) and a rebuild "
    "(npm run build:native)";
bool Available() { return false; }
std::vector<std::string> Backends() { return {}; }
void Init(const InitOptions&) { throw std::runtime_error(kNoDist); }
void Destroy() {}
bool IsInitialized() { return false; }
int64_t Rank() { return 0; }
int64_t WorldSize() { return 1; }
void AllReduce(torch::Tensor, Op, const char*) { throw std::runtime_error(kNoDist); }
void Broadcast(torch::Tensor, int64_t, const char*) { throw std::runtime_error(kNoDist); }
torch::Tensor AllGather(const torch::Tensor&, const char*) { throw std::runtime_error(kNoDist); }
void Barrier() { throw std::runtime_error(kNoDist); }
void BroadcastTensors(const std::vector<torch::Tensor>&, const char*) { throw std::runtime_error(kNoDist); }
void AllReduceGradients(const std::vector<torch::Tensor>&, const char*, std::size_t) {
  throw std::runtime_error(kNoDist);
}
bool OverlapGradients() { return true; }
std::size_t BucketBytes() { return 25u << 20; }
void SetOverlapGradients(bool) { throw std::runtime_error(kNoDist); }
struct GradReducer::Impl {
  std::vector<std::vector<std::size_t>> buckets;
};
GradReducer::GradReducer(std::vector<torch::Tensor> params, std::string, std::size_t bucket_bytes)
    : impl_(std::make_shared<Impl>()) {
  impl_->buckets = LayOut(params, bucket_bytes ? bucket_bytes : BucketBytes());
}
GradReducer::~GradReducer() = default;
void GradReducer::Begin() { throw std::runtime_error(kNoDist); }
void GradReducer::Finish() { throw std::runtime_error(kNoDist); }
void GradReducer::Abandon() {}
void GradReducer::Backward(const torch::Tensor&) { throw std::runtime_error(kNoDist); }
const std::vector<std::vector<std::size_t>>& GradReducer::Buckets() const { return impl_->buckets; }
void AllReduceSum(std::vector<double>&, const char*) { throw std::runtime_error(kNoDist); }
std::vector<int64_t> GatherSizes(int64_t, const char*) { throw std::runtime_error(kNoDist); }
void CheckSameTensors(const std::vector<torch::Tensor>&, const char*) { throw std::runtime_error(kNoDist); }
void StopPoint(const StopFlag* stop, const char* what, bool) { ThrowIfStopped(stop, what); }

#else

namespace {

struct State {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int64_t rank = 0, world = 1;
  std::string addr;
  int64_t port = 0;
  std::chrono::milliseconds timeout{30000};
  std::string host;
  std::uint64_t seq = 0;
  std::string broken;  // non-empty after a failed collective
  bool overlap = true;
  std::size_t bucket_bytes = 25u << 20;
};

// Leaked on purpose at exit: tearing down Gloo's threads from a static
// destructor while peers may still talk to them is not safe.
std::mutex g_mu;
State* g_state = nullptr;

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }
std::string Str(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }
std::string WhoKey(int64_t r) { return "f2g/who/" + std::to_string(r); }
std::string SeqKey(int64_t r) { return "f2g/seq/" + std::to_string(r); }
// Set by a rank that cancelled its call: the number of the collective it was at.
std::string CancelKey(int64_t r) { return "f2g/cancelled/" + std::to_string(r); }
// Why a rank refused to join (see Init), and each rank's note that it has read it.
const char* kRefusedKey = "f2g/refused";
std::string SeenKey(int64_t r) { return "f2g/refused_seen/" + std::to_string(r); }
// Most ranks rank 0 looks for when it lingers to pass on a refusal.
constexpr int64_t kMaxRendezvousScan = 4096;

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

State& Require(const char* what) {
  std::lock_guard<std::mutex> l(g_mu);
  if (!g_state)
    throw std::runtime_error(std::string(what) + ": no process group; call initDistributed() first");
  return *g_state;
}

std::string Ranks(const std::vector<int64_t>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i)
    s += (i ? (i + 1 == v.size() ? " and " : ", ") : "") + std::to_string(v[i]);
  return s;
}

std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "…" : line;
}

// A process that no longer runs: absent, or a zombie its parent has not reaped yet.
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f) return false;
  char buf[512] = {0};
  const std::size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  const char* close = std::strrchr(buf, ')');  // the state follows the parenthesised command name
  return n > 0 && close && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

// Names the ranks that did not take part in collective #s.seq: those whose
// last collective is an earlier one, those whose process is gone (same host),
// or rank 0 when the store it hosts no longer answers.
std::string Diagnose(State& s, std::uint64_t seq_now) {
  std::vector<std::string> parts;
  for (int64_t r = 0; r < s.world; ++r) {
    if (r == s.rank) continue;
    try {
      if (s.store->check({CancelKey(r)})) {
        parts.push_back(
            "rank " + std::to_string(r) +
            " cancelled its call (an AbortSignal, or its process or worker ending) at collective #" +
            Str(s.store->get(CancelKey(r))));
        continue;
      }
      if (!s.store->check({SeqKey(r)})) {
        parts.push_back("rank " + std::to_string(r) + " never reached a collective");
        continue;
      }
      const std::uint64_t seq = std::stoull(Str(s.store->get(SeqKey(r))));
      const std::string who = Str(s.store->get(WhoKey(r)));
      const auto at = who.find('@');
      if (at != std::string::npos && who.substr(at + 1) == s.host) {
        const long pid = std::stol(who.substr(0, at));
        if (pid > 0 && ProcessGone(static_cast<pid_t>(pid))) {
          parts.push_back("rank " + std::to_string(r) + " (process " + std::to_string(pid) +
                          ") exited after collective #" + std::to_string(seq));
          continue;
        }
      }
      if (seq < seq_now)
        parts.push_back("rank " + std::to_string(r) + " did not reach it (its last collective is #" +
                        std::to_string(seq) + ", this one is #" + std::to_string(seq_now) + ")");
    } catch (const std::exception&) {
      if (s.rank != 0) {
        parts.push_back("rank 0 (which hosts the rendezvous store at " + s.addr + ":" +
                        std::to_string(s.port) + ") is unreachable");
        break;
      }
    }
  }
  if (parts.empty()) return "no rank could be named as missing";
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out;
}

// Starts one collective: announces its number in the store and issues it;
// returns the Work (which holds its tensors until Gloo is done with them) and
// the collective's number. Throws when the group is broken, the store is
// gone or the collective could not be issued (the group is then broken).
template <class F>
c10::intrusive_ptr<c10d::Work> Launch(State& s, const char* what, F&& issue, std::uint64_t* number) {
  if (!s.broken.empty())
    throw std::runtime_error(std::string(what) + ": the process group is broken by an earlier failure (" +
                             s.broken + "); call destroyDistributed() and initDistributed() again");
  ++s.seq;
  *number = s.seq;
  // Test hook: FEAT2GO_DIST_FAULT_AT=N makes this process's N-th collective
  // fail before it starts, as if its link broke (fault-handling tests).
  static const unsigned long long fault_at = [] {
    const char* e = std::getenv("FEAT2GO_DIST_FAULT_AT");
    return e ? std::strtoull(e, nullptr, 10) : 0ULL;
  }();
  if (fault_at != 0 && s.seq == fault_at) {
    s.broken = std::string(what) + " failed (injected)";
    throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(s.rank) +
                             ": injected fault (FEAT2GO_DIST_FAULT_AT=" + std::to_string(fault_at) + ")");
  }
  try {
    s.store->set(SeqKey(s.rank), Bytes(std::to_string(s.seq)));
  } catch (const std::exception& e) {
    s.broken = std::string(what) + " could not reach the rendezvous store";
    throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(s.rank) +
                             ": rank 0 (which hosts the rendezvous store at " + s.addr + ":" +
                             std::to_string(s.port) + ") is unreachable. Cause: " + FirstLine(e.what()));
  }
  try {
    return issue(*s.pg);
  } catch (const std::exception& e) {
    const std::string who = Diagnose(s, *number);
    s.broken = std::string(what) + " failed";
    std::ostringstream m;
    m << what << " failed on rank " << s.rank << " of " << s.world << " (timeout " << s.timeout.count()
      << " ms): " << who << ". Cause: " << FirstLine(e.what());
    throw std::runtime_error(m.str());
  }
}

// Records that this rank cancelled at collective #number (for the other
// ranks' Diagnose and PeerCancelled) and breaks the group. Best effort: the
// store may be gone already.
void MarkCancelled(State& s, const std::string& what, std::uint64_t number) {
  s.broken = what + " was cancelled";
  try {
    s.store->set(CancelKey(s.rank), Bytes(std::to_string(number)));
  } catch (const std::exception&) {}
}

// Whether another rank recorded a cancellation (checked while waiting).
bool PeerCancelled(State& s) {
  for (int64_t r = 0; r < s.world; ++r) {
    if (r == s.rank) continue;
    try {
      if (s.store->check({CancelKey(r)})) return true;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

[[noreturn]] void ThrowCancelled(State& s, const char* what, std::uint64_t number) {
  MarkCancelled(s, what, number);
  throw Cancelled(std::string(what) + " was cancelled on rank " + std::to_string(s.rank) + " of " +
                  std::to_string(s.world) + " (collective #" + std::to_string(number) +
                  "); the process group is broken: call destroyDistributed() and initDistributed() again");
}

[[noreturn]] void ThrowFailed(State& s, const char* what, std::uint64_t number, const std::string& cause) {
  const std::string who = Diagnose(s, number);
  s.broken = std::string(what) + " failed";
  std::ostringstream m;
  m << what << " failed on rank " << s.rank << " of " << s.world << " (timeout " << s.timeout.count()
    << " ms): " << who << ". Cause: " << FirstLine(cause);
  throw std::runtime_error(m.str());
}

// Waits for collective #number (the group's timeout bounds it inside Gloo)
// and turns a failure into a message that names the missing ranks. With a
// stop flag on this thread (StopScope) the wait is cut into 100 ms slices:
// this rank's cancellation ends it, and so (within about a second) does a
// cancellation recorded by another rank.
void Wait(State& s, const char* what, c10d::Work& work, std::uint64_t number, double bytes) {
  // Test hook: FEAT2GO_DIST_WAIT_SLICE_MS=N cuts the wait into N ms slices instead of 100, so
  // a test can make completions land at the end of a slice often (see the catch below).
  static const long slice_ms = [] {
    const char* e = std::getenv("FEAT2GO_DIST_WAIT_SLICE_MS");
    const long v = e ? std::strtol(e, nullptr, 10) : 0;
    return v > 0 ? v : 100L;
  }();
  const long slices_per_check = std::max(1L, 1000L / slice_ms);  // peers' cancellations: about once a second
  enum class End { kDone, kStopped, kPeerCancelled } end = End::kDone;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    if (t_stop == nullptr) {
      work.wait();
    } else {
      for (long slice = 1;; ++slice) {
        if (StopRequested(t_stop)) {
          end = End::kStopped;
          break;
        }
        try {
          work.wait(std::chrono::milliseconds(slice_ms));
          break;
        } catch (const std::exception&) {
          // The slice ran out, or the collective failed. It may also have completed, and
          // succeeded, between the slice running out and this check (a CI run once failed a
          // rank with the slice's own "Operation timed out!" while its peer had gone on), so
          // a completed Work is asked again without a time limit: that returns at once and
          // throws only the collective's own failure.
          if (work.isCompleted()) {
            work.wait();
            break;
          }
        }
        if (slice % slices_per_check == 0 && PeerCancelled(s)) {
          end = End::kPeerCancelled;
          break;
        }
      }
    }
  } catch (const std::exception& e) {
    ThrowFailed(s, what, number, e.what());
  }
  if (end == End::kStopped) ThrowCancelled(s, what, number);
  if (end == End::kPeerCancelled) ThrowFailed(s, what, number, "another rank cancelled its call");
  AddStats(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), bytes);
}

// Runs one collective to completion.
template <class F>
void Run(const char* what, F&& issue, double bytes = 0) {
  State& s = Require(what);
  std::uint64_t number = 0;
  c10::intrusive_ptr<c10d::Work> work = Launch(s, what, std::forward<F>(issue), &number);
  Wait(s, what, *work, number, bytes);
}

c10d::ReduceOp ToC10d(Op op) {
  switch (op) {
    case Op::kMax:
      return c10d::ReduceOp::MAX;
    case Op::kMin:
      return c10d::ReduceOp::MIN;
    case Op::kProduct:
      return c10d::ReduceOp::PRODUCT;
    default:
      return c10d::ReduceOp::SUM;
  }
}

void RawAllReduce(torch::Tensor t, c10d::ReduceOp op, const char* what) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = op;
  Run(
      what, [&](c10d::ProcessGroup& pg) { return pg.allreduce(v, o); }, static_cast<double>(t.nbytes()));
}

torch::Tensor RawAllGather(const torch::Tensor& t, const char* what, int64_t world) {
  std::vector<at::Tensor> in{t};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int64_t r = 0; r < world; ++r) out[0].push_back(torch::empty_like(t));
  Run(
      what, [&](c10d::ProcessGroup& pg) { return pg.allgather(out, in); }, static_cast<double>(t.nbytes()));
  return torch::cat(out[0]);
}

const char* TypeName(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "Float32";
    case torch::kFloat64:
      return "Float64";
    case torch::kInt32:
      return "Int32";
    case torch::kInt64:
      return "BigInt64";
    case torch::kInt8:
      return "Int8";
    case torch::kUInt8:
      return "Uint8";
    default:
      return "other";
  }
}

// Which collective a rank called, for Agree: ranks that call different ones
// (allReduce against broadcast) would otherwise pair their messages up and
// wait out the timeout, or read each other's bytes as the wrong thing.
enum class Kind : int64_t { kAllReduce = 1, kBroadcast, kAllGather, kBroadcastTensors };

const char* kOpNames[] = {"sum", "avg", "max", "min", "product"};

std::string CallName(int64_t kind, int64_t extra) {
  switch (static_cast<Kind>(kind)) {
    case Kind::kAllReduce:
      return std::string("allReduce with op '") + (extra >= 0 && extra < 5 ? kOpNames[extra] : "?") + "'";
    case Kind::kBroadcast:
      return "broadcast from root " + std::to_string(extra);
    case Kind::kAllGather:
      return "allGather";
    case Kind::kBroadcastTensors:
      return "a parameter broadcast";
    default:
      return "an unknown collective";
  }
}

// Every rank must call the same collective (kind, reduce op or root) with the
// same element type and count; a mismatch is reported with each rank's call
// instead of letting Gloo pair unlike messages or read past a buffer.
void Agree(const torch::Tensor& t, Kind kind, int64_t extra, const char* what) {
  State& s = Require(what);
  torch::Tensor mine = torch::tensor(
      {t.numel(), static_cast<int64_t>(t.scalar_type()), static_cast<int64_t>(kind), extra}, torch::kLong);
  torch::Tensor all = RawAllGather(mine, what, s.world).view({s.world, 4});
  auto a = all.accessor<int64_t, 2>();
  bool same = true;
  for (int64_t r = 1; r < s.world; ++r)
    for (int k = 0; k < 4; ++k) same = same && a[r][k] == a[0][k];
  if (same) return;
  bool calls_differ = false;
  for (int64_t r = 1; r < s.world; ++r)
    calls_differ = calls_differ || a[r][2] != a[0][2] || a[r][3] != a[0][3];
  std::ostringstream m;
  m << what << ": the ranks disagree on " << (calls_differ ? "the collective" : "their arguments") << ":";
  for (int64_t r = 0; r < s.world; ++r)
    m << (r ? "," : "") << " rank " << r << " called " << CallName(a[r][2], a[r][3]) << " on a "
      << TypeName(static_cast<c10::ScalarType>(a[r][1])) << "Array(" << a[r][0] << ")";
  throw std::invalid_argument(m.str());
}

void CheckTensor(const torch::Tensor& t, const char* what) {
  if (!t.is_contiguous() || t.device().type() != torch::kCPU)
    throw std::invalid_argument(std::string(what) + ": expected a contiguous CPU tensor");
}

}  // namespace

void StopPoint(const StopFlag* stop, const char* what, bool distributed) {
  if (!StopRequested(stop)) return;
  if (distributed) {
    std::lock_guard<std::mutex> l(g_mu);
    if (g_state) MarkCancelled(*g_state, what, g_state->seq);
  }
  throw Cancelled(std::string(what) + " was cancelled");
}

bool Available() { return true; }
std::vector<std::string> Backends() { return {"gloo"}; }

void Init(const InitOptions& o) {
  {
    std::lock_guard<std::mutex> l(g_mu);
    if (g_state)
      throw std::runtime_error(
          "initDistributed: a process group is already initialised; call destroyDistributed() first");
  }
  if (o.backend == "nccl")
    throw std::invalid_argument(
        "initDistributed: backend 'nccl' needs a CUDA build of libtorch with NCCL; this build of feat2go has 'gloo' only");
  if (o.backend != "gloo")
    throw std::invalid_argument("initDistributed: expected backend 'gloo' or 'nccl' but received '" +
                                o.backend + "'");
  if (o.timeout_ms < 1 || o.timeout_ms > kMaxTimeoutMs)
    throw std::invalid_argument("initDistributed: expected timeoutMs in [1, " +
                                std::to_string(kMaxTimeoutMs) + "] (about 24.8 days) but received " +
                                std::to_string(o.timeout_ms));
  // One deadline for the whole rendezvous, counted from this call.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  auto s = std::make_unique<State>();
  s->rank = o.rank;
  s->world = o.world_size;
  s->addr = o.master_addr;
  s->port = o.master_port;
  s->timeout = std::chrono::milliseconds(o.timeout_ms);
  s->host = HostName();
  s->overlap = o.overlap_gradients;
  s->bucket_bytes = std::max<std::size_t>(o.bucket_bytes, 4);
  {
    std::lock_guard<std::mutex> l(g_stats_mu);
    g_stats = Stats();
  }
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.isServer = o.rank == 0;
  so.numWorkers = c10::nullopt;
  so.waitWorkers = false;
  so.timeout = s->timeout;
  try {
    s->store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    if (o.rank == 0)
      throw std::runtime_error(
          "initDistributed: rank 0 could not open the rendezvous store on " + where +
          " (is the port in use? choose another masterPort). Cause: " + FirstLine(e.what()));
    throw std::runtime_error(
        "initDistributed: rank " + std::to_string(o.rank) + " could not reach the rendezvous store on " +
        where + " within " + std::to_string(o.timeout_ms) +
        " ms (rank 0 hosts it: did it start, with the same masterAddr/masterPort?). Cause: " +
        FirstLine(e.what()));
  }
  // A rank that cannot join (a setting that disagrees with another rank's, a rank number
  // taken twice) says why on the store before it throws, and every rank still waiting in
  // the rendezvous fails with that reason at once instead of waiting out the timeout.
  const std::string ws = std::to_string(o.world_size);
  int64_t scan_limit = o.world_size;  // ranks that may have joined (the largest worldSize seen)
  // Rank 0 hosts the store: before it throws (and the store closes), it waits until every
  // other rank of the largest worldSize seen has read the reason, or 2 s — not only the
  // ranks that registered: a rank still connecting (a slow start) must find the store.
  auto refuse = [&](const std::string& why, bool post = true) {
    try {
      if (post) s->store->set(kRefusedKey, Bytes(why));
      if (o.rank == 0) {
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2));
        std::vector<int64_t> everyone;
        for (int64_t r = 1; r < std::min(scan_limit, kMaxRendezvousScan); ++r) everyone.push_back(r);
        for (std::vector<int64_t> waiting = everyone;
             !waiting.empty() && std::chrono::steady_clock::now() < until;) {
          std::vector<int64_t> still;
          for (int64_t r : waiting)
            if (!s->store->check({SeenKey(r)})) still.push_back(r);
          waiting.swap(still);
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
    } catch (const std::exception&) {
      // the store is gone: nobody is left to tell
    }
    throw std::runtime_error(why);
  };
  // What every rank must agree on: the first rank to arrive sets it, the others compare.
  auto agree = [&](const char* key, const std::string& mine, const std::string& what,
                   const std::string& option) {
    const std::string tagged = mine + "@" + std::to_string(o.rank);
    const std::string first = Str(s->store->compareSet(key, {}, Bytes(tagged)));
    if (first == tagged) return;
    const std::size_t at = first.rfind('@');
    const std::string theirs = first.substr(0, at),
                      who = at == std::string::npos ? "?" : first.substr(at + 1);
    if (theirs == mine) return;
    if (std::string(key) == "f2g/world")
      scan_limit = std::max<int64_t>(scan_limit, std::atoll(theirs.c_str()));
    refuse("initDistributed: the ranks disagree on " + what + ": rank " + std::to_string(o.rank) + " has " +
           mine + " but rank " + who + " has " + theirs + " (every rank must be given the same " + option +
           ")");
  };
  agree("f2g/world", ws, "worldSize", "worldSize");
  // Gradient buckets must be laid out alike on every rank (their all-reduces pair up).
  agree("f2g/bucket_bytes", std::to_string(s->bucket_bytes) + " bytes", "the gradient bucket size",
        "gradientBucketMiB");
  const std::string me = std::to_string(getpid()) + "@" + s->host;
  const std::string got = Str(s->store->compareSet(WhoKey(o.rank), {}, Bytes(me)));
  if (got != me)
    refuse("initDistributed: rank " + std::to_string(o.rank) + " is already taken by process " + got +
           " (two processes were given the same rank)");
  s->store->set(SeqKey(o.rank), Bytes("0"));
  // Wait for every rank to register, naming the ones that never came.
  std::vector<std::string> keys;
  for (int64_t r = 0; r < o.world_size; ++r) keys.push_back(WhoKey(r));
  auto scan = [&] {
    std::vector<int64_t> missing;
    for (int64_t r = 0; r < o.world_size; ++r)
      if (!s->store->check({WhoKey(r)})) missing.push_back(r);
    return missing;
  };
  std::vector<int64_t> missing;  // as last seen
  auto last_scan = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    bool all = false, late = false;
    std::string refused;
    try {
      if (s->store->check({kRefusedKey})) {
        refused = Str(s->store->get(kRefusedKey));
        s->store->set(SeenKey(o.rank), Bytes("1"));
      } else {
        all = s->store->check(keys);
        late = !all && now >= deadline;
        if (late || (!all && now - last_scan > std::chrono::milliseconds(250))) {
          missing = scan();
          last_scan = now;
        }
      }
    } catch (const std::exception& e) {
      // The store went away: rank 0 gave up (its timeout passed first) or exited.
      throw std::runtime_error(
          "initDistributed: rank " + std::to_string(o.rank) + " lost the rendezvous store on " + where +
          " while waiting for " +
          (missing.empty() ? std::string("the other ranks")
                           : "rank" + std::string(missing.size() > 1 ? "s " : " ") + Ranks(missing)) +
          " to join (rank 0 gives up after timeoutMs " + std::to_string(o.timeout_ms) +
          ", or it exited). Cause: " + FirstLine(e.what()));
    }
    if (!refused.empty()) refuse(refused, false);
    if (all) break;
    if (StopRequested(t_stop))
      throw Cancelled("initDistributed was cancelled on rank " + std::to_string(o.rank) +
                      " while waiting for the other ranks to join");
    if (late)
      throw std::runtime_error("initDistributed: rank" + std::string(missing.size() > 1 ? "s " : " ") +
                               Ranks(missing) + " did not join within " + std::to_string(o.timeout_ms) +
                               " ms (worldSize " + ws + ", rendezvous store " + where + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto opts = c10d::ProcessGroupGloo::Options::create(s->timeout);
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  const bool loopback = o.master_addr.rfind("127.", 0) == 0 || o.master_addr == "localhost";
  try {
    if (ifname && *ifname) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (loopback) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    s->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("f2g/pg", s->store), static_cast<int>(o.rank),
        static_cast<int>(o.world_size), opts);
  } catch (const std::exception& e) {
    throw std::runtime_error("initDistributed: the Gloo process group could not connect rank " +
                             std::to_string(o.rank) + " to its peers within " + std::to_string(o.timeout_ms) +
                             " ms. Cause: " + FirstLine(e.what()));
  }
  std::lock_guard<std::mutex> l(g_mu);
  g_state = s.release();
}

void Destroy() {
  State* s;
  {
    std::lock_guard<std::mutex> l(g_mu);
    s = g_state;
    g_state = nullptr;
  }
  delete s;
}

bool IsInitialized() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_state != nullptr;
}
int64_t Rank() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_state ? g_state->rank : 0;
}
int64_t WorldSize() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_state ? g_state->world : 1;
}
bool OverlapGradients() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_state ? g_state->overlap : true;
}
std::size_t BucketBytes() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_state ? g_state->bucket_bytes : std::size_t{25} << 20;
}
void SetOverlapGradients(bool on) {
  std::lock_guard<std::mutex> l(g_mu);
  if (!g_state)
    throw std::runtime_error("setGradientOverlap: no process group; call initDistributed() first");
  g_state->overlap = on;
}

void AllReduce(torch::Tensor t, Op op, const char* what) {
  CheckTensor(t, what);
  const bool floating = t.is_floating_point();
  if (op == Op::kAvg && !floating)
    throw std::invalid_argument(std::string(what) +
                                ": op 'avg' needs a Float32Array or Float64Array but received a " +
                                TypeName(t.scalar_type()) + "Array");
  Agree(t, Kind::kAllReduce, static_cast<int64_t>(op), what);
  RawAllReduce(t, ToC10d(op), what);
  if (op == Op::kAvg) t.div_(static_cast<double>(WorldSize()));
}

void Broadcast(torch::Tensor t, int64_t root, const char* what) {
  CheckTensor(t, what);
  State& s = Require(what);
  if (root < 0 || root >= s.world)
    throw std::out_of_range(std::string(what) + ": expected root in [0, " + std::to_string(s.world - 1) +
                            "] but received " + std::to_string(root));
  Agree(t, Kind::kBroadcast, root, what);
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  Run(
      what, [&](c10d::ProcessGroup& pg) { return pg.broadcast(v, o); }, static_cast<double>(t.nbytes()));
}

torch::Tensor AllGather(const torch::Tensor& t, const char* what) {
  CheckTensor(t, what);
  State& s = Require(what);
  Agree(t, Kind::kAllGather, 0, what);
  return RawAllGather(t, what, s.world);
}

void Barrier() {
  Run("barrier", [&](c10d::ProcessGroup& pg) { return pg.barrier(); });
}

void BroadcastTensors(const std::vector<torch::Tensor>& tensors, const char* what) {
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> flat;
  for (const auto& t : tensors) flat.push_back(t.detach().reshape({-1}).to(torch::kFloat32));
  torch::Tensor buf = flat.empty() ? torch::zeros({0}) : torch::cat(flat);
  Agree(buf, Kind::kBroadcastTensors, 0, what);
  std::vector<at::Tensor> v{buf};
  c10d::BroadcastOptions o;
  o.rootRank = 0;
  Run(what, [&](c10d::ProcessGroup& pg) { return pg.broadcast(v, o); });
  int64_t off = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.detach().copy_(buf.slice(0, off, off + n).view(t.sizes()));
    off += n;
  }
}

struct GradReducer::Impl {
  std::vector<torch::Tensor> params;
  std::string what;
  std::vector<std::vector<std::size_t>> buckets;
  std::vector<std::size_t> bucket_of;
  // Hooks, added by the first Begin() with overlap on; removed by the destructor.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<std::uintptr_t> hook_keys;
  bool hooked = false;
  // One backward pass (guarded by mu: the hooks run on the autograd engine's thread).
  std::mutex mu;
  bool armed = false;
  std::vector<char> ready;
  std::vector<std::size_t> missing;  // per bucket: gradients not ready yet
  std::size_t next = 0;              // the first bucket not launched
  struct Launched {
    torch::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;
    std::uint64_t number = 0;
  };
  std::vector<Launched> launched;
  std::exception_ptr error;  // a launch failed: nothing later is launched

  void Reset() {
    armed = false;
    ready.assign(params.size(), 0);
    missing.clear();
    for (const auto& b : buckets) missing.push_back(b.size());
    next = 0;
    launched.clear();
    error = nullptr;
  }

  // Copies bucket b's gradients (zeros where undefined) into a new flat buffer
  // and starts its all-reduce. The buffer belongs to the Work too, so an
  // abandoned all-reduce never writes into memory that was freed or reused.
  Launched LaunchBucket(std::size_t b) {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> views;
    for (std::size_t k : buckets[b]) {
      const torch::Tensor& p = params[k];
      const torch::Tensor g = p.grad();
      views.push_back(g.defined() ? g.reshape({-1}) : torch::zeros({p.numel()}, p.options()));
    }
    Launched x;
    x.flat = torch::cat(views);
    std::vector<at::Tensor> v{x.flat};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    State& s = Require(what.c_str());
    x.work = Launch(
        s, what.c_str(), [&](c10d::ProcessGroup& pg) { return pg.allreduce(v, o); }, &x.number);
    return x;
  }

  // Launches the complete buckets at the head of the order (never throws:
  // it runs inside backward; a failure is reported by Finish()).
  void LaunchReady(bool in_backward) {
    while (!error && next < buckets.size() && missing[next] == 0) {
      try {
        launched.push_back(LaunchBucket(next));
        AddBucketStats(in_backward);
        ++next;
      } catch (...) {
        error = std::current_exception();
      }
    }
  }

  void Ready(std::size_t i) {
    std::lock_guard<std::mutex> l(mu);
    if (!armed || ready[i]) return;
    ready[i] = 1;
    --missing[bucket_of[i]];
    LaunchReady(true);
  }

  void WaitFor(const Launched& x) {
    Wait(Require(what.c_str()), what.c_str(), *x.work, x.number, static_cast<double>(x.flat.nbytes()));
  }

  // Writes bucket b's sums into the parameters' .grad (defining missing ones).
  void CopyBack(std::size_t b, const torch::Tensor& flat) {
    torch::NoGradGuard ng;
    int64_t off = 0;
    for (std::size_t k : buckets[b]) {
      torch::Tensor p = params[k];
      const int64_t n = p.numel();
      torch::Tensor sum = flat.slice(0, off, off + n).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.clone();
      off += n;
    }
  }
};

GradReducer::GradReducer(std::vector<torch::Tensor> params, std::string what, std::size_t bucket_bytes)
    : impl_(std::make_shared<Impl>()) {
  Impl& m = *impl_;
  m.params = std::move(params);
  m.what = std::move(what);
  m.buckets = LayOut(m.params, bucket_bytes ? bucket_bytes : BucketBytes());
  m.bucket_of.assign(m.params.size(), 0);
  for (std::size_t b = 0; b < m.buckets.size(); ++b)
    for (std::size_t k : m.buckets[b]) m.bucket_of[k] = b;
  m.Reset();
}

GradReducer::~GradReducer() {
  Impl& m = *impl_;
  for (std::size_t i = 0; i < m.accumulators.size(); ++i)
    if (m.accumulators[i]) m.accumulators[i]->del_post_hook(m.hook_keys[i]);
}

void GradReducer::Begin() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.mu);
  m.Reset();
  if (!OverlapGradients()) return;
  if (!m.hooked) {
    // The reducer holds each AccumulateGrad node, so every graph built on
    // these parameters reaches the same node (and its hook).
    const std::weak_ptr<Impl> self = impl_;
    for (std::size_t i = 0; i < m.params.size(); ++i) {
      const torch::Tensor& p = m.params[i];
      std::shared_ptr<torch::autograd::Node> acc;
      std::uintptr_t key = 0;
      if (p.requires_grad() && p.is_leaf()) acc = torch::autograd::impl::grad_accumulator(p);
      if (acc)
        key = acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [self, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
              if (auto im = self.lock()) im->Ready(i);
              return outputs;
            }));
      m.accumulators.push_back(std::move(acc));
      m.hook_keys.push_back(key);
    }
    m.hooked = true;
  }
  m.armed = true;
}

void GradReducer::Finish() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.mu);
  const bool overlapped = m.armed;
  m.armed = false;
  struct Clear {
    Impl& m;
    ~Clear() { m.Reset(); }
  } clear{m};
  if (!overlapped) {
    // One blocking all-reduce per bucket, in order.
    m.Reset();
    for (std::size_t b = 0; b < m.buckets.size(); ++b) {
      Impl::Launched x = m.LaunchBucket(b);
      AddBucketStats(false);
      m.WaitFor(x);
      m.launched.push_back(std::move(x));
    }
  } else {
    // Buckets backward did not complete (unused parameters, or none at all).
    for (auto& n : m.missing) n = 0;
    m.LaunchReady(false);
    // Earlier collectives' failures first: they are the ones the ranks disagree on.
    for (const auto& x : m.launched) m.WaitFor(x);
    if (m.error) std::rethrow_exception(m.error);
  }
  for (std::size_t b = 0; b < m.buckets.size(); ++b) m.CopyBack(b, m.launched[b].flat);
}

void GradReducer::Abandon() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> l(m.mu);
  m.Reset();
}

void GradReducer::Backward(const torch::Tensor& loss) {
  Begin();
  try {
    loss.backward();
  } catch (...) {
    Abandon();
    throw;
  }
}

const std::vector<std::vector<std::size_t>>& GradReducer::Buckets() const { return impl_->buckets; }

void AllReduceGradients(const std::vector<torch::Tensor>& params, const char* what,
                        std::size_t bucket_bytes) {
  GradReducer(params, what, bucket_bytes).Finish();
}

void AllReduceSum(std::vector<double>& v, const char* what) {
  if (v.empty()) return;
  torch::Tensor t = torch::from_blob(v.data(), {static_cast<int64_t>(v.size())}, torch::kFloat64).clone();
  RawAllReduce(t, c10d::ReduceOp::SUM, what);
  std::memcpy(v.data(), t.data_ptr<double>(), v.size() * sizeof(double));
}

std::vector<int64_t> GatherSizes(int64_t mine, const char* what) {
  State& s = Require(what);
  torch::Tensor all = RawAllGather(torch::tensor({mine}, torch::kLong), what, s.world);
  std::vector<int64_t> out(static_cast<std::size_t>(s.world));
  for (int64_t r = 0; r < s.world; ++r) out[static_cast<std::size_t>(r)] = all[r].item<int64_t>();
  return out;
}

void CheckSameTensors(const std::vector<torch::Tensor>& tensors, const char* what) {
  torch::NoGradGuard ng;
  State& s = Require(what);
  // FNV-1a over the bytes of every tensor.
  std::uint64_t h = 1469598103934665603ULL;
  for (const auto& t : tensors) {
    torch::Tensor c = t.detach().contiguous();
    const auto* p = static_cast<const unsigned char*>(c.data_ptr());
    for (std::size_t k = 0; k < static_cast<std::size_t>(c.nbytes()); ++k) h = (h ^ p[k]) * 1099511628211ULL;
  }
  int64_t v;
  std::memcpy(&v, &h, sizeof(v));
  torch::Tensor all = RawAllGather(torch::tensor({v}, torch::kLong), what, s.world);
  for (int64_t r = 1; r < s.world; ++r)
    if (all[r].item<int64_t>() != all[0].item<int64_t>())
      throw std::runtime_error(std::string(what) + ": rank " + std::to_string(r) +
                               "'s parameters differ from rank 0's");
}

#endif  // FEAT2GO_HAS_DISTRIBUTED

}  // namespace dist
}  // namespace f2g

// Cooperative cancellation of long calls. A call's stop flag is set from
// another thread (an AbortSignal, the process exiting, a worker_thread being
// terminated) and polled by the call's loops between units of work (an
// optimizer step, an episode, a slice of a collective's wait). Plain C++:
// kernels, the libtorch code and ctest use it without N-API.
#pragma once
#include <atomic>
#include <stdexcept>
#include <string>

namespace f2g {

/// Set (to true) once; read with relaxed loads by the loops.
using StopFlag = std::atomic<bool>;

/// True when `stop` is set (a null flag never is).
inline bool StopRequested(const StopFlag* stop) {
  return stop != nullptr && stop->load(std::memory_order_relaxed);
}

/// Thrown by a loop that saw its stop flag. A training call catches it like
/// any failure and restores the model as it was (all or nothing); the
/// binding rejects the promise with an AbortError.
class Cancelled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws Cancelled ("<what> was cancelled") when `stop` is set.
inline void ThrowIfStopped(const StopFlag* stop, const char* what) {
  if (StopRequested(stop)) throw Cancelled(std::string(what) + " was cancelled");
}

}  // namespace f2g

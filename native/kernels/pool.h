// One process-wide thread pool shared by every kernel and every async call.
//
// The pool owns `hardware_threads()` workers. Async calls (libuv threads) hand
// work to the pool and wait rather than compute themselves, so however many
// run at once, at most `hardware_threads()` threads do kernel work: concurrent
// calls queue instead of oversubscribing the cores. A sync call's JavaScript
// thread (see participate_in_own_jobs) computes a share of its own job in
// place of one pool worker, since it blocks anyway. Work submitted from inside
// a pool worker (an episode of a batch) runs inline on that worker.
#pragma once
#include <cstddef>
#include <functional>

namespace f2g {

/// CPUs this process may run on (sched affinity, so containers are honoured).
std::size_t hardware_threads();

/// Runs fn(begin, end) over [0, n) in chunks of at least `grain` items on at
/// most `max_threads` pool threads (0 = all). Blocks until every chunk ran;
/// rethrows the first exception a chunk threw.
void parallel_for(std::size_t n, std::size_t max_threads, std::size_t grain,
                  const std::function<void(std::size_t, std::size_t)>& fn);

/// True on a pool worker thread.
bool in_pool_thread();

/// From now on, parallel_for calls made on this thread run a share of their
/// chunks here (in place of one pool thread) instead of only waiting, and run
/// inline when limited to one thread. For JavaScript threads, which block in
/// sync calls anyway: it saves a wake-up of tens of microseconds per call.
/// (Async calls run on libuv threads, which keep only waiting.)
void participate_in_own_jobs();

}  // namespace f2g

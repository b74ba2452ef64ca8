#include "kernels/pool.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace f2g {
namespace {

thread_local bool tls_in_pool = false;
thread_local bool tls_participates = false;

struct Job {
  const std::function<void(std::size_t, std::size_t)>* fn = nullptr;
  std::size_t n = 0, chunk = 1, chunks = 0, max_participants = 1;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> remaining{0};
  std::size_t participants = 0;  // guarded by Pool::mu_
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> done{false};  // set under `mu`; also read without it while spinning
  std::exception_ptr error;
};

class Pool {
 public:
  explicit Pool(std::size_t n) {
    workers_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) workers_.emplace_back([this] { Loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  std::size_t size() const { return workers_.size(); }

  // Queues the job; with `participate`, the caller also runs chunks of it
  // (and the job takes one pool thread fewer). Returns once every chunk ran.
  void Run(const std::shared_ptr<Job>& job, bool participate) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.push_back(job);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    if (participate) {
      tls_in_pool = true;  // calls nested in a chunk run inline, as on a worker
      Work(*job);
      tls_in_pool = false;
      // Whatever is left is running on pool threads right now: a short spin
      // beats sleeping and being woken (tens of microseconds on some VMs).
      SpinUntil([&] { return job->done.load(std::memory_order_acquire); }, 200);
    }
    std::unique_lock<std::mutex> lk(job->mu);
    job->cv.wait(lk, [&] { return job->done.load(std::memory_order_relaxed); });
  }

 private:
  // Spins (with a CPU pause hint) until pred() or `us` microseconds passed;
  // returns pred()'s last value.
  template <class Pred>
  static bool SpinUntil(Pred pred, int us) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    for (unsigned i = 1;; ++i) {
      if (pred()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#else
      std::this_thread::yield();
#endif
      if (i % 64 == 0 && std::chrono::steady_clock::now() > until) return pred();
    }
  }

  // Under mu_: drop exhausted jobs, claim a slot on the first open one.
  std::shared_ptr<Job> Claim() {
    for (auto it = queue_.begin(); it != queue_.end();) {
      Job& j = **it;
      if (j.next.load(std::memory_order_relaxed) >= j.chunks) {
        it = queue_.erase(it);
        continue;
      }
      if (j.participants < j.max_participants) {
        ++j.participants;
        return *it;
      }
      ++it;
    }
    return nullptr;
  }

  static void Work(Job& job) {
    for (;;) {
      std::size_t c = job.next.fetch_add(1, std::memory_order_relaxed);
      if (c >= job.chunks) return;
      std::size_t b = c * job.chunk, e = std::min(job.n, b + job.chunk);
      try {
        (*job.fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lk(job.mu);
        if (!job.error) job.error = std::current_exception();
      }
      if (job.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(job.mu);
        job.done.store(true, std::memory_order_release);
        job.cv.notify_all();
      }
    }
  }

  void Loop() {
    tls_in_pool = true;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      std::shared_ptr<Job> job;
      while (!stop_ && !(job = Claim())) {
        // Before sleeping, watch the queue for a short while: work often comes
        // in bursts of calls, and a sleeping worker takes tens of microseconds
        // to wake on some machines.
        const std::size_t seen = gen_.load(std::memory_order_acquire);
        lk.unlock();
        const bool more = SpinUntil([&] { return gen_.load(std::memory_order_acquire) != seen; }, kSpinUs);
        lk.lock();
        if (more || stop_) continue;
        if ((job = Claim())) break;
        cv_.wait(lk);
      }
      if (stop_) return;
      lk.unlock();
      Work(*job);
      lk.lock();
      --job->participants;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
  std::atomic<std::size_t> gen_{0};  // bumped for every queued job
  static constexpr int kSpinUs = 50;
};

Pool& GetPool() {
  static Pool pool(hardware_threads());
  return pool;
}

}  // namespace

std::size_t hardware_threads() {
  static const std::size_t n = [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      int c = CPU_COUNT(&set);
      if (c > 0) return static_cast<std::size_t>(c);
    }
    unsigned h = std::thread::hardware_concurrency();
    return static_cast<std::size_t>(h ? h : 1);
  }();
  return n;
}

bool in_pool_thread() { return tls_in_pool; }

void participate_in_own_jobs() { tls_participates = true; }

void parallel_for(std::size_t n, std::size_t max_threads, std::size_t grain,
                  const std::function<void(std::size_t, std::size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<std::size_t>(grain, 1);
  std::size_t threads = hardware_threads();
  if (max_threads > 0) threads = std::min(threads, max_threads);
  // Aim for ~4 chunks per thread so uneven chunks still balance.
  std::size_t chunk = std::max(grain, (n + threads * 4 - 1) / (threads * 4));
  std::size_t chunks = (n + chunk - 1) / chunk;
  // Nested calls (an episode inside a batch) and single-chunk work run inline;
  // so does max_threads == 1 on a participating (JavaScript) thread.
  // Otherwise the work runs on the pool: a participating thread takes a share
  // of its own job in place of one pool thread (it would only wait); any
  // other caller waits, so callers never add compute threads beside the pool.
  const bool participate = tls_participates && !tls_in_pool;
  if (tls_in_pool || chunks == 1 || (participate && threads == 1)) {
    fn(0, n);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->n = n;
  job->chunk = chunk;
  job->chunks = chunks;
  job->remaining = chunks;
  job->max_participants = std::min(participate ? threads - 1 : threads, chunks);
  GetPool().Run(job, participate);
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace f2g

// ThreadPool: a generation counter announces each loop; workers spin on it for a short
// while, then sleep on a condition variable until the next loop.
#include "backend/cpu/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>

namespace pagoda::cpu {

namespace {
// An idle worker polls this long before sleeping. Polling yields the core after a few
// pauses: on a busy machine the thread we wait for may need this very core to finish.
constexpr auto kPoll = std::chrono::microseconds(200);
constexpr int kPausesBeforeYield = 32;

inline void backoff(int i) {
  if (i < kPausesBeforeYield) {
    _mm_pause();
  } else {
    std::this_thread::yield();
  }
}
} // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_share(int index) {
  // Ranges in units of `grain`, spread as evenly as possible.
  const int64_t units = (n_ + grain_ - 1) / grain_;
  const int64_t base = units / num_threads_, extra = units % num_threads_;
  const int64_t first = index * base + std::min<int64_t>(index, extra);
  const int64_t count = base + (index < extra ? 1 : 0);
  const int64_t begin = first * grain_;
  const int64_t end = std::min(n_, (first + count) * grain_);
  if (begin < end) (*fn_)(begin, end);
}

// Returns false when the pool is stopping.
bool ThreadPool::wait_for_work(uint64_t seen) {
  const auto deadline = std::chrono::steady_clock::now() + kPoll;
  for (int i = 0;; ++i) {
    if (generation_.load(std::memory_order_acquire) != seen) return true;
    if (stop_.load(std::memory_order_relaxed)) return false;
    backoff(i);
    if ((i & 15) == 15 && std::chrono::steady_clock::now() > deadline) break;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  sleeping_.fetch_add(1);
  start_cv_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
  sleeping_.fetch_sub(1);
  return !stop_.load();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    if (!wait_for_work(seen)) return;
    seen = generation_.load(std::memory_order_acquire);
    run_share(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (num_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  {
    // Under the mutex so a worker between its predicate check and its wait cannot miss it.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (sleeping_.load() > 0) start_cv_.notify_all();
  run_share(0);
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0; ++i) backoff(i);
  fn_ = nullptr;
}

} // namespace pagoda::cpu

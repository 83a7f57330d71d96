// A fixed set of worker threads that split one loop at a time (matmul rows, attention
// heads). The calling thread takes a share too, so num_threads == 1 runs inline. Workers
// spin briefly between loops before sleeping: a decode step issues a few hundred short
// loops back to back, and a futex wake-up per loop would cost more than the loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pagoda::cpu {

class ThreadPool {
public:
  // num_threads <= 0: std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }

  // Splits [0, n) into size() contiguous ranges, each a multiple of `grain` (the last may
  // be shorter), and calls fn(begin, end) for each non-empty range in parallel. Returns
  // when all are done. Not reentrant: one loop at a time, from one thread.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

private:
  void worker_loop(int index);
  void run_share(int index);
  bool wait_for_work(uint64_t seen);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::atomic<uint64_t> generation_{0}; // bumped once per loop
  std::atomic<int> pending_{0};         // workers still running the current loop
  std::atomic<int> sleeping_{0};        // workers blocked on start_cv_
  std::atomic<bool> stop_{false};
  // The loop in flight, published before generation_ is bumped.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int64_t grain_ = 1;
};

} // namespace pagoda::cpu

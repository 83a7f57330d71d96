// Device busy time per engine step: a pair of CUDA events around each step's work on the
// backend's stream, read only once they have completed, so timing adds no synchronization.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <utility>

#include "backend/cuda/cuda_check.h"

namespace pagoda::cuda {

// An owned CUDA event, with timing unless `timing` is false (an event only waited on or queried: a timing event's
// record also takes a timestamp).
class Event {
public:
  explicit Event(bool timing = true) {
    PAGODA_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~Event() {
    if (event_) cudaEventDestroy(event_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

private:
  cudaEvent_t event_ = nullptr;
};

// Milliseconds between two events around what enqueue() puts on `stream`; waits for the second.
template <typename Enqueue> float event_elapsed_ms(cudaStream_t stream, Enqueue&& enqueue) {
  Event start, stop;
  PAGODA_CUDA_CHECK(cudaEventRecord(start.get(), stream));
  enqueue();
  PAGODA_CUDA_CHECK(cudaEventRecord(stop.get(), stream));
  PAGODA_CUDA_CHECK(cudaEventSynchronize(stop.get()));
  float ms = 0.f;
  PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
  return ms;
}

// Two slots so that the step in flight and the one before it each keep their events: the
// host may start step N+1 before step N's end event has fired.
class StepTimer {
public:
  // Every period()-th step is timed: two timed event records cost ~4.8 us between two batch-1 steps on the H200
  // (session 14), so timing every step cost every step that much. PAGODA_STEP_TIMER=N times every Nth step (1:
  // every step; 0: none, device times then read as unknown); unset, every 8th. Busy shares are taken over the timed
  // steps (their device time against their wall time), which at any steady batch is the same share.
  static int period() {
    static const int p = [] {
      const char* v = std::getenv("PAGODA_STEP_TIMER");
      if (v == nullptr || *v == 0) return kDefaultPeriod;
      const int n = std::atoi(v);
      return n < 0 ? 0 : n;
    }();
    return p;
  }
  static constexpr int kDefaultPeriod = 8;

  void begin(cudaStream_t stream) {
    const int p = period();
    if (p == 0 || steps_++ % p != 0) return;
    Slot& s = slots_[next_];
    PAGODA_CUDA_CHECK(cudaEventRecord(s.start.get(), stream));
    s.state = State::kBegun;
    s.reported = false;
  }

  // Closes the step begun last; a call with no begin() (the profiling forward) does nothing.
  void end(cudaStream_t stream) {
    Slot& s = slots_[next_];
    if (s.state != State::kBegun) return;
    PAGODA_CUDA_CHECK(cudaEventRecord(s.end.get(), stream));
    s.state = State::kEnded;
    newest_ = next_;
    next_ ^= 1;
  }

  // Milliseconds of a timed step whose end has fired, each such step once (the older first); negative when none
  // is there to report (an untimed step, or the timed one still running).
  double take_ms() {
    if (newest_ < 0) return -1.0;
    for (Slot* s : {&slots_[newest_ ^ 1], &slots_[newest_]}) {
      if (s->reported || !read(*s)) continue;
      s->reported = true;
      return s->ms;
    }
    return -1.0;
  }

private:
  enum class State { kIdle, kBegun, kEnded, kRead };
  struct Slot {
    Event start, end;
    State state = State::kIdle;
    double ms = -1.0;
    bool reported = false; // take_ms() has returned ms
  };

  // Whether the slot holds a finished step's time (reading it once, without blocking).
  static bool read(Slot& s) {
    if (s.state == State::kRead) return true;
    if (s.state != State::kEnded) return false;
    const cudaError_t status = cudaEventQuery(s.end.get());
    if (status == cudaErrorNotReady) return false;
    PAGODA_CUDA_CHECK(status);
    float ms = 0.0f;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, s.start.get(), s.end.get()));
    s.ms = ms;
    s.state = State::kRead;
    return true;
  }

  Slot slots_[2];
  int64_t steps_ = 0; // begin() calls, timed or not
  int next_ = 0;      // the slot the next begin() records into
  int newest_ = -1;   // the slot of the latest ended step
};

} // namespace pagoda::cuda

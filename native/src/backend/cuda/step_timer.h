// Device busy time per engine step: a pair of CUDA events around each step's work on the
// backend's stream, read only once they have completed, so timing adds no synchronization.
#pragma once

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
  // PAGODA_STEP_TIMER=0 records no events (a measurement switch: what the two records a step cost between steps);
  // device times then read as unknown (negative).
  static bool enabled() {
    static const bool on = [] {
      const char* v = std::getenv("PAGODA_STEP_TIMER");
      return !(v != nullptr && v[0] == '0' && v[1] == 0);
    }();
    return on;
  }

  void begin(cudaStream_t stream) {
    if (!enabled()) return;
    Slot& s = slots_[next_];
    PAGODA_CUDA_CHECK(cudaEventRecord(s.start.get(), stream));
    s.state = State::kBegun;
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

  // Milliseconds between the events of the newest step whose end has fired; the older slot
  // when the newest is still running; negative before any step has finished.
  double last_ms() {
    if (newest_ < 0) return -1.0;
    if (read(slots_[newest_])) return slots_[newest_].ms;
    Slot& older = slots_[newest_ ^ 1];
    return read(older) ? older.ms : -1.0;
  }

private:
  enum class State { kIdle, kBegun, kEnded, kRead };
  struct Slot {
    Event start, end;
    State state = State::kIdle;
    double ms = -1.0;
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
  int next_ = 0;    // the slot the next begin() records into
  int newest_ = -1; // the slot of the latest ended step
};

} // namespace pagoda::cuda

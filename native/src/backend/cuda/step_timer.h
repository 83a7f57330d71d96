// Device busy time of sampled engine steps: a pair of CUDA events around a timed step's work on the
// backend's stream, read once the host has seen that step finish (the end event is recorded just
// behind what the host waited for, so reading it adds no real synchronization).
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

// Device time of sampled steps: begin() hands out a token for a timed step (-1 for an untimed one), which the
// backend keeps with that step and redeems with ms_of() once the engine takes the step's results, so each time is
// paired with its own step's wall time (reporting whichever step's events had fired paired a prefill step's time
// with a decode step's wall and read busy shares past 100%, session 21). Four slots: a timed step is redeemed
// long before its slot comes round again (every period()-th step is timed, at most two are in flight).
class StepTimer {
public:
  // Every period()-th step is timed: two timed event records cost ~4.8 us between two batch-1 steps on the H200
  // (session 14; 14.9 -> 11.2 us between graph launches sampled, session 21). PAGODA_STEP_TIMER=N times every Nth
  // step (1: every step; 0: none, device times then read as unknown); unset, every 8th. Busy shares are taken over
  // the timed steps (their device time against their own wall time).
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

  // Opens a step on `stream`: its token, or -1 when this step is not timed.
  int begin(cudaStream_t stream) {
    const int p = period();
    open_ = -1;
    if (p == 0 || steps_++ % p != 0) return -1;
    open_ = next_;
    next_ = (next_ + 1) % kSlots;
    Slot& s = slots_[open_];
    PAGODA_CUDA_CHECK(cudaEventRecord(s.start.get(), stream));
    s.timed = true;
    return open_;
  }

  // Closes the step begun last; nothing for an untimed step or a call with no begin() (the profiling forward).
  void end(cudaStream_t stream) {
    if (open_ < 0) return;
    PAGODA_CUDA_CHECK(cudaEventRecord(slots_[open_].end.get(), stream));
    open_ = -1;
  }

  // Milliseconds of the step `token` names, once its end has fired (the caller has seen the step finish, so the
  // wait is at most the end record's own); negative for -1 or a token already redeemed.
  double ms_of(int token) {
    if (token < 0 || token >= kSlots || !slots_[token].timed) return -1.0;
    Slot& s = slots_[token];
    s.timed = false;
    PAGODA_CUDA_CHECK(cudaEventSynchronize(s.end.get()));
    float ms = 0.0f;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, s.start.get(), s.end.get()));
    return ms;
  }

private:
  static constexpr int kSlots = 4;
  struct Slot {
    Event start, end;
    bool timed = false; // begun and not yet redeemed
  };
  Slot slots_[kSlots];
  int64_t steps_ = 0; // begin() calls, timed or not
  int next_ = 0;      // the slot the next timed step records into
  int open_ = -1;     // the slot of the step begun and not yet ended
};

} // namespace pagoda::cuda

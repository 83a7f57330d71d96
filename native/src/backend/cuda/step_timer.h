// Device time of sampled engine steps: a pair of CUDA events around a timed step's work on the backend's
// stream, read once the host has seen that step finish (the end event is recorded just behind what the
// host waited for, so reading it adds no real synchronization), and the idle time between two such steps.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <utility>

#include "backend/backend.h"
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
// backend keeps with that step and redeems with time_of() once the engine takes the step's results, so each time is
// paired with its own step. Steps are timed in pairs of consecutive steps, so the second of a pair also gives the
// idle time between the two. Busy shares from span over the host's wall time between step results read past 100%
// (session 23, H100: with prompt 102%): a span starts when its start record fires, which for an eager step the host
// is still launching can be before the previous step's results reached the host. The gap between two steps' events
// is the device's own clock on both ends. Four slots: a timed step is redeemed long before its slot comes round
// again (at most two steps are in flight, and a pair's first step is read only after its second began).
class StepTimer {
public:
  // Every period()-th step begins a timed pair: two timed event records cost ~4.8 us between two batch-1 steps on the
  // H200 (session 14; 14.9 -> 11.2 us between graph launches sampled, session 21). PAGODA_STEP_TIMER=N times the
  // Nth step and the one after it (1 or 2: every step; 0: none, device times then read as unknown); unset, every 8th.
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
    const int previous = open_ >= 0 ? -1 : last_begun_; // a step left open (no end) gives no gap
    open_ = -1;
    last_begun_ = -1;
    if (p == 0 || steps_++ % p > 1) return -1; // the pair: phases 0 and 1 of every p
    open_ = next_;
    next_ = (next_ + 1) % kSlots;
    Slot& s = slots_[open_];
    PAGODA_CUDA_CHECK(cudaEventRecord(s.start.get(), stream));
    s.timed = true;
    s.after = previous;
    last_begun_ = open_;
    return open_;
  }

  // Closes the step begun last; nothing for an untimed step or a call with no begin() (the profiling forward).
  void end(cudaStream_t stream) {
    if (open_ < 0) return;
    PAGODA_CUDA_CHECK(cudaEventRecord(slots_[open_].end.get(), stream));
    open_ = -1;
  }

  // The times of the step `token` names, once its end has fired (the caller has seen the step finish, so the wait is
  // at most the end record's own); unknown for -1 or a token already redeemed.
  StepDeviceTime time_of(int token) {
    StepDeviceTime t;
    if (token < 0 || token >= kSlots || !slots_[token].timed) return t;
    Slot& s = slots_[token];
    s.timed = false;
    PAGODA_CUDA_CHECK(cudaEventSynchronize(s.end.get()));
    float ms = 0.0f;
    PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, s.start.get(), s.end.get()));
    t.span_ms = ms;
    if (s.after >= 0) { // the previous step's end fired before this start did: stream order
      PAGODA_CUDA_CHECK(cudaEventElapsedTime(&ms, slots_[s.after].end.get(), s.start.get()));
      t.gap_before_ms = ms < 0.0f ? 0.0 : ms; // both on the device clock; guard the resolution (~0.5 us)
    }
    return t;
  }

private:
  static constexpr int kSlots = 4;
  struct Slot {
    Event start, end;
    bool timed = false; // begun and not yet redeemed
    int after = -1;     // the slot of the step just before, when that one was timed and ended
  };
  Slot slots_[kSlots];
  int64_t steps_ = 0;     // begin() calls, timed or not
  int next_ = 0;          // the slot the next timed step records into
  int open_ = -1;         // the slot of the step begun and not yet ended
  int last_begun_ = -1;   // the slot of the last step begun, when it was timed
};

} // namespace pagoda::cuda

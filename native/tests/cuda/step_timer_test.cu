// Checks the step timer pagoda-bench's device figures come from: which steps it times (pairs of consecutive steps,
// every 8th pair), each timed step's span, and the device's idle time between a pair's steps, against kernels that
// spin for a known time and a host that waits a known time between steps.
#include <chrono>
#include <thread>

#include "backend/cuda/step_timer.h"
#include "test_support.h"

using namespace pagoda::cuda;
using namespace pagoda::cuda::test;

namespace {

__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

// One engine step as the backend brackets it: begin, the step's work (a kernel spinning `ms`), end.
int step(StepTimer& timer, cudaStream_t stream, double ms) {
  const int token = timer.begin(stream);
  spin_kernel<<<1, 1, 0, stream>>>(static_cast<unsigned long long>(ms * 1e6));
  PAGODA_CUDA_CHECK(cudaGetLastError());
  timer.end(stream);
  return token;
}

} // namespace

int main() {
  skip_without_device("step_timer_test");
  Checker c;
  try {
    c.expect_true("the default period is 8", StepTimer::period() == StepTimer::kDefaultPeriod);
    cudaStream_t stream = nullptr;
    PAGODA_CUDA_CHECK(cudaStreamCreate(&stream));
    StepTimer timer;

    // Steps 0 and 1 are a timed pair. The host waits for step 0, then sleeps 20 ms before launching step 1: the
    // device idles those 20 ms, and step 1's gap says so.
    const int t0 = step(timer, stream, 2.0);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int t1 = step(timer, stream, 1.0);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    c.expect_true("steps 0 and 1 are timed", t0 >= 0 && t1 >= 0 && t0 != t1);
    const pagoda::StepDeviceTime d0 = timer.time_of(t0), d1 = timer.time_of(t1);
    c.expect_true("step 0 spans its 2 ms kernel", d0.span_ms >= 1.9 && d0.span_ms < 4.0, std::to_string(d0.span_ms));
    c.expect_true("the first step has no gap (no step before it was timed)", d0.gap_before_ms < 0.0);
    c.expect_true("step 1 spans its 1 ms kernel", d1.span_ms >= 0.9 && d1.span_ms < 3.0, std::to_string(d1.span_ms));
    c.expect_true("step 1's gap is the host's 20 ms sleep", d1.gap_before_ms >= 19.0 && d1.gap_before_ms < 40.0,
                  std::to_string(d1.gap_before_ms));
    c.expect_true("a token reads once", timer.time_of(t1).span_ms < 0.0);

    // Steps 2..7 are not timed; 8 and 9 are, launched back to back (9 queued while 8 runs): no idle between them.
    bool untimed = true;
    for (int s = 2; s < 8; ++s) untimed = untimed && step(timer, stream, 0.05) < 0;
    c.expect_true("steps 2 to 7 are not timed", untimed);
    const int t8 = step(timer, stream, 1.0);
    const int t9 = step(timer, stream, 1.0);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    c.expect_true("steps 8 and 9 are timed", t8 >= 0 && t9 >= 0);
    const pagoda::StepDeviceTime d8 = timer.time_of(t8), d9 = timer.time_of(t9);
    c.expect_true("step 8's gap is unknown (step 7 was not timed)", d8.gap_before_ms < 0.0);
    c.expect_true("a step queued behind the one before has no gap", d9.gap_before_ms >= 0.0 && d9.gap_before_ms < 0.2,
                  std::to_string(d9.gap_before_ms));
    c.expect_true("step 9 spans its own kernel, not step 8's", d9.span_ms >= 0.9 && d9.span_ms < 1.8,
                  std::to_string(d9.span_ms));
    c.expect_true("step 10 is not timed", step(timer, stream, 0.05) < 0);
    PAGODA_CUDA_CHECK(cudaStreamSynchronize(stream));
    PAGODA_CUDA_CHECK(cudaStreamDestroy(stream));
  } catch (const std::exception& e) {
    c.expect_true(std::string("no exception: ") + e.what(), false);
  }
  return c.finish("step_timer_test");
}

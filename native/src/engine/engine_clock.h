// A steady clock in seconds, for the engine's step timing and token-rate window.
#pragma once

#include <chrono>

namespace pagoda {

inline double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

} // namespace pagoda

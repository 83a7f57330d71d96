// Measures the host's sustained memory read bandwidth the way a batch-1 decode uses it:
// every core streams its share of a buffer much larger than the caches.
#pragma once

#include <cstddef>

namespace pagoda {

struct BandwidthResult {
  double read_gb_per_s = 0.0; // best of the passes, 1 GB = 1e9 bytes
  double copy_gb_per_s = 0.0; // memcpy, bytes read + bytes written
  size_t buffer_bytes = 0;
  int threads = 0;
};

// buffer_bytes: at least several times the last-level cache (default 1 GiB).
BandwidthResult measure_memory_bandwidth(size_t buffer_bytes, int threads, int passes = 5);

} // namespace pagoda

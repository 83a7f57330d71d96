// A zero-filled float32 buffer from an anonymous mapping: pages are committed only when
// touched, so a large KV cache budget costs memory only as sequences fill it. An inaccessible
// page on each side stops a stray write at the edge and keeps the kernel from merging the
// mapping with a neighbour, so the buffer is its own line in /proc/<pid>/smaps.
#pragma once

#include <cstddef>

namespace pagoda::cpu {

class HostBuffer {
public:
  HostBuffer() = default;
  explicit HostBuffer(size_t num_floats); // throws pagoda::Error when the mapping fails
  ~HostBuffer();
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  float* data() const { return data_; }
  size_t size() const { return size_; } // floats
  // Hands back the whole pages inside [first, first + count) floats: they read as zero again
  // and no longer count as resident until written.
  void release_pages(size_t first, size_t count);

private:
  void release();
  static size_t page_size();
  size_t mapped_bytes() const; // the buffer's pages and both guard pages
  float* data_ = nullptr;
  size_t size_ = 0;
};

} // namespace pagoda::cpu

// HostBuffer: mmap(MAP_ANONYMOUS | MAP_NORESERVE), madvise(MADV_DONTNEED) and munmap.
#include "backend/cpu/host_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "error.h"

namespace pagoda::cpu {

HostBuffer::HostBuffer(size_t num_floats) : size_(num_floats) {
  if (num_floats == 0) return;
  void* p = ::mmap(nullptr, num_floats * sizeof(float), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    throw Error("cannot reserve " + std::to_string(num_floats * sizeof(float)) +
                " bytes of host memory for the KV cache (" + std::strerror(errno) + "); lower kv_cache_space_bytes");
  }
  data_ = static_cast<float*>(p);
}

HostBuffer::~HostBuffer() { release(); }

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void HostBuffer::release_pages(size_t first, size_t count) {
  if (!data_ || first >= size_) return;
  count = std::min(count, size_ - first);
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_ + first) + page - 1) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data_ + first + count) / page * page;
  if (end <= begin) return;
  // Only whole pages inside the range: a page shared with a neighbour keeps its data.
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) {
    throw Error(std::string("cannot release KV cache pages (") + std::strerror(errno) + ")");
  }
}

void HostBuffer::release() {
  if (data_) ::munmap(data_, size_ * sizeof(float));
  data_ = nullptr;
  size_ = 0;
}

} // namespace pagoda::cpu

// HostBuffer: mmap(MAP_ANONYMOUS | MAP_NORESERVE) between two PROT_NONE guard pages,
// madvise(MADV_DONTNEED) and munmap.
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

size_t HostBuffer::page_size() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

size_t HostBuffer::mapped_bytes() const {
  const size_t page = page_size();
  return (size_ * sizeof(float) + page - 1) / page * page + 2 * page;
}

HostBuffer::HostBuffer(size_t num_floats) : size_(num_floats) {
  if (num_floats == 0) return;
  const size_t page = page_size();
  const size_t bytes = mapped_bytes();
  const auto fail = [&](const char* what) {
    return Error(std::string("cannot ") + what + " " + std::to_string(num_floats * sizeof(float)) +
                 " bytes of host memory for the KV cache (" + std::strerror(errno) + "); lower kv_cache_space_bytes");
  };
  void* p = ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw fail("reserve");
  char* inner = static_cast<char*>(p) + page;
  if (::mprotect(inner, bytes - 2 * page, PROT_READ | PROT_WRITE) != 0) {
    Error e = fail("map");
    ::munmap(p, bytes);
    throw e;
  }
  data_ = reinterpret_cast<float*>(inner);
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
  const uintptr_t page = page_size();
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_ + first) + page - 1) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data_ + first + count) / page * page;
  if (end <= begin) return;
  // Only whole pages inside the range: a page shared with a neighbour keeps its data.
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) {
    throw Error(std::string("cannot release KV cache pages (") + std::strerror(errno) + ")");
  }
}

void HostBuffer::release() {
  if (data_) ::munmap(reinterpret_cast<char*>(data_) - page_size(), mapped_bytes());
  data_ = nullptr;
  size_ = 0;
}

} // namespace pagoda::cpu

// 64-byte aligned, zero-initialised heap buffers (cache-line and AVX-512 width).
#pragma once
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace fr {

constexpr size_t kAlign = 64;

inline size_t RoundUp(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
using AlignedPtr = std::unique_ptr<T[], AlignedFree>;

// Throws std::bad_alloc when the allocation fails.
template <typename T>
AlignedPtr<T> AllocateAligned(size_t count) {
  const size_t bytes = RoundUp(count * sizeof(T) > 0 ? count * sizeof(T) : kAlign, kAlign);
  void* p = std::aligned_alloc(kAlign, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return AlignedPtr<T>(static_cast<T*>(p));
}

}  // namespace fr

// 64-byte aligned, zero-initialised heap buffers (cache-line and AVX-512 width).
#pragma once
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fr {

constexpr size_t kAlign = 64;
constexpr size_t kHugePage = size_t(2) << 20;

inline size_t RoundUp(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

template <typename T>
using AlignedPtr = std::unique_ptr<T[], AlignedFree>;

// Throws std::bad_alloc when the allocation fails.
template <typename T>
AlignedPtr<T> AllocateAligned(size_t count) {
  size_t bytes = RoundUp(count * sizeof(T) > 0 ? count * sizeof(T) : kAlign, kAlign);
  // Large buffers (vector columns) are read at random rows: on 2 MiB pages
  // those reads stop missing the TLB. Linux backs them with huge pages only
  // when asked (transparent_hugepage=madvise is the common default).
  const size_t align = bytes >= kHugePage ? kHugePage : kAlign;
  if (align == kHugePage) bytes = RoundUp(bytes, kHugePage);
  void* p = std::aligned_alloc(align, bytes);
  if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHugePage) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, bytes);
  return AlignedPtr<T>(static_cast<T*>(p));
}

}  // namespace fr

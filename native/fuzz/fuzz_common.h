// Shared by the libFuzzer targets in this folder (scripts/fuzz.sh builds and
// runs them; CMakeLists.txt FR_FUZZ). Each target feeds untrusted bytes to a
// core loader, expects either success or an fr::Error with a code, and then
// uses what was accepted. Anything else escaping (another exception, a
// sanitizer report, an abort) is a finding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <initializer_list>
#include <unistd.h>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/kernels/kernels.h"

namespace fr::fuzz {

// The kernels the addon would pick here (FUSIONRANK_ISA forces a tier).
inline const KernelTable& Kernels() {
  static const KernelTable& table = [&]() -> const KernelTable& {
    Isa isa = DetectBestIsa();
    if (const char* forced = std::getenv("FUSIONRANK_ISA")) {
      Isa wanted;
      if (ParseIsa(forced, &wanted) && IsaAvailable(wanted)) isa = wanted;
    }
    return KernelsFor(isa);
  }();
  return table;
}

// A loader may refuse input only with an fr::Error carrying one of `codes`.
inline void ExpectCode(const Error& e, std::initializer_list<const char*> codes) {
  for (const char* code : codes)
    if (std::strcmp(e.code(), code) == 0) return;
  std::fprintf(stderr, "unexpected error code %s: %s\n", e.code(), e.what());
  std::abort();
}

// Reads the input front to back; past the end it yields zeros / empties.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t left() const { return size_ - at_; }
  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(Byte()) << (8 * i);
    return v;
  }
  float Float() {
    const uint32_t bits = U32();
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  // A section: a u32 length, then that many bytes (fewer when the input ends).
  std::vector<uint8_t> Section() {
    const size_t n = std::min<size_t>(U32(), left());
    std::vector<uint8_t> out(data_ + at_, data_ + at_ + n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

// A section as whole elements of T, copied to aligned storage; false when
// its length is not whole elements (the TypeScript loader refuses those
// before the native side sees them).
template <typename T>
bool AsArray(const std::vector<uint8_t>& bytes, std::vector<T>* out) {
  if (bytes.size() % sizeof(T) != 0) return false;
  out->resize(bytes.size() / sizeof(T));
  if (!bytes.empty()) std::memcpy(out->data(), bytes.data(), bytes.size());
  return true;
}

// A scratch file for the loaders that take a path (one per process).
inline std::string ScratchPath(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/fusionrank-fuzz-" + std::to_string(::getpid()) + "-" + name;
}

}  // namespace fr::fuzz

#include "cpu.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define FR_X86 1
#include <cpuid.h>
#endif

namespace fr {

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512Vnni: return "avx512vnni";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    case Isa::kNeon: return "neon";
    default: return "serial";
  }
}

bool ParseIsa(const std::string& name, Isa* out) {
  if (name == "serial") { *out = Isa::kSerial; return true; }
  if (name == "neon") { *out = Isa::kNeon; return true; }
  if (name == "avx2") { *out = Isa::kAvx2; return true; }
  if (name == "avx512") { *out = Isa::kAvx512; return true; }
  if (name == "avx512vnni") { *out = Isa::kAvx512Vnni; return true; }
  return false;
}

#ifdef FR_X86
static unsigned long long ReadXcr0() {
  unsigned int eax = 0, edx = 0;
  // xgetbv without -mxsave, so the rest of the build stays at the baseline.
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

static Isa DetectX86() {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::kSerial;
  const bool fma = ecx & (1u << 12);
  const bool osxsave = ecx & (1u << 27);
  const bool avx = ecx & (1u << 28);
  const bool f16c = ecx & (1u << 29);
  if (!osxsave || !avx) return Isa::kSerial;
  const unsigned long long xcr0 = ReadXcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = (xcr0 & 0xE6) == 0xE6;
  if (!os_ymm) return Isa::kSerial;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return Isa::kSerial;
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16);
  const bool avx512dq = ebx & (1u << 17);
  const bool avx512bw = ebx & (1u << 30);
  const bool avx512vl = ebx & (1u << 31);
  const bool avx512vnni = ecx & (1u << 11);
  const bool tier2 = avx2 && fma && f16c;
  if (tier2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl)
    return avx512vnni ? Isa::kAvx512Vnni : Isa::kAvx512;
  if (tier2) return Isa::kAvx2;
  return Isa::kSerial;
}
#endif

bool CpuHasAvx512Bf16() {
  static const bool has = [] {
#if defined(FR_X86)
    if (static_cast<int>(DetectBestIsa()) < static_cast<int>(Isa::kAvx512)) return false;
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    return (eax & (1u << 5)) != 0;
#else
    return false;
#endif
  }();
  return has;
}

Isa DetectBestIsa() {
  static const Isa best = [] {
#if defined(FR_X86)
    return DetectX86();
#elif defined(__aarch64__)
    return Isa::kNeon;  // Advanced SIMD is mandatory on AArch64.
#else
    return Isa::kSerial;
#endif
  }();
  return best;
}

bool IsaAvailable(Isa isa) {
  const Isa best = DetectBestIsa();
  if (isa == Isa::kSerial) return true;
  if (isa == Isa::kNeon) return best == Isa::kNeon;
  if (best == Isa::kNeon) return false;
  return static_cast<int>(isa) <= static_cast<int>(best);
}

std::vector<Isa> AvailableIsas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kAvx512Vnni, Isa::kAvx512, Isa::kAvx2, Isa::kNeon})
    if (IsaAvailable(isa)) out.push_back(isa);
  out.push_back(Isa::kSerial);
  return out;
}

}  // namespace fr

// CPU capability detection. Plain C++17, no Node headers.
#pragma once
#include <string>
#include <vector>

namespace fr {

// Instruction-set tiers, ordered from oldest to newest. A tier implies every
// feature its kernels use (avx2 = AVX2+FMA+F16C; avx512 = F+BW+DQ+VL;
// avx512vnni = avx512 + VNNI, e.g. Ice Lake, Zen 4).
enum class Isa { kSerial = 0, kNeon = 1, kAvx2 = 2, kAvx512 = 3, kAvx512Vnni = 4 };

const char* IsaName(Isa isa);
// Parses "serial" | "neon" | "avx2" | "avx512" | "avx512vnni"; returns false on anything else.
bool ParseIsa(const std::string& name, Isa* out);

// Best tier this CPU and OS support. Detected once, then cached.
Isa DetectBestIsa();
// Every tier that can run here, best first, always ending with serial.
std::vector<Isa> AvailableIsas();
bool IsaAvailable(Isa isa);
// Whether the CPU (and OS) run AVX512-BF16 dot products (Zen 4, Cooper Lake,
// Sapphire Rapids): a feature of the avx512 tiers, not a tier of its own.
bool CpuHasAvx512Bf16();

}  // namespace fr

// The one place that maps an instruction-set tier to its kernels: newest
// first, falling through to serial when a tier is not in this build.
#include "cpu.h"
#include "kernels/kernels.h"

namespace fr {

#define FR_TABLE(isa, suffix)                                                             \
  KernelTable {                                                                           \
    isa, score_f32_##suffix, score_f16_##suffix, score_i8_##suffix, decode_f16_##suffix,  \
        score_u4_##suffix, probe_read_##suffix, probe_fma_##suffix, gemm_f32_##suffix,    \
        activate_f32_##suffix, normalize_f32_##suffix, kProbeFmaFlops_##suffix, nullptr,  \
        als_cg_##suffix,                                                                  \
        als_gram_##suffix, als_loss_##suffix, score_many_f32_##suffix,                     \
        score_many_f16_##suffix, score_many_i8_##suffix                                    \
  }

const KernelTable& KernelsFor(Isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
  static const KernelTable avx512 = [] {
    KernelTable t = FR_TABLE(Isa::kAvx512, avx512);
    if (CpuHasAvx512Bf16()) t.gemm_bf16 = gemm_bf16_avx512;
    return t;
  }();
  static const KernelTable avx512vnni = [] {
    KernelTable t = avx512;
    t.isa = Isa::kAvx512Vnni;
    t.score_i8 = score_i8_avx512vnni;
    t.score_u4 = score_u4_avx512vnni;
    return t;
  }();
  static const KernelTable avx2 = FR_TABLE(Isa::kAvx2, avx2);
  if (isa == Isa::kAvx512Vnni) return avx512vnni;
  if (isa == Isa::kAvx512) return avx512;
  if (isa == Isa::kAvx2) return avx2;
#endif
#if defined(__aarch64__)
  static const KernelTable neon = FR_TABLE(Isa::kNeon, neon);
  if (isa == Isa::kNeon) return neon;
#endif
  static const KernelTable serial = FR_TABLE(Isa::kSerial, serial);
  return serial;
}

}  // namespace fr

// Physical-limit probes with AArch64 Advanced SIMD.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../kernels.h"

namespace fr {

constexpr int kChainsNeon = 16;
const uint64_t kProbeFmaFlops_neon = kChainsNeon * 4 * 2;

uint64_t probe_read_neon(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                         size_t n, size_t row_bytes) {
  uint64x2_t a0 = vdupq_n_u64(0), a1 = vdupq_n_u64(0), a2 = vdupq_n_u64(0), a3 = vdupq_n_u64(0);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = base + (rows ? rows[i] : i) * stride_bytes;
    for (size_t j = 0; j < row_bytes; j += 64) {
      a0 = veorq_u64(a0, vld1q_u64(reinterpret_cast<const uint64_t*>(r + j)));
      a1 = veorq_u64(a1, vld1q_u64(reinterpret_cast<const uint64_t*>(r + j + 16)));
      a2 = veorq_u64(a2, vld1q_u64(reinterpret_cast<const uint64_t*>(r + j + 32)));
      a3 = veorq_u64(a3, vld1q_u64(reinterpret_cast<const uint64_t*>(r + j + 48)));
    }
  }
  const uint64x2_t x = veorq_u64(veorq_u64(a0, a1), veorq_u64(a2, a3));
  return vgetq_lane_u64(x, 0) ^ vgetq_lane_u64(x, 1);
}

float probe_fma_neon(uint64_t iterations, float seed) {
  float32x4_t acc[kChainsNeon];
  for (int k = 0; k < kChainsNeon; ++k) acc[k] = vdupq_n_f32(seed + static_cast<float>(k));
  const float32x4_t m = vdupq_n_f32(0.999f), a = vdupq_n_f32(0.001f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (int k = 0; k < kChainsNeon; ++k) acc[k] = vfmaq_f32(a, acc[k], m);
  float32x4_t sum = acc[0];
  for (int k = 1; k < kChainsNeon; ++k) sum = vaddq_f32(sum, acc[k]);
  return vaddvq_f32(sum);
}

}  // namespace fr
#endif

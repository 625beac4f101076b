// Scoring kernels for AArch64 Advanced SIMD. Compiled only on arm64, where
// NEON and half-precision conversion are part of the baseline.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../kernels.h"

namespace fr {

namespace {
template <typename Row, typename LoadRow>
inline float DotNeon(const float* q, const Row* r, size_t pdim, LoadRow load) {
  float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), a2 = vdupq_n_f32(0),
              a3 = vdupq_n_f32(0);
  for (size_t j = 0; j < pdim; j += 16) {
    a0 = vfmaq_f32(a0, load(r + j), vld1q_f32(q + j));
    a1 = vfmaq_f32(a1, load(r + j + 4), vld1q_f32(q + j + 4));
    a2 = vfmaq_f32(a2, load(r + j + 8), vld1q_f32(q + j + 8));
    a3 = vfmaq_f32(a3, load(r + j + 12), vld1q_f32(q + j + 12));
  }
  return vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

inline float32x4_t LoadI8x4(const int8_t* p) {
  const int8x8_t b = vcreate_s8(static_cast<uint64_t>(*reinterpret_cast<const uint32_t*>(p)));
  return vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b))));
}
}  // namespace

void score_f32_neon(const float* q, const float* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = DotNeon(q, base + (rows ? rows[i] : i) * stride, pdim,
                     [](const float* p) { return vld1q_f32(p); });
}

void score_f16_neon(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i)
    out[i] = DotNeon(q, base + (rows ? rows[i] : i) * stride, pdim, [](const uint16_t* p) {
      return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
    });
}

void score_i8_neon(const float* q, const int8_t* base, size_t stride, const float* scales,
                   const uint32_t* rows, size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const size_t row = rows ? rows[i] : i;
    out[i] = scales[row] * DotNeon(q, base + row * stride, pdim, LoadI8x4);
  }
}

}  // namespace fr
#endif

// Many-query scores (kernels/many/many_impl.h) for AArch64 Advanced SIMD:
// tiles of 4 queries x 6 rows, 24 q-register accumulators. Compiled only on
// arm64, where NEON (and the f16 conversions) are part of the baseline.
#if defined(__aarch64__)
#include <arm_neon.h>

#include <cstring>

#include "../kernels.h"
#include "many_impl.h"

namespace fr {

namespace {
struct VNeon {
  using Reg = float32x4_t;
  static constexpr bool kSum4 = false;
  static constexpr size_t kWidth = 4;
  static Reg Zero() { return vdupq_n_f32(0.0f); }
  static Reg Load(const float* p) { return vld1q_f32(p); }
  static Reg Fma(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  static float Sum(Reg a) { return vaddvq_f32(a); }
};
struct RowsF32 {
  using T = float;
  static float32x4_t Load(const float* p) { return vld1q_f32(p); }
};
struct RowsF16 {
  using T = uint16_t;
  static float32x4_t Load(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
};
struct RowsI8 {
  using T = int8_t;
  static float32x4_t Load(const int8_t* p) {
    // Exactly four int8 lanes (a wider load could run past the last row).
    uint32_t bits;
    std::memcpy(&bits, p, sizeof bits);
    const int16x8_t w = vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(bits)));
    return vcvtq_f32_s32(vmovl_s16(vget_low_s16(w)));
  }
};
}  // namespace

void score_many_f32_neon(const float* q, size_t qstride, size_t nq, const float* base, size_t stride,
                         const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<VNeon, RowsF32, 4, 6>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_f16_neon(const float* q, size_t qstride, size_t nq, const uint16_t* base, size_t stride,
                         const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<VNeon, RowsF16, 4, 6>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_i8_neon(const float* q, size_t qstride, size_t nq, const int8_t* base, size_t stride,
                        const float* scales, const uint32_t* rows, size_t n, size_t pdim, float* out,
                        size_t ldo) {
  many_impl::ScoreMany<VNeon, RowsI8, 4, 6>(q, qstride, nq, base, stride, scales, rows, n, pdim, out, ldo);
}

}  // namespace fr
#endif

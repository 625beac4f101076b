// GEMM and activations for AArch64 Advanced SIMD. Tiles of 6 rows x 16
// columns: 24 q-register accumulators, 4 weight loads and 6 broadcasts per 24
// FMAs. Compiled only on arm64, where NEON is part of the baseline.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "als_impl.h"
#include "gemm_impl.h"

namespace fr {

namespace {
struct VNeon {
  using Reg = float32x4_t;
  using Mask = uint32x4_t;
  static constexpr size_t kWidth = 4;
  static float Sum(Reg a) { return vaddvq_f32(a); }
  static Reg Zero() { return vdupq_n_f32(0.0f); }
  static Reg Set1(float v) { return vdupq_n_f32(v); }
  static Reg Load(const float* p) { return vld1q_f32(p); }
  static Reg LoadU(const float* p) { return vld1q_f32(p); }
  static void StoreU(float* p, Reg v) { vst1q_f32(p, v); }
  static Reg Add(Reg a, Reg b) { return vaddq_f32(a, b); }
  static Reg Sub(Reg a, Reg b) { return vsubq_f32(a, b); }
  static Reg Mul(Reg a, Reg b) { return vmulq_f32(a, b); }
  static Reg Div(Reg a, Reg b) { return vdivq_f32(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return vfmaq_f32(c, a, b); }
  // FMAX/FMIN return NaN when either operand is NaN.
  static Reg Max(Reg a, Reg b) { return vmaxq_f32(a, b); }
  static Reg Min(Reg a, Reg b) { return vminq_f32(a, b); }
  static Reg Abs(Reg a) { return vabsq_f32(a); }
  static Mask Less(Reg a, Reg b) { return vcltq_f32(a, b); }
  static Reg Blend(Mask m, Reg a, Reg b) { return vbslq_f32(m, b, a); }
  static Reg Round(Reg a) { return vrndnq_f32(a); }
  static Reg Pow2(Reg n) {
    const int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
  }
  static Reg Exp(Reg x) { return gemm_impl::ExpPoly<VNeon>(x); }
  static Reg Erfc(Reg x) { return gemm_impl::ErfcPoly<VNeon>(x); }
  static Reg Tanh(Reg x) { return gemm_impl::TanhPoly<VNeon>(x); }
};
}  // namespace

void gemm_f32_neon(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                   size_t panels, const float* bias, Activation act, float alpha, float beta,
                   float* y, size_t ldy) {
  gemm_impl::Gemm<VNeon, 6, 1, 48>(x, ldx, m, k, packed, panels, bias, act, alpha, beta, y, ldy);
}

void activate_f32_neon(float* y, size_t n, Activation act, float alpha, float beta) {
  gemm_impl::ActivateArray<VNeon>(y, n, act, alpha, beta);
}

void normalize_f32_neon(const float* x, size_t n, float epsilon, float scale, float* y) {
  gemm_impl::NormalizeRow<VNeon>(x, n, epsilon, scale, y);
}

void als_cg_neon(const AlsHalf& h, size_t begin, size_t end) { als_impl::CgRows<VNeon>(h, begin, end); }

void als_gram_neon(const float* x, size_t ld, size_t factors, size_t begin, size_t end, float* gram) {
  als_impl::GramRows<VNeon>(x, ld, factors, begin, end, gram);
}

double als_loss_neon(const AlsHalf& h, size_t begin, size_t end) { return als_impl::LossRows<VNeon>(h, begin, end); }

}  // namespace fr
#endif

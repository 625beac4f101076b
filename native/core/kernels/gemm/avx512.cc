// GEMM and activations for AVX-512 (F+DQ). Tiles of 6 rows x 64 columns:
// 24 zmm accumulators, 4 weight loads and 6 broadcasts per 24 FMAs.
#include <immintrin.h>

#include "gemm_impl.h"

namespace fr {

namespace {
struct V512 {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr size_t kWidth = 16;
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg Set1(float v) { return _mm512_set1_ps(v); }
  static Reg Load(const float* p) { return _mm512_load_ps(p); }
  static Reg LoadU(const float* p) { return _mm512_loadu_ps(p); }
  static void StoreU(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg Add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg Sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg Div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg Max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg Min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static Reg Abs(Reg a) { return _mm512_abs_ps(a); }
  static Mask Less(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static Reg Blend(Mask m, Reg a, Reg b) { return _mm512_mask_blend_ps(m, a, b); }
  static Reg Round(Reg a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static Reg Pow2(Reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static Reg Exp(Reg x) { return gemm_impl::ExpPoly<V512>(x); }
  static Reg Erfc(Reg x) { return gemm_impl::ErfcPoly<V512>(x); }
  static Reg Tanh(Reg x) { return gemm_impl::TanhPoly<V512>(x); }
};
}  // namespace

void gemm_f32_avx512(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                     size_t panels, const float* bias, Activation act, float alpha, float* y,
                     size_t ldy) {
  gemm_impl::Gemm<V512, 6, 4, 48>(x, ldx, m, k, packed, panels, bias, act, alpha, y, ldy);
}

void activate_f32_avx512(float* y, size_t n, Activation act, float alpha) {
  gemm_impl::ActivateArray<V512>(y, n, act, alpha);
}

}  // namespace fr

// GEMM and activations for AVX2 + FMA. Tiles of 6 rows x 16 columns: 12 ymm
// accumulators, 2 weight loads and 6 broadcasts per 12 FMAs.
#include <immintrin.h>

#include "als_impl.h"
#include "gemm_impl.h"

namespace fr {

namespace {
struct V256 {
  using Reg = __m256;
  using Mask = __m256;
  static constexpr size_t kWidth = 8;
  static float Sum(Reg a) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
  }
  static Reg Zero() { return _mm256_setzero_ps(); }
  static Reg Set1(float v) { return _mm256_set1_ps(v); }
  static Reg Load(const float* p) { return _mm256_load_ps(p); }
  static Reg LoadU(const float* p) { return _mm256_loadu_ps(p); }
  static void StoreU(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg Add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg Sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg Div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg Max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg Min(Reg a, Reg b) { return _mm256_min_ps(a, b); }
  static Reg Abs(Reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static Mask Less(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static Reg Blend(Mask m, Reg a, Reg b) { return _mm256_blendv_ps(a, b, m); }
  static Reg Round(Reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static Reg Pow2(Reg n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static Reg Exp(Reg x) { return gemm_impl::ExpPoly<V256>(x); }
  static Reg Erfc(Reg x) { return gemm_impl::ErfcPoly<V256>(x); }
  static Reg Tanh(Reg x) { return gemm_impl::TanhPoly<V256>(x); }
};
}  // namespace

void gemm_f32_avx2(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                   size_t panels, const float* bias, Activation act, float alpha, float beta,
                   float* y, size_t ldy) {
  gemm_impl::Gemm<V256, 6, 1, 48>(x, ldx, m, k, packed, panels, bias, act, alpha, beta, y, ldy);
}

void activate_f32_avx2(float* y, size_t n, Activation act, float alpha, float beta) {
  gemm_impl::ActivateArray<V256>(y, n, act, alpha, beta);
}

void normalize_f32_avx2(const float* x, size_t n, float epsilon, float scale, float* y) {
  gemm_impl::NormalizeRow<V256>(x, n, epsilon, scale, y);
}

void als_cg_avx2(const AlsHalf& h, size_t begin, size_t end) { als_impl::CgRows<V256>(h, begin, end); }

void als_gram_avx2(const float* x, size_t ld, size_t factors, size_t begin, size_t end, float* gram) {
  als_impl::GramRows<V256>(x, ld, factors, begin, end, gram);
}

double als_loss_avx2(const AlsHalf& h, size_t begin, size_t end) { return als_impl::LossRows<V256>(h, begin, end); }

}  // namespace fr

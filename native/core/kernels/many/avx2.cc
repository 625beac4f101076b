// Many-query scores (kernels/many/many_impl.h) for AVX2 + FMA + F16C: tiles of
// 2 queries x 5 rows, 10 ymm accumulators + 2 query registers + 1 row register.
#include <immintrin.h>

#include "../kernels.h"
#include "many_impl.h"

namespace fr {

namespace {
struct V256 {
  using Reg = __m256;
  static constexpr bool kSum4 = false;
  static constexpr size_t kWidth = 8;
  static Reg Zero() { return _mm256_setzero_ps(); }
  static Reg Load(const float* p) { return _mm256_load_ps(p); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float Sum(Reg a) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
  }
};
struct RowsF32 {
  using T = float;
  static __m256 Load(const float* p) {
    __m256 v = _mm256_load_ps(p);
    __asm__("" : "+x"(v));  // one load, not one per FMA (see many/avx512.cc)
    return v;
  }
};
struct RowsF16 {
  using T = uint16_t;
  static __m256 Load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
struct RowsI8 {
  using T = int8_t;
  static __m256 Load(const int8_t* p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
  }
};
}  // namespace

void score_many_f32_avx2(const float* q, size_t qstride, size_t nq, const float* base, size_t stride,
                         const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<V256, RowsF32, 2, 5>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_f16_avx2(const float* q, size_t qstride, size_t nq, const uint16_t* base, size_t stride,
                         const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<V256, RowsF16, 2, 5>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_i8_avx2(const float* q, size_t qstride, size_t nq, const int8_t* base, size_t stride,
                        const float* scales, const uint32_t* rows, size_t n, size_t pdim, float* out,
                        size_t ldo) {
  many_impl::ScoreMany<V256, RowsI8, 2, 5>(q, qstride, nq, base, stride, scales, rows, n, pdim, out, ldo);
}

}  // namespace fr

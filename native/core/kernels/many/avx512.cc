// Many-query scores (kernels/many/many_impl.h) for AVX-512: tiles of 4 queries
// x 6 rows, 24 zmm accumulators + 4 query registers + 1 row register.
#include <immintrin.h>

#include "../kernels.h"
#include "many_impl.h"

namespace fr {

namespace {
struct V512 {
  using Reg = __m512;
  static constexpr size_t kWidth = 16;
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg Load(const float* p) { return _mm512_load_ps(p); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float Sum(Reg a) { return _mm512_reduce_add_ps(a); }
  static constexpr bool kSum4 = true;
  static void Sum4(Reg a, Reg b, Reg c, Reg d, float* out) {
    // Within each 128-bit lane: interleave pairs and add, then the two
    // pairs, leaving [sa, sb, sc, sd] partial sums per lane; then fold the
    // four lanes.
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                      _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd),
                                      _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1)));
  }
};
struct RowsF32 {
  using T = float;
  static __m512 Load(const float* p) {
    // Kept in a register: GCC otherwise folds the load into each of the 4
    // FMAs that use it, 28 loads per 24 FMAs, which made the tile load-bound
    // (0.71 of the FMA probe instead of 0.8+).
    __m512 v = _mm512_load_ps(p);
    __asm__("" : "+v"(v));
    return v;
  }
};
struct RowsF16 {
  using T = uint16_t;
  static __m512 Load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
struct RowsI8 {
  using T = int8_t;
  static __m512 Load(const int8_t* p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p))));
  }
};
}  // namespace

void score_many_f32_avx512(const float* q, size_t qstride, size_t nq, const float* base, size_t stride,
                           const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<V512, RowsF32, 4, 6>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_f16_avx512(const float* q, size_t qstride, size_t nq, const uint16_t* base, size_t stride,
                           const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<V512, RowsF16, 4, 6>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_i8_avx512(const float* q, size_t qstride, size_t nq, const int8_t* base, size_t stride,
                          const float* scales, const uint32_t* rows, size_t n, size_t pdim, float* out,
                          size_t ldo) {
  many_impl::ScoreMany<V512, RowsI8, 4, 6>(q, qstride, nq, base, stride, scales, rows, n, pdim, out, ldo);
}

}  // namespace fr

// 4-bit navigation codes for AVX2: nibbles are split with a mask and a
// shift, multiplied by the int8 query with vpmaddubsw (at most 2 x 15 x 127
// per pair, so the int16 never saturates) and widened with vpmaddwd.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

namespace {

inline int32_t Sum(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1)));
}

inline __m256i Dot(__m256i codes, const int8_t* q_lo, const int8_t* q_hi, __m256i acc) {
  const __m256i mask = _mm256_set1_epi8(15);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i lo = _mm256_and_si256(codes, mask);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(codes, 4), mask);
  const __m256i a = _mm256_maddubs_epi16(lo, _mm256_load_si256(reinterpret_cast<const __m256i*>(q_lo)));
  const __m256i b = _mm256_maddubs_epi16(hi, _mm256_load_si256(reinterpret_cast<const __m256i*>(q_hi)));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(a, b), ones));
}

}  // namespace

void score_u4_avx2(const int8_t* q, const uint8_t* base, size_t stride, const uint32_t* rows,
                   size_t n, size_t cdim, int32_t* out) {
  const size_t blocks = cdim / kU4Block;
  for (size_t i = 0; i < n; ++i) {
    if (i + 4 < n) {
      const char* next = reinterpret_cast<const char*>(base + size_t(rows[i + 4]) * stride);
      for (size_t line = 0; line < stride; line += 64) _mm_prefetch(next + line, _MM_HINT_NTA);
    }
    const uint8_t* r = base + size_t(rows[i]) * stride;
    __m256i acc = _mm256_setzero_si256();
    for (size_t b = 0; b < blocks; ++b) {
      const uint8_t* block = r + b * 64;
      const int8_t* qb = q + b * kU4Block;
      acc = Dot(_mm256_load_si256(reinterpret_cast<const __m256i*>(block)), qb, qb + 64, acc);
      acc = Dot(_mm256_load_si256(reinterpret_cast<const __m256i*>(block + 32)), qb + 32, qb + 96, acc);
    }
    out[i] = Sum(acc);
  }
}

}  // namespace fr

// 4-bit navigation codes for AVX-512 (BW): one 64-byte block per step,
// nibbles split with a mask and a shift, vpmaddubsw + vpmaddwd. Four rows
// share each query load; the next four rows are prefetched meanwhile, with
// the non-temporal hint (a search reads each code row once; see hnsw.cc).
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

namespace {

template <bool kVnni>
inline __m512i Dot(__m512i codes, __m512i q_lo, __m512i q_hi, __m512i acc) {
  const __m512i mask = _mm512_set1_epi8(15);
  const __m512i lo = _mm512_and_si512(codes, mask);
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(codes, 4), mask);
#if defined(__AVX512VNNI__)
  if constexpr (kVnni) return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc, lo, q_lo), hi, q_hi);
#endif
  const __m512i pairs = _mm512_add_epi16(_mm512_maddubs_epi16(lo, q_lo), _mm512_maddubs_epi16(hi, q_hi));
  return _mm512_add_epi32(acc, _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)));
}

template <bool kVnni>
void ScoreU4(const int8_t* q, const uint8_t* base, size_t stride, const uint32_t* rows, size_t n,
             size_t cdim, int32_t* out) {
  const size_t blocks = cdim / kU4Block;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint8_t* r[4];
    for (int t = 0; t < 4; ++t) r[t] = base + size_t(rows[i + t]) * stride;
    for (size_t t = i + 4; t < i + 8 && t < n; ++t) {
      const char* next = reinterpret_cast<const char*>(base + size_t(rows[t]) * stride);
      for (size_t line = 0; line < stride; line += 64) _mm_prefetch(next + line, _MM_HINT_NTA);
    }
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (size_t b = 0; b < blocks; ++b) {
      const __m512i q_lo = _mm512_load_si512(q + b * kU4Block);
      const __m512i q_hi = _mm512_load_si512(q + b * kU4Block + 64);
      for (int t = 0; t < 4; ++t) acc[t] = Dot<kVnni>(_mm512_load_si512(r[t] + b * 64), q_lo, q_hi, acc[t]);
    }
    for (int t = 0; t < 4; ++t) out[i + t] = _mm512_reduce_add_epi32(acc[t]);
  }
  for (; i < n; ++i) {
    const uint8_t* r = base + size_t(rows[i]) * stride;
    __m512i acc = _mm512_setzero_si512();
    for (size_t b = 0; b < blocks; ++b)
      acc = Dot<kVnni>(_mm512_load_si512(r + b * 64), _mm512_load_si512(q + b * kU4Block),
                       _mm512_load_si512(q + b * kU4Block + 64), acc);
    out[i] = _mm512_reduce_add_epi32(acc);
  }
}

}  // namespace

#if !defined(FR_U4_VNNI)
void score_u4_avx512(const int8_t* q, const uint8_t* base, size_t stride, const uint32_t* rows,
                     size_t n, size_t cdim, int32_t* out) {
  ScoreU4<false>(q, base, stride, rows, n, cdim, out);
}
#endif

}  // namespace fr

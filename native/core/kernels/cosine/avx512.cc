// Scoring kernels for AVX-512 (F+BW+DQ+VL). Compiled with its own target
// flags; only called after cpu.cc confirmed the CPU and OS support them.
//
// f32 rows: one FMA per 16 elements, memory bound.
// f16 rows: the AVX2 kernel (see score_f16_avx512).
// i8 rows: the query is quantised to int16 once per call and multiplied with
//   vpmaddwd into int32 accumulators, flushed to float before they can
//   overflow; then scaled by (query scale * row scale).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels.h"

namespace fr {

namespace {

inline float Sum(__m512 v) { return _mm512_reduce_add_ps(v); }

#include "avx512_i8.inc"

// ---- per-dtype chunk operations -------------------------------------------

struct F32 {
  using Row = float;
  using Query = float;
  static constexpr size_t kChunk = 16;
  static inline void Acc(const Query* q, const Row* r, size_t j, __m512& acc) {
    acc = _mm512_fmadd_ps(_mm512_load_ps(r + j), _mm512_load_ps(q + j), acc);
  }
};

// ---- drivers ----------------------------------------------------------------

// Four gathered rows share each query load; the next four are prefetched
// line by line meanwhile (random rows defeat the hardware prefetcher).
template <typename K>
inline void Float4(const typename K::Query* q, const typename K::Row* const* r,
                   const typename K::Row* const* next, size_t pdim, float* out) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  constexpr size_t kLine = 64 / sizeof(typename K::Row);
  for (size_t j = 0; j < pdim; j += K::kChunk) {
    if (next && j % kLine == 0)
      for (int t = 0; t < 4; ++t) _mm_prefetch(reinterpret_cast<const char*>(next[t] + j), _MM_HINT_T0);
    K::Acc(q, r[0], j, a0);
    K::Acc(q, r[1], j, a1);
    K::Acc(q, r[2], j, a2);
    K::Acc(q, r[3], j, a3);
  }
  out[0] = Sum(a0);
  out[1] = Sum(a1);
  out[2] = Sum(a2);
  out[3] = Sum(a3);
}

// One row at a time with four independent accumulators: contiguous rows then
// form a single sequential stream, which the hardware prefetcher follows at
// full memory bandwidth (interleaving four rows measured 1.8x slower).
template <typename K>
inline float Float1(const typename K::Query* q, const typename K::Row* r, size_t pdim) {
  __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  size_t j = 0;
  for (; j + 4 * K::kChunk <= pdim; j += 4 * K::kChunk)
    for (int t = 0; t < 4; ++t) K::Acc(q, r, j + t * K::kChunk, a[t]);
  for (int t = 0; j < pdim; j += K::kChunk, ++t) K::Acc(q, r, j, a[t]);
  return Sum(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])));
}

template <typename K, typename RowOf>
void FloatRows(const typename K::Query* q, RowOf row_of, const uint32_t* rows, size_t n,
               size_t pdim, float* out) {
  if (!rows) {
    for (size_t i = 0; i < n; ++i) out[i] = Float1<K>(q, row_of(i), pdim);
    return;
  }
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const typename K::Row* r[4];
    const typename K::Row* next[4];
    for (int t = 0; t < 4; ++t) r[t] = row_of(rows[i + t]);
    const bool prefetch = i + 8 <= n;
    if (prefetch)
      for (int t = 0; t < 4; ++t) next[t] = row_of(rows[i + 4 + t]);
    Float4<K>(q, r, prefetch ? next : nullptr, pdim, out + i);
  }
  for (; i < n; ++i) out[i] = Float1<K>(q, row_of(rows[i]), pdim);
}

}  // namespace

void score_f32_avx512(const float* q, const float* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  FloatRows<F32>(q, [=](size_t row) { return base + row * stride; }, rows, n, pdim, out);
}

// 256-bit vcvtph2ps measured faster than the 512-bit form on Zen 4, which
// issues it at half rate (f16 gathered: ~27 us vs ~31 us per 1000 x 768), so
// this tier reuses the AVX2 kernel. Revisit with measurements on Intel cores.
void score_f16_avx512(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  score_f16_avx2(q, base, stride, rows, n, pdim, out);
}

void score_i8_avx512(const float* q, const int8_t* base, size_t stride, const float* scales,
                     const uint32_t* rows, size_t n, size_t pdim, float* out) {
  ScoreI8<false>(q, base, stride, scales, rows, n, pdim, out);
}

}  // namespace fr

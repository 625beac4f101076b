// Scoring kernels for AVX2 + FMA + F16C (x86-64-v3). Compiled with its own
// target flags; only called after cpu.cc confirmed the CPU supports them.
// Same shapes as avx512.cc: four gathered rows per block with the next four
// prefetched; contiguous rows streamed one at a time; int8 rows against an
// int16-quantised query with vpmaddwd.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels.h"

namespace fr {

namespace {

inline float Sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float SumI(__m256i v) {
  const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  const __m128i s2 = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  return static_cast<float>(_mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0xB1))));
}

#include "query_i16.inc"

// Each op handles 16 elements (one 64-byte f32 line, two 256-bit halves).
struct F32 {
  using Row = float;
  using Acc = __m256;
  static inline void Add(const float* q, const float* r, size_t j, Acc& a, Acc& b) {
    a = _mm256_fmadd_ps(_mm256_load_ps(r + j), _mm256_load_ps(q + j), a);
    b = _mm256_fmadd_ps(_mm256_load_ps(r + j + 8), _mm256_load_ps(q + j + 8), b);
  }
  static inline float Total(Acc a, Acc b) { return Sum(_mm256_add_ps(a, b)); }
  static inline Acc Zero() { return _mm256_setzero_ps(); }
};

struct F16 {
  using Row = uint16_t;
  using Acc = __m256;
  static inline void Add(const float* q, const uint16_t* r, size_t j, Acc& a, Acc& b) {
    a = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(r + j))),
                        _mm256_load_ps(q + j), a);
    b = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(r + j + 8))),
                        _mm256_load_ps(q + j + 8), b);
  }
  static inline float Total(Acc a, Acc b) { return Sum(_mm256_add_ps(a, b)); }
  static inline Acc Zero() { return _mm256_setzero_ps(); }
};

template <typename K, typename Q>
inline void Block4(const Q* q, const typename K::Row* const* r, const typename K::Row* const* next,
                   size_t pdim, float* out) {
  typename K::Acc a[4], b[4];
  for (int t = 0; t < 4; ++t) a[t] = b[t] = K::Zero();
  constexpr size_t kLine = 64 / sizeof(typename K::Row);
  for (size_t j = 0; j < pdim; j += 16) {
    if (next && j % kLine == 0)
      for (int t = 0; t < 4; ++t) _mm_prefetch(reinterpret_cast<const char*>(next[t] + j), _MM_HINT_T0);
    for (int t = 0; t < 4; ++t) K::Add(q, r[t], j, a[t], b[t]);
  }
  for (int t = 0; t < 4; ++t) out[t] = K::Total(a[t], b[t]);
}

template <typename K, typename Q>
inline float Row1(const Q* q, const typename K::Row* r, size_t pdim) {
  typename K::Acc a0 = K::Zero(), b0 = K::Zero(), a1 = K::Zero(), b1 = K::Zero();
  size_t j = 0;
  for (; j + 32 <= pdim; j += 32) {
    K::Add(q, r, j, a0, b0);
    K::Add(q, r, j + 16, a1, b1);
  }
  if (j < pdim) K::Add(q, r, j, a0, b0);
  return K::Total(a0, b0) + K::Total(a1, b1);
}

template <typename K, typename Q>
void ScoreRows(const Q* q, const typename K::Row* base, size_t stride, const uint32_t* rows,
               size_t n, size_t pdim, float* out) {
  auto row_of = [=](size_t row) { return base + row * stride; };
  size_t i = 0;
  if (rows) {
    for (; i + 4 <= n; i += 4) {
      const typename K::Row* r[4];
      const typename K::Row* next[4];
      for (int t = 0; t < 4; ++t) r[t] = row_of(rows[i + t]);
      const bool prefetch = i + 8 <= n;
      if (prefetch)
        for (int t = 0; t < 4; ++t) next[t] = row_of(rows[i + 4 + t]);
      Block4<K>(q, r, prefetch ? next : nullptr, pdim, out + i);
    }
  }
  for (; i < n; ++i) out[i] = Row1<K>(q, row_of(rows ? rows[i] : i), pdim);
}

// int8 rows: int32 accumulators, flushed to float every kFlush elements
// (per lane at most 2 products of 32767*127 per 16 elements: 4096 elements
// keep the lane far below 2^31).
constexpr size_t kFlush = 4096;

struct I8 {
  using Row = int8_t;
  using Acc = __m256i;
  static inline void Add(const int16_t* q, const int8_t* r, size_t j, Acc& a, Acc&) {
    const __m256i w = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(r + j)));
    a = _mm256_add_epi32(a, _mm256_madd_epi16(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + j))));
  }
  static inline Acc Zero() { return _mm256_setzero_si256(); }
};

// pdim of int8 rows is a multiple of 64, so blocks of kFlush split evenly
// into 16-element steps.
template <typename Fn>
inline float Flushed(size_t pdim, Fn&& block) {
  float total = 0;
  for (size_t start = 0; start < pdim; start += kFlush) total += block(start, std::min(pdim, start + kFlush));
  return total;
}

}  // namespace

void score_f32_avx2(const float* q, const float* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  ScoreRows<F32>(q, base, stride, rows, n, pdim, out);
}

void score_f16_avx2(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  ScoreRows<F16>(q, base, stride, rows, n, pdim, out);
}

void score_i8_avx2(const float* q, const int8_t* base, size_t stride, const float* scales,
                   const uint32_t* rows, size_t n, size_t pdim, float* out) {
  float qscale;
  const int16_t* q16 = PrepareI8(q, pdim, &qscale);

  size_t i = 0;
  if (rows) {
    for (; i + 4 <= n; i += 4) {
      const int8_t* r[4];
      for (int t = 0; t < 4; ++t) r[t] = base + rows[i + t] * stride;
      const bool prefetch = i + 8 <= n;
      float total[4] = {0, 0, 0, 0};
      for (size_t start = 0; start < pdim; start += kFlush) {
        const size_t end = std::min(pdim, start + kFlush);
        __m256i a[4] = {I8::Zero(), I8::Zero(), I8::Zero(), I8::Zero()};
        __m256i unused;
        for (size_t j = start; j < end; j += 16) {
          if (prefetch && j % 64 == 0)
            for (int t = 0; t < 4; ++t)
              _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + 4 + t] * stride + j), _MM_HINT_T0);
          for (int t = 0; t < 4; ++t) I8::Add(q16, r[t], j, a[t], unused);
        }
        for (int t = 0; t < 4; ++t) total[t] += SumI(a[t]);
      }
      for (int t = 0; t < 4; ++t) out[i + t] = total[t];
    }
  }
  for (; i < n; ++i) {
    const int8_t* r = base + (rows ? rows[i] : i) * stride;
    out[i] = Flushed(pdim, [&](size_t start, size_t end) {
      __m256i a0 = I8::Zero(), a1 = I8::Zero(), unused;
      size_t j = start;
      for (; j + 32 <= end; j += 32) {
        I8::Add(q16, r, j, a0, unused);
        I8::Add(q16, r, j + 16, a1, unused);
      }
      if (j < end) I8::Add(q16, r, j, a0, unused);
      return SumI(_mm256_add_epi32(a0, a1));
    });
  }
  for (size_t k = 0; k < n; ++k) out[k] *= qscale * scales[rows ? rows[k] : k];
}

}  // namespace fr

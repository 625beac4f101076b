// Scoring kernels for AVX-512 (F+BW+DQ+VL). Compiled with its own target
// flags; only called after cpu.cc confirmed the CPU and OS support them.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

namespace {
// Four rows share each query load; four accumulators hide FMA latency and
// keep four independent streams in flight for gathered (random) rows.
template <typename Row, typename LoadRow>
inline void Score4(const float* q, const Row* r0, const Row* r1, const Row* r2, const Row* r3,
                   size_t pdim, LoadRow load, float* out) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  for (size_t j = 0; j < pdim; j += 16) {
    const __m512 qv = _mm512_load_ps(q + j);
    a0 = _mm512_fmadd_ps(load(r0 + j), qv, a0);
    a1 = _mm512_fmadd_ps(load(r1 + j), qv, a1);
    a2 = _mm512_fmadd_ps(load(r2 + j), qv, a2);
    a3 = _mm512_fmadd_ps(load(r3 + j), qv, a3);
  }
  out[0] = _mm512_reduce_add_ps(a0);
  out[1] = _mm512_reduce_add_ps(a1);
  out[2] = _mm512_reduce_add_ps(a2);
  out[3] = _mm512_reduce_add_ps(a3);
}

template <typename Row, typename LoadRow>
inline float Score1(const float* q, const Row* r, size_t pdim, LoadRow load) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= pdim; j += 32) {
    a0 = _mm512_fmadd_ps(load(r + j), _mm512_load_ps(q + j), a0);
    a1 = _mm512_fmadd_ps(load(r + j + 16), _mm512_load_ps(q + j + 16), a1);
  }
  if (j < pdim) a0 = _mm512_fmadd_ps(load(r + j), _mm512_load_ps(q + j), a0);
  return _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

template <typename Row, typename LoadRow>
inline void ScoreRows(const float* q, const Row* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, LoadRow load, float* out) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Row* r0 = base + (rows ? rows[i] : i) * stride;
    const Row* r1 = base + (rows ? rows[i + 1] : i + 1) * stride;
    const Row* r2 = base + (rows ? rows[i + 2] : i + 2) * stride;
    const Row* r3 = base + (rows ? rows[i + 3] : i + 3) * stride;
    if (rows && i + 8 <= n) {
      // Gathered rows defeat the hardware prefetcher at row starts.
      _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + 4] * stride), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + 5] * stride), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + 6] * stride), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + 7] * stride), _MM_HINT_T0);
    }
    Score4(q, r0, r1, r2, r3, pdim, load, out + i);
  }
  for (; i < n; ++i) out[i] = Score1(q, base + (rows ? rows[i] : i) * stride, pdim, load);
}
}  // namespace

void score_f32_avx512(const float* q, const float* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim, [](const float* p) { return _mm512_load_ps(p); },
            out);
}

void score_f16_avx512(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim,
            [](const uint16_t* p) {
              return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
            },
            out);
}

void score_i8_avx512(const float* q, const int8_t* base, size_t stride, const float* scales,
                     const uint32_t* rows, size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim,
            [](const int8_t* p) {
              return _mm512_cvtepi32_ps(
                  _mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p))));
            },
            out);
  for (size_t i = 0; i < n; ++i) out[i] *= scales[rows ? rows[i] : i];
}

}  // namespace fr

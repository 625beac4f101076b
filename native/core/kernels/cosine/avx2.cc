// Scoring kernels for AVX2 + FMA + F16C (x86-64-v3). Compiled with its own
// target flags; only called after cpu.cc confirmed the CPU supports them.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

namespace {
inline float HorizontalSum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Four rows share each query load; two accumulators per row (8 in flight)
// hide the FMA latency on 256-bit units.
template <typename Row, typename LoadRow>
inline void Score4(const float* q, const Row* r0, const Row* r1, const Row* r2, const Row* r3,
                   size_t pdim, LoadRow load, float* out) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
  __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
  for (size_t j = 0; j < pdim; j += 16) {
    const __m256 qa = _mm256_load_ps(q + j);
    const __m256 qb = _mm256_load_ps(q + j + 8);
    a0 = _mm256_fmadd_ps(load(r0 + j), qa, a0);
    b0 = _mm256_fmadd_ps(load(r0 + j + 8), qb, b0);
    a1 = _mm256_fmadd_ps(load(r1 + j), qa, a1);
    b1 = _mm256_fmadd_ps(load(r1 + j + 8), qb, b1);
    a2 = _mm256_fmadd_ps(load(r2 + j), qa, a2);
    b2 = _mm256_fmadd_ps(load(r2 + j + 8), qb, b2);
    a3 = _mm256_fmadd_ps(load(r3 + j), qa, a3);
    b3 = _mm256_fmadd_ps(load(r3 + j + 8), qb, b3);
  }
  out[0] = HorizontalSum(_mm256_add_ps(a0, b0));
  out[1] = HorizontalSum(_mm256_add_ps(a1, b1));
  out[2] = HorizontalSum(_mm256_add_ps(a2, b2));
  out[3] = HorizontalSum(_mm256_add_ps(a3, b3));
}

template <typename Row, typename LoadRow>
inline float Score1(const float* q, const Row* r, size_t pdim, LoadRow load) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (size_t j = 0; j < pdim; j += 16) {
    a0 = _mm256_fmadd_ps(load(r + j), _mm256_load_ps(q + j), a0);
    a1 = _mm256_fmadd_ps(load(r + j + 8), _mm256_load_ps(q + j + 8), a1);
  }
  return HorizontalSum(_mm256_add_ps(a0, a1));
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

void score_f32_avx2(const float* q, const float* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim, [](const float* p) { return _mm256_load_ps(p); },
            out);
}

void score_f16_avx2(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                    size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim,
            [](const uint16_t* p) {
              return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
            },
            out);
}

void score_i8_avx2(const float* q, const int8_t* base, size_t stride, const float* scales,
                   const uint32_t* rows, size_t n, size_t pdim, float* out) {
  ScoreRows(q, base, stride, rows, n, pdim,
            [](const int8_t* p) {
              return _mm256_cvtepi32_ps(
                  _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
            },
            out);
  for (size_t i = 0; i < n; ++i) out[i] *= scales[rows ? rows[i] : i];
}

}  // namespace fr

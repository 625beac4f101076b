// Physical-limit probes with AVX2 + FMA.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

constexpr int kChains256 = 12;
const uint64_t kProbeFmaFlops_avx2 = kChains256 * 8 * 2;

uint64_t probe_read_avx2(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                         size_t n, size_t row_bytes) {
  // The same access pattern as the scoring kernels, minus the arithmetic:
  // gathered rows four at a time with the next four prefetched line by line;
  // contiguous rows as one sequential stream.
  __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), a2 = _mm256_setzero_si256(), a3 = _mm256_setzero_si256();
  size_t i = 0;
  if (rows) {
    for (; i + 4 <= n; i += 4) {
      const uint8_t* r0 = base + rows[i] * stride_bytes;
      const uint8_t* r1 = base + rows[i + 1] * stride_bytes;
      const uint8_t* r2 = base + rows[i + 2] * stride_bytes;
      const uint8_t* r3 = base + rows[i + 3] * stride_bytes;
      const bool prefetch = i + 8 <= n;
      for (size_t j = 0; j < row_bytes; j += 32) {
        if (prefetch && j % 64 == 0)
          for (int t = 4; t < 8; ++t)
            _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + t] * stride_bytes + j), _MM_HINT_T0);
        a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(r0 + j)));
        a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(r1 + j)));
        a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(r2 + j)));
        a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(r3 + j)));
      }
    }
  }
  for (; i < n; ++i) {
    const uint8_t* r = base + (rows ? rows[i] : i) * stride_bytes;
    size_t j = 0;
    for (; j + 4 * 32 <= row_bytes; j += 4 * 32) {
      a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(r + j)));
      a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(r + j + 32)));
      a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(r + j + 64)));
      a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(r + j + 96)));
    }
    for (; j < row_bytes; j += 32) a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(r + j)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), x);
  return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
}

float probe_fma_avx2(uint64_t iterations, float seed) {
  __m256 acc[kChains256];
  for (int k = 0; k < kChains256; ++k) acc[k] = _mm256_set1_ps(seed + static_cast<float>(k));
  const __m256 m = _mm256_set1_ps(0.999f), a = _mm256_set1_ps(0.001f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (int k = 0; k < kChains256; ++k) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
  __m256 sum = acc[0];
  for (int k = 1; k < kChains256; ++k) sum = _mm256_add_ps(sum, acc[k]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

}  // namespace fr

// Physical-limit probes with AVX-512: the widest loads, and as many
// independent 512-bit FMA chains as the core can keep in flight.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

constexpr int kChains512 = 12;
const uint64_t kProbeFmaFlops_avx512 = kChains512 * 16 * 2;

uint64_t probe_read_avx512(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                           size_t n, size_t row_bytes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
  __m512i a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = base + (rows ? rows[i] : i) * stride_bytes;
    size_t j = 0;
    for (; j + 256 <= row_bytes; j += 256) {
      a0 = _mm512_xor_si512(a0, _mm512_load_si512(r + j));
      a1 = _mm512_xor_si512(a1, _mm512_load_si512(r + j + 64));
      a2 = _mm512_xor_si512(a2, _mm512_load_si512(r + j + 128));
      a3 = _mm512_xor_si512(a3, _mm512_load_si512(r + j + 192));
    }
    for (; j < row_bytes; j += 64) a0 = _mm512_xor_si512(a0, _mm512_load_si512(r + j));
  }
  const __m512i x = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(x));
}

float probe_fma_avx512(uint64_t iterations, float seed) {
  __m512 acc[kChains512];
  for (int k = 0; k < kChains512; ++k) acc[k] = _mm512_set1_ps(seed + static_cast<float>(k));
  const __m512 m = _mm512_set1_ps(0.999f), a = _mm512_set1_ps(0.001f);
  for (uint64_t it = 0; it < iterations; ++it)
    for (int k = 0; k < kChains512; ++k) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
  __m512 sum = acc[0];
  for (int k = 1; k < kChains512; ++k) sum = _mm512_add_ps(sum, acc[k]);
  return _mm512_reduce_add_ps(sum);
}

}  // namespace fr

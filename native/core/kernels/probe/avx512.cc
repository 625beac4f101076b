// Physical-limit probes with AVX-512: the widest loads, and as many
// independent 512-bit FMA chains as the core can keep in flight.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

constexpr int kChains512 = 12;
const uint64_t kProbeFmaFlops_avx512 = kChains512 * 16 * 2;

uint64_t probe_read_avx512(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                         size_t n, size_t row_bytes) {
  // The same access pattern as the scoring kernels, minus the arithmetic:
  // gathered rows four at a time with the next four prefetched line by line;
  // contiguous rows as one sequential stream.
  __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), a2 = _mm512_setzero_si512(), a3 = _mm512_setzero_si512();
  size_t i = 0;
  if (rows) {
    for (; i + 4 <= n; i += 4) {
      const uint8_t* r0 = base + rows[i] * stride_bytes;
      const uint8_t* r1 = base + rows[i + 1] * stride_bytes;
      const uint8_t* r2 = base + rows[i + 2] * stride_bytes;
      const uint8_t* r3 = base + rows[i + 3] * stride_bytes;
      const bool prefetch = i + 8 <= n;
      for (size_t j = 0; j < row_bytes; j += 64) {
        if (prefetch && j % 64 == 0)
          for (int t = 4; t < 8; ++t)
            _mm_prefetch(reinterpret_cast<const char*>(base + rows[i + t] * stride_bytes + j), _MM_HINT_T0);
        a0 = _mm512_xor_si512(a0, _mm512_load_si512(r0 + j));
        a1 = _mm512_xor_si512(a1, _mm512_load_si512(r1 + j));
        a2 = _mm512_xor_si512(a2, _mm512_load_si512(r2 + j));
        a3 = _mm512_xor_si512(a3, _mm512_load_si512(r3 + j));
      }
    }
  }
  for (; i < n; ++i) {
    const uint8_t* r = base + (rows ? rows[i] : i) * stride_bytes;
    size_t j = 0;
    for (; j + 4 * 64 <= row_bytes; j += 4 * 64) {
      a0 = _mm512_xor_si512(a0, _mm512_load_si512(r + j));
      a1 = _mm512_xor_si512(a1, _mm512_load_si512(r + j + 64));
      a2 = _mm512_xor_si512(a2, _mm512_load_si512(r + j + 128));
      a3 = _mm512_xor_si512(a3, _mm512_load_si512(r + j + 192));
    }
    for (; j < row_bytes; j += 64) a0 = _mm512_xor_si512(a0, _mm512_load_si512(r + j));
  }
  // The same checksum as the other tiers: the xor of every 64-bit word read.
  const __m512i x = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, x);
  return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3] ^ lanes[4] ^ lanes[5] ^ lanes[6] ^ lanes[7];
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

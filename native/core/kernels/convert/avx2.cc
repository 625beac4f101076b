// binary16 -> binary32 with F16C, eight elements per instruction. Rows are
// decoded whole for rerank features and MMR, where the scalar conversion
// cost ~4 ns per element.
#include <immintrin.h>

#include "../kernels.h"

namespace fr {

void decode_f16_avx2(const uint16_t* src, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) out[i] = HalfToFloat(src[i]);
}

}  // namespace fr

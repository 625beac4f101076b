// binary16 -> binary32 for the AVX-512 tier: the AVX2 kernel, as for scoring
// (Zen 4 issues the 512-bit vcvtph2ps at half rate; see cosine/avx512.cc).
#include "../kernels.h"

namespace fr {

void decode_f16_avx512(const uint16_t* src, size_t n, float* out) { decode_f16_avx2(src, n, out); }

}  // namespace fr

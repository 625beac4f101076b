// 4-bit navigation codes with AVX-512 VNNI: vpdpbusd multiplies the unsigned
// nibbles by the int8 query and accumulates in one instruction (two per 64
// code bytes). Same loop as avx512.cc.
#define FR_U4_VNNI 1
#include "avx512.cc"

namespace fr {

void score_u4_avx512vnni(const int8_t* q, const uint8_t* base, size_t stride,
                         const uint32_t* rows, size_t n, size_t cdim, int32_t* out) {
  ScoreU4<true>(q, base, stride, rows, n, cdim, out);
}

}  // namespace fr

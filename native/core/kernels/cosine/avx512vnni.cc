// Scoring kernels that need AVX-512 VNNI on top of the avx512 tier: int8 rows
// with vpdpwssd, which fuses the multiply-add and the accumulate of the
// avx512 kernel. The rest of the avx512vnni table reuses avx512 kernels.
//
// On Zen 4 this is bound by the issue rate of 512-bit dot-product
// instructions (two per 64 elements). Measured and rejected: 256-bit
// vpdpwssd (slower); vpdpbusd on raw rows with the int16 query split into two
// byte vectors (three per 64 elements: slower); widening by in-lane shifts
// instead of vpmovsxbw (same speed). One vpdpbusd per 64 elements would need
// an 8-bit query, whose systematic rounding can approach the i8 tolerance on
// vectors with one dominant component: precision was kept instead.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "../kernels.h"

namespace fr {

namespace {
#include "avx512_i8.inc"
}  // namespace

void score_i8_avx512vnni(const float* q, const int8_t* base, size_t stride, const float* scales,
                         const uint32_t* rows, size_t n, size_t pdim, float* out) {
  ScoreI8<true>(q, base, stride, scales, rows, n, pdim, out);
}

}  // namespace fr

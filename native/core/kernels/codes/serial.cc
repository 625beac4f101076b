// 4-bit navigation codes (see ScoreU4Fn in kernels.h), portable reference.
// Every tier computes the same integers, so tests compare them exactly.
#include "../kernels.h"

namespace fr {

void score_u4_serial(const int8_t* q, const uint8_t* base, size_t stride, const uint32_t* rows,
                     size_t n, size_t cdim, int32_t* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = base + size_t(rows[i]) * stride;
    int32_t sum = 0;
    for (size_t b = 0; b < cdim / kU4Block; ++b) {
      const uint8_t* block = r + b * (kU4Block / 2);
      const int8_t* qb = q + b * kU4Block;
      for (size_t j = 0; j < kU4Block / 2; ++j) {
        sum += int32_t(qb[j]) * (block[j] & 15);
        sum += int32_t(qb[j + kU4Block / 2]) * (block[j] >> 4);
      }
    }
    out[i] = sum;
  }
}

}  // namespace fr

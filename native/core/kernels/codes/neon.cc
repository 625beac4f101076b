// 4-bit navigation codes on NEON: the portable loop (the compiler vectorises
// it with the NEON flags this file is built with).
#include "../kernels.h"

namespace fr {

void score_u4_neon(const int8_t* q, const uint8_t* base, size_t stride, const uint32_t* rows,
                   size_t n, size_t cdim, int32_t* out) {
  score_u4_serial(q, base, stride, rows, n, cdim, out);
}

}  // namespace fr

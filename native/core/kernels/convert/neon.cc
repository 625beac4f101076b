// binary16 -> binary32 with NEON's fcvtl, four elements per instruction.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "../kernels.h"

namespace fr {

void decode_f16_neon(const uint16_t* src, size_t n, float* out) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) vst1q_f32(out + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
  for (; i < n; ++i) out[i] = HalfToFloat(src[i]);
}

}  // namespace fr
#endif

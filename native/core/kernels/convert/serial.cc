// binary16 -> binary32 conversion of a run of elements, in portable C++.
#include "../kernels.h"

namespace fr {

void decode_f16_serial(const uint16_t* src, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(src[i]);
}

}  // namespace fr

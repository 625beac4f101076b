// Scoring kernels in portable C++: the fallback on every CPU and the
// reference the SIMD kernels are tested against.
#include "../kernels.h"

namespace fr {

namespace {
template <typename Load>
inline float DotSerial(const float* q, size_t pdim, Load load) {
  // Eight partial sums: the same association order on every compiler, and
  // enough independent chains to keep a scalar FPU busy.
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t j = 0; j < pdim; j += 8)
    for (size_t l = 0; l < 8; ++l) acc[l] += q[j + l] * load(j + l);
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}
}  // namespace

void score_f32_serial(const float* q, const float* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float* r = base + (rows ? rows[i] : i) * stride;
    out[i] = DotSerial(q, pdim, [r](size_t j) { return r[j]; });
  }
}

void score_f16_serial(const float* q, const uint16_t* base, size_t stride, const uint32_t* rows,
                      size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* r = base + (rows ? rows[i] : i) * stride;
    out[i] = DotSerial(q, pdim, [r](size_t j) { return HalfToFloat(r[j]); });
  }
}

void score_i8_serial(const float* q, const int8_t* base, size_t stride, const float* scales,
                     const uint32_t* rows, size_t n, size_t pdim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const size_t row = rows ? rows[i] : i;
    const int8_t* r = base + row * stride;
    out[i] = scales[row] * DotSerial(q, pdim, [r](size_t j) { return static_cast<float>(r[j]); });
  }
}

}  // namespace fr

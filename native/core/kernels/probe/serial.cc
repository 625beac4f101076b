// Physical-limit probes in portable C++. The bench reports every kernel as a
// fraction of what these reach on the same bytes / the same core.
#include <cstring>

#include "../kernels.h"

namespace fr {

const uint64_t kProbeFmaFlops_serial = 8 * 2;

uint64_t probe_read_serial(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                           size_t n, size_t row_bytes) {
  uint64_t acc[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = base + (rows ? rows[i] : i) * stride_bytes;
    for (size_t j = 0; j < row_bytes; j += 32) {
      uint64_t w[4];
      std::memcpy(w, r + j, 32);
      acc[0] ^= w[0];
      acc[1] ^= w[1];
      acc[2] ^= w[2];
      acc[3] ^= w[3];
    }
  }
  return acc[0] ^ acc[1] ^ acc[2] ^ acc[3];
}

float probe_fma_serial(uint64_t iterations, float seed) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = seed + static_cast<float>(k);
  const float m = 0.999f, a = 0.001f;
  for (uint64_t it = 0; it < iterations; ++it)
    for (int k = 0; k < 8; ++k) acc[k] = acc[k] * m + a;
  float sum = 0;
  for (int k = 0; k < 8; ++k) sum += acc[k];
  return sum;
}

}  // namespace fr

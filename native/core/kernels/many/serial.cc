// Many-query scores (kernels/many/many_impl.h) in portable C++: the reference
// the SIMD tiers are tested against. Tiles of 2 queries x 2 rows.
#include "../kernels.h"
#include "many_impl.h"

namespace fr {

namespace {
struct VScalar {
  using Reg = float;
  static constexpr bool kSum4 = false;
  static constexpr size_t kWidth = 1;
  static Reg Zero() { return 0.0f; }
  static Reg Load(const float* p) { return *p; }
  static Reg Fma(Reg a, Reg b, Reg c) { return a * b + c; }
  static float Sum(Reg a) { return a; }
};
struct RowsF32 {
  using T = float;
  static float Load(const float* p) { return *p; }
};
struct RowsF16 {
  using T = uint16_t;
  static float Load(const uint16_t* p) { return HalfToFloat(*p); }
};
struct RowsI8 {
  using T = int8_t;
  static float Load(const int8_t* p) { return static_cast<float>(*p); }
};
}  // namespace

void score_many_f32_serial(const float* q, size_t qstride, size_t nq, const float* base, size_t stride,
                           const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<VScalar, RowsF32, 2, 2>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_f16_serial(const float* q, size_t qstride, size_t nq, const uint16_t* base, size_t stride,
                           const uint32_t* rows, size_t n, size_t pdim, float* out, size_t ldo) {
  many_impl::ScoreMany<VScalar, RowsF16, 2, 2>(q, qstride, nq, base, stride, nullptr, rows, n, pdim, out, ldo);
}
void score_many_i8_serial(const float* q, size_t qstride, size_t nq, const int8_t* base, size_t stride,
                          const float* scales, const uint32_t* rows, size_t n, size_t pdim, float* out,
                          size_t ldo) {
  many_impl::ScoreMany<VScalar, RowsI8, 2, 2>(q, qstride, nq, base, stride, scales, rows, n, pdim, out, ldo);
}

}  // namespace fr

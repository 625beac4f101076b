// Portable GEMM and activations: the reference every SIMD tier is tested
// against. Transcendentals come from <cmath> rather than the polynomials.
#include <cmath>

#include "als_impl.h"
#include "gemm_impl.h"

namespace fr {

namespace {
struct VScalar {
  using Reg = float;
  using Mask = bool;
  static constexpr size_t kWidth = 1;
  static float Sum(Reg a) { return a; }
  static Reg Zero() { return 0.0f; }
  static Reg Set1(float v) { return v; }
  static Reg Load(const float* p) { return *p; }
  static Reg LoadU(const float* p) { return *p; }
  static void StoreU(float* p, Reg v) { *p = v; }
  static Reg Add(Reg a, Reg b) { return a + b; }
  static Reg Sub(Reg a, Reg b) { return a - b; }
  static Reg Mul(Reg a, Reg b) { return a * b; }
  static Reg Div(Reg a, Reg b) { return a / b; }
  static Reg Fma(Reg a, Reg b, Reg c) { return a * b + c; }
  // Like MAXPS/MINPS: the second operand when either is NaN.
  static Reg Max(Reg a, Reg b) { return a > b ? a : b; }
  static Reg Min(Reg a, Reg b) { return a < b ? a : b; }
  static Reg Abs(Reg a) { return std::fabs(a); }
  static Mask Less(Reg a, Reg b) { return a < b; }
  static Reg Blend(Mask m, Reg a, Reg b) { return m ? b : a; }
  static Reg Round(Reg a) { return std::nearbyint(a); }
  static Reg Pow2(Reg n) { return std::ldexp(1.0f, static_cast<int>(n)); }
  static Reg Exp(Reg x) { return std::exp(x); }
  static Reg Erfc(Reg x) { return std::erfc(x); }
  static Reg Tanh(Reg x) { return std::tanh(x); }
};
}  // namespace

void gemm_f32_serial(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                     size_t panels, const float* bias, Activation act, float alpha, float beta,
                     float* y, size_t ldy) {
  gemm_impl::Gemm<VScalar, 4, 1, 48>(x, ldx, m, k, packed, panels, bias, act, alpha, beta, y, ldy);
}

void activate_f32_serial(float* y, size_t n, Activation act, float alpha, float beta) {
  gemm_impl::ActivateArray<VScalar>(y, n, act, alpha, beta);
}

void normalize_f32_serial(const float* x, size_t n, float epsilon, float scale, float* y) {
  gemm_impl::NormalizeRow<VScalar>(x, n, epsilon, scale, y);
}

void als_cg_serial(const AlsHalf& h, size_t begin, size_t end) { als_impl::CgRows<VScalar>(h, begin, end); }

void als_gram_serial(const float* x, size_t ld, size_t factors, size_t begin, size_t end, float* gram) {
  als_impl::GramRows<VScalar>(x, ld, factors, begin, end, gram);
}

double als_loss_serial(const AlsHalf& h, size_t begin, size_t end) { return als_impl::LossRows<VScalar>(h, begin, end); }

}  // namespace fr

// The GEMM micro-kernels and activation math, written once over a small
// vector interface `V` and instantiated by each kernels/gemm/<isa>.cc with its
// own V (defined there in an anonymous namespace, so every instantiation has
// internal linkage and no code compiled with one ISA's flags can be picked by
// the linker for another).
//
// V provides: Reg, Mask, kWidth (floats per register, dividing 16), Zero,
// Set1, Load (aligned), LoadU, Store (aligned), StoreU, Add, Sub, Mul, Div,
// Fma(a, b, c) = a * b + c, Max(a, b) / Min(a, b) returning b when either is
// NaN (so NaN propagates when the data is the second operand), Abs, Less(a, b),
// Blend(mask, a, b) = mask ? b : a, Round (to nearest), Pow2(n) = 2^n for an
// integral n in [-126, 127], Sum (horizontal), and Exp / Erfc / Tanh (defaulting to the
// polynomial versions below, which a scalar V may replace with <cmath>).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include "../kernels.h"

namespace fr {
namespace gemm_impl {

// exp(x) with range reduction to |r| <= ln2 / 2 and a degree-7 Taylor
// polynomial: relative error ~1e-7 over the clamped range.
template <class V>
inline typename V::Reg ExpPoly(typename V::Reg x) {
  using R = typename V::Reg;
  // Clamp so 2^n stays a normal number; data as the second operand keeps NaN.
  x = V::Min(V::Set1(88.0f), V::Max(V::Set1(-87.0f), x));
  const R n = V::Round(V::Mul(x, V::Set1(1.44269504088896341f)));
  R r = V::Fma(n, V::Set1(-0.693359375f), x);
  r = V::Fma(n, V::Set1(2.12194440e-4f), r);
  R p = V::Set1(1.0f / 5040.0f);
  p = V::Fma(p, r, V::Set1(1.0f / 720.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 120.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 24.0f));
  p = V::Fma(p, r, V::Set1(1.0f / 6.0f));
  p = V::Fma(p, r, V::Set1(0.5f));
  p = V::Fma(p, r, V::Set1(1.0f));
  p = V::Fma(p, r, V::Set1(1.0f));
  return V::Mul(p, V::Pow2(n));
}

// erfc(z) for z >= 0 with a fractional error below ~1.2e-7 (the Chebyshev
// fit published in Numerical Recipes, ch. 6.2).
template <class V>
inline typename V::Reg ErfcPoly(typename V::Reg z) {
  using R = typename V::Reg;
  const R t = V::Div(V::Set1(1.0f), V::Fma(z, V::Set1(0.5f), V::Set1(1.0f)));
  R p = V::Set1(0.17087277f);
  p = V::Fma(p, t, V::Set1(-0.82215223f));
  p = V::Fma(p, t, V::Set1(1.48851587f));
  p = V::Fma(p, t, V::Set1(-1.13520398f));
  p = V::Fma(p, t, V::Set1(0.27886807f));
  p = V::Fma(p, t, V::Set1(-0.18628806f));
  p = V::Fma(p, t, V::Set1(0.09678418f));
  p = V::Fma(p, t, V::Set1(0.37409196f));
  p = V::Fma(p, t, V::Set1(1.00002368f));
  p = V::Fma(p, t, V::Set1(-1.26551223f));
  const R arg = V::Sub(p, V::Mul(z, z));
  return V::Mul(t, V::Exp(arg));
}

// tanh: an odd Taylor polynomial near 0 (no cancellation), else
// 1 - 2 / (exp(2|x|) + 1), with the sign restored.
template <class V>
inline typename V::Reg TanhPoly(typename V::Reg x) {
  using R = typename V::Reg;
  const R a = V::Abs(x);
  const R x2 = V::Mul(x, x);
  R p = V::Set1(62.0f / 2835.0f);
  p = V::Fma(p, x2, V::Set1(-17.0f / 315.0f));
  p = V::Fma(p, x2, V::Set1(2.0f / 15.0f));
  p = V::Fma(p, x2, V::Set1(-1.0f / 3.0f));
  const R small = V::Fma(V::Mul(p, x2), x, x);
  const R e = V::Exp(V::Add(a, a));
  R large = V::Sub(V::Set1(1.0f), V::Div(V::Set1(2.0f), V::Add(e, V::Set1(1.0f))));
  large = V::Blend(V::Less(x, V::Zero()), large, V::Sub(V::Zero(), large));
  return V::Blend(V::Less(a, V::Set1(0.3f)), large, small);
}

// log(1 + t) for t in [0, 1] as 2 atanh(s), s = t / (2 + t) <= 1/3: odd
// series to s^15 (relative error below 2e-8), no cancellation for tiny t.
template <class V>
inline typename V::Reg Log1pUnit(typename V::Reg t) {
  using R = typename V::Reg;
  const R s = V::Div(t, V::Add(t, V::Set1(2.0f)));
  const R s2 = V::Mul(s, s);
  R p = V::Set1(1.0f / 15.0f);
  p = V::Fma(p, s2, V::Set1(1.0f / 13.0f));
  p = V::Fma(p, s2, V::Set1(1.0f / 11.0f));
  p = V::Fma(p, s2, V::Set1(1.0f / 9.0f));
  p = V::Fma(p, s2, V::Set1(1.0f / 7.0f));
  p = V::Fma(p, s2, V::Set1(1.0f / 5.0f));
  p = V::Fma(p, s2, V::Set1(1.0f / 3.0f));
  p = V::Fma(p, s2, V::Set1(1.0f));
  return V::Mul(V::Add(s, s), p);
}

template <class V>
inline typename V::Reg Activate(typename V::Reg x, Activation act, float alpha, float beta) {
  using R = typename V::Reg;
  switch (act) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return V::Max(V::Zero(), x);
    case Activation::kLeakyRelu:
      // x >= 0 ? x : alpha x, written so NaN stays NaN.
      return V::Blend(V::Less(x, V::Zero()), x, V::Mul(x, V::Set1(alpha)));
    case Activation::kSigmoid:
      return V::Div(V::Set1(1.0f), V::Add(V::Set1(1.0f), V::Exp(V::Sub(V::Zero(), x))));
    case Activation::kTanh:
      return V::Tanh(x);
    case Activation::kGeluErf: {
      // 1 + erf(x / sqrt 2) as erfc(-x / sqrt 2), exact in relative terms
      // for negative x where 1 + erf would cancel.
      const R z = V::Mul(x, V::Set1(-0.70710678118654752f));
      const R ez = V::Erfc(V::Abs(z));
      const R one_plus_erf = V::Blend(V::Less(z, V::Zero()), ez, V::Sub(V::Set1(2.0f), ez));
      return V::Mul(V::Mul(x, V::Set1(0.5f)), one_plus_erf);
    }
    case Activation::kSilu:
      return V::Div(x, V::Add(V::Set1(1.0f), V::Exp(V::Sub(V::Zero(), x))));
    case Activation::kGeluTanh: {
      // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for negative x.
      const R x3 = V::Mul(V::Mul(x, x), x);
      const R u = V::Mul(V::Set1(0.7978845608028654f), V::Fma(x3, V::Set1(0.044715f), x));
      const R s = V::Div(V::Set1(1.0f), V::Add(V::Set1(1.0f), V::Exp(V::Mul(u, V::Set1(-2.0f)))));
      return V::Mul(x, s);
    }
    case Activation::kSoftplus: {
      // max(x, 0) + log1p(exp(-|x|)): exp never overflows; NaN stays NaN
      // (Max returns the data operand, and |NaN| feeds a NaN into the sum).
      const R t = V::Exp(V::Sub(V::Zero(), V::Abs(x)));
      return V::Add(V::Max(V::Zero(), x), Log1pUnit<V>(t));
    }
    case Activation::kClip:
      // The data as the second operand of both keeps NaN.
      return V::Min(V::Set1(beta), V::Max(V::Set1(alpha), x));
  }
  return x;
}

template <class V>
void ActivateArray(float* y, size_t n, Activation act, float alpha, float beta) {
  if (act == Activation::kNone) return;
  constexpr size_t W = V::kWidth;
  size_t i = 0;
  for (; i + W <= n; i += W) V::StoreU(y + i, Activate<V>(V::LoadU(y + i), act, alpha, beta));
  if (i < n) {  // tail through a full-width scratch register
    float tmp[W] = {};
    std::copy(y + i, y + n, tmp);
    V::StoreU(tmp, Activate<V>(V::LoadU(tmp), act, alpha, beta));
    std::copy(tmp, tmp + (n - i), y + i);
  }
}

// y = x * scale / max(||x||, epsilon) (see NormalizeF32Fn). Sums of squares
// run in W float lanes, then one horizontal sum.
template <class V>
void NormalizeRow(const float* x, size_t n, float epsilon, float scale, float* y) {
  using R = typename V::Reg;
  constexpr size_t W = V::kWidth;
  R acc0 = V::Zero(), acc1 = V::Zero();
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R a = V::LoadU(x + i), b = V::LoadU(x + i + W);
    acc0 = V::Fma(a, a, acc0);
    acc1 = V::Fma(b, b, acc1);
  }
  for (; i + W <= n; i += W) {
    const R a = V::LoadU(x + i);
    acc0 = V::Fma(a, a, acc0);
  }
  float sum = V::Sum(V::Add(acc0, acc1));
  for (; i < n; ++i) sum += x[i] * x[i];
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float norm = std::sqrt(sum);
  // Overflow to infinity, or a row so small its squares underflow: redo it
  // in double, which holds the square of any finite float. (A NaN sum is
  // left alone: it makes every output NaN; an infinite element makes the
  // norm infinite in double too, and its outputs NaN, as in PyTorch.)
  if (sum == kInf || (sum < 1e-30f && sum >= 0.0f)) {
    double wide = 0.0;
    for (size_t j = 0; j < n; ++j) wide += static_cast<double>(x[j]) * x[j];
    const double root = std::sqrt(wide);
    const double denominator = root < epsilon ? static_cast<double>(epsilon) : root;
    const double factor = scale / denominator;
    for (size_t j = 0; j < n; ++j) y[j] = static_cast<float>(x[j] * factor);
    return;
  }
  // Written so that a NaN norm stays NaN (a comparison with NaN is false).
  const float denominator = norm < epsilon ? epsilon : norm;
  const R factor = V::Set1(scale / denominator);
  i = 0;
  for (; i + W <= n; i += W) V::StoreU(y + i, V::Mul(V::LoadU(x + i), factor));
  const float f = scale / denominator;
  for (; i < n; ++i) y[i] = x[i] * f;
}

// One register tile: MR rows of x times NP panels (16 NP columns), the whole
// k range, then bias and activation while the tile is still in L1.
template <class V, int MR, int NP>
inline void Tile(const float* x, size_t ldx, size_t k, const float* w, size_t panel_floats,
                 const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  using R = typename V::Reg;
  constexpr int VP = static_cast<int>(kGemmPanel / V::kWidth);  // registers per panel row
  constexpr int NV = NP * VP;
  R acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = V::Zero();
  for (size_t kk = 0; kk < k; ++kk) {
    R b[NV];
    for (int p = 0; p < NP; ++p)
      for (int v = 0; v < VP; ++v)
        b[p * VP + v] = V::Load(w + p * panel_floats + kk * kGemmPanel + v * V::kWidth);
    for (int r = 0; r < MR; ++r) {
      const R a = V::Set1(x[r * ldx + kk]);
      for (int j = 0; j < NV; ++j) acc[r][j] = V::Fma(a, b[j], acc[r][j]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* out = y + r * ldy;
    for (int j = 0; j < NV; ++j)
      V::StoreU(out + j * V::kWidth, V::Add(acc[r][j], V::LoadU(bias + j * V::kWidth)));
    ActivateArray<V>(out, NV * V::kWidth, act, alpha, beta);
  }
}

template <class V, int MR, int NP>
using TileFn = void (*)(const float*, size_t, size_t, const float*, size_t, const float*,
                        Activation, float, float, float*, size_t);

// Tiles of every height 1..MR for NP panels.
template <class V, int MR, int NP>
inline void RowTile(int rows, const float* x, size_t ldx, size_t k, const float* w,
                    size_t panel_floats, const float* bias, Activation act, float alpha, float beta,
                    float* y, size_t ldy) {
  if constexpr (MR > 1) {
    if (rows < MR)
      return RowTile<V, MR - 1, NP>(rows, x, ldx, k, w, panel_floats, bias, act, alpha, beta, y, ldy);
  }
  Tile<V, MR, NP>(x, ldx, k, w, panel_floats, bias, act, alpha, beta, y, ldy);
}

template <class V, int MR, int NP>
inline void PanelTile(int panels, int rows, const float* x, size_t ldx, size_t k, const float* w,
                      size_t panel_floats, const float* bias, Activation act, float alpha,
                      float beta, float* y, size_t ldy) {
  if constexpr (NP > 1) {
    if (panels < NP)
      return PanelTile<V, MR, NP - 1>(panels, rows, x, ldx, k, w, panel_floats, bias, act, alpha,
                                      beta, y, ldy);
  }
  RowTile<V, MR, NP>(rows, x, ldx, k, w, panel_floats, bias, act, alpha, beta, y, ldy);
}

// Row blocks of MC rows keep their slice of x in L2 while every group of NP
// panels (k x 16 NP weights, also L2-resident) passes over it.
template <class V, int MR, int NP, size_t MC>
void Gemm(const float* x, size_t ldx, size_t m, size_t k, const float* packed, size_t panels,
          const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  const size_t panel_floats = k * kGemmPanel;
  for (size_t i0 = 0; i0 < m; i0 += MC) {
    const size_t i1 = std::min(m, i0 + MC);
    for (size_t p = 0; p < panels; p += NP) {
      const int np = static_cast<int>(std::min<size_t>(NP, panels - p));
      const float* w = packed + p * panel_floats;
      for (size_t i = i0; i < i1; i += MR) {
        const int rows = static_cast<int>(std::min<size_t>(MR, i1 - i));
        PanelTile<V, MR, NP>(np, rows, x + i * ldx, ldx, k, w, panel_floats,
                             bias + p * kGemmPanel, act, alpha, beta, y + i * ldy + p * kGemmPanel,
                             ldy);
      }
    }
  }
}

}  // namespace gemm_impl
}  // namespace fr

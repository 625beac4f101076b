// Implicit-feedback ALS (Hu, Koren & Volinsky 2008) row updates by conjugate
// gradient, written once over the vector interface `V` of gemm_impl.h and
// instantiated by each kernels/gemm/<isa>.cc with its own V.
//
// V additionally provides Sum(Reg): the horizontal sum of a register.
//
// Layout: factor rows are `ld` floats apart, `ld` a multiple of 16 (so every
// V width divides it) and the padding past `factors` is zero; the padding
// stays zero because every update is a combination of padded rows.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../kernels.h"

namespace fr {
namespace als_impl {

template <class V>
inline float Dot(const float* a, const float* b, size_t ld) {
  using R = typename V::Reg;
  R s0 = V::Zero(), s1 = V::Zero();
  size_t j = 0;
  for (; j + 2 * V::kWidth <= ld; j += 2 * V::kWidth) {
    s0 = V::Fma(V::LoadU(a + j), V::LoadU(b + j), s0);
    s1 = V::Fma(V::LoadU(a + j + V::kWidth), V::LoadU(b + j + V::kWidth), s1);
  }
  for (; j < ld; j += V::kWidth) s0 = V::Fma(V::LoadU(a + j), V::LoadU(b + j), s0);
  return V::Sum(V::Add(s0, s1));
}

// y += t * x
template <class V>
inline void Axpy(float t, const float* x, float* y, size_t ld) {
  const typename V::Reg tv = V::Set1(t);
  for (size_t j = 0; j < ld; j += V::kWidth) V::StoreU(y + j, V::Fma(tv, V::LoadU(x + j), V::LoadU(y + j)));
}

// out = gram * v (gram symmetric, rows `ld` apart; only the first `factors`
// rows are read, so padding rows may hold anything).
template <class V>
inline void MatVec(const float* gram, const float* v, size_t ld, size_t factors, float* out) {
  for (size_t j = 0; j < ld; j += V::kWidth) V::StoreU(out + j, V::Zero());
  for (size_t a = 0; a < factors; ++a) Axpy<V>(v[a], gram + a * ld, out, ld);
}

// The CG update of rows [begin, end) of h.self (see AlsHalf).
template <class V>
void CgRows(const AlsHalf& h, size_t begin, size_t end) {
  const size_t ld = h.ld;
  // r, p and A·p for one row; ld <= kAlsMaxLd.
  alignas(64) float r[kAlsMaxLd], p[kAlsMaxLd], ap[kAlsMaxLd];
  for (size_t row = begin; row < end; ++row) {
    float* x = h.self + row * ld;
    const uint64_t first = h.indptr[row], last = h.indptr[row + 1];
    // r = b − A x, with A = gram + Σ c1 y yᵀ and b = Σ (1 + c1) y.
    MatVec<V>(h.gram, x, ld, h.factors, r);
    for (size_t j = 0; j < ld; ++j) r[j] = -r[j];
    for (uint64_t e = first; e < last; ++e) {
      const float* y = h.other + size_t(h.indices[e]) * ld;
      const float c1 = h.conf[e];
      Axpy<V>((1.0f + c1) - c1 * Dot<V>(y, x, ld), y, r, ld);
    }
    for (size_t j = 0; j < ld; ++j) p[j] = r[j];
    float rs_old = Dot<V>(r, r, ld);
    if (!(rs_old >= 1e-20f)) continue;
    for (uint32_t step = 0; step < h.cg_steps; ++step) {
      MatVec<V>(h.gram, p, ld, h.factors, ap);
      for (uint64_t e = first; e < last; ++e) {
        const float* y = h.other + size_t(h.indices[e]) * ld;
        Axpy<V>(h.conf[e] * Dot<V>(y, p, ld), y, ap, ld);
      }
      const float pap = Dot<V>(p, ap, ld);
      if (!(pap > 0.0f)) break;  // A is positive definite: only rounding gets here
      const float alpha = rs_old / pap;
      Axpy<V>(alpha, p, x, ld);
      Axpy<V>(-alpha, ap, r, ld);
      const float rs_new = Dot<V>(r, r, ld);
      if (!(rs_new >= 1e-20f)) break;
      const float beta = rs_new / rs_old;
      const typename V::Reg bv = V::Set1(beta);
      for (size_t j = 0; j < ld; j += V::kWidth) V::StoreU(p + j, V::Fma(bv, V::LoadU(p + j), V::LoadU(r + j)));
      rs_old = rs_new;
    }
  }
}

// gram[a * ld + b] += Σ_{row in [begin, end)} x[row][a] · x[row][b], a < factors.
template <class V>
void GramRows(const float* x, size_t ld, size_t factors, size_t begin, size_t end, float* gram) {
  for (size_t row = begin; row < end; ++row) {
    const float* v = x + row * ld;
    for (size_t a = 0; a < factors; ++a)
      if (v[a] != 0.0f) Axpy<V>(v[a], v, gram + a * ld, ld);
  }
}

// Σ over the entries of rows [begin, end) of (1 + c1)(1 − d)² − d², d = x·y:
// the observed pairs' share of the objective beyond Σ_all (x·y)².
template <class V>
double LossRows(const AlsHalf& h, size_t begin, size_t end) {
  double total = 0;
  for (size_t row = begin; row < end; ++row) {
    const float* x = h.self + row * h.ld;
    for (uint64_t e = h.indptr[row]; e < h.indptr[row + 1]; ++e) {
      const double d = Dot<V>(x, h.other + size_t(h.indices[e]) * h.ld, h.ld);
      total += (1.0 + h.conf[e]) * (1.0 - d) * (1.0 - d) - d * d;
    }
  }
  return total;
}

}  // namespace als_impl
}  // namespace fr

// Many queries against many rows (the scores of topKMany), written once over a
// small vector interface and instantiated by each kernels/many/<isa>.cc.
//
// Both operands are row-major along the dimension (queries and stored rows
// are each `pdim` contiguous elements), so the micro-kernel is dot-product
// shaped: QR queries x RR rows, one vector accumulator per pair, summed
// horizontally once at the end of the dimension. Per step of W elements it
// loads QR query registers and RR row registers for QR*RR FMAs, and nothing
// has to be packed: rows are read in place, gathered by id when a row list is
// given, and converted from f16 / i8 as they are loaded.
//
// The caller (topk_many.cc) keeps the RR rows of a tile in L1 while the tile
// passes over a block of queries held in L2, which is the loop order below:
// rows outer, queries inner.
//
// V provides Reg, kWidth, Zero, Load (aligned f32), Fma(a, b, c) =
// a * b + c, Sum (horizontal), and kSum4: whether it has Sum4(a, b, c, d,
// out) writing the four horizontal sums to out[0..4). A row policy R provides `using T` (the
// stored element) and `static Reg Load(const T*)` converting kWidth elements.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace fr {
namespace many_impl {

template <class V, class R, int QR, int RR>
inline void Micro(const float* q, size_t qstride, const typename R::T* const* rp, size_t pdim,
                  const float* scale, float* out, size_t ldo) {
  using Reg = typename V::Reg;
  constexpr size_t W = V::kWidth;
  Reg acc[QR][RR];
  for (int i = 0; i < QR; ++i)
    for (int j = 0; j < RR; ++j) acc[i][j] = V::Zero();
  for (size_t d = 0; d < pdim; d += W) {
    Reg qv[QR];
    for (int i = 0; i < QR; ++i) qv[i] = V::Load(q + i * qstride + d);
    for (int j = 0; j < RR; ++j) {
      const Reg r = R::Load(rp[j] + d);
      for (int i = 0; i < QR; ++i) acc[i][j] = V::Fma(qv[i], r, acc[i][j]);
    }
  }
  for (int j = 0; j < RR; ++j) {
    float sums[QR];
    if constexpr (QR == 4 && V::kSum4) {
      // Four horizontal sums at once: a third of the shuffles of four Sums,
      // which at 768-d would otherwise cost a fifth of the FMA time.
      V::Sum4(acc[0][j], acc[1][j], acc[2][j], acc[3][j], sums);
    } else {
      for (int i = 0; i < QR; ++i) sums[i] = V::Sum(acc[i][j]);
    }
    for (int i = 0; i < QR; ++i) out[i * ldo + j] = scale ? sums[i] * scale[j] : sums[i];
  }
}

// Micro for any tile up to QR x RR (the edges of a block).
template <class V, class R, int QR, int RR>
inline void Edge(int qr, int rr, const float* q, size_t qstride, const typename R::T* const* rp,
                 size_t pdim, const float* scale, float* out, size_t ldo) {
  if constexpr (QR > 1) {
    if (qr < QR) return Edge<V, R, QR - 1, RR>(qr, rr, q, qstride, rp, pdim, scale, out, ldo);
  }
  if constexpr (RR > 1) {
    if (rr < RR) return Edge<V, R, QR, RR - 1>(qr, rr, q, qstride, rp, pdim, scale, out, ldo);
  }
  Micro<V, R, QR, RR>(q, qstride, rp, pdim, scale, out, ldo);
}

// out[i * ldo + j] = dot(query i, row j) (times the row's scale for i8) for
// i < nq, j < n, where row j is base + (rows ? rows[j] : j) * stride and
// query i is queries + i * qstride. pdim is a multiple of W; every pointer
// is 64-byte aligned and the padding of queries and rows is zero.
template <class V, class R, int QR, int RR>
void ScoreMany(const float* queries, size_t qstride, size_t nq, const typename R::T* base,
               size_t stride, const float* scales, const uint32_t* rows, size_t n, size_t pdim,
               float* out, size_t ldo) {
  using T = typename R::T;
  for (size_t j0 = 0; j0 < n; j0 += RR) {
    const int rr = static_cast<int>(std::min<size_t>(RR, n - j0));
    const T* rp[RR];
    float sc[RR];
    for (int j = 0; j < rr; ++j) {
      const size_t row = rows ? rows[j0 + j] : j0 + j;
      rp[j] = base + row * stride;
      sc[j] = scales ? scales[row] : 1.0f;
    }
    for (int j = rr; j < RR; ++j) rp[j] = rp[0], sc[j] = sc[0];
    const float* s = scales ? sc : nullptr;
    size_t i0 = 0;
    if (rr == RR)
      for (; i0 + QR <= nq; i0 += QR)
        Micro<V, R, QR, RR>(queries + i0 * qstride, qstride, rp, pdim, s, out + i0 * ldo + j0, ldo);
    for (; i0 < nq; i0 += QR) {
      const int qr = static_cast<int>(std::min<size_t>(QR, nq - i0));
      Edge<V, R, QR, RR>(qr, rr, queries + i0 * qstride, qstride, rp, pdim, s, out + i0 * ldo + j0, ldo);
    }
  }
}

}  // namespace many_impl
}  // namespace fr

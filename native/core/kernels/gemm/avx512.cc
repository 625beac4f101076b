// GEMM and activations for AVX-512 (F+DQ). Tiles of 6 rows x 64 columns:
// 24 zmm accumulators, 4 weight loads and 6 broadcasts per 24 FMAs.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../../aligned.h"

#include "als_impl.h"
#include "gemm_impl.h"

namespace fr {

namespace {
struct V512 {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr size_t kWidth = 16;
  static float Sum(Reg a) { return _mm512_reduce_add_ps(a); }
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg Set1(float v) { return _mm512_set1_ps(v); }
  static Reg Load(const float* p) { return _mm512_load_ps(p); }
  static Reg LoadU(const float* p) { return _mm512_loadu_ps(p); }
  static void StoreU(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg Add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg Sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg Mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg Div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg Max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg Min(Reg a, Reg b) { return _mm512_min_ps(a, b); }
  static Reg Abs(Reg a) { return _mm512_abs_ps(a); }
  static Mask Less(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static Reg Blend(Mask m, Reg a, Reg b) { return _mm512_mask_blend_ps(m, a, b); }
  static Reg Round(Reg a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static Reg Pow2(Reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
  static Reg Exp(Reg x) { return gemm_impl::ExpPoly<V512>(x); }
  static Reg Erfc(Reg x) { return gemm_impl::ErfcPoly<V512>(x); }
  static Reg Tanh(Reg x) { return gemm_impl::TanhPoly<V512>(x); }
};
}  // namespace

void gemm_f32_avx512(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                     size_t panels, const float* bias, Activation act, float alpha, float beta,
                     float* y, size_t ldy) {
  gemm_impl::Gemm<V512, 6, 4, 48>(x, ldx, m, k, packed, panels, bias, act, alpha, beta, y, ldy);
}

namespace {

// x rows to bfloat16 pairs (input 2q in the low half of word q), rounded to
// nearest even; an odd k is padded with a zero.
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void RowsToBf16(
    const float* x, size_t ldx, size_t m, size_t k, uint32_t* out, size_t ld_out) {
  const size_t k2 = (k + 1) / 2;
  for (size_t r = 0; r < m; ++r) {
    const float* src = x + r * ldx;
    uint32_t* dst = out + r * ld_out;
    size_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + j + 16), _mm512_loadu_ps(src + j));
      _mm512_storeu_si512(dst + j / 2, reinterpret_cast<const __m512i&>(v));
    }
    if (j < k) {
      const __mmask16 lo = static_cast<__mmask16>(k - j >= 16 ? 0xFFFF : (1u << (k - j)) - 1);
      const __mmask16 hi = static_cast<__mmask16>(k - j <= 16 ? 0 : (1u << (k - j - 16)) - 1);
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, src + j + 16), _mm512_maskz_loadu_ps(lo, src + j));
      const size_t words = k2 - j / 2;
      _mm512_mask_storeu_epi32(dst + j / 2, static_cast<__mmask16>((1u << words) - 1), reinterpret_cast<const __m512i&>(v));
    }
  }
}

// MR rows x NP panels over every input pair, then bias and activation.
template <int MR, int NP>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) inline void TileBf16(
    const uint32_t* x, size_t ldx, size_t k2, const uint16_t* w, size_t panel_halves,
    const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  __m512 acc[MR][NP];
  for (int r = 0; r < MR; ++r)
    for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_setzero_ps();
  for (size_t q = 0; q < k2; ++q) {
    __m512bh b[NP];
    for (int p = 0; p < NP; ++p) {
      const __m512i raw = _mm512_load_si512(w + p * panel_halves + q * 32);
      b[p] = reinterpret_cast<const __m512bh&>(raw);
    }
    for (int r = 0; r < MR; ++r) {
      const __m512i pair = _mm512_set1_epi32(static_cast<int>(x[r * ldx + q]));
      const __m512bh a = reinterpret_cast<const __m512bh&>(pair);
      for (int p = 0; p < NP; ++p) acc[r][p] = _mm512_dpbf16_ps(acc[r][p], a, b[p]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* out = y + r * ldy;
    for (int p = 0; p < NP; ++p)
      _mm512_storeu_ps(out + p * 16, _mm512_add_ps(acc[r][p], _mm512_loadu_ps(bias + p * 16)));
    gemm_impl::ActivateArray<V512>(out, NP * 16, act, alpha, beta);
  }
}

template <int MR, int NP>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void TileBf16Rows(
    int rows, const uint32_t* x, size_t ldx, size_t k2, const uint16_t* w, size_t panel_halves,
    const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  if constexpr (MR > 1) {
    if (rows < MR) return TileBf16Rows<MR - 1, NP>(rows, x, ldx, k2, w, panel_halves, bias, act, alpha, beta, y, ldy);
  }
  TileBf16<MR, NP>(x, ldx, k2, w, panel_halves, bias, act, alpha, beta, y, ldy);
}

template <int MR, int NP>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void TileBf16Panels(
    int panels, int rows, const uint32_t* x, size_t ldx, size_t k2, const uint16_t* w,
    size_t panel_halves, const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  if constexpr (NP > 1) {
    if (panels < NP)
      return TileBf16Panels<MR, NP - 1>(panels, rows, x, ldx, k2, w, panel_halves, bias, act, alpha, beta, y, ldy);
  }
  TileBf16Rows<MR, NP>(rows, x, ldx, k2, w, panel_halves, bias, act, alpha, beta, y, ldy);
}

}  // namespace

// Same blocking as gemm_f32_avx512: 6 rows x 4 panels per tile, 48-row
// blocks. Each vdpbf16ps does 32 multiply-adds where an f32 FMA does 16.
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void gemm_bf16_avx512(
    const float* x, size_t ldx, size_t m, size_t k, const uint16_t* packed, size_t panels,
    const float* bias, Activation act, float alpha, float beta, float* y, size_t ldy) {
  constexpr int MR = 6, NP = 4;
  constexpr size_t MC = 48;
  const size_t k2 = (k + 1) / 2;
  const size_t ld_pairs = RoundUp(k2, 16);
  thread_local AlignedPtr<uint32_t> pairs;
  thread_local size_t capacity = 0;
  if (MC * ld_pairs > capacity) {
    pairs = AllocateAligned<uint32_t>(MC * ld_pairs);
    capacity = MC * ld_pairs;
  }
  const size_t panel_halves = k2 * 32;
  for (size_t i0 = 0; i0 < m; i0 += MC) {
    const size_t i1 = std::min(m, i0 + MC);
    RowsToBf16(x + i0 * ldx, ldx, i1 - i0, k, pairs.get(), ld_pairs);
    for (size_t p = 0; p < panels; p += NP) {
      const int np = static_cast<int>(std::min<size_t>(NP, panels - p));
      const uint16_t* w = packed + p * panel_halves;
      for (size_t i = i0; i < i1; i += MR) {
        const int rows = static_cast<int>(std::min<size_t>(MR, i1 - i));
        TileBf16Panels<MR, NP>(np, rows, pairs.get() + (i - i0) * ld_pairs, ld_pairs, k2, w, panel_halves,
                               bias + p * kGemmPanel, act, alpha, beta, y + i * ldy + p * kGemmPanel, ldy);
      }
    }
  }
}

void activate_f32_avx512(float* y, size_t n, Activation act, float alpha, float beta) {
  gemm_impl::ActivateArray<V512>(y, n, act, alpha, beta);
}

void normalize_f32_avx512(const float* x, size_t n, float epsilon, float scale, float* y) {
  gemm_impl::NormalizeRow<V512>(x, n, epsilon, scale, y);
}

void als_cg_avx512(const AlsHalf& h, size_t begin, size_t end) { als_impl::CgRows<V512>(h, begin, end); }

void als_gram_avx512(const float* x, size_t ld, size_t factors, size_t begin, size_t end, float* gram) {
  als_impl::GramRows<V512>(x, ld, factors, begin, end, gram);
}

double als_loss_avx512(const AlsHalf& h, size_t begin, size_t end) { return als_impl::LossRows<V512>(h, begin, end); }

}  // namespace fr

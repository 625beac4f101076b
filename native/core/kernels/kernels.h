// Kernel signatures and the per-ISA tables. Each kernels/<op>/<isa>.cc file
// defines the functions of one op for one instruction set; dispatch.cc picks.
//
// Layout contract shared by every scoring kernel: rows are `stride` elements
// apart, `pdim` (the padded dimension) is a multiple of 64 bytes of the row's
// dtype and the padding is zero, the query is f32 padded with zeros to
// `pdim`, and both are 64-byte aligned. So no kernel needs a tail loop.
#pragma once
#include <cstddef>
#include <cstdint>

#include "../cpu.h"

namespace fr {

// out[i] = dot(query, row(rows ? rows[i] : i)), for i in [0, n).
using ScoreF32Fn = void (*)(const float* query, const float* base, size_t stride,
                            const uint32_t* rows, size_t n, size_t pdim, float* out);
// Rows are IEEE binary16.
using ScoreF16Fn = void (*)(const float* query, const uint16_t* base, size_t stride,
                            const uint32_t* rows, size_t n, size_t pdim, float* out);
// Rows are int8 with one f32 scale per row: value = scale[row] * int8.
using ScoreI8Fn = void (*)(const float* query, const int8_t* base, size_t stride,
                           const float* scales, const uint32_t* rows, size_t n, size_t pdim,
                           float* out);
// Navigation codes for graph search (see hnsw.cc): one unsigned 4-bit code
// per dimension, in blocks of kU4Block dimensions stored as 64 bytes, byte j
// holding dimension j in its low nibble and dimension j + 64 in its high
// nibble. `cdim` is a multiple of kU4Block, rows are `stride` bytes apart
// (a multiple of 64) and 64-byte aligned, `query` is int8, 64-byte aligned
// and zero past the real dimension. out[i] = sum_d query[d] * code(row_i, d)
// exactly: every tier returns the same integers.
constexpr size_t kU4Block = 128;
using ScoreU4Fn = void (*)(const int8_t* query, const uint8_t* base, size_t stride,
                           const uint32_t* rows, size_t n, size_t cdim, int32_t* out);
// out[i] = float(src[i]) for i in [0, n): IEEE binary16 to binary32.
using DecodeF16Fn = void (*)(const uint16_t* src, size_t n, float* out);
// Physical-limit probe: reads `row_bytes` (a multiple of 64) from each listed
// row with the widest loads, folding them so the loads cannot be elided.
using ProbeReadFn = uint64_t (*)(const uint8_t* base, size_t stride_bytes, const uint32_t* rows,
                                 size_t n, size_t row_bytes);
// Physical-limit probe: `iterations` rounds of independent FMA chains held in
// registers. Returns a value derived from the chains so nothing is elided.
using ProbeFmaFn = float (*)(uint64_t iterations, float seed);

// Many queries against many rows, for topKMany: out[i * ldo + j] =
// dot(query i, row j) for i < nq and j < n, where query i starts at
// queries + i * qstride and row j at base + (rows ? rows[j] : j) * stride
// (callers offset base, and scales, for a contiguous range). Same layout
// contract as the scoring kernels above; i8 scores are times scales[row].
using ScoreManyF32Fn = void (*)(const float* queries, size_t qstride, size_t nq, const float* base,
                                size_t stride, const uint32_t* rows, size_t n, size_t pdim, float* out,
                                size_t ldo);
using ScoreManyF16Fn = void (*)(const float* queries, size_t qstride, size_t nq, const uint16_t* base,
                                size_t stride, const uint32_t* rows, size_t n, size_t pdim, float* out,
                                size_t ldo);
using ScoreManyI8Fn = void (*)(const float* queries, size_t qstride, size_t nq, const int8_t* base,
                               size_t stride, const float* scales, const uint32_t* rows, size_t n,
                               size_t pdim, float* out, size_t ldo);

// Element-wise functions a dense layer can end with (fused into the GEMM
// epilogue) or that run on their own. NaN inputs give NaN outputs. Each takes
// up to two parameters, `alpha` and `beta` (unused ones are ignored).
enum class Activation : int32_t {
  kNone = 0,
  kRelu,
  kLeakyRelu,  // alpha = negative slope
  kSigmoid,
  kTanh,
  kGeluErf,    // 0.5 x (1 + erf(x / sqrt 2))
  kGeluTanh,   // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  kSilu,       // x sigmoid(x), a.k.a. swish
  kSoftplus,   // log(1 + exp(x)), as max(x, 0) + log1p(exp(-|x|)) (no overflow)
  kClip,       // min(max(x, alpha), beta): Clip, Hardtanh, ReLU6 (bounds may be infinite)
};

// Weight panels for the GEMM kernels: the k x n weight matrix is stored as
// ceil(n / 16) panels, each k rows of 16 contiguous columns, zero padded, so
// one layout serves every instruction set (AVX-512 reads a panel row as one
// register, AVX2 as two, NEON as four).
constexpr size_t kGemmPanel = 16;

// y[i * ldy + j] = act(sum_k x[i * ldx + k] * w[k][j] + bias[j]) for i < m
// and j < 16 * panels (the padded width: padding columns are written too).
// `bias` holds 16 * panels floats; `packed` is 64-byte aligned.
using GemmF32Fn = void (*)(const float* x, size_t ldx, size_t m, size_t k, const float* packed,
                           size_t panels, const float* bias, Activation act, float alpha,
                           float beta, float* y, size_t ldy);
// gemm_f32 with bfloat16 weights and inputs, f32 accumulation: `packed`
// holds, per panel, ceil(k / 2) rows of 16 columns x 2 values (the weights of
// inputs 2q and 2q + 1 for column c at [32 q + 2 c] and [32 q + 2 c + 1]),
// rounded to nearest even; x is rounded the same way as it is read.
using GemmBf16Fn = void (*)(const float* x, size_t ldx, size_t m, size_t k, const uint16_t* packed,
                            size_t panels, const float* bias, Activation act, float alpha,
                            float beta, float* y, size_t ldy);
// In place: y[i] = act(y[i]) for i < n.
using ActivateF32Fn = void (*)(float* y, size_t n, Activation act, float alpha, float beta);
// y[i] = x[i] * scale / max(||x||_2, epsilon) for i < n (y may be x): the
// F.normalize a two-tower model ends with, and an optional temperature. A NaN
// anywhere in x makes every output NaN; sums of squares that overflow or
// underflow float are redone in double, so huge or tiny rows still normalise.
using NormalizeF32Fn = void (*)(const float* x, size_t n, float epsilon, float scale, float* y);

// One half-step of implicit ALS: update each row of `self` (rows `ld`
// floats apart, `ld` a multiple of 16 and at most kAlsMaxLd, padding zero)
// against the fixed `other` side by `cg_steps` conjugate-gradient steps on
// (gram + Σ_e conf[e]·y_e y_eᵀ) x = Σ_e (1 + conf[e]) y_e, where e runs over
// indptr[row] .. indptr[row + 1], y_e = other row indices[e] and gram =
// otherᵀother + λI (ld × ld, only its first `factors` rows read).
constexpr size_t kAlsMaxLd = 1024;
struct AlsHalf {
  const uint64_t* indptr;
  const uint32_t* indices;
  const float* conf;  // alpha · weight: the confidence minus 1
  const float* other;
  const float* gram;
  float* self;
  size_t ld;
  size_t factors;
  uint32_t cg_steps;
};
using AlsCgFn = void (*)(const AlsHalf& h, size_t begin, size_t end);
// gram[a·ld + b] += Σ_{row ∈ [begin, end)} x[row·ld + a] · x[row·ld + b] for a < factors.
using AlsGramFn = void (*)(const float* x, size_t ld, size_t factors, size_t begin, size_t end,
                           float* gram);
// Σ over the entries of rows [begin, end) of (1 + conf)(1 − d)² − d², d = self_row · other_e.
using AlsLossFn = double (*)(const AlsHalf& h, size_t begin, size_t end);

struct KernelTable {
  Isa isa;
  ScoreF32Fn score_f32;
  ScoreF16Fn score_f16;
  ScoreI8Fn score_i8;
  DecodeF16Fn decode_f16;
  ScoreU4Fn score_u4;
  ProbeReadFn probe_read;
  ProbeFmaFn probe_fma;
  GemmF32Fn gemm_f32;
  ActivateF32Fn activate_f32;
  NormalizeF32Fn normalize_f32;
  // Floating-point operations one probe_fma iteration performs.
  uint64_t probe_fma_flops_per_iteration;
  // Null where this tier or this CPU has no bfloat16 dot product.
  GemmBf16Fn gemm_bf16 = nullptr;
  AlsCgFn als_cg = nullptr;
  AlsGramFn als_gram = nullptr;
  AlsLossFn als_loss = nullptr;
  ScoreManyF32Fn score_many_f32 = nullptr;
  ScoreManyF16Fn score_many_f16 = nullptr;
  ScoreManyI8Fn score_many_i8 = nullptr;
};

// Returns the table for `isa`, or for the best tier below it that this
// build contains (newest first, serial last).
const KernelTable& KernelsFor(Isa isa);

#define FR_DECLARE_KERNELS(suffix)                                                            \
  void score_f32_##suffix(const float*, const float*, size_t, const uint32_t*, size_t, size_t, \
                          float*);                                                            \
  void score_f16_##suffix(const float*, const uint16_t*, size_t, const uint32_t*, size_t,      \
                          size_t, float*);                                                    \
  void score_i8_##suffix(const float*, const int8_t*, size_t, const float*, const uint32_t*,   \
                         size_t, size_t, float*);                                             \
  void decode_f16_##suffix(const uint16_t*, size_t, float*);                                   \
  void score_u4_##suffix(const int8_t*, const uint8_t*, size_t, const uint32_t*, size_t, size_t, \
                         int32_t*);                                                           \
  uint64_t probe_read_##suffix(const uint8_t*, size_t, const uint32_t*, size_t, size_t);       \
  float probe_fma_##suffix(uint64_t, float);                                                   \
  void gemm_f32_##suffix(const float*, size_t, size_t, size_t, const float*, size_t,          \
                         const float*, Activation, float, float, float*, size_t);             \
  void activate_f32_##suffix(float*, size_t, Activation, float, float);                       \
  void normalize_f32_##suffix(const float*, size_t, float, float, float*);                    \
  void als_cg_##suffix(const AlsHalf&, size_t, size_t);                                      \
  void als_gram_##suffix(const float*, size_t, size_t, size_t, size_t, float*);               \
  double als_loss_##suffix(const AlsHalf&, size_t, size_t);                                   \
  void score_many_f32_##suffix(const float*, size_t, size_t, const float*, size_t, const uint32_t*, \
                               size_t, size_t, float*, size_t);                                 \
  void score_many_f16_##suffix(const float*, size_t, size_t, const uint16_t*, size_t,            \
                               const uint32_t*, size_t, size_t, float*, size_t);                \
  void score_many_i8_##suffix(const float*, size_t, size_t, const int8_t*, size_t, const float*,  \
                              const uint32_t*, size_t, size_t, float*, size_t);                 \
  extern const uint64_t kProbeFmaFlops_##suffix;

FR_DECLARE_KERNELS(serial)
#if defined(__x86_64__) || defined(_M_X64)
FR_DECLARE_KERNELS(avx2)
FR_DECLARE_KERNELS(avx512)
// The avx512vnni tier is the avx512 table with these kernels replaced.
void score_i8_avx512vnni(const float*, const int8_t*, size_t, const float*, const uint32_t*,
                         size_t, size_t, float*);
void score_u4_avx512vnni(const int8_t*, const uint8_t*, size_t, const uint32_t*, size_t, size_t,
                         int32_t*);
// Both avx512 tables use it when the CPU has AVX512-BF16 (compiled for that
// feature alone, so only ever called after the check).
void gemm_bf16_avx512(const float*, size_t, size_t, size_t, const uint16_t*, size_t, const float*,
                      Activation, float, float, float*, size_t);
#endif
#if defined(__aarch64__)
FR_DECLARE_KERNELS(neon)
#endif

// binary32 -> bfloat16, rounded to nearest even (NaN stays a quiet NaN).
uint16_t FloatToBf16(float value);
// binary16 <-> binary32 in portable C++ (round to nearest even).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);

}  // namespace fr

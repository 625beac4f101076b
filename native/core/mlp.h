// A fusion MLP as a list of layers over row-major batches: dense layers
// (weights packed into GEMM panels at load, bias and activation fused into the
// GEMM epilogue), layer normalisation, per-feature affine maps (batch norms
// that could not be folded), stand-alone activations, a row softmax and an
// L2 row normalisation (a two-tower model's F.normalize, with a temperature).
#pragma once
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned.h"
#include "kernels/kernels.h"

namespace fr {

class Mlp;

// A model's first dense layer split by input, for inputs whose part of that
// layer can be computed ahead of time (the rerank item cache):
// layer 0 (x) = act(item(x[item inputs]) + rest(x[other inputs])), then tail.
struct MlpSplit {
  std::unique_ptr<Mlp> item;  // item inputs -> layer-0 width; no bias, no activation
  std::unique_ptr<Mlp> rest;  // other inputs -> layer-0 width, with the bias; null when none
  std::vector<float> bias;    // layer 0's bias (what `rest` adds)
  Activation activation = Activation::kNone;
  float alpha = 0.0f;
  float beta = 0.0f;
  std::unique_ptr<Mlp> tail;  // the layers after the first (none: the identity)
};

class Mlp {
 public:
  // Largest width of any layer and largest batch a single call accepts.
  static constexpr size_t kMaxWidth = 1 << 20;
  static constexpr size_t kMaxBatch = 1 << 24;

  explicit Mlp(size_t input_size);

  // Appends y = act(x W + b). `weight` holds in x out floats, laid out
  // [in][out] (ONNX MatMul, Gemm transB=0) or, with out_major, [out][in]
  // (PyTorch Linear, Gemm transB=1). `bias` may be null (zero). `alpha` and
  // `beta` are the activation's parameters (see Activation).
  void AddDense(size_t out, const float* weight, bool out_major, const float* bias,
                Activation act, float alpha, float beta = 0.0f);
  // Appends y = (x - mean) / sqrt(var + epsilon) * gamma + beta over each row.
  void AddLayerNorm(const float* gamma, const float* beta, float epsilon);
  // Appends y = x * scale + shift, per feature.
  void AddAffine(const float* scale, const float* shift);
  // Appends y = act(x); fused into the previous dense layer when possible.
  void AddActivation(Activation act, float alpha, float beta = 0.0f);
  // Appends y = exp(x - max) / sum(exp(x - max)) over each row.
  void AddSoftmax();
  // Appends y = x * scale / max(||x||_2, epsilon) over each row.
  void AddL2Normalize(float epsilon, float scale);

  // Runs the dense layers in bfloat16 (inputs and weights rounded to bf16,
  // sums in f32) on kernel tables that have a bf16 GEMM (the avx512 tiers on
  // CPUs with AVX512-BF16); other tables keep f32. Packs a bf16 copy of the
  // weights (half the f32 panels' size) the first time.
  void UseBf16(bool on);
  bool bf16() const { return bf16_; }

  size_t input_size() const { return input_size_; }
  size_t output_size() const { return width_; }
  size_t layer_count() const { return layers_.size(); }
  // Multiply-adds x 2 of the dense layers, per input row.
  uint64_t flops_per_row() const;

  // Splits the first layer (which must be dense) by input: item_input[i]
  // marks input i as precomputable. Same precision as this model.
  MlpSplit SplitFirstLayer(const std::vector<uint8_t>& item_input) const;

  // out[batch x output_size] = mlp(x[batch rows, `ldx` floats apart]).
  void Forward(const KernelTable& kernels, const float* x, size_t ldx, size_t batch,
               float* out) const;
  // Forward split over `threads` threads by rows; the first error is rethrown
  // after every thread joined.
  void ForwardParallel(const KernelTable& kernels, const float* x, size_t batch, float* out,
                       unsigned threads) const;

 private:
  enum class Kind { kDense, kLayerNorm, kAffine, kActivation, kSoftmax, kL2Normalize };
  struct Layer {
    Kind kind;
    size_t in = 0, out = 0, panels = 0;
    AlignedPtr<float> packed;  // dense: panels x in x 16
    AlignedPtr<uint16_t> packed_bf16;  // dense, with UseBf16: panels x ceil(in / 2) x 32
    AlignedPtr<float> shift;   // dense: bias (16 panels); affine: shift; layer norm: beta
    AlignedPtr<float> scale;   // affine: scale; layer norm: gamma
    Activation activation = Activation::kNone;
    float alpha = 0.0f;
    float beta = 0.0f;
    float epsilon = 0.0f;  // layer norm; L2 normalisation (whose scale is `alpha`)
  };

  // Layer l's weights as [in][out] floats.
  std::vector<float> DenseWeights(const Layer& l) const;
  void ForwardBlock(const KernelTable& kernels, const float* x, size_t ldx, size_t rows,
                    float* out, float* scratch, size_t ld_scratch, bool reverse) const;

  size_t input_size_;
  size_t width_;           // output width of the last layer
  size_t scratch_width_;   // widest padded layer output
  std::vector<Layer> layers_;
  bool bf16_ = false;
  // Alternates the weight walk of small batches (see ForwardBlock).
  mutable std::atomic<uint32_t> calls_{0};
};

// One named input of a multi-input model, gathered into the flat row layout.
struct InputSegment {
  const float* data;       // batch x width, or null when missing for every row
  size_t width;
  const float* fill;       // width floats used for missing rows (may be null if never missing)
  const uint8_t* present;  // per-row presence, or null (every row present when data is set)
};

// out[batch x sum(width)] = the segments side by side, missing rows filled.
void GatherInputs(const InputSegment* segments, size_t count, size_t batch, float* out);

}  // namespace fr

#include "mlp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "error.h"
#include "parallel.h"

namespace fr {

namespace {

// Rows run through every layer together: small enough that the activations
// stay in L2 between layers, large enough to amortise each weight pass.
constexpr size_t kRowBlock = 256;
// Very wide layers get fewer rows per block, so scratch stays bounded.
constexpr size_t kMaxScratchBytes = size_t{32} << 20;
// Up to this many rows a dense layer is bound by streaming its weights.
constexpr size_t kFewRows = 8;

void RequireWidth(size_t width, const char* what) {
  if (width == 0 || width > Mlp::kMaxWidth)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                std::string(what) + " must be in [1, " + std::to_string(Mlp::kMaxWidth) +
                    "] but is " + std::to_string(width));
}

// Per-thread scratch reused across calls (sync calls on the main thread and
// async calls on pool threads each get their own).
float* Scratch(size_t floats) {
  thread_local AlignedPtr<float> buffer;
  thread_local size_t capacity = 0;
  if (floats > capacity) {
    buffer = AllocateAligned<float>(floats);
    capacity = floats;
  }
  return buffer.get();
}

}  // namespace

Mlp::Mlp(size_t input_size) : input_size_(input_size), width_(input_size), scratch_width_(0) {
  RequireWidth(input_size, "The input size");
}

void Mlp::AddDense(size_t out, const float* weight, bool out_major, const float* bias,
                   Activation act, float alpha, float beta) {
  RequireWidth(out, "A dense layer's output size");
  const size_t in = width_;
  if (in * out > (size_t{1} << 31))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "A dense layer of " + std::to_string(in) + " x " + std::to_string(out) +
                    " weights is larger than 2^31");
  Layer layer;
  layer.kind = Kind::kDense;
  layer.in = in;
  layer.out = out;
  layer.panels = (out + kGemmPanel - 1) / kGemmPanel;
  layer.packed = AllocateAligned<float>(layer.panels * in * kGemmPanel);
  layer.shift = AllocateAligned<float>(layer.panels * kGemmPanel);
  float* packed = layer.packed.get();
  for (size_t p = 0; p < layer.panels; ++p) {
    const size_t cols = std::min(kGemmPanel, out - p * kGemmPanel);
    for (size_t k = 0; k < in; ++k) {
      float* dst = packed + (p * in + k) * kGemmPanel;
      for (size_t c = 0; c < cols; ++c) {
        const size_t n = p * kGemmPanel + c;
        dst[c] = out_major ? weight[n * in + k] : weight[k * out + n];
      }
    }
  }
  if (bias) std::copy(bias, bias + out, layer.shift.get());
  layer.activation = act;
  layer.alpha = alpha;
  layer.beta = beta;
  layers_.push_back(std::move(layer));
  width_ = out;
  scratch_width_ = std::max(scratch_width_, RoundUp(out, kGemmPanel));
}

void Mlp::AddLayerNorm(const float* gamma, const float* beta, float epsilon) {
  if (!(epsilon >= 0.0f) || !std::isfinite(epsilon))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "A layer norm epsilon must be finite and non-negative");
  Layer layer;
  layer.kind = Kind::kLayerNorm;
  layer.in = layer.out = width_;
  layer.scale = AllocateAligned<float>(width_);
  layer.shift = AllocateAligned<float>(width_);
  std::copy(gamma, gamma + width_, layer.scale.get());
  if (beta) std::copy(beta, beta + width_, layer.shift.get());
  layer.epsilon = epsilon;
  layers_.push_back(std::move(layer));
  scratch_width_ = std::max(scratch_width_, RoundUp(width_, kGemmPanel));
}

void Mlp::AddAffine(const float* scale, const float* shift) {
  Layer layer;
  layer.kind = Kind::kAffine;
  layer.in = layer.out = width_;
  layer.scale = AllocateAligned<float>(width_);
  layer.shift = AllocateAligned<float>(width_);
  std::copy(scale, scale + width_, layer.scale.get());
  std::copy(shift, shift + width_, layer.shift.get());
  layers_.push_back(std::move(layer));
  scratch_width_ = std::max(scratch_width_, RoundUp(width_, kGemmPanel));
}

void Mlp::AddActivation(Activation act, float alpha, float beta) {
  if (act == Activation::kNone) return;
  // (A lower bound above the upper one clips everything to the upper, as in ONNX.)
  if (act == Activation::kClip && (std::isnan(alpha) || std::isnan(beta)))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE", "A clip's bounds must not be NaN");
  if (!layers_.empty() && layers_.back().activation == Activation::kNone &&
      layers_.back().kind == Kind::kDense) {
    layers_.back().activation = act;
    layers_.back().alpha = alpha;
    layers_.back().beta = beta;
    return;
  }
  Layer layer;
  layer.kind = Kind::kActivation;
  layer.in = layer.out = width_;
  layer.activation = act;
  layer.alpha = alpha;
  layer.beta = beta;
  layers_.push_back(std::move(layer));
  scratch_width_ = std::max(scratch_width_, RoundUp(width_, kGemmPanel));
}

void Mlp::AddSoftmax() {
  Layer layer;
  layer.kind = Kind::kSoftmax;
  layer.in = layer.out = width_;
  layers_.push_back(std::move(layer));
  scratch_width_ = std::max(scratch_width_, RoundUp(width_, kGemmPanel));
}

void Mlp::AddL2Normalize(float epsilon, float scale) {
  if (!(epsilon >= 0.0f) || !std::isfinite(epsilon) || !std::isfinite(scale))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "An L2 normalisation needs a finite, non-negative epsilon and a finite scale");
  Layer layer;
  layer.kind = Kind::kL2Normalize;
  layer.in = layer.out = width_;
  layer.epsilon = epsilon;
  layer.alpha = scale;
  layers_.push_back(std::move(layer));
  scratch_width_ = std::max(scratch_width_, RoundUp(width_, kGemmPanel));
}

void Mlp::UseBf16(bool on) {
  bf16_ = on;
  if (!on) return;
  for (Layer& l : layers_) {
    if (l.kind != Kind::kDense || l.packed_bf16) continue;
    const size_t k2 = (l.in + 1) / 2;
    l.packed_bf16 = AllocateAligned<uint16_t>(l.panels * k2 * 2 * kGemmPanel);
    for (size_t p = 0; p < l.panels; ++p)
      for (size_t k = 0; k < l.in; ++k) {
        const float* src = l.packed.get() + (p * l.in + k) * kGemmPanel;
        uint16_t* dst = l.packed_bf16.get() + (p * k2 + k / 2) * 2 * kGemmPanel + (k & 1);
        for (size_t c = 0; c < kGemmPanel; ++c) dst[2 * c] = FloatToBf16(src[c]);
      }
  }
}

uint64_t Mlp::flops_per_row() const {
  uint64_t flops = 0;
  for (const Layer& l : layers_)
    if (l.kind == Kind::kDense) flops += 2ull * l.in * l.out;
  return flops;
}

std::vector<float> Mlp::DenseWeights(const Layer& l) const {
  std::vector<float> w(l.in * l.out);
  for (size_t p = 0; p < l.panels; ++p) {
    const size_t cols = std::min(kGemmPanel, l.out - p * kGemmPanel);
    for (size_t k = 0; k < l.in; ++k)
      for (size_t c = 0; c < cols; ++c) w[k * l.out + p * kGemmPanel + c] = l.packed[(p * l.in + k) * kGemmPanel + c];
  }
  return w;
}

MlpSplit Mlp::SplitFirstLayer(const std::vector<uint8_t>& item_input) const {
  if (layers_.empty() || layers_[0].kind != Kind::kDense)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "The item cache needs a model whose first layer is dense (Gemm / MatMul)");
  if (item_input.size() != input_size_)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE", "The item input mask does not match the model");
  const Layer& first = layers_[0];
  const size_t width = first.out;
  const std::vector<float> w = DenseWeights(first);
  std::vector<float> item_w, rest_w;
  for (size_t k = 0; k < first.in; ++k) {
    std::vector<float>& side = item_input[k] ? item_w : rest_w;
    side.insert(side.end(), w.begin() + k * width, w.begin() + (k + 1) * width);
  }
  const size_t items = item_w.size() / width, rest = rest_w.size() / width;
  if (items == 0)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE", "The item cache needs at least one item input");
  MlpSplit split;
  split.bias.assign(first.shift.get(), first.shift.get() + width);
  split.activation = first.activation;
  split.alpha = first.alpha;
  split.beta = first.beta;
  split.item = std::make_unique<Mlp>(items);
  split.item->AddDense(width, item_w.data(), false, nullptr, Activation::kNone, 0);
  if (rest > 0) {
    split.rest = std::make_unique<Mlp>(rest);
    split.rest->AddDense(width, rest_w.data(), false, split.bias.data(), Activation::kNone, 0);
  }
  split.tail = std::make_unique<Mlp>(width);
  for (size_t i = 1; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    switch (l.kind) {
      case Kind::kDense: {
        const std::vector<float> lw = DenseWeights(l);
        split.tail->AddDense(l.out, lw.data(), false, l.shift.get(), l.activation, l.alpha, l.beta);
        break;
      }
      case Kind::kLayerNorm: split.tail->AddLayerNorm(l.scale.get(), l.shift.get(), l.epsilon); break;
      case Kind::kAffine: split.tail->AddAffine(l.scale.get(), l.shift.get()); break;
      case Kind::kActivation: split.tail->AddActivation(l.activation, l.alpha, l.beta); break;
      case Kind::kSoftmax: split.tail->AddSoftmax(); break;
      case Kind::kL2Normalize: split.tail->AddL2Normalize(l.epsilon, l.alpha); break;
    }
  }
  for (Mlp* m : {split.item.get(), split.rest.get(), split.tail.get()})
    if (m) m->UseBf16(bf16_);
  return split;
}

void Mlp::ForwardBlock(const KernelTable& kernels, const float* x, size_t ldx, size_t rows,
                       float* out, float* scratch, size_t ld, bool reverse) const {
  const float* cur = x;
  size_t ldc = ldx;
  size_t width = input_size_;
  float* buffers[2] = {scratch, scratch + rows * ld};
  int next = 0;
  for (const Layer& l : layers_) {
    float* dst = buffers[next];
    next ^= 1;
    switch (l.kind) {
      case Kind::kDense:
        if (bf16_ && kernels.gemm_bf16 && l.packed_bf16) {
          kernels.gemm_bf16(cur, ldc, rows, l.in, l.packed_bf16.get(), l.panels, l.shift.get(),
                            l.activation, l.alpha, l.beta, dst, ld);
        } else if (rows <= kFewRows && reverse) {
          // Few rows stream the weights once per call; walking them in the
          // opposite order from the previous call starts with what that call
          // left in cache (results are identical: columns are independent).
          const size_t step = 4, panel_floats = l.in * kGemmPanel;
          for (size_t end = l.panels; end > 0;) {
            const size_t begin = end > step ? end - step : 0;
            kernels.gemm_f32(cur, ldc, rows, l.in, l.packed.get() + begin * panel_floats,
                             end - begin, l.shift.get() + begin * kGemmPanel, l.activation,
                             l.alpha, l.beta, dst + begin * kGemmPanel, ld);
            end = begin;
          }
        } else {
          kernels.gemm_f32(cur, ldc, rows, l.in, l.packed.get(), l.panels, l.shift.get(),
                           l.activation, l.alpha, l.beta, dst, ld);
        }
        break;
      case Kind::kLayerNorm:
        for (size_t r = 0; r < rows; ++r) {
          const float* src = cur + r * ldc;
          float* y = dst + r * ld;
          double sum = 0.0;
          for (size_t j = 0; j < width; ++j) sum += src[j];
          const double mean = sum / static_cast<double>(width);
          double sq = 0.0;
          for (size_t j = 0; j < width; ++j) sq += (src[j] - mean) * (src[j] - mean);
          const double inv = 1.0 / std::sqrt(sq / static_cast<double>(width) + l.epsilon);
          for (size_t j = 0; j < width; ++j)
            y[j] = static_cast<float>((src[j] - mean) * inv) * l.scale[j] + l.shift[j];
        }
        break;
      case Kind::kAffine:
        for (size_t r = 0; r < rows; ++r) {
          const float* src = cur + r * ldc;
          float* y = dst + r * ld;
          for (size_t j = 0; j < width; ++j) y[j] = src[j] * l.scale[j] + l.shift[j];
        }
        break;
      case Kind::kSoftmax:
        for (size_t r = 0; r < rows; ++r) {
          const float* src = cur + r * ldc;
          float* y = dst + r * ld;
          float peak = src[0];
          for (size_t j = 1; j < width; ++j) peak = src[j] > peak ? src[j] : peak;
          double sum = 0.0;
          for (size_t j = 0; j < width; ++j) {
            y[j] = std::exp(src[j] - peak);
            sum += y[j];
          }
          // A NaN anywhere in the row makes the sum NaN, and so every output.
          const float inv = static_cast<float>(1.0 / sum);
          for (size_t j = 0; j < width; ++j) y[j] *= inv;
        }
        break;
      case Kind::kActivation:
        for (size_t r = 0; r < rows; ++r) {
          std::memcpy(dst + r * ld, cur + r * ldc, width * sizeof(float));
          kernels.activate_f32(dst + r * ld, width, l.activation, l.alpha, l.beta);
        }
        break;
      case Kind::kL2Normalize:
        for (size_t r = 0; r < rows; ++r)
          kernels.normalize_f32(cur + r * ldc, width, l.epsilon, l.alpha, dst + r * ld);
        break;
    }
    cur = dst;
    ldc = ld;
    width = l.out;
  }
  for (size_t r = 0; r < rows; ++r) std::memcpy(out + r * width, cur + r * ldc, width * sizeof(float));
}

void Mlp::Forward(const KernelTable& kernels, const float* x, size_t ldx, size_t batch,
                  float* out) const {
  if (batch == 0 || batch > kMaxBatch)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
                "The batch size must be in [1, " + std::to_string(kMaxBatch) + "] but is " +
                    std::to_string(batch));
  const size_t ld = std::max<size_t>(scratch_width_, kGemmPanel);
  const size_t fit = std::max<size_t>(1, kMaxScratchBytes / (2 * ld * sizeof(float)));
  const size_t block = std::min({batch, kRowBlock, fit});
  float* scratch = Scratch(2 * block * ld);
  const bool reverse = (calls_.fetch_add(1, std::memory_order_relaxed) & 1) != 0;
  for (size_t r = 0; r < batch; r += block) {
    const size_t rows = std::min(block, batch - r);
    ForwardBlock(kernels, x + r * ldx, ldx, rows, out + r * width_, scratch, ld, reverse);
  }
}

void Mlp::ForwardParallel(const KernelTable& kernels, const float* x, size_t batch, float* out,
                          unsigned threads) const {
  // Below a few row blocks per thread, starting threads costs more than it saves.
  const size_t useful = std::max<size_t>(1, batch / kRowBlock);
  threads = static_cast<unsigned>(std::min<size_t>(std::max(1u, threads), useful));
  if (threads <= 1) return Forward(kernels, x, input_size_, batch, out);
  ParallelRanges(batch, threads, [&](size_t, size_t begin, size_t end) {
    Forward(kernels, x + begin * input_size_, input_size_, end - begin, out + begin * width_);
  });
}

void GatherInputs(const InputSegment* segments, size_t count, size_t batch, float* out) {
  size_t total = 0;
  for (size_t s = 0; s < count; ++s) total += segments[s].width;
  for (size_t r = 0; r < batch; ++r) {
    float* row = out + r * total;
    for (size_t s = 0; s < count; ++s) {
      const InputSegment& seg = segments[s];
      const bool present = seg.data && (!seg.present || seg.present[r]);
      const float* src = present ? seg.data + r * seg.width : seg.fill;
      if (src)
        std::memcpy(row, src, seg.width * sizeof(float));
      else
        std::memset(row, 0, seg.width * sizeof(float));
      row += seg.width;
    }
  }
}

}  // namespace fr

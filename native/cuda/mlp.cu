// CudaMlp: fr::Mlp's forward pass on a GPU. Dense layers run on the shared
// tensor-core GEMM (gemm.cuh) in f16 or bf16 with f32 accumulation, their
// bias and activation applied in the GEMM's epilogue; every other layer is a
// row kernel in f32 that mirrors native/core/mlp.cc and
// kernels/gemm/gemm_impl.h, NaN behaviour and double-precision sums
// included. Rows go through in chunks on two streams (pinned staging each),
// so one chunk's transfers overlap the other's compute.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda.h"
#include "cuda_internal.cuh"
#include "gemm.cuh"

namespace fr {

using namespace cuda_detail;

namespace {

constexpr size_t kMaxChunkRows = 16384;
constexpr int kRowThreads = 256;

[[noreturn]] void ThrowShape(const std::string& message) {
  throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE", message);
}

void RequireWidth(size_t width, const char* what) {
  if (width == 0 || width > CudaMlp::kMaxWidth)
    ThrowShape(std::string(what) + " must be in [1, " + std::to_string(CudaMlp::kMaxWidth) + "] but is " +
               std::to_string(width));
}

// exp with gemm_impl.h's clamp to [-87, 88] (so sigmoid(-1000) is tiny, not
// 0); comparisons written so NaN passes through.
__device__ __forceinline__ float ExpClamped(float x) {
  x = x > 88.0f ? 88.0f : (x < -87.0f ? -87.0f : x);
  return expf(x);
}

// gemm_impl.h's Activate, element by element. The CPU's Max/Min return the
// data operand when either is NaN; the conditionals below do the same.
__device__ __forceinline__ float Activate(float x, Activation act, float alpha, float beta) {
  switch (act) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return x < 0.0f ? 0.0f : x;
    case Activation::kLeakyRelu:
      return x < 0.0f ? x * alpha : x;
    case Activation::kSigmoid:
      return 1.0f / (1.0f + ExpClamped(-x));
    case Activation::kTanh:
      return tanhf(x);
    case Activation::kGeluErf:
      // 0.5 x (1 + erf(x / sqrt 2)) as 0.5 x erfc(-x / sqrt 2): no cancellation for negative x.
      return 0.5f * x * erfcf(x * -0.70710678118654752f);
    case Activation::kSilu:
      return x / (1.0f + ExpClamped(-x));
    case Activation::kGeluTanh: {
      const float u = 0.7978845608028654f * fmaf(x * x * x, 0.044715f, x);
      return x * (1.0f / (1.0f + ExpClamped(-2.0f * u)));
    }
    case Activation::kSoftplus:
      return (x < 0.0f ? 0.0f : x) + log1pf(ExpClamped(-fabsf(x)));
    case Activation::kClip: {
      const float lower = x < alpha ? alpha : x;
      return lower > beta ? beta : lower;
    }
  }
  return x;
}

template <class T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ __half FromFloat<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// A dense layer's input in the GEMM's type, zero padded to `padded` columns.
template <class T>
__global__ void ToGemmInput(const float* __restrict__ x, size_t ldx, int rows, int width, T* __restrict__ y,
                            size_t ldy, int padded) {
  const size_t total = static_cast<size_t>(rows) * padded;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = i / padded, c = i % padded;
    y[r * ldy + c] = FromFloat<T>(c < static_cast<size_t>(width) ? x[r * ldx + c] : 0.0f);
  }
}

struct DenseEpilogue {
  float* y;
  size_t ldy;
  const float* bias;
  Activation act;
  float alpha, beta;
  __device__ void operator()(int m, int n, float v) const {
    y[static_cast<size_t>(m) * ldy + n] = Activate(v + bias[n], act, alpha, beta);
  }
};

enum class ElementOp { kAffine, kActivation };

// Affine (x * scale + shift, not fused into an FMA: the CPU rounds the
// product first) or a stand-alone activation.
__global__ void ElementwiseRows(const float* __restrict__ x, float* __restrict__ y, size_t ld, int rows, int width,
                                ElementOp op, const float* __restrict__ scale, const float* __restrict__ shift,
                                Activation act, float alpha, float beta) {
  const size_t total = static_cast<size_t>(rows) * width;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t r = i / width, c = i % width;
    const float v = x[r * ld + c];
    y[r * ld + c] = op == ElementOp::kAffine ? __fadd_rn(__fmul_rn(v, scale[c]), shift[c]) : Activate(v, act, alpha, beta);
  }
}

// Block-wide sum (kRowThreads threads); every thread gets the total.
template <class A>
__device__ A BlockSum(A v, A* shared) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xFFFFFFFFu, v, o);
  __syncthreads();  // `shared` may still be read from a previous call
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < kRowThreads / 32 ? shared[threadIdx.x] : A(0);
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xFFFFFFFFu, v, o);
    if (threadIdx.x == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// mlp.cc's layer norm: mean and variance in double, (x - mean) * inv rounded
// to float, then * gamma + beta in float. One block per row.
__global__ void __launch_bounds__(kRowThreads)
    LayerNormRows(const float* __restrict__ x, float* __restrict__ y, size_t ld, int width,
                  const float* __restrict__ gamma, const float* __restrict__ beta, float epsilon) {
  __shared__ double partial[32];
  const float* src = x + blockIdx.x * ld;
  float* dst = y + blockIdx.x * ld;
  double sum = 0;
  for (int j = threadIdx.x; j < width; j += kRowThreads) sum += src[j];
  const double mean = BlockSum(sum, partial) / width;
  double sq = 0;
  for (int j = threadIdx.x; j < width; j += kRowThreads) sq += (src[j] - mean) * (src[j] - mean);
  const double inv = 1.0 / sqrt(BlockSum(sq, partial) / width + epsilon);
  for (int j = threadIdx.x; j < width; j += kRowThreads)
    dst[j] = __fadd_rn(__fmul_rn(static_cast<float>((src[j] - mean) * inv), gamma[j]), beta[j]);
}

// Block-wide max that skips NaN (a NaN anywhere still makes the row NaN:
// its exp is NaN, and so is the sum every output is scaled by).
__device__ float BlockMax(float v, float* shared) {
  for (int o = 16; o > 0; o /= 2) {
    const float other = __shfl_down_sync(0xFFFFFFFFu, v, o);
    v = other > v ? other : v;
  }
  __syncthreads();
  if (threadIdx.x % 32 == 0) shared[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < kRowThreads / 32 ? shared[threadIdx.x] : -INFINITY;
    for (int o = 16; o > 0; o /= 2) {
      const float other = __shfl_down_sync(0xFFFFFFFFu, v, o);
      v = other > v ? other : v;
    }
    if (threadIdx.x == 0) shared[0] = v;
  }
  __syncthreads();
  return shared[0];
}

// mlp.cc's softmax: exp(x - max) in float, the sum in double, one float
// reciprocal applied to every output.
__global__ void __launch_bounds__(kRowThreads)
    SoftmaxRows(const float* __restrict__ x, float* __restrict__ y, size_t ld, int width) {
  __shared__ float peak_partial[32];
  __shared__ double sum_partial[32];
  const float* src = x + blockIdx.x * ld;
  float* dst = y + blockIdx.x * ld;
  // Every thread starts from x[0], as the CPU's scan does: a NaN there stays
  // the peak (NaN compares false), a NaN elsewhere is skipped by the max but
  // still turns the row into NaN through its exp and the sum.
  float peak = src[0];
  for (int j = threadIdx.x; j < width; j += kRowThreads) peak = src[j] > peak ? src[j] : peak;
  peak = BlockMax(peak, peak_partial);
  double sum = 0;
  for (int j = threadIdx.x; j < width; j += kRowThreads) {
    const float e = expf(src[j] - peak);
    dst[j] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / BlockSum(sum, sum_partial));
  for (int j = threadIdx.x; j < width; j += kRowThreads) dst[j] *= inv;
}

// gemm_impl.h's NormalizeRow: y = x * scale / max(||x||, epsilon), the sum
// of squares in float, redone in double when it overflowed or underflowed;
// a NaN sum makes every output NaN.
__global__ void __launch_bounds__(kRowThreads)
    L2NormalizeRows(const float* __restrict__ x, float* __restrict__ y, size_t ld, int width, float epsilon,
                    float scale) {
  __shared__ float partial[32];
  __shared__ double wide_partial[32];
  const float* src = x + blockIdx.x * ld;
  float* dst = y + blockIdx.x * ld;
  float sum = 0;
  for (int j = threadIdx.x; j < width; j += kRowThreads) sum = fmaf(src[j], src[j], sum);
  sum = BlockSum(sum, partial);
  if (sum == INFINITY || (sum < 1e-30f && sum >= 0.0f)) {
    double wide = 0;
    for (int j = threadIdx.x; j < width; j += kRowThreads) wide += static_cast<double>(src[j]) * src[j];
    const double root = sqrt(BlockSum(wide, wide_partial));
    const double denominator = root < epsilon ? static_cast<double>(epsilon) : root;
    const double factor = scale / denominator;
    for (int j = threadIdx.x; j < width; j += kRowThreads) dst[j] = static_cast<float>(src[j] * factor);
    return;
  }
  const float norm = sqrtf(sum);
  const float denominator = norm < epsilon ? epsilon : norm;
  const float f = scale / denominator;
  for (int j = threadIdx.x; j < width; j += kRowThreads) dst[j] = src[j] * f;
}

unsigned GridFor(size_t elements) {
  const size_t blocks = (elements + 255) / 256;
  return static_cast<unsigned>(std::min<size_t>(std::max<size_t>(blocks, 1), 65535));
}

}  // namespace

struct CudaMlp::State {
  enum class Kind { kDense, kLayerNorm, kAffine, kActivation, kSoftmax, kL2Normalize };
  struct Layer {
    Kind kind;
    size_t in = 0, out = 0;
    size_t k_padded = 0;             // dense: in rounded up to the GEMM's K step
    std::vector<uint16_t> weight;    // dense: out x k_padded, f16 or bf16 bits, zero padded
    std::vector<float> bias;         // dense: out; layer norm: beta; affine: shift
    std::vector<float> scale;        // layer norm: gamma; affine: scale
    Activation activation = Activation::kNone;
    float alpha = 0, beta = 0, epsilon = 0;  // l2norm: scale in alpha
    // On the device, after the first Forward.
    DeviceArray<uint16_t> d_weight;
    DeviceArray<float> d_bias, d_scale;
  };

  size_t input_size = 0, width = 0;
  int device = 0;
  CudaPrecision precision = CudaPrecision::kF16;
  std::vector<Layer> layers;

  std::mutex upload_mutex;
  bool uploaded = false;
  bool simt = false;  // bf16 without bf16 tensor cores

  void Upload();
};

void CudaMlp::State::Upload() {
  std::lock_guard<std::mutex> lock(upload_mutex);
  if (uploaded) return;
  int major = 0;
  Check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device), "cudaDeviceGetAttribute");
  simt = precision == CudaPrecision::kBf16 && major < 8;
  auto put = [](auto& dev, const auto& host, const std::string& what) {
    if (host.empty()) return;
    dev.Allocate(host.size(), what);
    Check(cudaMemcpy(dev.get(), host.data(), host.size() * sizeof(host[0]), cudaMemcpyHostToDevice),
          "cudaMemcpy (model)");
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer& l = layers[i];
    const std::string what = "The MLP's layer " + std::to_string(i);
    put(l.d_weight, l.weight, what);
    put(l.d_bias, l.bias, what);
    put(l.d_scale, l.scale, what);
  }
  uploaded = true;
}

CudaMlp::CudaMlp(size_t input_size, int device, CudaPrecision precision) : state_(new State) {
  RequireWidth(input_size, "The input size");
  if (device < 0 || static_cast<uint32_t>(device) > kCudaMaxDeviceOrdinal)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a CUDA device ordinal for device");
  state_->input_size = state_->width = input_size;
  state_->device = device;
  state_->precision = precision;
}

CudaMlp::~CudaMlp() {
  if (state_ && state_->uploaded) cudaSetDevice(state_->device);
}

size_t CudaMlp::input_size() const { return state_->input_size; }
size_t CudaMlp::output_size() const { return state_->width; }
CudaPrecision CudaMlp::precision() const { return state_->precision; }

void CudaMlp::AddDense(size_t out, const float* weight, bool out_major, const float* bias, Activation act,
                       float alpha, float beta) {
  RequireWidth(out, "A dense layer's output size");
  State& s = *state_;
  const size_t in = s.width;
  if (in * out > (size_t{1} << 31))
    ThrowShape("A dense layer of " + std::to_string(in) + " x " + std::to_string(out) + " weights is larger than 2^31");
  if (act == Activation::kClip && (std::isnan(alpha) || std::isnan(beta))) ThrowShape("A clip's bounds must not be NaN");
  State::Layer l;
  l.kind = State::Kind::kDense;
  l.in = in;
  l.out = out;
  l.k_padded = RoundUp(in, cuda_gemm::kBK);
  l.weight.assign(out * l.k_padded, 0);
  const bool bf16 = s.precision == CudaPrecision::kBf16;
  // Rounded as the CPU rounds (round to nearest even, NaN kept).
  for (size_t o = 0; o < out; ++o)
    for (size_t k = 0; k < in; ++k) {
      const float w = out_major ? weight[o * in + k] : weight[k * out + o];
      l.weight[o * l.k_padded + k] = bf16 ? FloatToBf16(w) : FloatToHalf(w);
    }
  l.bias.assign(out, 0.0f);
  if (bias) std::copy(bias, bias + out, l.bias.begin());
  l.activation = act;
  l.alpha = alpha;
  l.beta = beta;
  s.layers.push_back(std::move(l));
  s.width = out;
}

void CudaMlp::AddLayerNorm(const float* gamma, const float* beta, float epsilon) {
  if (!(epsilon >= 0.0f) || !std::isfinite(epsilon)) ThrowShape("A layer norm epsilon must be finite and non-negative");
  State& s = *state_;
  State::Layer l;
  l.kind = State::Kind::kLayerNorm;
  l.in = l.out = s.width;
  l.scale.assign(gamma, gamma + s.width);
  l.bias.assign(s.width, 0.0f);
  if (beta) std::copy(beta, beta + s.width, l.bias.begin());
  l.epsilon = epsilon;
  s.layers.push_back(std::move(l));
}

void CudaMlp::AddAffine(const float* scale, const float* shift) {
  State& s = *state_;
  State::Layer l;
  l.kind = State::Kind::kAffine;
  l.in = l.out = s.width;
  l.scale.assign(scale, scale + s.width);
  l.bias.assign(shift, shift + s.width);
  s.layers.push_back(std::move(l));
}

void CudaMlp::AddActivation(Activation act, float alpha, float beta) {
  if (act == Activation::kNone) return;
  if (act == Activation::kClip && (std::isnan(alpha) || std::isnan(beta))) ThrowShape("A clip's bounds must not be NaN");
  State& s = *state_;
  // Fused into a dense layer that has none yet, as fr::Mlp does.
  if (!s.layers.empty() && s.layers.back().kind == State::Kind::kDense &&
      s.layers.back().activation == Activation::kNone) {
    s.layers.back().activation = act;
    s.layers.back().alpha = alpha;
    s.layers.back().beta = beta;
    return;
  }
  State::Layer l;
  l.kind = State::Kind::kActivation;
  l.in = l.out = s.width;
  l.activation = act;
  l.alpha = alpha;
  l.beta = beta;
  s.layers.push_back(std::move(l));
}

void CudaMlp::AddSoftmax() {
  State::Layer l;
  l.kind = State::Kind::kSoftmax;
  l.in = l.out = state_->width;
  state_->layers.push_back(std::move(l));
}

void CudaMlp::AddL2Normalize(float epsilon, float scale) {
  if (!(epsilon >= 0.0f) || !std::isfinite(epsilon) || !std::isfinite(scale))
    ThrowShape("An L2 normalisation needs a finite, non-negative epsilon and a finite scale");
  State::Layer l;
  l.kind = State::Kind::kL2Normalize;
  l.in = l.out = state_->width;
  l.epsilon = epsilon;
  l.alpha = scale;
  state_->layers.push_back(std::move(l));
}

std::vector<float> CudaMlp::Forward(const float* x, size_t batch) const {
  State& s = *state_;
  if (batch == 0 || batch > kMaxBatch || x == nullptr)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
                "The batch size must be in [1, " + std::to_string(kMaxBatch) + "] but is " + std::to_string(batch));
  const size_t in = s.input_size, out_width = s.width;
  std::vector<float> out(CheckedMul(batch, out_width, "The MLP's output"));
  UseDevice(s.device);
  s.Upload();

  // Activations live in two f32 buffers of `ld` floats a row (the widest
  // layer); dense inputs are converted into one f16/bf16 buffer.
  size_t widest = in, widest_k = cuda_gemm::kBK;
  for (const State::Layer& l : s.layers) {
    widest = std::max(widest, l.out);
    if (l.kind == State::Kind::kDense) widest_k = std::max(widest_k, l.k_padded);
  }
  const size_t ld = RoundUp(widest, 8);
  const size_t per_row = 2 * ld * sizeof(float) + widest_k * sizeof(uint16_t);
  const size_t free_bytes = FreeDeviceBytes();
  const size_t budget = std::min<size_t>(free_bytes / 5 * 4, size_t{1} << 30) / 2;  // per slot
  size_t chunk = std::min(kMaxChunkRows, RoundUp(batch, cuda_gemm::kBM));
  while (chunk > static_cast<size_t>(cuda_gemm::kBM) && chunk * per_row > budget) chunk /= 2;
  chunk = RoundUp(chunk, cuda_gemm::kBM);
  if (chunk * per_row > budget) ThrowOutOfMemory("The MLP's work buffers (" + std::to_string(chunk) + " rows)", 2 * chunk * per_row);

  struct Slot {
    Stream stream;
    DeviceArray<float> act[2];
    DeviceArray<uint16_t> gemm_in;
    PinnedArray<float> in_stage, out_stage;
    size_t first = 0, rows = 0;
    bool busy = false;
  } slots[2];
  for (Slot& sl : slots) {
    for (auto& a : sl.act) a.Allocate(chunk * ld, "The MLP's activations");
    sl.gemm_in.Allocate(chunk * widest_k, "The MLP's GEMM input");
    // Rows past a short last chunk are read by the GEMM (never stored).
    Check(cudaMemset(sl.gemm_in.get(), 0, sl.gemm_in.bytes()), "cudaMemset");
    sl.in_stage.Allocate(chunk * in, "The MLP's input staging");
    sl.out_stage.Allocate(chunk * out_width, "The MLP's output staging");
  }

  const size_t chunks = (batch + chunk - 1) / chunk;
  for (size_t c = 0; c < chunks + 2; ++c) {
    Slot& sl = slots[c & 1];
    if (sl.busy) {
      sl.stream.Synchronize();
      std::memcpy(out.data() + sl.first * out_width, sl.out_stage.get(), sl.rows * out_width * sizeof(float));
      sl.busy = false;
    }
    if (c >= chunks) continue;
    sl.first = c * chunk;
    sl.rows = std::min(chunk, batch - sl.first);
    const int rows = static_cast<int>(sl.rows);
    const cudaStream_t st = sl.stream.get();
    std::memcpy(sl.in_stage.get(), x + sl.first * in, sl.rows * in * sizeof(float));
    Check(cudaMemcpy2DAsync(sl.act[0].get(), ld * sizeof(float), sl.in_stage.get(), in * sizeof(float),
                            in * sizeof(float), sl.rows, cudaMemcpyHostToDevice, st),
          "cudaMemcpy2DAsync (MLP input)");
    int cur = 0;
    size_t width = in;
    for (const State::Layer& l : s.layers) {
      const float* src = sl.act[cur].get();
      float* dst = sl.act[cur ^ 1].get();
      switch (l.kind) {
        case State::Kind::kDense: {
          const DenseEpilogue ep{dst, ld, l.d_bias.get(), l.activation, l.alpha, l.beta};
          const size_t elements = sl.rows * l.k_padded;
          if (s.precision == CudaPrecision::kBf16) {
            auto* a = reinterpret_cast<__nv_bfloat16*>(sl.gemm_in.get());
            ToGemmInput<<<GridFor(elements), 256, 0, st>>>(src, ld, rows, static_cast<int>(l.in), a, l.k_padded,
                                                          static_cast<int>(l.k_padded));
            CheckLaunch("ToGemmInput launch");
            cuda_gemm::LaunchGemmNT(static_cast<const __nv_bfloat16*>(a), l.k_padded, rows,
                                    reinterpret_cast<const __nv_bfloat16*>(l.d_weight.get()), l.k_padded,
                                    cuda_gemm::BRows{nullptr, 0}, static_cast<int>(l.out),
                                    static_cast<int>(l.k_padded), ep, s.simt, st);
          } else {
            auto* a = reinterpret_cast<__half*>(sl.gemm_in.get());
            ToGemmInput<<<GridFor(elements), 256, 0, st>>>(src, ld, rows, static_cast<int>(l.in), a, l.k_padded,
                                                          static_cast<int>(l.k_padded));
            CheckLaunch("ToGemmInput launch");
            cuda_gemm::LaunchGemmNT(static_cast<const __half*>(a), l.k_padded, rows,
                                    reinterpret_cast<const __half*>(l.d_weight.get()), l.k_padded,
                                    cuda_gemm::BRows{nullptr, 0}, static_cast<int>(l.out),
                                    static_cast<int>(l.k_padded), ep, false, st);
          }
          CheckLaunch("dense GEMM launch");
          break;
        }
        case State::Kind::kLayerNorm:
          LayerNormRows<<<rows, kRowThreads, 0, st>>>(src, dst, ld, static_cast<int>(width), l.d_scale.get(),
                                                      l.d_bias.get(), l.epsilon);
          CheckLaunch("LayerNormRows launch");
          break;
        case State::Kind::kAffine:
          ElementwiseRows<<<GridFor(sl.rows * width), 256, 0, st>>>(src, dst, ld, rows, static_cast<int>(width),
                                                                    ElementOp::kAffine, l.d_scale.get(),
                                                                    l.d_bias.get(), Activation::kNone, 0, 0);
          CheckLaunch("ElementwiseRows launch");
          break;
        case State::Kind::kActivation:
          ElementwiseRows<<<GridFor(sl.rows * width), 256, 0, st>>>(src, dst, ld, rows, static_cast<int>(width),
                                                                    ElementOp::kActivation, nullptr, nullptr,
                                                                    l.activation, l.alpha, l.beta);
          CheckLaunch("ElementwiseRows launch");
          break;
        case State::Kind::kSoftmax:
          SoftmaxRows<<<rows, kRowThreads, 0, st>>>(src, dst, ld, static_cast<int>(width));
          CheckLaunch("SoftmaxRows launch");
          break;
        case State::Kind::kL2Normalize:
          L2NormalizeRows<<<rows, kRowThreads, 0, st>>>(src, dst, ld, static_cast<int>(width), l.epsilon, l.alpha);
          CheckLaunch("L2NormalizeRows launch");
          break;
      }
      cur ^= 1;
      width = l.out;
    }
    Check(cudaMemcpy2DAsync(sl.out_stage.get(), out_width * sizeof(float), sl.act[cur].get(), ld * sizeof(float),
                            out_width * sizeof(float), sl.rows, cudaMemcpyDeviceToHost, st),
          "cudaMemcpy2DAsync (MLP output)");
    sl.busy = true;
  }
  return out;
}

}  // namespace fr

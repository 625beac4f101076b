// The CUDA part of the core: plain C++ (no Node, no CUDA headers), so the
// addon glue compiles with the host compiler alone. Implemented in cuda.cu,
// built only with FR_CUDA=ON (the @fusionrank/linux-x64-gnu-cuda package).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/kernels/kernels.h"  // Activation

namespace fr {

// Why CUDA cannot be used, when it cannot. kOk: at least one supported device.
enum class CudaStatus { kOk, kNoDriver, kDriverTooOld, kNoDevice, kNoSupportedDevice, kError };

struct CudaDevice {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory_bytes = 0;
  bool supported = false;    // this build has code for it (sm_75 or newer)
};

struct CudaProbeResult {
  CudaStatus status = CudaStatus::kError;
  int driver_version = 0;   // the CUDA version the driver supports, e.g. 12040; 0 without a driver
  int runtime_version = 0;  // the CUDA runtime linked in, e.g. 13000
  int device_count = 0;     // every device the driver reports
  std::string error;        // "cudaErrorInsufficientDriver: ..." when a call failed
  std::vector<CudaDevice> devices;
};

// Never throws for a missing driver or device: that is the result. Creates
// no CUDA context (only the driver is initialised).
CudaProbeResult ProbeCuda();

// out[i] = a * x[i] + y[i] on `device` (synchronous). Throws fr::Error:
// ERR_FUSIONRANK_CUDA_UNAVAILABLE (no driver / device / kernel image),
// ERR_FUSIONRANK_OUT_OF_MEMORY, ERR_FUSIONRANK_CUDA_FAILED (anything else).
void CudaSaxpy(int device, float a, const float* x, const float* y, float* out, size_t n);

// The oldest compute capability this build has machine code or PTX for.
constexpr int kCudaMinComputeCapability = 75;

// Largest device ordinal the bindings accept (a cheap guard; the runtime
// rejects ordinals it does not know with ERR_FUSIONRANK_CUDA_UNAVAILABLE).
constexpr uint32_t kCudaMaxDeviceOrdinal = 1024;

struct CudaCopyTiming {
  double seconds = 0;  // one copy, the median of several
  double gb_per_sec = 0;
};

// Times a pinned host -> device copy of `bytes` (the bus's practical peak,
// to compare row uploads against). Synchronous.
CudaCopyTiming CudaProbeH2D(int device, size_t bytes);

// Where a row set keeps its rows. kAuto: on the device while they fit its
// free memory (with room for the work buffers), else in pinned host memory,
// streamed to the device tile by tile for every search.
enum class CudaRowPlacement { kAuto, kDevice, kHost };

struct CudaTopKOutput {
  size_t queries = 0;
  size_t k = 0;                 // per query, after clamping to the candidate count
  std::vector<uint32_t> rows;   // queries x k, best first (ties: lower row first)
  std::vector<float> scores;    // queries x k
  double seconds = 0;           // the whole job on its pool thread, upload to download
};

// Rows (already L2-normalised, IEEE binary16) resident for many-query exact
// top-k by dot product on one GPU. Thread-safe: searches share the rows;
// Write and Release wait for the searches in flight. No CUDA call is made
// before the first Write or TopKMany, so a set can be built and its
// arguments checked on a machine without a GPU.
class CudaRowSet {
 public:
  static constexpr size_t kMaxDim = 65536;
  static constexpr size_t kMaxK = 2048;
  // Row ids are uint32 and 0xFFFFFFFF is reserved by the selection's keys.
  static constexpr size_t kMaxRows = 0x7FFFFFFF;
  static constexpr size_t kMaxQueries = size_t{1} << 24;

  // Throws ERR_FUSIONRANK_INVALID_DIM for dim outside [1, kMaxDim].
  CudaRowSet(size_t dim, int device, CudaRowPlacement placement);
  ~CudaRowSet();
  CudaRowSet(const CudaRowSet&) = delete;
  CudaRowSet& operator=(const CudaRowSet&) = delete;

  // Rows [first, first + count) = `rows` (count x dim binary16, dense);
  // first <= size(), so a write overwrites and/or appends. Capacity grows
  // geometrically. Synchronous.
  void Write(size_t first, const uint16_t* rows, size_t count);
  size_t dim() const;
  size_t size() const;
  // Bytes held for the rows (device or pinned host memory).
  size_t bytes() const;
  // "device", "host", or "none" before the first write / after Release.
  const char* placement() const;
  // Frees the rows (size() becomes 0; the set can be written again).
  void Release();

  // Exact top-k of every query (nq x dim floats, raw: each is L2-normalised
  // here; a zero query scores 0 everywhere) over all rows, or over `subset`
  // (nsubset row ids, each < size()). k is clamped to the candidate count.
  // `scores_only` runs the score tiles without the selection (a benchmark of
  // the GEMM alone; the result then has k = 0).
  CudaTopKOutput TopKMany(const float* queries, size_t nq, size_t k, const uint32_t* subset,
                          size_t nsubset, bool scores_only) const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

enum class CudaPrecision { kF16, kBf16 };

// A fusion MLP's forward pass on one GPU: the same layer list and semantics
// as fr::Mlp (native/core/mlp.h), dense layers in f16 or bf16 on tensor cores
// (f32 accumulation, bias and activation fused into the GEMM epilogue), every
// other op in f32 (with double sums where the CPU uses them). Built on the
// host; the weights go to the device on the first Forward. Thread-safe.
class CudaMlp {
 public:
  static constexpr size_t kMaxWidth = size_t{1} << 20;
  static constexpr size_t kMaxBatch = size_t{1} << 24;

  CudaMlp(size_t input_size, int device, CudaPrecision precision);
  ~CudaMlp();
  CudaMlp(const CudaMlp&) = delete;
  CudaMlp& operator=(const CudaMlp&) = delete;

  // As fr::Mlp's Add* (same checks and the same codes).
  void AddDense(size_t out, const float* weight, bool out_major, const float* bias,
                Activation act, float alpha, float beta);
  void AddLayerNorm(const float* gamma, const float* beta, float epsilon);
  void AddAffine(const float* scale, const float* shift);
  void AddActivation(Activation act, float alpha, float beta);
  void AddSoftmax();
  void AddL2Normalize(float epsilon, float scale);

  size_t input_size() const;
  size_t output_size() const;
  CudaPrecision precision() const;

  // out (batch x output_size) = mlp(x (batch x input_size)).
  std::vector<float> Forward(const float* x, size_t batch) const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace fr

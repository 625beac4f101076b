// CudaRowSet: catalog rows resident on a GPU (or in pinned host memory when
// they do not fit) and exact many-query top-k over them.
//
// One search, per batch of queries:
//   1. the raw f32 queries go up through pinned staging and are L2-normalised
//      and rounded to f16 on the device (zero padding up to kp columns);
//   2. for every tile of rows, a tensor-core GEMM (gemm.cuh) writes the
//      batch x tile scores, and SelectMerge folds that tile into each query's
//      running top-k, kept on the device;
//   3. the running lists go back through pinned staging.
// Two slots (stream, staging and work buffers each) alternate between
// batches, so one batch's upload and download overlap the other's compute.
// Rows that live on the host take the other loop order: row tiles are the
// outer loop, uploaded on a copy stream into two tile buffers while the
// compute stream scores the previous tile against every query.
//
// Selection works on 64-bit keys, (order-preserving bits of the score) << 32
// | (0xFFFFFFFF - row): one integer compare ranks by score, then by lower
// row, exactly the CPU's order; and key 0 (below every real key) marks an
// empty slot, so a running list's last entry is always its admission bar.
#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cuda.h"
#include "cuda_internal.cuh"
#include "gemm.cuh"

namespace fr {

using namespace cuda_detail;

namespace {

// Queries per batch and rows per tile, before shrinking to fit free memory.
constexpr size_t kQueryBatch = 512;
constexpr size_t kRowTile = 32768;
constexpr size_t kMinRowTile = 1024;
// Queries resident at once when the rows stream from the host (each group
// reads every row once).
constexpr size_t kHostQueryGroup = 16384;
// Device memory left free after placing rows there, for the searches' work
// buffers and other users of the GPU.
constexpr size_t kWorkReserve = size_t{512} << 20;
// Rows per pinned staging chunk of a write.
constexpr size_t kWriteChunkBytes = size_t{16} << 20;
// Candidate buffer of the selection (entries): the running list plus the
// candidates of one tile; twice the largest k, a power of two.
constexpr unsigned kSelectCap = 4096;
constexpr int kSelectThreads = 512;
static_assert(kSelectCap >= 2 * CudaRowSet::kMaxK, "the merge holds k running + k new entries");

// Rows are stored with this stride (halves): the GEMM's K step.
size_t PaddedDim(size_t dim) { return RoundUp(dim, cuda_gemm::kBK); }

__device__ __forceinline__ uint32_t OrderKey(float s) {
  if (s == 0.0f) s = 0.0f;  // -0 ties with +0, as the CPU's float compare has it
  const uint32_t u = __float_as_uint(s);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__device__ __forceinline__ uint64_t Compose(float score, size_t row) {
  return (static_cast<uint64_t>(OrderKey(score)) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(row));
}

float KeyScore(uint64_t key) {
  const uint32_t k = static_cast<uint32_t>(key >> 32);
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

uint32_t KeyRow(uint64_t key) { return 0xFFFFFFFFu - static_cast<uint32_t>(key); }

// One block per query: q16 row = f16(q / ||q||), the norm summed in double
// (no overflow or underflow for any finite float); a zero query stays zero.
__global__ void NormalizeQueries(const float* __restrict__ q32, int dim, __half* __restrict__ q16,
                                 int ldq) {
  __shared__ double partial[32];
  const float* x = q32 + static_cast<size_t>(blockIdx.x) * dim;
  double sum = 0;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) sum += static_cast<double>(x[j]) * x[j];
  for (int o = 16; o > 0; o /= 2) sum += __shfl_down_sync(0xFFFFFFFFu, sum, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x < 32) {
    sum = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0;
    for (int o = 16; o > 0; o /= 2) sum += __shfl_down_sync(0xFFFFFFFFu, sum, o);
    if (threadIdx.x == 0) partial[0] = sum;
  }
  __syncthreads();
  const double total = partial[0];
  const double inv = total > 0 ? 1.0 / sqrt(total) : 0.0;
  __half* y = q16 + static_cast<size_t>(blockIdx.x) * ldq;
  for (int j = threadIdx.x; j < ldq; j += blockDim.x)
    y[j] = j < dim ? __float2half_rn(static_cast<float>(x[j] * inv)) : __float2half_rn(0.0f);
}

struct ScoreStore {
  float* scores;
  size_t ld;
  __device__ void operator()(int m, int n, float v) const { scores[static_cast<size_t>(m) * ld + n] = v; }
};

// Folds one tile of scores into each query's running top-k (one block per
// query). Candidates above the running list's last key are appended to
// shared memory; when more arrive than fit, a radix select over the 64-bit
// keys (8 bits a pass, stopping once a bucket is taken whole) keeps exactly
// the tile's best k. The running list and the candidates are then sorted
// together (bitonic, descending) and the first k kept.
__global__ void __launch_bounds__(kSelectThreads)
    SelectMerge(const float* __restrict__ scores, size_t ld, int ntile, cuda_gemm::BRows ids,
                uint64_t* __restrict__ running, int k) {
  __shared__ uint64_t buf[kSelectCap];
  __shared__ unsigned hist[256];
  __shared__ unsigned count, taken_equal, remaining;
  __shared__ uint64_t prefix_s, mask_s;
  __shared__ int whole_bucket;

  const int tid = threadIdx.x;
  const float* s = scores + static_cast<size_t>(blockIdx.x) * ld;
  uint64_t* run = running + static_cast<size_t>(blockIdx.x) * k;
  const uint64_t bar = run[k - 1];
  const unsigned room = kSelectCap - k;

  if (tid == 0) count = 0;
  for (int i = tid; i < k; i += blockDim.x) buf[i] = run[i];
  __syncthreads();
  for (int n = tid; n < ntile; n += blockDim.x) {
    const uint64_t key = Compose(s[n], ids.Row(n));
    if (key > bar) {
      const unsigned p = atomicAdd(&count, 1u);
      if (p < room) buf[k + p] = key;
    }
  }
  __syncthreads();
  unsigned candidates = count;
  if (candidates == 0) return;  // uniform: every thread read the same count

  if (candidates > room) {
    // More than fit (room >= k): keep only the tile's best k.
    if (tid == 0) {
      prefix_s = 0;
      mask_s = 0;
      remaining = static_cast<unsigned>(k);
    }
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int i = tid; i < 256; i += blockDim.x) hist[i] = 0;
      __syncthreads();
      const uint64_t prefix = prefix_s, mask = mask_s;
      for (int n = tid; n < ntile; n += blockDim.x) {
        const uint64_t key = Compose(s[n], ids.Row(n));
        if (key > bar && (key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xFF], 1u);
      }
      __syncthreads();
      if (tid == 0) {
        // The digit d whose bucket holds the remaining-th best key.
        const unsigned want = remaining;
        unsigned above = 0;
        int d = 255;
        for (; d > 0; --d) {
          if (above + hist[d] >= want) break;
          above += hist[d];
        }
        remaining = want - above;
        prefix_s = prefix | (static_cast<uint64_t>(d) << shift);
        mask_s = mask | (uint64_t{0xFF} << shift);
        whole_bucket = hist[d] == want - above;
      }
      __syncthreads();
      if (whole_bucket) break;
    }
    // Keys strictly above the bucket are all in; of the bucket, `remaining`
    // (all of it, or copies of one duplicated key, which are identical).
    if (tid == 0) {
      count = 0;
      taken_equal = 0;
    }
    __syncthreads();
    const uint64_t prefix = prefix_s, mask = mask_s;
    const unsigned from_bucket = remaining, above_bucket = static_cast<unsigned>(k) - remaining;
    for (int n = tid; n < ntile; n += blockDim.x) {
      const uint64_t key = Compose(s[n], ids.Row(n));
      if (key <= bar) continue;
      const uint64_t masked = key & mask;
      if (masked > prefix) {
        buf[k + atomicAdd(&count, 1u)] = key;  // fewer than above_bucket + 1 by construction
      } else if (masked == prefix) {
        const unsigned e = atomicAdd(&taken_equal, 1u);
        if (e < from_bucket) buf[k + above_bucket + e] = key;
      }
    }
    candidates = static_cast<unsigned>(k);
  }

  // Bitonic sort, descending, of the running list and the candidates padded
  // with empty keys to a power of two.
  const unsigned used = static_cast<unsigned>(k) + candidates;
  unsigned size = 1;
  while (size < used) size <<= 1;
  for (unsigned i = used + tid; i < size; i += blockDim.x) buf[i] = 0;
  __syncthreads();
  for (unsigned span = 2; span <= size; span <<= 1) {
    for (unsigned stride = span >> 1; stride > 0; stride >>= 1) {
      for (unsigned i = tid; i < size; i += blockDim.x) {
        const unsigned j = i ^ stride;
        if (j > i) {
          const uint64_t a = buf[i], b = buf[j];
          if ((i & span) == 0 ? a < b : a > b) {
            buf[i] = b;
            buf[j] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  for (int i = tid; i < k; i += blockDim.x) run[i] = buf[i];
}

[[noreturn]] void ThrowCode(ErrorKind kind, const char* code, const std::string& message) {
  throw Error(kind, code, message);
}

}  // namespace

struct CudaRowSet::State {
  size_t dim = 0, kp = 0;
  int device = 0;
  CudaRowPlacement requested = CudaRowPlacement::kAuto;

  // Searches hold it shared for their whole run; Write and Release exclusive.
  mutable std::shared_mutex mutex;
  std::atomic<size_t> size{0};
  size_t capacity = 0;  // rows allocated
  enum class Where { kNone, kDevice, kHost } where = Where::kNone;
  DeviceArray<__half> device_rows;         // capacity x kp
  PinnedArray<uint16_t> pinned_rows;       // capacity x kp, when on the host and pinnable
  std::vector<uint16_t> pageable_rows;     // when on the host and pinning failed
  PinnedArray<uint16_t> write_staging[2];  // reused by writes to the device

  const uint16_t* host_rows() const {
    return pinned_rows.get() ? pinned_rows.get() : pageable_rows.data();
  }
  uint16_t* host_rows() { return pinned_rows.get() ? pinned_rows.get() : pageable_rows.data(); }

  void MoveToHost(size_t new_capacity);
  void Grow(size_t rows_needed);
};

// Puts the rows in host memory of `new_capacity` rows (from the device or a
// smaller host buffer); the padding columns and the new rows are zero.
void CudaRowSet::State::MoveToHost(size_t new_capacity) {
  const size_t elements = CheckedMul(new_capacity, kp, "The row set");
  const size_t rows_now = size.load();
  PinnedArray<uint16_t> pinned;
  std::vector<uint16_t> pageable;
  uint16_t* dst;
  if (pinned.TryAllocate(elements)) {
    dst = pinned.get();
  } else {
    try {
      pageable.resize(elements);
    } catch (const std::bad_alloc&) {
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
                  "The row set needs " + std::to_string(elements * 2) + " bytes (" +
                      MiB(elements * 2) + "), which fit neither the GPU (" +
                      std::to_string(FreeDeviceBytes()) + " bytes free) nor host memory");
    }
    dst = pageable.data();
  }
  std::memset(dst + rows_now * kp, 0, (elements - rows_now * kp) * sizeof(uint16_t));
  if (rows_now > 0) {
    if (where == Where::kDevice)
      Check(cudaMemcpy(dst, device_rows.get(), rows_now * kp * sizeof(uint16_t), cudaMemcpyDeviceToHost),
            "cudaMemcpy (rows to the host)");
    else
      std::memcpy(dst, host_rows(), rows_now * kp * sizeof(uint16_t));
  }
  device_rows.Reset();
  pinned_rows = std::move(pinned);
  pageable_rows = std::move(pageable);
  capacity = new_capacity;
  where = Where::kHost;
}

void CudaRowSet::State::Grow(size_t rows_needed) {
  if (rows_needed <= capacity) return;
  // Geometric growth keeps a long series of appends linear in copies.
  size_t new_capacity = std::max<size_t>({rows_needed, capacity + capacity / 2, 1024});
  new_capacity = std::min(new_capacity, CudaRowSet::kMaxRows);
  const size_t bytes = CheckedMul(CheckedMul(new_capacity, kp, "The row set"), sizeof(__half), "The row set");
  const size_t rows_now = size.load();

  const bool try_device = where != Where::kHost && requested != CudaRowPlacement::kHost;
  if (try_device) {
    // kAuto keeps room for the searches' work buffers; kDevice insists.
    const bool fits = requested == CudaRowPlacement::kDevice || bytes + kWorkReserve <= FreeDeviceBytes();
    if (fits) {
      DeviceArray<__half> grown;
      bool allocated = true;
      try {
        grown.Allocate(new_capacity * kp, "The row set (" + std::to_string(new_capacity) + " rows)");
      } catch (const Error&) {
        if (requested == CudaRowPlacement::kDevice) throw;
        allocated = false;
      }
      if (allocated) {
        Check(cudaMemset(grown.get() + rows_now * kp, 0, (new_capacity - rows_now) * kp * sizeof(__half)),
              "cudaMemset");
        if (rows_now > 0)
          Check(cudaMemcpy(grown.get(), device_rows.get(), rows_now * kp * sizeof(__half),
                           cudaMemcpyDeviceToDevice),
                "cudaMemcpy (row set growth)");
        device_rows = std::move(grown);
        capacity = new_capacity;
        where = Where::kDevice;
        return;
      }
    }
  }
  MoveToHost(new_capacity);
}

CudaRowSet::CudaRowSet(size_t dim, int device, CudaRowPlacement placement) : state_(new State) {
  if (dim == 0 || dim > kMaxDim)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_DIM",
              "Expected dim in [1, " + std::to_string(kMaxDim) + "] but received " + std::to_string(dim));
  if (device < 0 || static_cast<uint32_t>(device) > kCudaMaxDeviceOrdinal)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a CUDA device ordinal for device");
  state_->dim = dim;
  state_->kp = PaddedDim(dim);
  state_->device = device;
  state_->requested = placement;
}

CudaRowSet::~CudaRowSet() {
  // Buffers are freed by their owners; the device must be current for that.
  if (state_ && state_->where != State::Where::kNone) cudaSetDevice(state_->device);
}

size_t CudaRowSet::dim() const { return state_->dim; }
size_t CudaRowSet::size() const { return state_->size.load(); }

size_t CudaRowSet::bytes() const {
  std::shared_lock<std::shared_mutex> lock(state_->mutex);
  const State& s = *state_;
  if (s.where == State::Where::kDevice) return s.device_rows.bytes();
  if (s.where == State::Where::kHost) return s.capacity * s.kp * sizeof(uint16_t);
  return 0;
}

const char* CudaRowSet::placement() const {
  std::shared_lock<std::shared_mutex> lock(state_->mutex);
  switch (state_->where) {
    case State::Where::kDevice: return "device";
    case State::Where::kHost: return "host";
    case State::Where::kNone: break;
  }
  return "none";
}

void CudaRowSet::Release() {
  std::unique_lock<std::shared_mutex> lock(state_->mutex);
  State& s = *state_;
  if (s.where != State::Where::kNone) cudaSetDevice(s.device);
  s.device_rows.Reset();
  s.pinned_rows.Reset();
  s.pageable_rows = std::vector<uint16_t>();
  s.write_staging[0].Reset();
  s.write_staging[1].Reset();
  s.capacity = 0;
  s.size = 0;
  s.where = State::Where::kNone;
}

void CudaRowSet::Write(size_t first, const uint16_t* rows, size_t count) {
  State& s = *state_;
  if (count == 0 || rows == nullptr)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH", "Expected at least one row to write");
  if (count > kMaxRows || first > kMaxRows - count)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_TOO_MANY_ROWS",
              "A row set holds at most " + std::to_string(kMaxRows) + " rows");
  std::unique_lock<std::shared_mutex> lock(s.mutex);
  const size_t size_now = s.size.load();
  if (first > size_now)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
              "Expected firstRow <= " + std::to_string(size_now) + " (the rows written so far) but received " +
                  std::to_string(first));
  UseDevice(s.device);
  const size_t end = first + count;
  s.Grow(end);
  const size_t dim = s.dim, kp = s.kp;

  if (s.where == State::Where::kHost) {
    uint16_t* dst = s.host_rows();
    for (size_t r = 0; r < count; ++r) std::memcpy(dst + (first + r) * kp, rows + r * dim, dim * sizeof(uint16_t));
  } else {
    // Through two pinned chunks, so the host copy of one overlaps the DMA of
    // the other; straight from the caller's memory when nothing can be pinned.
    const size_t chunk_rows = std::max<size_t>(1, kWriteChunkBytes / (dim * sizeof(uint16_t)));
    const size_t staging = std::min(chunk_rows, count) * dim;
    bool pinned = true;
    for (auto& buffer : s.write_staging)
      if (buffer.size() < staging && !buffer.TryAllocate(std::min(chunk_rows, count) * dim)) pinned = false;
    Stream stream;
    if (!pinned) {
      Check(cudaMemcpy2DAsync(s.device_rows.get() + first * kp, kp * sizeof(__half), rows, dim * sizeof(uint16_t),
                              dim * sizeof(uint16_t), count, cudaMemcpyHostToDevice, stream.get()),
            "cudaMemcpy2D (rows)");
    } else {
      Event copied[2];
      bool pending[2] = {false, false};
      for (size_t r = 0, i = 0; r < count; r += chunk_rows, ++i) {
        const int slot = static_cast<int>(i & 1);
        const size_t n = std::min(chunk_rows, count - r);
        if (pending[slot]) copied[slot].Synchronize();
        std::memcpy(s.write_staging[slot].get(), rows + r * dim, n * dim * sizeof(uint16_t));
        Check(cudaMemcpy2DAsync(s.device_rows.get() + (first + r) * kp, kp * sizeof(__half),
                                s.write_staging[slot].get(), dim * sizeof(uint16_t), dim * sizeof(uint16_t), n,
                                cudaMemcpyHostToDevice, stream.get()),
              "cudaMemcpy2D (rows)");
        copied[slot].Record(stream.get());
        pending[slot] = true;
      }
    }
    stream.Synchronize();
  }
  if (end > size_now) s.size = end;
}

CudaTopKOutput CudaRowSet::TopKMany(const float* queries, size_t nq, size_t k, const uint32_t* subset,
                                    size_t nsubset, bool scores_only) const {
  const auto started = std::chrono::steady_clock::now();
  const State& s = *state_;
  const size_t dim = s.dim, kp = s.kp;
  // Every argument is checked before the first CUDA call.
  if (nq == 0 || nq > kMaxQueries || queries == nullptr)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
              "Expected 1 to " + std::to_string(kMaxQueries) + " queries but received " + std::to_string(nq));
  if (k == 0 || k > kMaxK)
    ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K",
              "Expected k in [1, " + std::to_string(kMaxK) + "] but received " + std::to_string(k));
  for (size_t i = 0, n = nq * dim; i < n; ++i)
    if (!std::isfinite(queries[i]))
      ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
                "Queries must be finite: element " + std::to_string(i) + " (query " + std::to_string(i / dim) +
                    ") is " + (std::isnan(queries[i]) ? "NaN" : "Infinity"));

  std::shared_lock<std::shared_mutex> lock(s.mutex);
  const size_t rows = s.size.load();
  if (subset) {
    for (size_t i = 0; i < nsubset; ++i)
      if (subset[i] >= rows)
        ThrowCode(ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
                  "rows[" + std::to_string(i) + "] = " + std::to_string(subset[i]) +
                      " is out of range for a row set of " + std::to_string(rows) + " rows");
  }
  const size_t candidates = subset ? nsubset : rows;
  const size_t k_eff = scores_only ? 0 : std::min(k, candidates);
  UseDevice(s.device);

  CudaTopKOutput out;
  out.queries = nq;
  out.k = k_eff;
  out.rows.resize(nq * k_eff);
  out.scores.resize(nq * k_eff);
  if (candidates == 0) return out;

  // Work sizes: shrink the row tile, then the query batch, to fit.
  const bool host_rows = s.where == State::Where::kHost;
  const size_t k_slots = std::max<size_t>(k_eff, 1);
  size_t batch = std::min(kQueryBatch, RoundUp(nq, cuda_gemm::kBM));
  size_t tile = std::min(kRowTile, RoundUp(candidates, cuda_gemm::kBN));
  // Streamed tiles are also pinned on the host: keep each under 256 MiB.
  if (host_rows) tile = std::min(tile, std::max(kMinRowTile, (size_t{256} << 20) / (kp * 2)));
  const size_t group = host_rows ? std::min(nq, kHostQueryGroup) : 0;
  auto work_bytes = [&](size_t b, size_t t) {
    if (host_rows)
      return RoundUp(group, cuda_gemm::kBM) * (kp * 2 + k_slots * 8) + group * dim * 4 + b * t * 4 +
             2 * t * kp * 2 + nsubset * 4;
    return 2 * (b * dim * 4 + b * kp * 2 + b * t * 4 + b * k_slots * 8) + nsubset * 4;
  };
  const size_t free_bytes = FreeDeviceBytes();
  const size_t budget = free_bytes > (size_t{64} << 20) ? (free_bytes - (size_t{64} << 20)) / 10 * 9 : 0;
  while (work_bytes(batch, tile) > budget && tile > kMinRowTile) tile /= 2;
  while (work_bytes(batch, tile) > budget && batch > static_cast<size_t>(cuda_gemm::kBM)) batch /= 2;
  if (work_bytes(batch, tile) > budget)
    ThrowOutOfMemory("topKMany's work buffers (" + std::to_string(batch) + " queries x " + std::to_string(tile) +
                         " rows per tile)",
                     work_bytes(batch, tile));

  DeviceArray<uint32_t> subset_dev;
  if (subset && nsubset > 0) {
    subset_dev.Allocate(nsubset, "topKMany's row subset");
    Check(cudaMemcpy(subset_dev.get(), subset, nsubset * sizeof(uint32_t), cudaMemcpyHostToDevice),
          "cudaMemcpy (row subset)");
  }
  const size_t tiles = (candidates + tile - 1) / tile;

  // Writes query qi's sorted running list (k_eff keys) into the result.
  auto collect = [&](const uint64_t* keys, size_t first_query, size_t count) {
    for (size_t q = 0; q < count; ++q)
      for (size_t j = 0; j < k_eff; ++j) {
        const uint64_t key = keys[q * k_eff + j];
        out.rows[(first_query + q) * k_eff + j] = KeyRow(key);
        out.scores[(first_query + q) * k_eff + j] = KeyScore(key);
      }
  };

  if (!host_rows) {
    struct Slot {
      Stream stream;
      DeviceArray<float> q32, scores;
      DeviceArray<__half> q16;
      DeviceArray<uint64_t> running;
      PinnedArray<float> q_stage;
      PinnedArray<uint64_t> out_stage;
      size_t first = 0, count = 0;
      bool busy = false;
    } slots[2];
    for (Slot& sl : slots) {
      sl.q32.Allocate(batch * dim, "topKMany's query buffer");
      sl.q16.Allocate(batch * kp, "topKMany's query buffer");
      sl.scores.Allocate(batch * tile, "topKMany's score tile");
      sl.running.Allocate(batch * k_slots, "topKMany's running top-k");
      sl.q_stage.Allocate(batch * dim, "topKMany's query staging");
      sl.out_stage.Allocate(batch * k_slots, "topKMany's result staging");
      // Rows past a short last batch are read by the GEMM (never selected).
      Check(cudaMemset(sl.q16.get(), 0, sl.q16.bytes()), "cudaMemset");
    }
    const size_t batches = (nq + batch - 1) / batch;
    for (size_t b = 0; b < batches + 2; ++b) {
      Slot& sl = slots[b & 1];
      if (sl.busy) {
        sl.stream.Synchronize();
        collect(sl.out_stage.get(), sl.first, sl.count);
        sl.busy = false;
      }
      if (b >= batches) continue;
      sl.first = b * batch;
      sl.count = std::min(batch, nq - sl.first);
      const cudaStream_t st = sl.stream.get();
      std::memcpy(sl.q_stage.get(), queries + sl.first * dim, sl.count * dim * sizeof(float));
      Check(cudaMemcpyAsync(sl.q32.get(), sl.q_stage.get(), sl.count * dim * sizeof(float), cudaMemcpyHostToDevice, st),
            "cudaMemcpyAsync (queries)");
      NormalizeQueries<<<static_cast<unsigned>(sl.count), 256, 0, st>>>(sl.q32.get(), static_cast<int>(dim), sl.q16.get(),
                                                                         static_cast<int>(kp));
      CheckLaunch("NormalizeQueries launch");
      if (k_eff > 0)
        Check(cudaMemsetAsync(sl.running.get(), 0, sl.count * k_eff * sizeof(uint64_t), st), "cudaMemsetAsync");
      for (size_t t = 0; t < tiles; ++t) {
        const size_t base = t * tile;
        const int n = static_cast<int>(std::min(tile, candidates - base));
        const cuda_gemm::BRows brows{subset_dev.get(), base};
        cuda_gemm::LaunchGemmNT<__half>(sl.q16.get(), kp, static_cast<int>(sl.count), s.device_rows.get(), kp, brows, n,
                                        static_cast<int>(kp), ScoreStore{sl.scores.get(), tile}, false, st);
        CheckLaunch("score GEMM launch");
        if (k_eff > 0) {
          SelectMerge<<<static_cast<unsigned>(sl.count), kSelectThreads, 0, st>>>(sl.scores.get(), tile, n, brows,
                                                                                  sl.running.get(), static_cast<int>(k_eff));
          CheckLaunch("SelectMerge launch");
        }
      }
      if (k_eff > 0)
        Check(cudaMemcpyAsync(sl.out_stage.get(), sl.running.get(), sl.count * k_eff * sizeof(uint64_t),
                              cudaMemcpyDeviceToHost, st),
              "cudaMemcpyAsync (results)");
      sl.busy = true;
    }
  } else {
    // Rows on the host: row tiles outside, double-buffered on a copy stream;
    // every query of a group scored against a tile on the compute stream.
    Stream compute, copy;
    DeviceArray<float> q32, scores;
    DeviceArray<__half> q16, tile_rows[2];
    DeviceArray<uint64_t> running;
    PinnedArray<uint16_t> staging[2];
    PinnedArray<uint64_t> out_stage;
    Event tile_ready[2], tile_free[2], staged[2];
    bool tile_used[2] = {false, false}, staging_used[2] = {false, false};
    q32.Allocate(group * dim, "topKMany's query buffer");
    q16.Allocate(RoundUp(group, cuda_gemm::kBM) * kp, "topKMany's query buffer");
    Check(cudaMemset(q16.get(), 0, q16.bytes()), "cudaMemset");
    scores.Allocate(batch * tile, "topKMany's score tile");
    running.Allocate(group * k_slots, "topKMany's running top-k");
    for (auto& t : tile_rows) t.Allocate(tile * kp, "topKMany's row tiles");
    const bool direct = s.pinned_rows.get() != nullptr && subset == nullptr;
    if (!direct)
      for (auto& st : staging) st.Allocate(tile * kp, "topKMany's row staging");
    out_stage.Allocate(group * k_slots, "topKMany's result staging");
    const uint16_t* host = s.host_rows();

    for (size_t g0 = 0; g0 < nq; g0 += group) {
      const size_t gcount = std::min(group, nq - g0);
      Check(cudaMemcpyAsync(q32.get(), queries + g0 * dim, gcount * dim * sizeof(float), cudaMemcpyHostToDevice,
                            compute.get()),
            "cudaMemcpyAsync (queries)");
      NormalizeQueries<<<static_cast<unsigned>(gcount), 256, 0, compute.get()>>>(q32.get(), static_cast<int>(dim),
                                                                                  q16.get(), static_cast<int>(kp));
      CheckLaunch("NormalizeQueries launch");
      if (k_eff > 0)
        Check(cudaMemsetAsync(running.get(), 0, gcount * k_eff * sizeof(uint64_t), compute.get()), "cudaMemsetAsync");
      for (size_t t = 0; t < tiles; ++t) {
        const int slot = static_cast<int>(t & 1);
        const size_t base = t * tile;
        const size_t n = std::min(tile, candidates - base);
        // The tile buffer is free once the compute stream is done with the
        // tile two back.
        if (tile_used[slot]) Check(cudaStreamWaitEvent(copy.get(), tile_free[slot].get(), 0), "cudaStreamWaitEvent");
        const uint16_t* src = host + base * kp;
        if (!direct) {
          if (staging_used[slot]) staged[slot].Synchronize();
          uint16_t* dst = staging[slot].get();
          if (subset)
            for (size_t j = 0; j < n; ++j) std::memcpy(dst + j * kp, host + size_t(subset[base + j]) * kp, kp * 2);
          else
            std::memcpy(dst, src, n * kp * 2);
          src = dst;
        }
        Check(cudaMemcpyAsync(tile_rows[slot].get(), src, n * kp * 2, cudaMemcpyHostToDevice, copy.get()),
              "cudaMemcpyAsync (row tile)");
        if (!direct) {
          staged[slot].Record(copy.get());
          staging_used[slot] = true;
        }
        tile_ready[slot].Record(copy.get());
        Check(cudaStreamWaitEvent(compute.get(), tile_ready[slot].get(), 0), "cudaStreamWaitEvent");
        const cuda_gemm::BRows ids{subset_dev.get(), base};
        for (size_t q0 = 0; q0 < gcount; q0 += batch) {
          const size_t qn = std::min(batch, gcount - q0);
          cuda_gemm::LaunchGemmNT<__half>(q16.get() + q0 * kp, kp, static_cast<int>(qn), tile_rows[slot].get(), kp,
                                          cuda_gemm::BRows{nullptr, 0}, static_cast<int>(n), static_cast<int>(kp),
                                          ScoreStore{scores.get(), tile}, false, compute.get());
          CheckLaunch("score GEMM launch");
          if (k_eff > 0) {
            SelectMerge<<<static_cast<unsigned>(qn), kSelectThreads, 0, compute.get()>>>(
                scores.get(), tile, static_cast<int>(n), ids, running.get() + q0 * k_eff, static_cast<int>(k_eff));
            CheckLaunch("SelectMerge launch");
          }
        }
        tile_free[slot].Record(compute.get());
        tile_used[slot] = true;
      }
      if (k_eff > 0)
        Check(cudaMemcpyAsync(out_stage.get(), running.get(), gcount * k_eff * sizeof(uint64_t), cudaMemcpyDeviceToHost,
                              compute.get()),
              "cudaMemcpyAsync (results)");
      compute.Synchronize();
      collect(out_stage.get(), g0, gcount);
    }
    copy.Synchronize();
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace fr

// The package's one GEMM: C[m][n] = sum_k A[m][k] * B[n][k] on tensor cores
// (WMMA 16x16x16, f16 or bf16 inputs, f32 accumulation), with the result
// handed element by element to an epilogue (store a score; add a bias and
// apply an activation). "NT" because both operands are row-major with K
// contiguous: A holds queries or activations, B holds catalog rows or a dense
// layer's weights as [out][in], so neither needs a transpose.
//
// Layout contract (checked by the callers, which allocate the buffers):
//   - A has at least RoundUp(M, kBM) rows of lda elements, lda % 8 == 0;
//   - every B row that is read has ldb elements, ldb % 8 == 0, 16-byte aligned;
//   - K % kBK == 0 and the padding columns of A and B are zero.
// B's rows are looked up per output column (`BRows`), so a row subset is read
// in place, without a gather pass.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace fr {
namespace cuda_gemm {

constexpr int kBM = 128;     // A rows per block
constexpr int kBN = 128;     // B rows (output columns) per block
constexpr int kBK = 32;      // K per pipeline step
constexpr int kThreads = 256;
// Shared-memory row stride in elements: 8 extra halves (16 bytes) shift each
// row by four banks, so the fragment loads of the 16 rows hit distinct banks.
constexpr int kLds = kBK + 8;

// Column n of the output reads B row `ids ? ids[base + n] : base + n`.
struct BRows {
  const uint32_t* ids;
  size_t base;
  __device__ size_t Row(int n) const { return ids ? ids[base + n] : base + static_cast<size_t>(n); }
};

// Shared memory of one block of each path (static, under the 48 KiB limit).
constexpr size_t kWmmaSmemBytes = 2 * (kBM + kBN) * kLds * 2;  // two stages of 16-bit tiles
constexpr size_t kSimtSmemBytes = 2 * kBK * (kBM + 1) * sizeof(float);
static_assert(kBM == kBN, "the SIMT path shares one padded tile shape for A and B");

template <class T, class Epilogue>
__device__ __forceinline__ void GemmTileWmma(unsigned char* smem_raw, const T* __restrict__ A,
                                             size_t lda, int M, const T* __restrict__ B,
                                             size_t ldb, BRows brows, int N, int K,
                                             const Epilogue& ep) {
  using namespace nvcuda;
  // Two pipeline stages of A and B tiles; reused as the epilogue's scratch.
  T* const smem = reinterpret_cast<T*>(smem_raw);
  T* const a_tile[2] = {smem, smem + (kBM + kBN) * kLds};
  T* const b_tile[2] = {smem + kBM * kLds, smem + (kBM + kBN) * kLds + kBM * kLds};

  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;

  // Each thread moves two 16-byte chunks of A and two of B per K step: chunk
  // c covers row c / 4, columns (c % 4) * 8 .. + 8; the second chunk is the
  // same columns 64 rows further (kThreads / 4), which saves registers.
  static_assert(kThreads == 256 && kBM == 128 && kBN == 128 && kBK == 32, "the chunk map below assumes these");
  const int chunk_row = tid / 4, chunk_col = (tid % 4) * 8;
  const T* a_src = A + static_cast<size_t>(m0 + chunk_row) * lda + chunk_col;
  const size_t a_step = 64 * lda;
  const T* b_src[2];
  for (int i = 0; i < 2; ++i) {
    const int n = n0 + chunk_row + 64 * i;
    b_src[i] = n < N ? B + brows.Row(n) * ldb + chunk_col : nullptr;
  }
  uint4 a_reg[2], b_reg[2];
  auto load = [&](int k0) {
    for (int i = 0; i < 2; ++i) {
      a_reg[i] = *reinterpret_cast<const uint4*>(a_src + i * a_step + k0);
      b_reg[i] = b_src[i] ? *reinterpret_cast<const uint4*>(b_src[i] + k0) : make_uint4(0, 0, 0, 0);
    }
  };
  auto stash = [&](int stage) {
    for (int i = 0; i < 2; ++i) {
      *reinterpret_cast<uint4*>(a_tile[stage] + (chunk_row + 64 * i) * kLds + chunk_col) = a_reg[i];
      *reinterpret_cast<uint4*>(b_tile[stage] + (chunk_row + 64 * i) * kLds + chunk_col) = b_reg[i];
    }
  };

  // Warps tile the block 2 (rows) x 4 (columns): 64 x 32 outputs each.
  const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  load(0);
  stash(0);
  __syncthreads();
  int stage = 0;
  for (int k0 = 0; k0 < K; k0 += kBK) {
    // The next step's global loads are in flight while this step multiplies.
    const bool more = k0 + kBK < K;
    if (more) load(k0 + kBK);
    for (int kk = 0; kk < kBK; kk += 16) {
      // One A fragment live at a time: the registers go to the accumulators.
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[2];
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], b_tile[stage] + (wn + j * 16) * kLds + kk, kLds);
      for (int i = 0; i < 4; ++i) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::load_matrix_sync(a, a_tile[stage] + (wm + i * 16) * kLds + kk, kLds);
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a, b[j], acc[i][j]);
      }
    }
    if (more) {
      stash(stage ^ 1);
      __syncthreads();
      stage ^= 1;
    }
  }
  __syncthreads();  // every warp is done with the tiles: reuse them as scratch

  // Accumulators go through a per-warp 16 x 16 scratch so the epilogue sees
  // (row, column) pairs and can bound-check the edges of M and N.
  float* scratch = reinterpret_cast<float*>(smem) + warp * 256;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(scratch, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int m = m0 + wm + i * 16 + e / 16, n = n0 + wn + j * 16 + e % 16;
        if (m < M && n < N) ep(m, n, scratch[e]);
      }
      __syncwarp();
    }
}

// The same tile on CUDA cores with f32 FMAs over the bf16 inputs: for bf16 on
// devices without bf16 tensor cores (sm_75). A bf16 product is exact in f32,
// so only the summation order differs from the tensor-core path.
template <class T, class Epilogue>
__device__ __forceinline__ void GemmTileSimt(unsigned char* smem_raw, const T* __restrict__ A,
                                             size_t lda, int M, const T* __restrict__ B,
                                             size_t ldb, BRows brows, int N, int K,
                                             const Epilogue& ep) {
  auto a_tile = reinterpret_cast<float(*)[kBM + 1]>(smem_raw);
  auto b_tile = reinterpret_cast<float(*)[kBN + 1]>(smem_raw + kBK * (kBM + 1) * sizeof(float));
  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  // 16 x 16 threads, each owning an 8 x 8 block of outputs.
  const int tm = (tid / 16) * 8, tn = (tid % 16) * 8;
  float acc[8][8] = {};
  for (int k0 = 0; k0 < K; k0 += kBK) {
    for (int e = tid; e < kBM * kBK; e += kThreads) {
      const int r = e / kBK, k = e % kBK;
      a_tile[k][r] = static_cast<float>(A[static_cast<size_t>(m0 + r) * lda + k0 + k]);
      const int n = n0 + r;
      b_tile[k][r] = n < N ? static_cast<float>(B[brows.Row(n) * ldb + k0 + k]) : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kBK; ++k)
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a_tile[k][tm + i], b_tile[k][tn + j], acc[i][j]);
    __syncthreads();
  }
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) {
      const int m = m0 + tm + i, n = n0 + tn + j;
      if (m < M && n < N) ep(m, n, acc[i][j]);
    }
}

// Grid: (ceil(N / kBN), ceil(M / kBM)), kThreads threads. Two blocks per SM
// fit the register budget, so one block's loads overlap the other's MMAs.
template <class T, class Epilogue>
__global__ void __launch_bounds__(kThreads, 2)
    GemmNT(const T* __restrict__ A, size_t lda, int M, const T* __restrict__ B, size_t ldb, BRows brows, int N,
           int K, Epilogue ep) {
  __shared__ __align__(128) unsigned char smem[kWmmaSmemBytes];
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  // bf16 fragments need sm_80; the host launches GemmNTSimt there instead.
  if constexpr (std::is_same<T, __nv_bfloat16>::value) {
    __trap();
  } else {
    GemmTileWmma<T, Epilogue>(smem, A, lda, M, B, ldb, brows, N, K, ep);
  }
#else
  GemmTileWmma<T, Epilogue>(smem, A, lda, M, B, ldb, brows, N, K, ep);
#endif
}

// A kernel of its own, so its 64 accumulators per thread do not raise the
// tensor-core kernel's register count.
template <class T, class Epilogue>
__global__ void __launch_bounds__(kThreads)
    GemmNTSimt(const T* __restrict__ A, size_t lda, int M, const T* __restrict__ B, size_t ldb, BRows brows,
               int N, int K, Epilogue ep) {
  __shared__ __align__(128) unsigned char smem[kSimtSmemBytes];
  GemmTileSimt<T, Epilogue>(smem, A, lda, M, B, ldb, brows, N, K, ep);
}

// Host side: the launch for M x N outputs on `stream`. `simt` picks the
// CUDA-core path (the caller sets it for bf16 below compute capability 8.0).
template <class T, class Epilogue>
inline void LaunchGemmNT(const T* A, size_t lda, int M, const T* B, size_t ldb, BRows brows, int N,
                         int K, const Epilogue& ep, bool simt, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((N + kBN - 1) / kBN), static_cast<unsigned>((M + kBM - 1) / kBM));
  if (simt)
    GemmNTSimt<T, Epilogue><<<grid, kThreads, 0, stream>>>(A, lda, M, B, ldb, brows, N, K, ep);
  else
    GemmNT<T, Epilogue><<<grid, kThreads, 0, stream>>>(A, lda, M, B, ldb, brows, N, K, ep);
}

}  // namespace cuda_gemm
}  // namespace fr

#include "topk_many.h"

#include <algorithm>

#include "parallel.h"
#include "topk.h"

namespace fr {

namespace {

// Queries per block: a block (256 x 3 KiB at 768-d f32) stays in L2 while
// every row tile of a row block passes over it; the 4-6 rows of a tile stay
// in L1 (see kernels/many/many_impl.h), and come from memory once per query
// block. Measured at 1000 x 100k x 768 on Zen 5 (1 MiB L2): 64 queries per
// block 0.63 of the FMA probe, 128: 0.68, 256: 0.71 (software prefetch of
// the next row tile, to L1 or L2, made it worse: 0.59). Rows per block: the
// score buffer, 256 x 240 floats. 240 is a multiple of every tier's row
// tile (6, 5, 2).
constexpr size_t kQueryBlock = 256;
constexpr size_t kRowBlock = 240;
// Splitting one query block's rows over threads only pays for large scans.
constexpr size_t kMinRowsPerPart = 16384;

}  // namespace

void ScoreManyMatrix(const KernelTable& k, const StoreView& view, const float* queries, size_t nq,
                     const uint32_t* rows, size_t first, size_t n, float* out, size_t ldo) {
  const size_t stride = view.pdim;
  const uint8_t* data = view.block->data.get();
  // With a row list, the kernel gathers from the start of the block; without
  // one, the range starts at `first`.
  const size_t offset = rows ? 0 : first;
  const uint32_t* ids = rows ? rows + first : nullptr;
  switch (view.dtype) {
    case Dtype::kF32:
      k.score_many_f32(queries, view.pdim, nq, reinterpret_cast<const float*>(data) + offset * stride,
                       stride, ids, n, view.pdim, out, ldo);
      break;
    case Dtype::kF16:
      k.score_many_f16(queries, view.pdim, nq,
                       reinterpret_cast<const uint16_t*>(data) + offset * stride, stride, ids, n,
                       view.pdim, out, ldo);
      break;
    case Dtype::kI8:
      k.score_many_i8(queries, view.pdim, nq, reinterpret_cast<const int8_t*>(data) + offset * stride,
                      stride, view.block->scales.get() + offset, ids, n, view.pdim, out, ldo);
      break;
  }
}

TopKManyResult TopKMany(const KernelTable& kernels, const StoreView& view, const float* queries,
                        size_t nq, const uint32_t* rows, size_t n, size_t k, unsigned threads) {
  TopKManyResult result;
  result.k = std::min(k, n);
  const size_t kk = result.k;
  if (nq == 0 || kk == 0) return result;
  threads = std::max(1u, threads);
  const size_t qblocks = (nq + kQueryBlock - 1) / kQueryBlock;
  // Row parts per query block: enough units for every thread, but no part
  // below kMinRowsPerPart rows.
  size_t parts = 1;
  if (qblocks < threads) parts = std::min<size_t>((threads + qblocks - 1) / qblocks, std::max<size_t>(1, n / kMinRowsPerPart));
  const size_t part_rows = (n + parts - 1) / parts;
  parts = (n + part_rows - 1) / part_rows;
  const size_t units = qblocks * parts;
  // heaps[part * nq + q]: the best kk of query q over part `part`.
  std::vector<TopKHeap> heaps(parts * nq, TopKHeap(kk));
  ParallelRanges(units, threads, [&](size_t, size_t begin, size_t end) {
    std::vector<float> scores(kQueryBlock * kRowBlock);
    std::vector<float> thresholds(kQueryBlock);
    for (size_t unit = begin; unit < end; ++unit) {
      const size_t qb = unit / parts, part = unit % parts;
      const size_t q0 = qb * kQueryBlock, qn = std::min(kQueryBlock, nq - q0);
      const size_t r0 = part * part_rows, r1 = std::min(n, r0 + part_rows);
      TopKHeap* h = &heaps[part * nq + q0];
      for (size_t i = 0; i < qn; ++i) thresholds[i] = h[i].Threshold();
      for (size_t b = r0; b < r1; b += kRowBlock) {
        const size_t m = std::min(kRowBlock, r1 - b);
        ScoreManyMatrix(kernels, view, queries + q0 * view.pdim, qn, rows, b, m, scores.data(), kRowBlock);
        for (size_t i = 0; i < qn; ++i) {
          const float* s = scores.data() + i * kRowBlock;
          float t = thresholds[i];
          for (size_t j = 0; j < m; ++j) {
            if (s[j] < t) continue;  // the common case once the heap is full
            h[i].Push(s[j], rows ? rows[b + j] : static_cast<uint32_t>(b + j));
            t = h[i].Threshold();
          }
          thresholds[i] = t;
        }
      }
    }
  });
  result.rows.resize(nq * kk);
  result.scores.resize(nq * kk);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t part = 1; part < parts; ++part) heaps[q].Merge(heaps[part * nq + q]);
    TopKResult one = heaps[q].Take();
    std::copy(one.rows.begin(), one.rows.end(), result.rows.begin() + q * kk);
    std::copy(one.scores.begin(), one.scores.end(), result.scores.begin() + q * kk);
  }
  return result;
}

}  // namespace fr

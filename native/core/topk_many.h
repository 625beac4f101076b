// Exact top-k for many queries at once (VectorStore.topKMany): the scores are
// a blocked matrix product of the queries and the rows through the
// kernels/many micro-kernels, with a bounded heap per query. Results equal
// those of TopK per query, except where two scores differ only by the
// rounding of a different summation order.
#pragma once
#include <cstdint>
#include <vector>

#include "vector_store.h"

namespace fr {

struct TopKManyResult {
  size_t k = 0;                 // per query: min(requested k, candidate rows)
  std::vector<uint32_t> rows;   // nq x k, row-major, best first
  std::vector<float> scores;    // nq x k
};

// `queries`: nq prepared queries (PrepareQuery: normalised, zero padded to
// view.pdim), each view.pdim floats, contiguous and 64-byte aligned.
// `rows` == nullptr scans every row of the view, else the n listed rows
// (each < view.rows, checked by the caller). `threads` >= 1.
TopKManyResult TopKMany(const KernelTable& kernels, const StoreView& view, const float* queries,
                        size_t nq, const uint32_t* rows, size_t n, size_t k, unsigned threads);

// The f32 scores of the queries against the rows (or all rows): out is
// nq x n, row-major. Used by tests and by callers that want the matrix.
void ScoreManyMatrix(const KernelTable& kernels, const StoreView& view, const float* queries,
                     size_t nq, const uint32_t* rows, size_t first, size_t n, float* out, size_t ldo);

}  // namespace fr

// The async many-query top-k, shared by VectorStore.topKMany and
// Catalog.topKMany: the caller validates and copies everything on the main
// thread; the returned promise resolves to { rows, scores, k }.
#pragma once
#include <napi.h>

#include <vector>

#include "../core/vector_store.h"

namespace fr {

// `queries`: nq x view.dim raw (finite, checked) floats; `rows`: the
// candidate rows (each < view.rows) unless `all_rows`.
Napi::Promise QueueTopKMany(Napi::Env env, const KernelTable& kernels, StoreView view,
                            std::vector<float> queries, size_t nq, std::vector<uint32_t> rows,
                            bool all_rows, size_t k, unsigned threads);

// Validates queries (a Float32Array whose length is a positive multiple of
// dim, every element finite: the error names the query) and returns nq.
size_t CheckQueries(Napi::Env env, const Napi::Float32Array& queries, size_t dim);

}  // namespace fr

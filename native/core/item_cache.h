// The rerank item cache: a native rerank model's first dense layer, split
// into the part that reads only an item's own vectors (precomputed per row,
// first-layer width floats) and the part that reads per-request features
// (signal scores, fields, presence), computed per request.
//
// For the bench shop's 1296 -> 128 -> 32 -> 1 model, 1280 of the 1296 inputs
// are the item's visual and text vectors: a request then reads 512 bytes per
// reranked item instead of decoding 2.5 KB of f16 and multiplying them
// through 1280 x 128 weights.
//
// Freshness: every cached row records the row versions of the vector columns
// it was computed from. A request recomputes (without storing) any row whose
// versions moved since; CatchUp stores them again under the catalog's writer
// lock, following the columns' change logs.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned.h"
#include "catalog.h"
#include "mlp.h"

namespace fr {

// One vector feature of the model's input: which column, where it starts.
struct CachedVectorInput {
  int vector = -1;
  size_t offset = 0;  // within the item-only input (the vector features side by side)
};

class ItemCache {
 public:
  // `item_input` marks the model inputs that are item vectors; `inputs` lists
  // those vector features in input order.
  ItemCache(const Mlp& model, const std::vector<uint8_t>& item_input, std::vector<CachedVectorInput> inputs);

  size_t rest_size() const { return rest_size_; }
  size_t memory_bytes() const { return capacity_ * ld_ * sizeof(float) + version_.capacity() * sizeof(uint32_t); }

  // True when no vector column changed since the last CatchUp.
  bool Current(const Catalog& catalog) const;
  // Computes every row that is missing or stale. Writer lock held.
  void CatchUp(const KernelTable& kernels, const Catalog& catalog, unsigned threads);

  // out[n x outputs] = the model over `rows` whose per-request features are
  // rest[n x rest_size()] (ignored when rest_size() is 0). Reader lock held.
  void Forward(const KernelTable& kernels, const Catalog& catalog, const uint32_t* rows, size_t n,
               const float* rest, float* out) const;
  // Rows computed inside requests because their cached row was stale or
  // missing (a catalog write between the last CatchUp and the request).
  uint64_t recomputed() const { return recomputed_.load(std::memory_order_relaxed); }

 private:
  uint32_t RowVersion(const Catalog& catalog, uint32_t row) const;
  // Writes the item part of rows[0..n) into out, ld floats apart: row j at
  // out + j * ld, or with by_row at out + rows[j] * ld.
  void ComputeRows(const KernelTable& kernels, const Catalog& catalog, const uint32_t* rows, size_t n,
                   float* out, size_t ld, bool by_row) const;

  MlpSplit split_;
  std::vector<CachedVectorInput> inputs_;
  size_t item_size_ = 0, rest_size_ = 0, width_ = 0, ld_ = 0;
  AlignedPtr<float> table_;  // capacity_ rows of ld_ floats
  size_t capacity_ = 0;
  std::vector<uint32_t> version_;  // per cached row: the versions it was computed at (~0u: not yet)
  std::vector<uint64_t> seen_;     // per input column: its writes() when last caught up
  bool built_ = false;
  mutable std::atomic<uint64_t> recomputed_{0};
};

}  // namespace fr

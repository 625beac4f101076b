// HNSW over the rows of a VectorStore, built on USearch's header-only
// index_gt. The graph stores only links and keys (key = catalog row): the
// metric reads the vectors from the store, so vectors are held once.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "topk.h"
#include "vector_store.h"

namespace fr {

// Row filter evaluated during the graph search.
using RowPredicate = bool (*)(const void* context, uint32_t row);

struct HnswOptions {
  size_t connectivity = 16;
  size_t expansion_add = 128;
};

class HnswIndex {
 public:
  explicit HnswIndex(HnswOptions options = {});
  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  // Inserts rows not yet in the graph and re-links rows already in it (their
  // vector changed). Not concurrent with searches: the caller holds the
  // catalog's writer lock. `threads` > 1 inserts in parallel.
  void Upsert(const KernelTable& kernels, const StoreView& view, const uint32_t* rows, size_t n,
              unsigned threads);

  // The k best rows passing `predicate` (cosine, best first) into `out`.
  // Safe to call from several threads at once.
  void Search(const KernelTable& kernels, const StoreView& view, const float* padded_query,
              size_t k, size_t expansion, RowPredicate predicate, const void* context,
              TopKHeap* out) const;

  size_t size() const;
  bool Contains(uint32_t row) const { return row < row_to_slot_.size() && row_to_slot_[row] >= 0; }
  bool immutable() const;
  // One past the largest row in the graph.
  size_t row_bound() const { return row_to_slot_.size(); }

  // Serialises the graph to `path`; false on an I/O failure.
  bool Save(const std::string& path, std::string* error) const;
  // Loads (copy) or views (mmap, read-only) a saved graph. A viewed graph is
  // reloaded as a copy the first time it has to change.
  bool Load(const std::string& path, bool mmap, std::string* error);

 private:
  struct Impl;
  void EnsureMutable();
  void RebuildSlotMap();
  std::unique_ptr<Impl> impl_;
  std::vector<int64_t> row_to_slot_;
  std::vector<uint32_t> slot_to_row_;  // dense, rebuilt after every change
  std::string path_;  // the file a viewed graph maps
  mutable std::mutex contexts_mutex_;
  mutable std::vector<size_t> free_contexts_;
};

}  // namespace fr

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

// The rows a search may return: a bitset over rows (null = every row) and an
// optional predicate, evaluated only on rows the bitset admits.
struct RowFilter {
  const uint64_t* allowed = nullptr;
  size_t allowed_rows = 0;  // rows the bitset covers; rows past it are not admitted
  RowPredicate predicate = nullptr;
  const void* context = nullptr;
  // Expected fraction of rows admitted. Above kFilterFirstAbove (4 %; at 5 %
  // filter-first measured recall@100 0.99, at 2 % 0.84) the search
  // scores admitted rows only (rejected ones are bridges); below, the
  // admitted rows are too sparse to stay connected that way, so every
  // neighbour is scored and navigated, and only admitted ones are returned.
  double selectivity = 1.0;
  static constexpr double kFilterFirstAbove = 0.04;

  bool Admits(uint32_t row) const {
    if (allowed && (row >= allowed_rows || !((allowed[row >> 6] >> (row & 63)) & 1))) return false;
    return !predicate || predicate(context, row);
  }
};

// What one search did, for tests and benches.
struct SearchStats {
  size_t distances = 0;  // rows scored
  size_t expanded = 0;   // graph nodes whose neighbours were read
  size_t bridged = 0;    // rejected neighbours looked through (two-hop)
};

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

  // The k best rows the filter admits (cosine) into `out`, exploring at
  // least `expansion` (ef) candidates. Safe to call from several threads.
  void Search(const KernelTable& kernels, const StoreView& view, const float* padded_query,
              size_t k, size_t expansion, const RowFilter& filter, TopKHeap* out,
              SearchStats* stats = nullptr) const;

  // (Re)computes the 4-bit navigation codes of every row in the graph (see
  // Search). Upsert keeps them current; a loaded graph needs this once.
  void BuildCodes(const KernelTable& kernels, const StoreView& view, unsigned threads);

  size_t size() const;
  bool Contains(uint32_t row) const { return row < row_to_slot_.size() && row_to_slot_[row] >= 0; }
  bool immutable() const;
  // One past the largest row in the graph.
  size_t row_bound() const { return row_to_slot_.size(); }

  // Serialises the graph to `path`; false on an I/O failure.
  bool Save(const std::string& path, std::string* error) const;
  // Loads (copy) or views (mmap, read-only) a saved graph whose keys must be
  // rows below `row_limit` (the rows of the vector column it belongs to).
  // The file is untrusted: every size, level, count and slot in it is
  // checked (CheckGraph) before USearch reads it, and a bad one throws
  // ERR_FUSIONRANK_CORRUPT naming the file; on a throw this index is
  // unchanged. A viewed graph is copied out of its mapping the first time it
  // has to change. A viewed file must not be rewritten in place while it is
  // mapped (saves replace files by rename, never in place).
  void Load(const std::string& path, bool mmap, size_t row_limit);
  // Loads a copy of a graph serialised in memory (`name` is what errors
  // call it): the same checks as Load.
  void LoadBytes(const uint8_t* data, size_t size, size_t row_limit, const std::string& name);
  // Checks that `data` is a whole, well-formed graph file whose keys are
  // distinct rows below `row_limit`; throws ERR_FUSIONRANK_CORRUPT saying
  // what is wrong in `name` otherwise. Reads only inside [data, data + size).
  static void CheckGraph(const uint8_t* data, size_t size, size_t row_limit, const std::string& name);

 private:
  struct Impl;
  struct Scratch;
  void EnsureMutable();
  // Takes over a freshly loaded (and checked) graph.
  void Adopt(std::unique_ptr<Impl> fresh);
  void RebuildSlotMap();
  // Copies the base-level neighbour lists of `slots` into links_ (as rows);
  // all of them when `slots` is null.
  void CopyLinks(const std::vector<uint32_t>* slots);
  // Per-dimension code range from a sample of the graph's rows.
  void TrainCodes(const KernelTable& kernels, const StoreView& view);
  // Encodes `rows` (all graph rows when null), growing the code array to
  // cover them.
  void EncodeRows(const KernelTable& kernels, const StoreView& view, const uint32_t* rows, size_t n,
                  unsigned threads);
  std::unique_ptr<Impl> impl_;
  std::vector<int64_t> row_to_slot_;
  std::vector<uint32_t> slot_to_row_;  // dense, rebuilt after every change
  std::string path_;  // the file a viewed graph maps
  size_t row_limit_ = 0;  // what the loaded graph's keys were checked against
  mutable std::mutex contexts_mutex_;
  mutable std::vector<size_t> free_contexts_;
  mutable std::vector<std::unique_ptr<Scratch>> scratch_;  // per context, made on first use
  uint32_t entry_slot_ = 0;  // a node on the top level: where every descent starts
  // The base level again, by row: link_width_ neighbour rows per row, padded
  // with kNoRow, on huge pages. Searches spend most of their time reading
  // neighbour lists; here one is two aligned cache lines, already in row
  // space, instead of a slot list in the graph's tape.
  AlignedPtr<uint32_t> links_;
  size_t link_rows_ = 0;
  size_t link_width_ = 0;
  // Navigation codes, by row: the base-level search reads a row's 4-bit
  // code (4 cache lines at 512 dimensions instead of 16 for f16) to decide
  // where to go, and scores only the rows it keeps exactly, in one prefetched
  // batch at the end. Dimension d of a row is code_lo_[d] + (c + 0.5) *
  // code_step_[d], c in [0, 15], over a range of +-2.75 standard deviations
  // of that dimension in the graph.
  AlignedPtr<uint8_t> codes_;
  size_t code_rows_ = 0;    // rows the array covers
  size_t code_stride_ = 0;  // bytes per row (cdim_ / 2)
  size_t cdim_ = 0;         // dimensions rounded up to kU4Block
  std::vector<float> code_lo_, code_step_;
  bool codes_ready_ = false;
};

}  // namespace fr

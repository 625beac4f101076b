// Exact top-k by cosine over a StoreView: scores are computed in cache-sized
// blocks and fed to a bounded heap, so memory stays O(block + k).
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "vector_store.h"

namespace fr {

struct TopKResult {
  std::vector<uint32_t> rows;
  std::vector<float> scores;
};

// Keeps the k best (score, row) pairs; ties go to the lower row id so results
// are deterministic whatever the scan order or thread split.
class TopKHeap {
 public:
  explicit TopKHeap(size_t k) : k_(k) { heap_.reserve(k); }
  void Push(float score, uint32_t row);
  void Merge(const TopKHeap& other);
  size_t size() const { return heap_.size(); }
  // The score a new pair must reach to be kept: -inf until k pairs are held,
  // then the worst kept score (a pair equal to it is kept when its row is
  // lower, so callers skip only what is strictly below).
  float Threshold() const {
    return heap_.size() < k_ || k_ == 0 ? -std::numeric_limits<float>::infinity() : heap_.front().score;
  }
  // Push for a batch: the best k of the kept and the new pairs are selected
  // in linear time (the same set as pushing them one by one).
  void PushMany(const float* scores, const uint32_t* rows, size_t n);
  // Sorted best first.
  TopKResult Take();
  // Sorted by row, ascending: for callers that merge row sets.
  TopKResult TakeByRow();

 private:
  struct Entry {
    float score;
    uint32_t row;
  };
  // a is worse than b: lower score, or equal score and higher row.
  // The entries, in their current order, as a result; empties the heap.
  TopKResult Drain();
  static bool Worse(const Entry& a, const Entry& b) {
    return a.score < b.score || (a.score == b.score && a.row > b.row);
  }
  size_t k_;
  std::vector<Entry> heap_;  // min-heap on Worse: heap_[0] is the worst kept
};

// rows == nullptr scans every row of the view. threads <= 1 runs on the
// calling thread; more splits the rows into contiguous ranges.
TopKResult TopK(const KernelTable& kernels, const StoreView& view, const float* padded_query,
                const uint32_t* rows, size_t n, size_t k, unsigned threads);

}  // namespace fr

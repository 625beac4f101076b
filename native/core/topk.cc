#include "topk.h"

#include <algorithm>

#include "parallel.h"

namespace fr {

void TopKHeap::Push(float score, uint32_t row) {
  if (k_ == 0) return;
  const Entry e{score, row};
  auto cmp = [](const Entry& a, const Entry& b) { return Worse(b, a); };
  if (heap_.size() < k_) {
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), cmp);
  } else if (Worse(heap_.front(), e)) {
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    heap_.back() = e;
    std::push_heap(heap_.begin(), heap_.end(), cmp);
  }
}

void TopKHeap::Merge(const TopKHeap& other) {
  for (const Entry& e : other.heap_) Push(e.score, e.row);
}

TopKResult TopKHeap::Take() {
  std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) { return Worse(b, a); });
  TopKResult out;
  out.rows.reserve(heap_.size());
  out.scores.reserve(heap_.size());
  for (const Entry& e : heap_) {
    out.rows.push_back(e.row);
    out.scores.push_back(e.score);
  }
  heap_.clear();
  return out;
}

namespace {
constexpr size_t kBlockRows = 1024;

void ScanRange(const KernelTable& kernels, const StoreView& view, const float* q,
               const uint32_t* rows, size_t begin, size_t end, TopKHeap* heap) {
  float scores[kBlockRows];
  for (size_t b = begin; b < end; b += kBlockRows) {
    const size_t m = std::min(kBlockRows, end - b);
    if (rows)
      Score(kernels, view, q, rows + b, m, scores);
    else
      ScoreRange(kernels, view, q, b, m, scores);
    for (size_t i = 0; i < m; ++i)
      heap->Push(scores[i], rows ? rows[b + i] : static_cast<uint32_t>(b + i));
  }
}
}  // namespace

TopKResult TopK(const KernelTable& kernels, const StoreView& view, const float* q,
                const uint32_t* rows, size_t n, size_t k, unsigned threads) {
  k = std::min(k, n);
  // Below ~64k rows a thread costs more to start than it saves.
  const size_t min_rows_per_thread = 65536;
  threads = static_cast<unsigned>(
      std::max<size_t>(1, std::min<size_t>(threads, n / min_rows_per_thread)));
  if (threads <= 1) {
    TopKHeap heap(k);
    ScanRange(kernels, view, q, rows, 0, n, &heap);
    return heap.Take();
  }
  std::vector<TopKHeap> heaps(threads, TopKHeap(k));
  ParallelRanges(n, threads, [&](size_t part, size_t begin, size_t end) {
    ScanRange(kernels, view, q, rows, begin, end, &heaps[part]);
  });
  for (unsigned t = 1; t < threads; ++t) heaps[0].Merge(heaps[t]);
  return heaps[0].Take();
}

}  // namespace fr

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

void TopKHeap::PushMany(const float* scores, const uint32_t* rows, size_t n) {
  if (k_ == 0 || n == 0) return;
  auto cmp = [](const Entry& a, const Entry& b) { return Worse(b, a); };
  for (size_t i = 0; i < n; ++i) heap_.push_back({scores[i], rows[i]});
  if (heap_.size() > k_) {
    // Best first up to k_, then cut: a total order, so the same set as Push.
    std::nth_element(heap_.begin(), heap_.begin() + static_cast<ptrdiff_t>(k_), heap_.end(),
                     [](const Entry& a, const Entry& b) { return Worse(b, a); });
    heap_.resize(k_);
  }
  std::make_heap(heap_.begin(), heap_.end(), cmp);
}

void TopKHeap::Merge(const TopKHeap& other) {
  for (const Entry& e : other.heap_) Push(e.score, e.row);
}

TopKResult TopKHeap::Take() {
  std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) { return Worse(b, a); });
  return Drain();
}

TopKResult TopKHeap::Drain() {
  TopKResult out;
  out.rows.resize(heap_.size());
  out.scores.resize(heap_.size());
  for (size_t i = 0; i < heap_.size(); ++i) out.rows[i] = heap_[i].row, out.scores[i] = heap_[i].score;
  heap_.clear();
  return out;
}

TopKResult TopKHeap::TakeByRow() {
  // Rows are unique: an LSD radix sort on the row, a byte per pass, skipping
  // the high bytes no row uses (~4x faster than std::sort on the feed's 500).
  const size_t n = heap_.size();
  if (n < 64) {
    std::sort(heap_.begin(), heap_.end(), [](const Entry& a, const Entry& b) { return a.row < b.row; });
  } else {
    uint32_t highest = 0;
    for (const Entry& e : heap_) highest |= e.row;
    std::vector<Entry> other(n);
    Entry* from = heap_.data();
    Entry* to = other.data();
    for (unsigned shift = 0; shift < 32 && (highest >> shift) != 0; shift += 8) {
      size_t count[257] = {};
      for (size_t i = 0; i < n; ++i) ++count[((from[i].row >> shift) & 0xFF) + 1];
      for (size_t b = 1; b < 257; ++b) count[b] += count[b - 1];
      for (size_t i = 0; i < n; ++i) to[count[(from[i].row >> shift) & 0xFF]++] = from[i];
      std::swap(from, to);
    }
    if (from != heap_.data()) std::copy(from, from + n, heap_.data());
  }
  return Drain();
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

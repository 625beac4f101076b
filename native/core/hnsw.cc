#include "hnsw.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "error.h"

// Only the header-only core of USearch: no SIMSIMD, no fp16 library (the
// metric below uses fusionrank's own kernels), no OpenMP.
#define USEARCH_USE_OPENMP 0
#define USEARCH_USE_SIMSIMD 0
#define USEARCH_USE_FP16LIB 0
#include <usearch/index.hpp>

namespace fr {

namespace {

using Index = unum::usearch::index_gt<float, uint64_t, uint32_t>;
constexpr size_t kContexts = 64;  // concurrent searches/inserts the graph allows

struct QueryRef {
  const float* padded;
};

// binary16 -> binary32 by table: graph construction decodes rows constantly.
const float* HalfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = HalfToFloat(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

// Decodes a stored row to f32 (already normalised).
void DecodeRow(const StoreView& view, uint32_t row, float* out) {
  const uint8_t* data = view.block->data.get();
  switch (view.dtype) {
    case Dtype::kF32:
      std::memcpy(out, data + size_t(row) * view.pdim * 4, view.pdim * 4);
      break;
    case Dtype::kF16: {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(data) + size_t(row) * view.pdim;
      const float* table = HalfTable();
      for (size_t j = 0; j < view.pdim; ++j) out[j] = table[src[j]];
      break;
    }
    case Dtype::kI8: {
      const int8_t* src = reinterpret_cast<const int8_t*>(data) + size_t(row) * view.pdim;
      const float scale = view.block->scales[row];
      for (size_t j = 0; j < view.pdim; ++j) out[j] = scale * src[j];
      break;
    }
  }
}

// Cosine distance between a query (or a row) and graph members, whose keys
// are catalog rows.
struct RowMetric {
  const KernelTable* kernels;
  const StoreView* view;

  float Distance(const float* padded, uint32_t row) const {
    float score;
    Score(*kernels, *view, padded, &row, 1, &score);
    return 1.0f - score;
  }
  template <typename Entry>
  float operator()(const QueryRef& query, const Entry& entry) const {
    return Distance(query.padded, static_cast<uint32_t>(get_key(entry)));
  }
  template <typename Entry>
  float operator()(const Entry& a, const Entry& b) const {
    // The heuristic compares one row against many in a row: keep the last
    // decoded row per thread.
    thread_local AlignedPtr<float> buffer;
    thread_local size_t capacity = 0;
    thread_local const void* decoded_block = nullptr;
    thread_local uint64_t decoded_key = ~uint64_t(0);
    if (capacity < view->pdim) {
      buffer = AllocateAligned<float>(view->pdim);
      capacity = view->pdim;
      decoded_key = ~uint64_t(0);
    }
    const uint64_t key = get_key(a);
    if (key != decoded_key || decoded_block != view->block.get()) {
      DecodeRow(*view, static_cast<uint32_t>(key), buffer.get());
      decoded_key = key;
      decoded_block = view->block.get();
    }
    return Distance(buffer.get(), static_cast<uint32_t>(get_key(b)));
  }
};

// The same distance for searches, with member slots mapped to rows through
// a dense array: no read of the graph node just to learn its key.
struct SlotMetric {
  const KernelTable* kernels;
  const StoreView* view;
  const uint32_t* slot_to_row;

  template <typename Entry>
  float operator()(const QueryRef& query, const Entry& entry) const {
    uint32_t row = slot_to_row[get_slot(entry)];
    float score;
    Score(*kernels, *view, query.padded, &row, 1, &score);
    return 1.0f - score;
  }
};

// Prefetches the stored rows of the neighbours about to be measured, so the
// random row reads overlap instead of stalling one after another.
struct RowPrefetch {
  const StoreView* view;
  const uint32_t* slot_to_row;
  size_t row_bytes;

  static size_t SlotOf(uint32_t slot) { return slot; }
  template <typename Member>
  static size_t SlotOf(const Member& member) { return get_slot(member); }

  template <typename Iterator>
  void operator()(Iterator begin, Iterator end) const {
    const uint8_t* base = view->block->data.get();
    for (; begin != end; ++begin) {
      const uint8_t* row = base + size_t(slot_to_row[SlotOf(*begin)]) * row_bytes;
      for (size_t line = 0; line < row_bytes; line += 64) __builtin_prefetch(row + line);
    }
  }
};

[[noreturn]] void Fail(const char* what, unum::usearch::error_t& error) {
  std::string message = std::string(what) + ": " + (error ? error.what() : "unknown error");
  error.release();
  throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INDEX", message);
}

}  // namespace

struct HnswIndex::Impl {
  Index index;
  HnswOptions options;
  explicit Impl(HnswOptions o)
      : index(unum::usearch::index_config_t(o.connectivity, o.connectivity * 2)), options(o) {
    // Fixes the number of per-thread contexts before anything is loaded.
    index.try_reserve(unum::usearch::index_limits_t(0, kContexts));
  }
};

HnswIndex::HnswIndex(HnswOptions options) : impl_(std::make_unique<Impl>(options)) {
  for (size_t i = 0; i < kContexts; ++i) free_contexts_.push_back(kContexts - 1 - i);
}

HnswIndex::~HnswIndex() = default;

size_t HnswIndex::size() const { return impl_->index.size(); }
bool HnswIndex::immutable() const { return impl_->index.is_immutable(); }

void HnswIndex::EnsureMutable() {
  if (!impl_->index.is_immutable()) return;
  std::string error;
  if (!Load(path_, false, &error))
    throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INDEX", "Could not reload " + path_ + ": " + error);
}

void HnswIndex::Upsert(const KernelTable& kernels, const StoreView& view, const uint32_t* rows,
                       size_t n, unsigned threads) {
  if (n == 0) return;
  EnsureMutable();
  Index& index = impl_->index;
  uint32_t max_row = 0;
  for (size_t i = 0; i < n; ++i) max_row = std::max(max_row, rows[i]);
  if (row_to_slot_.size() <= max_row) row_to_slot_.resize(size_t(max_row) + 1, -1);
  const size_t wanted = index.size() + n;
  if (wanted > index.capacity()) {
    const size_t capacity = std::max(wanted, index.capacity() + index.capacity() / 2);
    if (!index.try_reserve(unum::usearch::index_limits_t(capacity, kContexts)))
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
                  "Could not reserve the HNSW graph for " + std::to_string(capacity) + " rows");
  }
  RowMetric metric{&kernels, &view};
  threads = std::max(1u, std::min<unsigned>(threads, kContexts));
  if (n < 1024) threads = 1;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::string first_error;
  std::mutex error_mutex;
  auto work = [&](size_t thread) {
    AlignedPtr<float> buffer = AllocateAligned<float>(view.pdim);
    unum::usearch::index_update_config_t config;
    config.expansion = impl_->options.expansion_add;
    config.thread = thread;
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      const uint32_t row = rows[i];
      DecodeRow(view, row, buffer.get());
      QueryRef query{buffer.get()};
      const int64_t slot = row_to_slot_[row];
      auto result = slot >= 0 ? index.update(index.iterator_at(static_cast<uint32_t>(slot)), row,
                                             query, metric, config)
                              : index.add(row, query, metric, config);
      if (!result) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) first_error = result.error.what();
        result.error.release();
        return;
      }
      if (slot < 0) row_to_slot_[row] = result.slot;  // distinct rows per thread
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& th : pool) th.join();
  }
  if (failed) throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INDEX", "HNSW insert failed: " + first_error);
  slot_to_row_.resize(index.size(), 0);
  for (size_t i = 0; i < n; ++i) slot_to_row_[static_cast<size_t>(row_to_slot_[rows[i]])] = rows[i];
}

void HnswIndex::RebuildSlotMap() {
  const Index& index = impl_->index;
  slot_to_row_.assign(index.size(), 0);
  for (size_t slot = 0; slot < index.size(); ++slot)
    slot_to_row_[slot] = static_cast<uint32_t>(unum::usearch::get_key(index.at(slot)));
}

void HnswIndex::Search(const KernelTable& kernels, const StoreView& view, const float* padded_query,
                       size_t k, size_t expansion, RowPredicate predicate, const void* context,
                       TopKHeap* out) const {
  if (k == 0 || impl_->index.size() == 0) return;
  size_t thread;
  {
    std::lock_guard<std::mutex> lock(contexts_mutex_);
    if (free_contexts_.empty())
      throw Error(ErrorKind::kError, "ERR_FUSIONRANK_BUSY", "Too many concurrent searches on one index");
    thread = free_contexts_.back();
    free_contexts_.pop_back();
  }
  struct Release {
    const HnswIndex* self;
    size_t thread;
    ~Release() {
      std::lock_guard<std::mutex> lock(self->contexts_mutex_);
      self->free_contexts_.push_back(thread);
    }
  } release{this, thread};

  SlotMetric metric{&kernels, &view, slot_to_row_.data()};
  const size_t element_bytes = view.dtype == Dtype::kF32 ? 4 : view.dtype == Dtype::kF16 ? 2 : 1;
  RowPrefetch prefetch{&view, slot_to_row_.data(), view.pdim * element_bytes};
  unum::usearch::index_search_config_t config;
  config.expansion = std::max(expansion, k);
  config.thread = thread;
  QueryRef query{padded_query};
  const uint32_t* slot_to_row = slot_to_row_.data();
  auto keep = [&](const Index::member_cref_t& member) {
    return predicate(context, slot_to_row[unum::usearch::get_slot(member)]);
  };
  auto result = impl_->index.search(query, k, metric, config, keep, prefetch);
  if (!result) Fail("HNSW search failed", result.error);
  for (size_t i = 0; i < result.count; ++i) {
    auto match = result[i];
    out->Push(1.0f - match.distance, slot_to_row[unum::usearch::get_slot(match.member)]);
  }
}

bool HnswIndex::Save(const std::string& path, std::string* error) const {
  auto result = impl_->index.save(unum::usearch::output_file_t(path.c_str()));
  if (!result) {
    *error = result.error.what();
    result.error.release();
    return false;
  }
  return true;
}

bool HnswIndex::Load(const std::string& path, bool mmap, std::string* error) {
  path_ = path;
  auto fresh = std::make_unique<Impl>(impl_->options);
  auto result = mmap ? fresh->index.view(unum::usearch::memory_mapped_file_t(path_.c_str()))
                     : fresh->index.load(unum::usearch::input_file_t(path_.c_str()));
  if (!result) {
    *error = result.error.what();
    result.error.release();
    return false;
  }
  row_to_slot_.clear();
  for (size_t slot = 0; slot < fresh->index.size(); ++slot) {
    const uint64_t row = unum::usearch::get_key(fresh->index.at(slot));
    if (row >= row_to_slot_.size()) row_to_slot_.resize(row + 1, -1);
    row_to_slot_[row] = static_cast<int64_t>(slot);
  }
  impl_ = std::move(fresh);
  RebuildSlotMap();
  return true;
}

}  // namespace fr

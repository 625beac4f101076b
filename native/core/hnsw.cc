#include "hnsw.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "error.h"
#include "parallel.h"

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
constexpr uint32_t kNoRow = 0xFFFFFFFFu;  // padding of a neighbour list
// Searches exploring at least this many candidates navigate on codes.
constexpr size_t kCodesFromEf = 128;

struct QueryRef {
  const float* padded;
};

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
      DecodeRow(*kernels, *view, static_cast<uint32_t>(key), buffer.get());
      decoded_key = key;
      decoded_block = view->block.get();
    }
    return Distance(buffer.get(), static_cast<uint32_t>(get_key(b)));
  }
};

// ---- the saved graph, untrusted
//
// What USearch's index_gt<float, uint64_t, uint32_t>::save writes, in the
// host's byte order: a header of five u64 {nodes, connectivity,
// connectivity_base, max_level, entry_slot}; one i16 level per node; then
// each node: its key (u64, a catalog row), its level again (i16) and, for
// each level 0..level, a u32 neighbour count followed by room for
// connectivity_base (level 0) or connectivity (above) u32 slots.
// USearch's own loader trusts all of it: it allocates `nodes` levels before
// looking at the file's size, reads neighbour slots and levels without a
// bound, and a level that does not match the node's bytes shifts every node
// after it. CheckGraph walks the bytes first, so USearch only ever sees a
// file that is whole and consistent.
constexpr size_t kGraphHeaderBytes = 5 * sizeof(uint64_t);
constexpr size_t kNodeHeadBytes = sizeof(uint64_t) + sizeof(int16_t);
// Bounds on what a graph may declare. fusionrank writes 16 / 32 and, at that
// connectivity, levels stay below 16 even for 2^32 rows; the bounds only
// keep every node under 300 KB and every sum below, whatever the header says.
constexpr uint64_t kMaxGraphConnectivity = 1024;
constexpr uint64_t kMaxGraphBaseConnectivity = 4096;
constexpr uint64_t kMaxGraphLevel = 64;

template <typename T>
T ReadAt(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

[[noreturn]] void CorruptGraph(const std::string& name, const std::string& why) {
  throw Error(ErrorKind::kError, "ERR_FUSIONRANK_CORRUPT", "Graph file " + name + " is corrupt: " + why);
}

// A read-only mapping of a whole file, unmapped when the last graph viewing
// it goes (USearch's own mapper opens with O_NOATIME, which fails on files
// the process does not own, e.g. a catalog on shared storage).
struct MappedFile {
  uint8_t* data = nullptr;
  size_t size = 0;
  MappedFile() = default;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
#if !defined(_WIN32)
    if (data) munmap(data, size);
#endif
  }
};

// The whole file, copied; its size comes from the file system, never from
// the file's contents.
std::vector<uint8_t> ReadWholeFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) CorruptGraph(path, std::string("it cannot be opened (") + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  for (size_t got; (got = std::fread(chunk, 1, sizeof(chunk), file)) > 0;) bytes.insert(bytes.end(), chunk, chunk + got);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) CorruptGraph(path, "it cannot be read");
  return bytes;
}

}  // namespace

struct HnswIndex::Impl {
  // Declared first, destroyed last: a viewed index points into it.
  std::shared_ptr<const MappedFile> mapping;
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
  // Copied from the mapping itself, not from the path: a save over the same
  // directory may have renamed another graph to that path since; the
  // mapping still holds the file this index was loaded from.
  const std::shared_ptr<const MappedFile> mapping = impl_->mapping;
  if (!mapping) throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INDEX", "A viewed graph without its mapping");
  LoadBytes(mapping->data, mapping->size, row_limit_, path_);
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
      DecodeRow(kernels, view, row, buffer.get());
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
  // One range per thread: rows are handed out by `next`.
  ParallelRanges(threads, threads, [&](size_t thread, size_t, size_t) { work(thread); });
  if (failed) throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INDEX", "HNSW insert failed: " + first_error);
  slot_to_row_.resize(index.size(), 0);
  std::vector<uint32_t> touched;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t slot = static_cast<uint32_t>(row_to_slot_[rows[i]]);
    slot_to_row_[slot] = rows[i];
    if (index.level_of(slot) > index.level_of(entry_slot_)) entry_slot_ = slot;
  }
  // Inserting a node rewrites its own list and those of the nodes it links
  // to. A large batch is copied whole; a small one node by node (a list that
  // a later insert of the same batch pruned away keeps its extra link in the
  // copy until the next full copy: a longer list, never a wrong row).
  if (n * 8 >= index.size() || link_rows_ < row_to_slot_.size()) {
    CopyLinks(nullptr);
    // A large batch retrains the code ranges on what the graph holds now.
    TrainCodes(kernels, view);
    EncodeRows(kernels, view, nullptr, 0, threads);
    return;
  }
  EncodeRows(kernels, view, rows, n, threads);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t slot = static_cast<uint32_t>(row_to_slot_[rows[i]]);
    touched.push_back(slot);
    const auto neighbors = index.neighbors(slot, 0);
    for (auto it = neighbors.begin(); it != neighbors.end(); ++it) touched.push_back(it.slot());
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  CopyLinks(&touched);
}

void HnswIndex::CopyLinks(const std::vector<uint32_t>* slots) {
  const Index& index = impl_->index;
  const size_t width = impl_->index.config().connectivity_base;
  if (!slots) {
    // Grown with headroom so that small catch-ups copy node by node.
    const size_t rows = row_to_slot_.size() + row_to_slot_.size() / 8 + 64;
    links_ = AllocateAligned<uint32_t>(rows * width);
    std::fill(links_.get(), links_.get() + rows * width, kNoRow);
    link_rows_ = rows;
    link_width_ = width;
  }
  auto copy = [&](uint32_t slot) {
    uint32_t* dst = links_.get() + size_t(slot_to_row_[slot]) * width;
    size_t j = 0;
    const auto neighbors = index.neighbors(slot, 0);
    for (auto it = neighbors.begin(); it != neighbors.end() && j < width; ++it) dst[j++] = slot_to_row_[it.slot()];
    for (; j < width; ++j) dst[j] = kNoRow;
  };
  if (slots) {
    for (uint32_t slot : *slots) copy(slot);
  } else {
    for (size_t slot = 0; slot < index.size(); ++slot) copy(static_cast<uint32_t>(slot));
  }
}

void HnswIndex::RebuildSlotMap() {
  const Index& index = impl_->index;
  slot_to_row_.assign(index.size(), 0);
  entry_slot_ = 0;
  for (size_t slot = 0; slot < index.size(); ++slot) {
    slot_to_row_[slot] = static_cast<uint32_t>(unum::usearch::get_key(index.at(slot)));
    if (index.level_of(slot) > index.level_of(entry_slot_)) entry_slot_ = static_cast<uint32_t>(slot);
  }
  CopyLinks(nullptr);
}

void HnswIndex::TrainCodes(const KernelTable& kernels, const StoreView& view) {
  const size_t dim = view.dim;
  cdim_ = RoundUp(std::max<size_t>(dim, 1), kU4Block);
  code_stride_ = cdim_ / 2;
  code_lo_.assign(cdim_, 0.0f);
  code_step_.assign(cdim_, 1.0f);
  const size_t members = slot_to_row_.size();
  if (members == 0) return;
  // Mean and spread per dimension over an evenly spaced sample of rows.
  const size_t sample = std::min<size_t>(members, 16384);
  std::vector<double> sum(dim, 0.0), squares(dim, 0.0);
  AlignedPtr<float> buffer = AllocateAligned<float>(view.pdim);
  for (size_t i = 0; i < sample; ++i) {
    DecodeRow(kernels, view, slot_to_row_[i * members / sample], buffer.get());
    for (size_t d = 0; d < dim; ++d) sum[d] += buffer[d], squares[d] += double(buffer[d]) * buffer[d];
  }
  for (size_t d = 0; d < dim; ++d) {
    const double mean = sum[d] / sample;
    const double sd = std::sqrt(std::max(0.0, squares[d] / sample - mean * mean));
    const double step = sd > 1e-9 ? 5.5 * sd / 16 : 1e-6;
    code_step_[d] = static_cast<float>(step);
    code_lo_[d] = static_cast<float>(mean - 8 * step);
  }
}

void HnswIndex::EncodeRows(const KernelTable& kernels, const StoreView& view, const uint32_t* rows,
                           size_t n, unsigned threads) {
  if (code_lo_.empty()) TrainCodes(kernels, view);
  std::vector<uint32_t> all;
  if (!rows) {
    all.assign(slot_to_row_.begin(), slot_to_row_.end());
    rows = all.data();
    n = all.size();
  }
  const size_t needed = row_to_slot_.size();
  if (needed > code_rows_ || !codes_) {
    const size_t capacity = needed + needed / 8 + 64;
    AlignedPtr<uint8_t> grown = AllocateAligned<uint8_t>(capacity * code_stride_);
    if (codes_) std::memcpy(grown.get(), codes_.get(), code_rows_ * code_stride_);
    codes_ = std::move(grown);
    code_rows_ = capacity;
  }
  const size_t dim = view.dim, half = kU4Block / 2;
  auto work = [&](size_t first, size_t last) {
    AlignedPtr<float> buffer = AllocateAligned<float>(view.pdim);
    for (size_t i = first; i < last; ++i) {
      DecodeRow(kernels, view, rows[i], buffer.get());
      uint8_t* out = codes_.get() + size_t(rows[i]) * code_stride_;
      std::memset(out, 0, code_stride_);
      for (size_t d = 0; d < dim; ++d) {
        const float x = (buffer[d] - code_lo_[d]) / code_step_[d];
        const uint8_t c = static_cast<uint8_t>(std::min(15.0f, std::max(0.0f, std::floor(x))));
        const size_t block = d / kU4Block, j = d % kU4Block;
        out[block * half + (j % half)] |= j < half ? c : uint8_t(c << 4);
      }
    }
  };
  threads = (n < 4096) ? 1 : std::max(1u, std::min(threads, 64u));
  ParallelRanges(n, threads, [&](size_t, size_t begin, size_t end) { work(begin, end); });
  codes_ready_ = true;
}

void HnswIndex::BuildCodes(const KernelTable& kernels, const StoreView& view, unsigned threads) {
  TrainCodes(kernels, view);
  EncodeRows(kernels, view, nullptr, 0, threads);
}

namespace {

struct Candidate {
  float sim;
  uint32_t slot;  // a graph slot on the upper levels, a row on the base level
};
// Frontier: a max-heap on similarity (best first). Results: a min-heap
// (the worst kept result on top).
struct FrontierBelowT {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.sim < b.sim; }
};
struct ResultAboveT {
  bool operator()(const Candidate& a, const Candidate& b) const { return a.sim > b.sim; }
};

// A binary heap (the top is the element no other is Below) on storage that
// only grows: no reallocation inside a search, and replacing the top is one
// sift instead of std::push_heap plus std::pop_heap.
template <typename Below>
struct CandidateHeap {
  std::vector<Candidate> v;
  size_t n = 0;
  void Clear() { n = 0; }
  bool Empty() const { return n == 0; }
  size_t Size() const { return n; }
  const Candidate& Top() const { return v[0]; }
  const Candidate& operator[](size_t i) const { return v[i]; }
  void Push(Candidate c) {
    if (n == v.size()) v.resize(std::max<size_t>(256, 2 * n));
    size_t i = n++;
    while (i > 0) {
      const size_t parent = (i - 1) / 2;
      if (!Below()(v[parent], c)) break;
      v[i] = v[parent];
      i = parent;
    }
    v[i] = c;
  }
  void ReplaceTop(Candidate c) {
    size_t i = 0;
    for (;;) {
      const size_t left = 2 * i + 1;
      if (left >= n) break;
      const size_t right = left + 1;
      const size_t child = right < n && Below()(v[left], v[right]) ? right : left;
      if (!Below()(c, v[child])) break;
      v[i] = v[child];
      i = child;
    }
    v[i] = c;
  }
  void Pop() {
    const Candidate last = v[--n];
    if (n > 0) ReplaceTop(last);
  }
};

inline void PrefetchLines(const void* p, size_t bytes) {
  for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(static_cast<const char*>(p) + line);
}
// For what a search reads about once (code rows, neighbour lists): the
// non-temporal hint keeps those lines from evicting the visited bitset and
// the heaps from L2. On the bench feed (200k rows), alternating builds,
// median retrieval p50: 466 -> 406 us for the code rows (the kernel's own
// prefetch included), then 481 -> 451 for the bridged lists and 455 -> 443
// for the frontier's lists.
inline void PrefetchOnce(const void* p, size_t bytes) {
  for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(static_cast<const char*>(p) + line, 0, 0);
}

// One neighbour list of the base-level search: marks its rows visited and
// sorts them, without branching on the (random) visited and filter bits,
// into rows to score (with whether each is admitted) and rejected rows to
// bridge through. Returns how many listed rows the filter admits, visited
// or not. A function of its own, on restrict pointers and plain values, so
// the compiler keeps it in registers: in the search's body the stores to
// the visited words could alias the filter's fields, and every row reloaded
// them (out of the body, the feed's retrieval measured ~7 % faster, median
// p50 of six runs each).
template <bool kFilterFirst, typename Admit>
inline size_t ScanList(const uint32_t* __restrict list, size_t width, uint64_t* __restrict visited,
                       Admit admit, uint32_t* __restrict rows, uint8_t* __restrict admitted_rows,
                       uint32_t* __restrict bridges, size_t& m_io, size_t& nb_io) {
  size_t m = m_io, nb = nb_io, admitted_total = 0;
  for (size_t j = 0; j < width; ++j) {
    const uint32_t row = list[j];
    if (row == kNoRow) break;
    uint64_t& word = visited[row >> 6];
    const uint64_t bit = uint64_t(1) << (row & 63);
    const uint32_t unseen = (word & bit) == 0;
    word |= bit;
    const uint32_t admitted = admit(row);
    admitted_total += admitted;
    rows[m] = row;
    admitted_rows[m] = static_cast<uint8_t>(admitted);
    m += kFilterFirst ? unseen & admitted : unseen;
    bridges[nb] = row;
    nb += kFilterFirst ? unseen & (admitted ^ 1u) : 0u;
  }
  m_io = m, nb_io = nb;
  return admitted_total;
}

// RowFilter::Admits on a bitset without a branch on its bits.
struct BitsetAdmit {
  const uint64_t* allowed;
  uint32_t allowed_rows;
  uint32_t operator()(uint32_t row) const {
    const uint32_t inside = row < allowed_rows;
    const uint32_t clamped = inside ? row : 0;
    return static_cast<uint32_t>((allowed[clamped >> 6] >> (clamped & 63)) & 1) & inside;
  }
};
struct AllAdmit {
  uint32_t operator()(uint32_t) const { return 1; }
};
struct PredicateAdmit {
  const RowFilter* filter;
  uint32_t operator()(uint32_t row) const { return filter->Admits(row); }
};

}  // namespace

struct HnswIndex::Scratch {
  std::vector<uint64_t> visited;  // one bit per slot
  CandidateHeap<FrontierBelowT> frontier;  // best similarity on top
  CandidateHeap<ResultAboveT> results;     // worst kept result on top
  std::vector<uint32_t> slots, rows, bridges, pending_rows;
  std::vector<uint8_t> admitted, pending_admitted;  // per entry of rows
  std::vector<float> sims;
  std::vector<int32_t> dots;
  AlignedPtr<int8_t> query_code;
  size_t query_code_size = 0;
};

void HnswIndex::Search(const KernelTable& kernels, const StoreView& view, const float* padded_query,
                       size_t k, size_t expansion, const RowFilter& filter, TopKHeap* out,
                       SearchStats* stats) const {
  const Index& index = impl_->index;
  if (k == 0 || index.size() == 0) return;
  size_t thread;
  {
    std::lock_guard<std::mutex> lock(contexts_mutex_);
    if (free_contexts_.empty())
      throw Error(ErrorKind::kError, "ERR_FUSIONRANK_BUSY", "Too many concurrent searches on one index");
    thread = free_contexts_.back();
    free_contexts_.pop_back();
    if (scratch_.size() < kContexts) scratch_.resize(kContexts);
    if (!scratch_[thread]) scratch_[thread] = std::make_unique<Scratch>();
  }
  struct Release {
    const HnswIndex* self;
    size_t thread;
    ~Release() {
      std::lock_guard<std::mutex> lock(self->contexts_mutex_);
      self->free_contexts_.push_back(thread);
    }
  } release{this, thread};
  Scratch& s = *scratch_[thread];

  const uint32_t* slot_to_row = slot_to_row_.data();
  const uint8_t* base = view.block->data.get();
  const size_t row_bytes = RowBytes(view);
  const size_t ef = std::max(expansion, k);
  size_t distances = 0, expanded = 0, bridged = 0;

  // With codes, navigation scores the query against rows' 4-bit codes: the
  // query is folded with each dimension's step and quantised to int8, so
  // sim ~ dot(query_code, code) * inv_scale + offset.
  // Small searches navigate on the rows themselves: with few results kept,
  // the codes' error decides too much of what is kept (recall@40 at ef 64
  // fell from 0.998 to 0.911 on tightly clustered rows; at ef 128 it was
  // 1.000), and a small search is cheap either way.
  const bool codes = codes_ready_ && ef >= kCodesFromEf && code_rows_ >= link_rows_ && cdim_ >= view.dim;
  float inv_scale = 0.0f, offset = 0.0f;
  if (codes) {
    if (s.query_code_size < cdim_) {
      s.query_code = AllocateAligned<int8_t>(cdim_);
      s.query_code_size = cdim_;
    }
    float largest = 0.0f;
    for (size_t d = 0; d < view.dim; ++d) largest = std::max(largest, std::fabs(padded_query[d] * code_step_[d]));
    const float scale = largest > 0.0f ? 127.0f / largest : 0.0f;
    double constant = 0.0;
    std::memset(s.query_code.get(), 0, cdim_);
    for (size_t d = 0; d < view.dim; ++d) {
      s.query_code[d] = static_cast<int8_t>(std::lrint(padded_query[d] * code_step_[d] * scale));
      constant += double(padded_query[d]) * (code_lo_[d] + 0.5 * code_step_[d]);
    }
    inv_scale = scale > 0.0f ? 1.0f / scale : 0.0f;
    offset = static_cast<float>(constant);
  }
  const uint8_t* nav_base = codes ? codes_.get() : base;
  const size_t nav_bytes = codes ? code_stride_ : row_bytes;
  // Scratch for one batch of rows to navigate on: at most two neighbour
  // lists (a list and the rows its bridges add). Sized once, so the loop
  // below never resizes (and re-zeroes) a vector.
  const size_t batch_max = std::max<size_t>(link_width_ * 2, index.max_level() > 0 ? 64 : 0) + 64;
  if (s.rows.size() < batch_max) s.rows.resize(batch_max);
  if (s.sims.size() < batch_max) s.sims.resize(batch_max);
  if (s.dots.size() < batch_max) s.dots.resize(batch_max);
  if (s.admitted.size() < batch_max) s.admitted.resize(batch_max);
  if (s.bridges.size() < batch_max) s.bridges.resize(batch_max);
  if (s.pending_rows.size() < batch_max) s.pending_rows.resize(batch_max), s.pending_admitted.resize(batch_max);
  // Scores nav_rows[0..m) into s.sims for navigation.
  auto navigate_rows = [&](const uint32_t* nav_rows, size_t m) {
    for (size_t i = 0; i < std::min<size_t>(m, 4); ++i) PrefetchOnce(nav_base + size_t(nav_rows[i]) * nav_bytes, nav_bytes);
    if (codes) {
      kernels.score_u4(s.query_code.get(), codes_.get(), code_stride_, nav_rows, m, cdim_, s.dots.data());
      for (size_t i = 0; i < m; ++i) s.sims[i] = static_cast<float>(s.dots[i]) * inv_scale + offset;
    } else {
      Score(kernels, view, padded_query, nav_rows, m, s.sims.data());
    }
    distances += m;
  };
  // Scores s.slots[0..m) into s.sims, gathering their rows first so the
  // kernel sees one batch (its prefetch of the next rows overlaps the misses).
  auto score_batch = [&](size_t m) {
    if (s.rows.size() < m) s.rows.resize(m), s.sims.resize(m), s.dots.resize(m);
    for (size_t i = 0; i < m; ++i) s.rows[i] = slot_to_row[s.slots[i]];
    navigate_rows(s.rows.data(), m);
  };

  // ---- greedy descent through the upper levels
  uint32_t current = entry_slot_;
  s.slots.assign(1, current);
  score_batch(1);
  float current_sim = s.sims[0];
  for (size_t level = index.max_level(); level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      const auto neighbors = index.neighbors(current, level);
      s.slots.clear();
      for (auto it = neighbors.begin(); it != neighbors.end(); ++it) s.slots.push_back(it.slot());
      if (s.slots.empty()) break;
      score_batch(s.slots.size());
      for (size_t i = 0; i < s.slots.size(); ++i)
        if (s.sims[i] > current_sim) current_sim = s.sims[i], current = s.slots[i], changed = true;
    }
  }

  // ---- best-first search of the base level, in row space (links_)
  const size_t width = link_width_;
  const uint32_t* links = links_.get();
  s.visited.assign((link_rows_ + 63) / 64, 0);
  uint64_t* visited = s.visited.data();
  auto visit = [&](uint32_t row) {  // true when the row was already visited
    uint64_t& word = visited[row >> 6];
    const uint64_t bit = uint64_t(1) << (row & 63);
    const bool seen = word & bit;
    word |= bit;
    return seen;
  };
  auto list_of = [&](uint32_t row) { return links + size_t(row) * width; };
  // Approximate scores keep a quarter as many results again as asked, so
  // that the exact rescoring at the end can reorder the boundary. Measured
  // on the bench feed (200k rows, 30 % filter, k = ef = 500): keeping
  // ef / 8 more gave recall@500 0.972 (before the bridging rule below);
  // ef / 2 more 0.988 on the bench queries and 0.982 on noisier ones, at
  // 19 % more expansions and 20 % more rows rescored than ef / 4, which gave
  // 0.984 and 0.973 (0.982 again at ef 600). Like ef, this trades recall
  // for time; ef stays the knob.
  const size_t keep = codes ? ef + ef / 4 : ef;
  s.frontier.Clear();
  s.results.Clear();
  const uint32_t start = slot_to_row[current];
  visit(start);
  s.frontier.Push({current_sim, start});
  if (filter.Admits(start)) s.results.Push({current_sim, start});
  // Filter first: rows the filter rejects are never scored (at 30 % passing
  // that saves about half the row reads); they only serve as bridges.
  const bool filter_first = filter.selectivity > RowFilter::kFilterFirstAbove;
  // A node whose neighbour list admits fewer than this many rows (visited or
  // not) sits where the filtered graph is sparse: look through its rejected
  // neighbours. Counting unvisited rows instead bridged at almost every
  // expansion late in the search (2-3 extra list reads each). Measured on
  // the bench feed (30 % filter, k = ef = 500, 1.5 x ef kept; recall@500, p50 of the
  // retrieval): at 200k rows 5 gave 0.972 at 584 us, 6 0.986 (bench), 7
  // 0.987 at 659 us; at 1M rows 5 gave 0.836 at 1218 us, 6 0.872 at
  // 1035 us, 7 0.89-0.92 at 1195-1273 us. 6 keeps the feed's latency; a
  // larger ef buys recall.
  const size_t two_hop_below = std::max<size_t>(2, impl_->options.connectivity * 6 / 16);
  const size_t batch_cap = width;
  // The common filter is a plan's cached bitset with no predicate.
  const bool plain = !filter.predicate;
  const BitsetAdmit bitset_admit{filter.allowed, static_cast<uint32_t>(std::min<size_t>(filter.allowed_rows, kNoRow))};
  const PredicateAdmit predicate_admit{&filter};
  auto scan = [&](const uint32_t* list, uint32_t* rows, uint8_t* admitted_rows, uint32_t* bridges, size_t& m,
                  size_t& nb) -> size_t {
    if (filter_first) {
      if (!plain) return ScanList<true>(list, width, visited, predicate_admit, rows, admitted_rows, bridges, m, nb);
      if (!filter.allowed) return ScanList<true>(list, width, visited, AllAdmit{}, rows, admitted_rows, bridges, m, nb);
      return ScanList<true>(list, width, visited, bitset_admit, rows, admitted_rows, bridges, m, nb);
    }
    if (!plain) return ScanList<false>(list, width, visited, predicate_admit, rows, admitted_rows, bridges, m, nb);
    if (!filter.allowed) return ScanList<false>(list, width, visited, AllAdmit{}, rows, admitted_rows, bridges, m, nb);
    return ScanList<false>(list, width, visited, bitset_admit, rows, admitted_rows, bridges, m, nb);
  };
  auto admits = [&](uint32_t row) -> uint32_t { return plain ? (filter.allowed ? bitset_admit(row) : 1u) : filter.Admits(row); };
  auto push_rows = [&](const uint32_t* rows, const uint8_t* admitted_rows, size_t m) {
    for (size_t i = 0; i < m; ++i) {
      const float sim = s.sims[i];
      if (s.results.Size() >= keep && !(sim > s.results.Top().sim)) continue;
      const uint32_t row = rows[i];
      s.frontier.Push({sim, row});
      if (!admitted_rows[i]) continue;
      // Full: the new row is better than the worst kept, which it replaces.
      if (s.results.Size() < keep) s.results.Push({sim, row});
      else s.results.ReplaceTop({sim, row});
    }
  };
  // Each expansion's rows are scored one expansion late: their codes are
  // requested when found and read after the next candidate's list has been
  // scanned, so the two expansions' misses overlap instead of queueing one
  // after the other. The frontier misses at most one batch when it picks
  // the next candidate; the search stops only once nothing is pending. In
  // an in-process A/B on the bench feed: retrieval -7 % at 200k rows and
  // -9.5 % at 1M, recall@500 unchanged (0.9836 / 0.9837 at 200k, 0.8149 /
  // 0.8145 at 1M); scoring two expansions late gained nothing more.
  size_t pending = 0;
  auto flush = [&] {
    navigate_rows(s.pending_rows.data(), pending);
    push_rows(s.pending_rows.data(), s.pending_admitted.data(), pending);
    pending = 0;
  };
  for (;;) {
    if (s.frontier.Empty() || (s.results.Size() >= keep && s.frontier.Top().sim < s.results.Top().sim)) {
      if (pending == 0) break;
      flush();
      continue;
    }
    const Candidate c = s.frontier.Top();
    s.frontier.Pop();
    ++expanded;
    // The next candidates are near the heap's top (its first three levels):
    // fetch their lists while this one is processed (measured 3-5 % faster
    // than fetching the root's alone). Expanding the best 2 or 4 candidates
    // together, to batch their memory reads, measured no faster; nor did
    // fetching the codes of the next candidate's neighbours one expansion
    // early (rotating-query p50 485-493 -> 485-543 us with 1 or 2 lookahead
    // lists).
    for (size_t h = 0; h < std::min<size_t>(7, s.frontier.Size()); ++h)
      PrefetchOnce(list_of(s.frontier[h].slot), width * sizeof(uint32_t));
    // Rows to score, rejected neighbours (bridges) and whether each row is
    // admitted, written without branching on the (random) visited and
    // filter bits: ~5 % faster than branching on them.
    const uint32_t* list = list_of(c.slot);
    uint32_t* rows = s.rows.data();  // room for the list and batch_cap bridged rows
    uint8_t* admitted_rows = s.admitted.data();
    uint32_t* bridges = s.bridges.data();
    size_t m = 0, nb = 0;
    // listed rows the filter admits, visited or not
    const size_t admitted_total = scan(list, rows, admitted_rows, bridges, m, nb);
    // Too few admitted neighbours to keep the search connected: look through
    // the rejected ones to their admitted neighbours (ACORN's two-hop
    // expansion), at most batch_cap more rows.
    if (filter_first && admitted_total < two_hop_below && nb) {
      for (size_t i = 0; i < nb; ++i) PrefetchOnce(list_of(bridges[i]), width * sizeof(uint32_t));
      // The rows to score are requested as soon as they are known: the
      // direct ones now, so their misses overlap the wait for the bridges'
      // lists, and each bridged one as it is found. In-process A/B on the
      // bench feed (alternate searches, each query both ways): retrieval
      // -3.4 % (per-query median ratio 0.966, three runs; A/A 1.000 +- 0.003).
      // (The request for every row after the bridging repeats these; skipping
      // the repeat measured no faster: 1.006-1.010.)
      for (size_t i = 0; i < m; ++i) PrefetchOnce(nav_base + size_t(rows[i]) * nav_bytes, nav_bytes);
      const size_t cap = m + batch_cap;
      for (size_t i = 0; i < nb; ++i) {
        const uint32_t b = bridges[i];
        if (m >= cap) break;
        ++bridged;
        const uint32_t* hop = list_of(b);
        for (size_t j = 0; j < width && hop[j] != kNoRow && m < cap; ++j) {
          const uint32_t row = hop[j];
          uint64_t& word = visited[row >> 6];
          const uint64_t bit = uint64_t(1) << (row & 63);
          const uint32_t take = static_cast<uint32_t>((word & bit) == 0) & admits(row);
          // Only admitted rows are marked: a rejected one may still be a
          // bridge from another node.
          word |= take ? bit : 0;
          if (take) PrefetchOnce(nav_base + size_t(row) * nav_bytes, nav_bytes);
          rows[m] = row;
          admitted_rows[m] = 1;
          m += take;
        }
      }
    }
    for (size_t i = 0; i < m; ++i) PrefetchOnce(nav_base + size_t(rows[i]) * nav_bytes, nav_bytes);
    if (pending) flush();
    std::swap(s.rows, s.pending_rows);
    std::swap(s.admitted, s.pending_admitted);
    pending = m;
  }
  if (codes) {
    // Exact scores for what was kept: one gathered batch, prefetched.
    const size_t m = s.results.Size();
    s.rows.resize(m);
    s.sims.resize(m);
    for (size_t i = 0; i < m; ++i) s.rows[i] = s.results[i].slot;
    for (size_t i = 0; i < std::min<size_t>(m, 4); ++i) PrefetchLines(base + size_t(s.rows[i]) * row_bytes, row_bytes);
    Score(kernels, view, padded_query, s.rows.data(), m, s.sims.data());
    out->PushMany(s.sims.data(), s.rows.data(), m);
  } else {
    for (size_t i = 0; i < s.results.Size(); ++i) out->Push(s.results[i].sim, s.results[i].slot);
  }
  if (stats) stats->distances += distances, stats->expanded += expanded, stats->bridged += bridged;
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

void HnswIndex::CheckGraph(const uint8_t* data, size_t size, size_t row_limit, const std::string& name) {
  auto fail = [&](const std::string& why) { CorruptGraph(name, why); };
  auto str = [](uint64_t v) { return std::to_string(v); };
  if (size < kGraphHeaderBytes)
    fail(str(size) + " bytes, shorter than the " + str(kGraphHeaderBytes) + "-byte header");
  const uint64_t nodes = ReadAt<uint64_t>(data);
  const uint64_t connectivity = ReadAt<uint64_t>(data + 8);
  const uint64_t base = ReadAt<uint64_t>(data + 16);
  const uint64_t max_level = ReadAt<uint64_t>(data + 24);
  const uint64_t entry = ReadAt<uint64_t>(data + 32);
  if (nodes == 0) {
    if (size != kGraphHeaderBytes) fail("an empty graph followed by " + str(size - kGraphHeaderBytes) + " bytes");
    return;
  }
  if (connectivity < 2 || connectivity > kMaxGraphConnectivity)
    fail("connectivity " + str(connectivity) + " is outside [2, " + str(kMaxGraphConnectivity) + "]");
  if (base < connectivity || base > kMaxGraphBaseConnectivity)
    fail("base connectivity " + str(base) + " is outside [" + str(connectivity) + ", " + str(kMaxGraphBaseConnectivity) + "]");
  const uint64_t base_list = sizeof(uint32_t) * (1 + base);
  const uint64_t upper_list = sizeof(uint32_t) * (1 + connectivity);
  // Every node takes at least its level entry, its head and a base list, so
  // the file's size bounds the node count before anything is sized by it;
  // and the keys are distinct rows, so the column bounds it too (which also
  // keeps slots within u32 and every sum below far from overflowing).
  const uint64_t smallest = sizeof(int16_t) + kNodeHeadBytes + base_list;
  if (nodes > (size - kGraphHeaderBytes) / smallest)
    fail("the header declares " + str(nodes) + " nodes, more than its " + str(size) + " bytes can hold");
  if (nodes > row_limit || nodes > kMaxRows)
    fail("the header declares " + str(nodes) + " nodes for a column of " + str(row_limit) + " rows");
  if (max_level > kMaxGraphLevel) fail("the top level " + str(max_level) + " is above " + str(kMaxGraphLevel));
  if (entry >= nodes) fail("the entry node " + str(entry) + " is not one of its " + str(nodes) + " nodes");
  const uint8_t* levels = data + kGraphHeaderBytes;
  auto level_of = [&](uint64_t slot) { return ReadAt<int16_t>(levels + slot * sizeof(int16_t)); };
  // Levels, and with them the exact length every node takes.
  uint64_t expected = kGraphHeaderBytes + nodes * sizeof(int16_t);
  int64_t top = 0;
  for (uint64_t i = 0; i < nodes; ++i) {
    const int64_t level = level_of(i);
    if (level < 0 || uint64_t(level) > max_level)
      fail("node " + str(i) + " has level " + std::to_string(level) + ", outside [0, " + str(max_level) + "]");
    top = std::max(top, level);
    expected += kNodeHeadBytes + base_list + uint64_t(level) * upper_list;
    if (expected > size) fail("its nodes take more than its " + str(size) + " bytes");
  }
  if (expected != size) fail(str(size) + " bytes, but its nodes take " + str(expected));
  if (uint64_t(top) != max_level)
    fail("the header's top level is " + str(max_level) + " but the highest node is on level " + std::to_string(top));
  if (uint64_t(level_of(entry)) != max_level) fail("the entry node " + str(entry) + " is not on the top level");
  // Nodes: keys, levels, neighbour lists. Every read below is inside the
  // extent just summed.
  std::vector<uint64_t> keys(nodes);
  const uint8_t* node = levels + nodes * sizeof(int16_t);
  for (uint64_t i = 0; i < nodes; ++i) {
    const uint64_t key = ReadAt<uint64_t>(node);
    if (key >= row_limit) fail("node " + str(i) + " holds row " + str(key) + ", but the column has " + str(row_limit) + " rows");
    keys[i] = key;
    const int64_t level = level_of(i);
    if (ReadAt<int16_t>(node + sizeof(uint64_t)) != level)
      fail("node " + str(i) + " says it has level " + std::to_string(ReadAt<int16_t>(node + sizeof(uint64_t))) +
           ", the level table " + std::to_string(level));
    const uint8_t* list = node + kNodeHeadBytes;
    for (int64_t l = 0; l <= level; ++l) {
      const uint64_t room = l == 0 ? base : connectivity;
      const uint32_t count = ReadAt<uint32_t>(list);
      if (count > room)
        fail("node " + str(i) + " lists " + str(count) + " neighbours on level " + std::to_string(l) + ", room for " + str(room));
      for (uint32_t j = 0; j < count; ++j) {
        const uint32_t slot = ReadAt<uint32_t>(list + sizeof(uint32_t) * (1 + j));
        // A neighbour must exist on the level it is linked on: USearch
        // reads that level's list of it without a check.
        if (slot >= nodes) fail("node " + str(i) + " links to node " + str(slot) + " of " + str(nodes));
        if (level_of(slot) < l)
          fail("node " + str(i) + " links on level " + std::to_string(l) + " to node " + str(slot) + ", which has no such level");
      }
      list += l == 0 ? base_list : upper_list;
    }
    node = list;
  }
  // Two nodes with one row would leave one unreachable and the row's
  // neighbours split between them.
  std::sort(keys.begin(), keys.end());
  for (uint64_t i = 1; i < nodes; ++i)
    if (keys[i] == keys[i - 1]) fail("row " + str(keys[i]) + " is in the graph twice");
}

void HnswIndex::Adopt(std::unique_ptr<Impl> fresh) {
  // Keys were checked to be distinct rows below row_limit_.
  std::vector<int64_t> row_to_slot;
  for (size_t slot = 0; slot < fresh->index.size(); ++slot) {
    const uint64_t row = unum::usearch::get_key(fresh->index.at(slot));
    if (row >= row_to_slot.size()) row_to_slot.resize(row + 1, -1);
    row_to_slot[row] = static_cast<int64_t>(slot);
  }
  impl_ = std::move(fresh);
  row_to_slot_ = std::move(row_to_slot);
  RebuildSlotMap();
}

void HnswIndex::LoadBytes(const uint8_t* data, size_t size, size_t row_limit, const std::string& name) {
  CheckGraph(data, size, row_limit, name);
  auto fresh = std::make_unique<Impl>(impl_->options);
  // A non-owning "mapping" of the bytes: USearch copies every node out of it.
  auto result = fresh->index.load(
      unum::usearch::memory_mapped_file_t(reinterpret_cast<unum::usearch::byte_t*>(const_cast<uint8_t*>(data)), size));
  if (!result) {
    const std::string why = result.error.what();
    result.error.release();
    // The bytes were checked: what can still fail is an allocation.
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY", "Could not load the graph " + name + ": " + why);
  }
  row_limit_ = row_limit;
  Adopt(std::move(fresh));
}

void HnswIndex::Load(const std::string& path, bool mmap, size_t row_limit) {
#if defined(_WIN32)
  mmap = false;  // no mapping of our own there: a copy
#endif
  if (!mmap) {
    const std::vector<uint8_t> bytes = ReadWholeFile(path);
    LoadBytes(bytes.data(), bytes.size(), row_limit, path);
    path_ = path;
    return;
  }
#if !defined(_WIN32)
  auto mapping = std::make_shared<MappedFile>();
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) CorruptGraph(path, std::string("it cannot be opened (") + std::strerror(errno) + ")");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      CorruptGraph(path, "it is not a regular file");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    if (size < kGraphHeaderBytes) {
      ::close(fd);
      CheckGraph(nullptr, size, row_limit, path);  // throws: too short
    }
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (data == MAP_FAILED) CorruptGraph(path, std::string("it cannot be mapped (") + std::strerror(errno) + ")");
    mapping->data = static_cast<uint8_t*>(data);
    mapping->size = size;
  }
  CheckGraph(mapping->data, mapping->size, row_limit, path);
  auto fresh = std::make_unique<Impl>(impl_->options);
  fresh->mapping = mapping;
  auto result = fresh->index.view(unum::usearch::memory_mapped_file_t(
      reinterpret_cast<unum::usearch::byte_t*>(mapping->data), mapping->size));
  if (!result) {
    const std::string why = result.error.what();
    result.error.release();
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY", "Could not map the graph " + path + ": " + why);
  }
  row_limit_ = row_limit;
  path_ = path;
  Adopt(std::move(fresh));
#endif
}

}  // namespace fr

#include "item_cache.h"

#include <algorithm>
#include <cstring>

#include "error.h"
#include "parallel.h"

namespace fr {

namespace {

constexpr uint32_t kNever = ~uint32_t(0);
// Rows computed per item-layer call: enough to amortise a pass over the
// item weights (1280 x 128 floats for the bench shop), small enough for L2.
constexpr size_t kBlock = 128;

float* Scratch(std::vector<float>& buffer, size_t floats) {
  if (buffer.size() < floats) buffer.resize(floats);
  return buffer.data();
}

}  // namespace

ItemCache::ItemCache(const Mlp& model, const std::vector<uint8_t>& item_input, std::vector<CachedVectorInput> inputs)
    : split_(model.SplitFirstLayer(item_input)), inputs_(std::move(inputs)) {
  item_size_ = split_.item->input_size();
  rest_size_ = split_.rest ? split_.rest->input_size() : 0;
  width_ = split_.item->output_size();
  ld_ = RoundUp(width_, kAlign / sizeof(float));
}

uint32_t ItemCache::RowVersion(const Catalog& catalog, uint32_t row) const {
  uint32_t v = 0;
  for (const CachedVectorInput& in : inputs_) v += catalog.vectors()[in.vector].row_version[row];
  return v == kNever ? 0 : v;
}

bool ItemCache::Current(const Catalog& catalog) const {
  if (!built_) return false;
  for (size_t i = 0; i < inputs_.size(); ++i)
    if (seen_[i] != catalog.vectors()[inputs_[i].vector].writes()) return false;
  return true;
}

void ItemCache::ComputeRows(const KernelTable& kernels, const Catalog& catalog, const uint32_t* rows, size_t n,
                            float* out, size_t ld, bool by_row) const {
  thread_local std::vector<float> x_buffer, y_buffer;
  std::vector<StoreView> views(inputs_.size());
  for (size_t i = 0; i < inputs_.size(); ++i) views[i] = catalog.vectors()[inputs_[i].vector].store->View();
  for (size_t begin = 0; begin < n; begin += kBlock) {
    const size_t count = std::min(kBlock, n - begin);
    float* x = Scratch(x_buffer, count * item_size_);
    for (size_t j = 0; j < count; ++j) {
      const uint32_t row = rows[begin + j];
      for (size_t i = 0; i < inputs_.size(); ++i) {
        float* dst = x + j * item_size_ + inputs_[i].offset;
        // A missing vector contributes zeros, as in the uncached features.
        if (catalog.vectors()[inputs_[i].vector].present[row]) DecodeRow(kernels, views[i], row, dst);
        else std::fill(dst, dst + views[i].dim, 0.0f);
      }
    }
    float* y = Scratch(y_buffer, count * width_);
    split_.item->Forward(kernels, x, item_size_, count, y);
    for (size_t j = 0; j < count; ++j) {
      float* dst = out + (by_row ? size_t(rows[begin + j]) : begin + j) * ld;
      std::memcpy(dst, y + j * width_, width_ * sizeof(float));
    }
  }
}

void ItemCache::CatchUp(const KernelTable& kernels, const Catalog& catalog, unsigned threads) {
  const size_t rows = catalog.rows();
  if (rows > capacity_) {
    const size_t capacity = std::max(rows, capacity_ + capacity_ / 2);
    AlignedPtr<float> table = AllocateAligned<float>(capacity * ld_);
    if (capacity_ > 0) std::memcpy(table.get(), table_.get(), capacity_ * ld_ * sizeof(float));
    table_ = std::move(table);
    capacity_ = capacity;
  }
  if (version_.size() < rows) version_.resize(rows, kNever);

  // Rows to (re)compute: after a build, those the change logs name; a full
  // scan on the first build or when a log was trimmed past this cache.
  bool scan = !built_;
  for (size_t i = 0; i < inputs_.size() && !scan; ++i)
    scan = seen_[i] < catalog.vectors()[inputs_[i].vector].changes_base;
  std::vector<uint32_t> stale;
  if (scan) {
    for (uint32_t row = 0; row < rows; ++row)
      if (version_[row] != RowVersion(catalog, row)) stale.push_back(row);
  } else {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      const VectorColumn& column = catalog.vectors()[inputs_[i].vector];
      for (size_t c = seen_[i] - column.changes_base; c < column.changes.size(); ++c)
        stale.push_back(column.changes[c]);
    }
    std::sort(stale.begin(), stale.end());
    stale.erase(std::unique(stale.begin(), stale.end()), stale.end());
    stale.erase(std::remove_if(stale.begin(), stale.end(),
                               [&](uint32_t row) { return row >= rows || version_[row] == RowVersion(catalog, row); }),
                stale.end());
  }

  // Written in place: a stale row's version already differs from its
  // column's, so whatever its floats hold is never read until its version is
  // set, after they are written. A failure part-way leaves the rest stale
  // (recomputed per request, and here again next time).
  const unsigned parts = stale.size() >= 4 * kBlock ? std::max(1u, threads) : 1u;
  ParallelRanges(stale.size(), parts, [&](size_t, size_t begin, size_t end) {
    for (size_t at = begin; at < end; at += kBlock) {
      const size_t count = std::min(kBlock, end - at);
      ComputeRows(kernels, catalog, stale.data() + at, count, table_.get(), ld_, true);
      for (size_t j = at; j < at + count; ++j) version_[stale[j]] = RowVersion(catalog, stale[j]);
    }
  });
  seen_.resize(inputs_.size());
  for (size_t i = 0; i < inputs_.size(); ++i) seen_[i] = catalog.vectors()[inputs_[i].vector].writes();
  built_ = true;
}

void ItemCache::Forward(const KernelTable& kernels, const Catalog& catalog, const uint32_t* rows, size_t n,
                        const float* rest, float* out) const {
  thread_local std::vector<float> z_buffer;
  float* z = Scratch(z_buffer, n * width_);
  // The cached rows are scattered: request them all before the per-request
  // part of the layer, which then runs while they arrive.
  const float* table = table_.get();
  for (size_t i = 0; i < n; ++i) {
    if (rows[i] >= version_.size()) continue;
    const char* p = reinterpret_cast<const char*>(table + size_t(rows[i]) * ld_);
    for (size_t b = 0; b < width_ * sizeof(float); b += kAlign) __builtin_prefetch(p + b);
    __builtin_prefetch(version_.data() + rows[i]);
    for (const CachedVectorInput& in : inputs_) __builtin_prefetch(catalog.vectors()[in.vector].row_version.data() + rows[i]);
  }
  if (split_.rest) split_.rest->Forward(kernels, rest, rest_size_, n, z);
  else
    for (size_t i = 0; i < n; ++i) std::copy(split_.bias.begin(), split_.bias.end(), z + i * width_);

  std::vector<uint32_t> stale;  // positions whose cached row is missing or out of date
  for (size_t i = 0; i < n; ++i) {
    const uint32_t row = rows[i];
    if (row >= version_.size() || version_[row] != RowVersion(catalog, row)) {
      stale.push_back(static_cast<uint32_t>(i));
      continue;
    }
    const float* p = table + size_t(row) * ld_;
    float* zi = z + i * width_;
    for (size_t c = 0; c < width_; ++c) zi[c] += p[c];
  }
  if (!stale.empty()) {
    recomputed_.fetch_add(stale.size(), std::memory_order_relaxed);
    std::vector<uint32_t> stale_rows(stale.size());
    for (size_t j = 0; j < stale.size(); ++j) stale_rows[j] = rows[stale[j]];
    AlignedPtr<float> fresh = AllocateAligned<float>(stale.size() * ld_);
    ComputeRows(kernels, catalog, stale_rows.data(), stale_rows.size(), fresh.get(), ld_, false);
    for (size_t j = 0; j < stale.size(); ++j) {
      const float* p = fresh.get() + j * ld_;
      float* zi = z + size_t(stale[j]) * width_;
      for (size_t c = 0; c < width_; ++c) zi[c] += p[c];
    }
  }
  for (size_t i = 0; i < n; ++i) kernels.activate_f32(z + i * width_, width_, split_.activation, split_.alpha, split_.beta);
  split_.tail->Forward(kernels, z, width_, n, out);
}

}  // namespace fr

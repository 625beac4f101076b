#include "vector_store.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"

namespace fr {

const char* DtypeName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF16: return "f16";
    case Dtype::kI8: return "i8";
    default: return "f32";
  }
}

bool ParseDtype(const std::string& name, Dtype* out) {
  if (name == "f32") { *out = Dtype::kF32; return true; }
  if (name == "f16") { *out = Dtype::kF16; return true; }
  if (name == "i8") { *out = Dtype::kI8; return true; }
  return false;
}

VectorStore::VectorStore(size_t dim, Dtype dtype) : dim_(dim), dtype_(dtype) {
  if (dim == 0 || dim > kMaxDim)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_DIM",
                "Expected dim to be an integer in [1, " + std::to_string(kMaxDim) + "]");
  // Pad each row to a whole number of 64-byte lines; pdim counts elements.
  pdim_ = RoundUp(dim, kAlign / ElementBytes(dtype));
  block_ = std::make_shared<Block>();
}

size_t VectorStore::row_bytes() const { return pdim_ * ElementBytes(dtype_); }

size_t VectorStore::memory_bytes() const {
  return block_->capacity * (row_bytes() + (dtype_ == Dtype::kI8 ? sizeof(float) : 0));
}

void VectorStore::Reserve(size_t rows) {
  if (rows <= block_->capacity) return;
  if (rows > kMaxRows)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_TOO_MANY_ROWS",
                "A VectorStore holds at most 4294967295 rows");
  size_t capacity = std::max<size_t>({rows, block_->capacity + block_->capacity / 2, 64});
  capacity = std::min(capacity, kMaxRows);
  auto next = std::make_shared<Block>();
  try {
    next->data = AllocateAligned<uint8_t>(capacity * row_bytes());
    if (dtype_ == Dtype::kI8) next->scales = AllocateAligned<float>(capacity);
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
                "Could not allocate " + std::to_string(capacity * row_bytes()) +
                    " bytes for the VectorStore");
  }
  next->capacity = capacity;
  if (size_ > 0) {
    std::memcpy(next->data.get(), block_->data.get(), size_ * row_bytes());
    if (dtype_ == Dtype::kI8)
      std::memcpy(next->scales.get(), block_->scales.get(), size_ * sizeof(float));
  }
  block_ = std::move(next);  // readers holding the old block keep it alive
}

size_t FirstNonFinite(const float* v, size_t n) {
  // A value is not finite when its exponent bits are all ones.
  constexpr uint32_t kExponent = 0x7f800000u;
  constexpr size_t kBlock = 256;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t end = std::min(n, start + kBlock);
    uint32_t bad = 0;
    for (size_t i = start; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, v + i, sizeof(bits));
      bad |= static_cast<uint32_t>((bits & kExponent) == kExponent);
    }
    if (bad)
      for (size_t i = start; i < end; ++i)
        if (!std::isfinite(v[i])) return i;
  }
  return n;
}

static void CheckFinite(const float* v, size_t count) {
  const size_t i = FirstNonFinite(v, count);
  if (i < count)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
                  "Vectors must be finite: element " + std::to_string(i) + " is " +
                      (std::isnan(v[i]) ? "NaN" : "Infinity"));
}

void VectorStore::Encode(const float* v, size_t row) {
  double sum = 0;
  for (size_t j = 0; j < dim_; ++j) sum += static_cast<double>(v[j]) * v[j];
  const double norm = std::sqrt(sum);
  const double inv = norm > 0 ? 1.0 / norm : 0.0;
  zero_[row] = norm > 0 ? 0 : 1;
  uint8_t* dst = block_->data.get() + row * row_bytes();
  std::memset(dst, 0, row_bytes());
  switch (dtype_) {
    case Dtype::kF32: {
      float* out = reinterpret_cast<float*>(dst);
      for (size_t j = 0; j < dim_; ++j) out[j] = static_cast<float>(v[j] * inv);
      break;
    }
    case Dtype::kF16: {
      uint16_t* out = reinterpret_cast<uint16_t*>(dst);
      for (size_t j = 0; j < dim_; ++j) out[j] = FloatToHalf(static_cast<float>(v[j] * inv));
      break;
    }
    case Dtype::kI8: {
      // Symmetric per-row scale: the largest |component| maps to 127.
      double max_abs = 0;
      for (size_t j = 0; j < dim_; ++j) max_abs = std::max(max_abs, std::fabs(v[j] * inv));
      const double scale = max_abs > 0 ? max_abs / 127.0 : 0.0;
      int8_t* out = reinterpret_cast<int8_t*>(dst);
      for (size_t j = 0; j < dim_; ++j) {
        const double q = scale > 0 ? std::nearbyint(v[j] * inv / scale) : 0.0;
        out[j] = static_cast<int8_t>(std::clamp(q, -127.0, 127.0));
      }
      block_->scales[row] = static_cast<float>(scale);
      break;
    }
  }
}

size_t VectorStore::Add(const float* vectors, size_t n) {
  CheckFinite(vectors, n * dim_);
  const size_t first = size_;
  Reserve(size_ + n);
  zero_.resize(size_ + n);
  for (size_t i = 0; i < n; ++i) Encode(vectors + i * dim_, first + i);
  size_ += n;
  return first;
}

void VectorStore::Set(size_t first, const float* vectors, size_t n) {
  if (first > size_ || n > size_ - first)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
                "Rows " + std::to_string(first) + ".." + std::to_string(first + n) +
                    " are out of range for a store of " + std::to_string(size_) + " rows");
  CheckFinite(vectors, n * dim_);
  for (size_t i = 0; i < n; ++i) Encode(vectors + i * dim_, first + i);
}

void VectorStore::Get(size_t row, float* out) const {
  if (row >= size_)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
                "Row " + std::to_string(row) + " is out of range for a store of " +
                    std::to_string(size_) + " rows");
  const uint8_t* src = block_->data.get() + row * row_bytes();
  switch (dtype_) {
    case Dtype::kF32:
      std::memcpy(out, src, dim_ * sizeof(float));
      break;
    case Dtype::kF16:
      for (size_t j = 0; j < dim_; ++j) out[j] = HalfToFloat(reinterpret_cast<const uint16_t*>(src)[j]);
      break;
    case Dtype::kI8: {
      const float scale = block_->scales[row];
      for (size_t j = 0; j < dim_; ++j) out[j] = scale * reinterpret_cast<const int8_t*>(src)[j];
      break;
    }
  }
}

void VectorStore::Grow(size_t rows) {
  if (rows <= size_) return;
  Reserve(rows);
  // Rows past size_ were never written, so the block already holds zeros.
  zero_.resize(rows, 1);
  size_ = rows;
}

void VectorStore::AddRaw(const uint8_t* rows, const float* scales, size_t n) {
  const size_t first = size_;
  Reserve(size_ + n);
  zero_.resize(size_ + n);
  std::memcpy(block_->data.get() + first * row_bytes(), rows, n * row_bytes());
  if (dtype_ == Dtype::kI8) std::memcpy(block_->scales.get() + first, scales, n * sizeof(float));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* row = rows + i * row_bytes();
    bool zero = true;
    for (size_t j = 0; j < row_bytes() && zero; ++j) zero = row[j] == 0;
    zero_[first + i] = zero ? 1 : 0;
  }
  size_ += n;
}

bool VectorStore::IsZero(size_t row) const { return row < size_ && zero_[row]; }

StoreView VectorStore::View() const { return StoreView{block_, size_, dim_, pdim_, dtype_}; }

AlignedPtr<float> PrepareQuery(const KernelTable& kernels, const float* query, size_t dim,
                               size_t pdim) {
  CheckFinite(query, dim);
  AlignedPtr<float> out = AllocateAligned<float>(pdim);
  std::memcpy(out.get(), query, dim * sizeof(float));
  // The query's squared norm is its dot product with itself: one SIMD call.
  float norm2 = 0;
  kernels.score_f32(out.get(), out.get(), pdim, nullptr, 1, pdim, &norm2);
  if (!(norm2 > 0) || !std::isfinite(norm2)) {
    // Zero, or so large/small that float overflowed: redo it in double.
    double sum = 0;
    for (size_t j = 0; j < dim; ++j) sum += static_cast<double>(query[j]) * query[j];
    const double inv = sum > 0 ? 1.0 / std::sqrt(sum) : 0.0;
    for (size_t j = 0; j < dim; ++j) out[j] = static_cast<float>(query[j] * inv);
    return out;
  }
  const float inv = 1.0f / std::sqrt(norm2);
  for (size_t j = 0; j < dim; ++j) out[j] *= inv;
  return out;
}

void DecodeRow(const KernelTable& k, const StoreView& view, uint32_t row, float* out) {
  const uint8_t* src = view.block->data.get() + size_t(row) * RowBytes(view);
  switch (view.dtype) {
    case Dtype::kF32:
      std::memcpy(out, src, view.dim * sizeof(float));
      break;
    case Dtype::kF16:
      k.decode_f16(reinterpret_cast<const uint16_t*>(src), view.dim, out);
      break;
    case Dtype::kI8: {
      const float scale = view.block->scales[row];
      for (size_t j = 0; j < view.dim; ++j) out[j] = scale * reinterpret_cast<const int8_t*>(src)[j];
      break;
    }
  }
}

static void ScoreFrom(const KernelTable& k, const StoreView& view, const uint8_t* data,
                      const float* scales, const float* q, const uint32_t* rows, size_t n,
                      float* out) {
  switch (view.dtype) {
    case Dtype::kF32:
      k.score_f32(q, reinterpret_cast<const float*>(data), view.pdim, rows, n, view.pdim, out);
      break;
    case Dtype::kF16:
      k.score_f16(q, reinterpret_cast<const uint16_t*>(data), view.pdim, rows, n, view.pdim, out);
      break;
    case Dtype::kI8:
      k.score_i8(q, reinterpret_cast<const int8_t*>(data), view.pdim, scales, rows, n, view.pdim,
                 out);
      break;
  }
}

void Score(const KernelTable& k, const StoreView& view, const float* q, const uint32_t* rows,
           size_t n, float* out) {
  ScoreFrom(k, view, view.block->data.get(), view.block->scales.get(), q, rows, n, out);
}

void ScoreRange(const KernelTable& k, const StoreView& view, const float* q, size_t first,
                size_t n, float* out) {
  const size_t row_bytes = RowBytes(view);
  const float* scales = view.dtype == Dtype::kI8 ? view.block->scales.get() + first : nullptr;
  ScoreFrom(k, view, view.block->data.get() + first * row_bytes, scales, q, nullptr, n, out);
}

}  // namespace fr

// A column of N x D vectors in native memory, stored L2-normalised so that
// cosine similarity is a dot product. Rows are padded to 64 bytes with zeros.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "aligned.h"
#include "kernels/kernels.h"

namespace fr {

enum class Dtype { kF32, kF16, kI8 };
const char* DtypeName(Dtype dtype);
bool ParseDtype(const std::string& name, Dtype* out);

constexpr size_t kMaxDim = 65536;
constexpr size_t kMaxRows = 0xFFFFFFFFu;  // row ids are uint32

// One allocation of rows. It never moves: growing the store allocates a new
// block and copies, so an async scan holding the old block stays valid.
struct Block {
  AlignedPtr<uint8_t> data;
  AlignedPtr<float> scales;  // i8 only
  size_t capacity = 0;
};

// An immutable view of the first `rows` rows, safe to use off the main thread
// for as long as `block` is held.
struct StoreView {
  std::shared_ptr<const Block> block;
  size_t rows = 0;
  size_t dim = 0;
  size_t pdim = 0;
  Dtype dtype = Dtype::kF32;
};

inline size_t ElementBytes(Dtype dtype) { return dtype == Dtype::kF32 ? 4 : dtype == Dtype::kF16 ? 2 : 1; }

// Bytes of one stored row of a view (pdim elements).
inline size_t RowBytes(const StoreView& view) { return view.pdim * ElementBytes(view.dtype); }

class VectorStore {
 public:
  VectorStore(size_t dim, Dtype dtype);

  size_t dim() const { return dim_; }
  size_t pdim() const { return pdim_; }
  Dtype dtype() const { return dtype_; }
  size_t size() const { return size_; }
  size_t row_bytes() const;
  size_t memory_bytes() const;

  // Appends n rows (n * dim floats). Returns the first new row id. Zero
  // vectors are stored as zeros (their cosine with anything is 0).
  size_t Add(const float* vectors, size_t n);
  // Overwrites rows [first, first + n).
  void Set(size_t first, const float* vectors, size_t n);
  // Writes the stored (normalised, dequantised) row into out[0..dim).
  void Get(size_t row, float* out) const;
  // Rows with a zero vector (added as all zeros).
  bool IsZero(size_t row) const;
  // Extends the store to `rows` rows; the new rows are zero vectors.
  void Grow(size_t rows);
  // Appends n rows already in the stored layout (row_bytes() each, and one
  // scale per row for i8), as read back from a saved catalog.
  void AddRaw(const uint8_t* rows, const float* scales, size_t n);

  StoreView View() const;

 private:
  void Reserve(size_t rows);
  void Encode(const float* vector, size_t row);

  size_t dim_, pdim_;
  Dtype dtype_;
  size_t size_ = 0;
  std::shared_ptr<Block> block_;
  std::vector<uint8_t> zero_;  // 1 where the added vector had norm 0
};

// Index of the first NaN or infinity in v[0..n), or n when every value is
// finite. Branch-free over blocks, so a clean vector costs a few ns per 100.
size_t FirstNonFinite(const float* v, size_t n);

// Normalises `query` (dim floats) into a zero-padded, aligned buffer of pdim.
// A zero query stays zero, so every score against it is 0.
AlignedPtr<float> PrepareQuery(const KernelTable& kernels, const float* query, size_t dim,
                               size_t pdim);

// Writes row `row` (< view.rows) as stored, normalised and dequantised, into
// out[0..dim), converting with the SIMD kernels of `k`. Leaves out[dim..) as is.
void DecodeRow(const KernelTable& k, const StoreView& view, uint32_t row, float* out);

// out[i] = cosine(query, row(rows ? rows[i] : i)) for i in [0, n).
void Score(const KernelTable& k, const StoreView& view, const float* padded_query,
           const uint32_t* rows, size_t n, float* out);
// out[i] = cosine(query, row(first + i)) for i in [0, n): contiguous, no gather.
void ScoreRange(const KernelTable& k, const StoreView& view, const float* padded_query,
                size_t first, size_t n, float* out);

}  // namespace fr

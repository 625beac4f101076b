// The catalog's native columns: one VectorStore per named vector with a
// presence bit per row, typed field columns, and the row liveness bitmap.
// Ids, dictionaries and row allocation live in TypeScript; the core sees rows.
#pragma once
#include <cmath>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "hnsw.h"
#include "vector_store.h"

namespace fr {

enum class FieldKind { kNumber, kTime, kBool, kCategory, kTags };
bool ParseFieldKind(const std::string& name, FieldKind* out);

struct VectorColumn {
  std::string name;
  std::unique_ptr<VectorStore> store;
  std::vector<uint8_t> present;  // 1 when the row has this vector
  std::unique_ptr<HnswIndex> index;
  std::vector<uint32_t> dirty;   // rows whose vector changed since the last index catch-up
  uint64_t version = 0;          // bumped by every write to this column
  uint64_t indexed_version = ~uint64_t(0);
  // Per row, bumped by every write of (or removal of) its vector: what a
  // derived per-row cache (the rerank item cache) compares to find stale rows.
  std::vector<uint32_t> row_version;
  // Rows written, in order; entry i is write number changes_base + i. Trimmed
  // from the front when it grows past a fraction of the rows: a reader that
  // fell behind the trim rescans row_version instead.
  std::vector<uint32_t> changes;
  uint64_t changes_base = 0;
  uint64_t writes() const { return changes_base + changes.size(); }
  void RecordWrite(uint32_t row);
  // Every row rewritten at once (a column loaded from disk).
  void RecordRewrite();
};

struct FieldColumn {
  std::string name;
  FieldKind kind;
  std::vector<double> numbers;  // number / time; NaN when missing
  std::vector<int32_t> codes;   // category code or bool 0/1; -1 when missing
  std::vector<std::vector<uint32_t>> tags;  // tags: sorted codes per row
  bool HasValue(uint32_t row) const {
    switch (kind) {
      case FieldKind::kNumber:
      case FieldKind::kTime: return !std::isnan(numbers[row]);
      case FieldKind::kTags: return !tags[row].empty();
      default: return codes[row] >= 0;
    }
  }
};

class Catalog {
 public:
  Catalog() = default;
  int AddVector(const std::string& name, size_t dim, Dtype dtype);
  int AddField(const std::string& name, FieldKind kind);

  size_t rows() const { return rows_; }
  bool alive(uint32_t row) const { return row < rows_ && alive_[row]; }
  uint64_t epoch() const { return epoch_; }

  // Every mutation must hold the writer lock; every read the reader lock.
  std::shared_mutex& mutex() const { return mutex_; }

  // Marks rows alive, growing every column to cover them.
  void Activate(const uint32_t* rows, size_t n);
  void Remove(const uint32_t* rows, size_t n);
  // vectors: n * dim floats; present[i] == 0 leaves row i without this vector.
  void SetVectors(int v, const uint32_t* rows, size_t n, const float* vectors, const uint8_t* present);
  void SetNumbers(int f, const uint32_t* rows, size_t n, const double* values);
  void SetCodes(int f, const uint32_t* rows, size_t n, const int32_t* codes);
  // Row i has codes[offsets[i] .. offsets[i + 1]).
  void SetTags(int f, const uint32_t* rows, size_t n, const uint32_t* offsets, const uint32_t* codes);

  // Brings the HNSW index of vector v up to date with the rows (creating it
  // on first use). Writer lock held by the caller.
  void CatchUpIndex(const KernelTable& kernels, int v, unsigned threads);
  bool IndexCurrent(int v) const;

  const std::vector<VectorColumn>& vectors() const { return vectors_; }
  std::vector<VectorColumn>& vectors() { return vectors_; }
  const std::vector<FieldColumn>& fields() const { return fields_; }
  std::vector<FieldColumn>& fields() { return fields_; }
  const std::vector<uint8_t>& alive_bits() const { return alive_; }
  // ---- loading a saved catalog (columns read back from files)
  // Each Import* checks what it is given against the row count and the
  // column's invariants before changing anything, and throws
  // ERR_FUSIONRANK_CORRUPT naming the column and the first bad row: the
  // bytes come from files and are not trusted. Call ImportAlive first, on an
  // empty catalog (it fixes the row count the columns are checked against),
  // then ImportVector for every vector: until then the stores hold no rows.
  //
  // alive: one byte per row, 0 or 1.
  void ImportAlive(const uint8_t* alive, size_t rows);
  // One row_bytes() record per row (and one scale per row for i8), plus one
  // presence byte per row. Every row is either all zeros (never written) or
  // unit length within a tolerance (what VectorStore stores), with zero
  // padding; dead rows have no vector.
  void ImportVector(const KernelTable& kernels, int v, const uint8_t* data, size_t bytes,
                    const uint8_t* present, size_t rows, const float* scales, size_t scale_count);
  // Fields hold no value on dead rows (Remove clears them).
  // number / time: one double per row, finite or NaN (missing).
  void ImportNumbers(int f, const double* values, size_t count);
  // category / bool: one code per row, -1 (missing) or below
  // `dictionary_size` (2 for bool; a negative size skips that bound).
  void ImportCodes(int f, const int32_t* codes, size_t count, int64_t dictionary_size);
  // tags: rows + 1 offsets (from 0, non-decreasing, the last one the code
  // count) then the codes; each row's codes strictly increasing (the
  // filters binary-search them) and below `dictionary_size` (negative:
  // unchecked).
  void ImportTags(int f, const uint32_t* flat, size_t count, int64_t dictionary_size);
  // Installs a loaded graph for vector v (its keys were checked against the
  // rows). A graph that lacks a row that has a vector (saved before its last
  // catch-up, or a key rewritten) is left stale, so the next rank catches it up.
  void AdoptIndex(int v, std::unique_ptr<HnswIndex> index);

  int VectorIndex(const std::string& name) const;
  int FieldIndex(const std::string& name) const;

 private:
  void GrowTo(size_t rows);
  void CheckVector(int v) const;
  void CheckField(int f, FieldKind a, FieldKind b) const;

  mutable std::shared_mutex mutex_;
  size_t rows_ = 0;
  uint64_t epoch_ = 0;
  std::vector<uint8_t> alive_;
  std::vector<VectorColumn> vectors_;
  std::vector<FieldColumn> fields_;
};

}  // namespace fr

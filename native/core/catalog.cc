#include "catalog.h"

#include <algorithm>
#include <limits>

#include "error.h"

namespace fr {

bool ParseFieldKind(const std::string& name, FieldKind* out) {
  if (name == "number") *out = FieldKind::kNumber;
  else if (name == "time") *out = FieldKind::kTime;
  else if (name == "bool") *out = FieldKind::kBool;
  else if (name == "category") *out = FieldKind::kCategory;
  else if (name == "tags") *out = FieldKind::kTags;
  else return false;
  return true;
}

void VectorColumn::RecordWrite(uint32_t row) {
  ++row_version[row];
  if (changes.size() >= std::max<size_t>(4096, row_version.size() / 8)) {
    changes_base += changes.size();
    changes.clear();
  }
  changes.push_back(row);
}

void VectorColumn::RecordRewrite() {
  for (uint32_t& v : row_version) ++v;
  changes_base += changes.size() + 1;  // past any reader's position: a full rescan
  changes.clear();
}

int Catalog::AddVector(const std::string& name, size_t dim, Dtype dtype) {
  if (VectorIndex(name) >= 0 || FieldIndex(name) >= 0)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_DUPLICATE_NAME", "Duplicate name '" + name + "'");
  VectorColumn column;
  column.name = name;
  column.store = std::make_unique<VectorStore>(dim, dtype);
  column.store->Grow(rows_);
  column.present.assign(rows_, 0);
  column.row_version.assign(rows_, 0);
  vectors_.push_back(std::move(column));
  return static_cast<int>(vectors_.size() - 1);
}

int Catalog::AddField(const std::string& name, FieldKind kind) {
  if (VectorIndex(name) >= 0 || FieldIndex(name) >= 0)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_DUPLICATE_NAME", "Duplicate name '" + name + "'");
  FieldColumn column;
  column.name = name;
  column.kind = kind;
  fields_.push_back(std::move(column));
  GrowTo(rows_);
  return static_cast<int>(fields_.size() - 1);
}

int Catalog::VectorIndex(const std::string& name) const {
  for (size_t i = 0; i < vectors_.size(); ++i)
    if (vectors_[i].name == name) return static_cast<int>(i);
  return -1;
}

int Catalog::FieldIndex(const std::string& name) const {
  for (size_t i = 0; i < fields_.size(); ++i)
    if (fields_[i].name == name) return static_cast<int>(i);
  return -1;
}

void Catalog::GrowTo(size_t rows) {
  if (rows > kMaxRows)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_TOO_MANY_ROWS", "A catalog holds at most 4294967295 rows");
  for (auto& v : vectors_) {
    v.store->Grow(rows);
    v.present.resize(rows, 0);
    v.row_version.resize(rows, 0);
  }
  for (auto& f : fields_) {
    switch (f.kind) {
      case FieldKind::kNumber:
      case FieldKind::kTime: f.numbers.resize(rows, std::numeric_limits<double>::quiet_NaN()); break;
      case FieldKind::kTags: f.tags.resize(rows); break;
      default: f.codes.resize(rows, -1); break;
    }
  }
  alive_.resize(rows, 0);
  rows_ = std::max(rows_, rows);
}

void Catalog::Activate(const uint32_t* rows, size_t n) {
  uint32_t max_row = 0;
  for (size_t i = 0; i < n; ++i) max_row = std::max(max_row, rows[i]);
  if (n > 0 && size_t(max_row) + 1 > rows_) GrowTo(size_t(max_row) + 1);
  for (size_t i = 0; i < n; ++i) alive_[rows[i]] = 1;
  ++epoch_;
}

void Catalog::Remove(const uint32_t* rows, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t row = rows[i];
    if (row >= rows_) continue;
    alive_[row] = 0;
    for (auto& v : vectors_) {
      v.present[row] = 0;
      v.RecordWrite(row);
    }
    for (auto& f : fields_) {
      switch (f.kind) {
        case FieldKind::kNumber:
        case FieldKind::kTime: f.numbers[row] = std::numeric_limits<double>::quiet_NaN(); break;
        case FieldKind::kTags: f.tags[row].clear(); break;
        default: f.codes[row] = -1; break;
      }
    }
  }
  ++epoch_;
}

void Catalog::SetAlive(const uint8_t* alive, size_t rows) {
  GrowTo(rows);
  std::copy(alive, alive + rows, alive_.begin());
  ++epoch_;
}

void Catalog::CheckVector(int v) const {
  if (v < 0 || size_t(v) >= vectors_.size())
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_VECTOR", "Unknown vector index " + std::to_string(v));
}

void Catalog::CheckField(int f, FieldKind a, FieldKind b) const {
  if (f < 0 || size_t(f) >= fields_.size() || (fields_[f].kind != a && fields_[f].kind != b))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_FIELD", "Unknown field index " + std::to_string(f) + " for this kind");
}

static void CheckRows(const uint32_t* rows, size_t n, size_t limit) {
  for (size_t i = 0; i < n; ++i)
    if (rows[i] >= limit)
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
                  "Row " + std::to_string(rows[i]) + " is not active in this catalog");
}

void Catalog::SetVectors(int v, const uint32_t* rows, size_t n, const float* vectors, const uint8_t* present) {
  CheckVector(v);
  CheckRows(rows, n, rows_);
  VectorColumn& column = vectors_[v];
  const size_t dim = column.store->dim();
  // Validate before writing, so a bad batch changes nothing.
  for (size_t i = 0; i < n; ++i)
    if (present[i])
      for (size_t j = 0; j < dim; ++j)
        if (!std::isfinite(vectors[i * dim + j]))
          throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
                      "Vector '" + column.name + "' of item " + std::to_string(i) + " has a non-finite element");
  for (size_t i = 0; i < n; ++i) {
    column.present[rows[i]] = present[i] ? 1 : 0;
    column.RecordWrite(rows[i]);
    if (!present[i]) continue;
    column.store->Set(rows[i], vectors + i * dim, 1);
    if (column.index) column.dirty.push_back(rows[i]);
  }
  ++column.version;
  ++epoch_;
}

void Catalog::SetNumbers(int f, const uint32_t* rows, size_t n, const double* values) {
  CheckField(f, FieldKind::kNumber, FieldKind::kTime);
  CheckRows(rows, n, rows_);
  for (size_t i = 0; i < n; ++i) fields_[f].numbers[rows[i]] = values[i];
  ++epoch_;
}

void Catalog::SetCodes(int f, const uint32_t* rows, size_t n, const int32_t* codes) {
  CheckField(f, FieldKind::kCategory, FieldKind::kBool);
  CheckRows(rows, n, rows_);
  for (size_t i = 0; i < n; ++i) fields_[f].codes[rows[i]] = codes[i] < 0 ? -1 : codes[i];
  ++epoch_;
}

void Catalog::SetTags(int f, const uint32_t* rows, size_t n, const uint32_t* offsets, const uint32_t* codes) {
  CheckField(f, FieldKind::kTags, FieldKind::kTags);
  CheckRows(rows, n, rows_);
  for (size_t i = 0; i < n; ++i) {
    if (offsets[i + 1] < offsets[i])
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Tag offsets must not decrease");
  }
  for (size_t i = 0; i < n; ++i) {
    auto& tags = fields_[f].tags[rows[i]];
    tags.assign(codes + offsets[i], codes + offsets[i + 1]);
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  }
  ++epoch_;
}

bool Catalog::IndexCurrent(int v) const {
  const VectorColumn& column = vectors_[v];
  return column.index && column.indexed_version == column.version;
}

void Catalog::CatchUpIndex(const KernelTable& kernels, int v, unsigned threads) {
  CheckVector(v);
  VectorColumn& column = vectors_[v];
  if (!column.index) column.index = std::make_unique<HnswIndex>();
  std::vector<uint32_t> rows;
  for (size_t row = 0; row < rows_; ++row)
    if (column.present[row] && !column.index->Contains(static_cast<uint32_t>(row)))
      rows.push_back(static_cast<uint32_t>(row));
  std::sort(column.dirty.begin(), column.dirty.end());
  column.dirty.erase(std::unique(column.dirty.begin(), column.dirty.end()), column.dirty.end());
  for (uint32_t row : column.dirty)
    if (column.present[row] && column.index->Contains(row)) rows.push_back(row);
  column.dirty.clear();
  column.index->Upsert(kernels, column.store->View(), rows.data(), rows.size(), threads);
  column.indexed_version = column.version;
}

}  // namespace fr

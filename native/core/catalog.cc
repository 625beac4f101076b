#include "catalog.h"

#include <algorithm>
#include <cstring>
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

// ---- loading

namespace {

[[noreturn]] void CorruptColumn(const std::string& what, const std::string& why) {
  throw Error(ErrorKind::kError, "ERR_FUSIONRANK_CORRUPT", what + " " + why);
}

std::string RowText(size_t row) { return "row " + std::to_string(row); }

}  // namespace

void Catalog::ImportAlive(const uint8_t* alive, size_t rows) {
  if (rows_ != 0)
    throw Error(ErrorKind::kError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Liveness is imported into an empty catalog only");
  if (rows > kMaxRows) CorruptColumn("The liveness column", "has " + std::to_string(rows) + " rows, more than a catalog holds");
  for (size_t row = 0; row < rows; ++row)
    if (alive[row] > 1)
      CorruptColumn("The liveness column", "has " + std::to_string(alive[row]) + " at " + RowText(row) + " (expected 0 or 1)");
  // Everything grows to the row count except the vector stores: ImportVector
  // fills each from its file, whose length must match. Growing them here
  // would allocate rows x row bytes (up to 256 KB a row) on the word of the
  // liveness file alone.
  for (auto& v : vectors_) {
    v.present.assign(rows, 0);
    v.row_version.assign(rows, 0);
  }
  for (auto& f : fields_) {
    switch (f.kind) {
      case FieldKind::kNumber:
      case FieldKind::kTime: f.numbers.assign(rows, std::numeric_limits<double>::quiet_NaN()); break;
      case FieldKind::kTags: f.tags.assign(rows, {}); break;
      default: f.codes.assign(rows, -1); break;
    }
  }
  alive_.assign(alive, alive + rows);
  rows_ = rows;
  ++epoch_;
}

void Catalog::ImportVector(const KernelTable& kernels, int v, const uint8_t* data, size_t bytes,
                           const uint8_t* present, size_t rows, const float* scales, size_t scale_count) {
  CheckVector(v);
  VectorColumn& column = vectors_[v];
  const std::string what = "Vector column '" + column.name + "'";
  const size_t dim = column.store->dim(), row_bytes = column.store->row_bytes();
  const Dtype dtype = column.store->dtype();
  if (rows != rows_)
    CorruptColumn(what, "has " + std::to_string(rows) + " presence flags for " + std::to_string(rows_) + " rows");
  // rows <= kMaxRows and row_bytes <= 4 * kMaxDim (plus padding): no overflow.
  if (bytes != rows * row_bytes)
    CorruptColumn(what, "has " + std::to_string(bytes) + " bytes, expected " + std::to_string(rows * row_bytes) + " (" +
                            std::to_string(rows) + " rows of " + std::to_string(row_bytes) + ")");
  // (An empty typed array may have no data pointer at all.)
  if (dtype == Dtype::kI8 && (scale_count != rows || (rows > 0 && !scales)))
    CorruptColumn(what, "has " + std::to_string(scale_count) + " scales for " + std::to_string(rows) + " rows");
  // Every stored row is all zeros (never written) or a unit vector as
  // VectorStore encoded it, with zero padding: cosine is a dot product only
  // for unit rows, and a NaN or a huge element would poison every score and
  // the graph's navigation without an error.
  const size_t element = ElementBytes(dtype);
  std::vector<float> decoded(dim);
  std::vector<uint16_t> halves(dtype == Dtype::kF16 ? dim : 0);
  for (size_t row = 0; row < rows; ++row) {
    if (present[row] > 1)
      CorruptColumn(what, "has presence flag " + std::to_string(present[row]) + " at " + RowText(row) + " (expected 0 or 1)");
    if (present[row] && !alive_[row]) CorruptColumn(what, "has a vector at " + RowText(row) + ", which is not alive");
    const uint8_t* record = data + row * row_bytes;
    for (size_t b = dim * element; b < row_bytes; ++b)
      if (record[b] != 0) CorruptColumn(what, "has non-zero padding at " + RowText(row));
    // Generous against rounding (f32 normalisation, f16 halves: well under
    // 1e-3), tight against damage.
    double tolerance = 1e-2;
    switch (dtype) {
      case Dtype::kF32: std::memcpy(decoded.data(), record, dim * sizeof(float)); break;
      case Dtype::kF16: {
        std::memcpy(halves.data(), record, dim * sizeof(uint16_t));
        kernels.decode_f16(halves.data(), dim, decoded.data());
        break;
      }
      case Dtype::kI8: {
        const float scale = scales[row];
        if (!std::isfinite(scale) || scale < 0.0f)
          CorruptColumn(what, "has scale " + std::to_string(scale) + " at " + RowText(row));
        for (size_t j = 0; j < dim; ++j) decoded[j] = scale * static_cast<float>(static_cast<int8_t>(record[j]));
        // Rounding to the nearest step moves each element by at most half a
        // step: the norm by at most sqrt(dim) / 2 steps.
        tolerance += 0.5 * std::sqrt(static_cast<double>(dim)) * scale;
        break;
      }
    }
    double squares = 0.0;
    for (size_t j = 0; j < dim; ++j) squares += double(decoded[j]) * decoded[j];
    if (!std::isfinite(squares))
      CorruptColumn(what, "has a non-finite element at " + RowText(row));
    if (squares != 0.0 && std::fabs(std::sqrt(squares) - 1.0) > tolerance)
      CorruptColumn(what, "has a vector of length " + std::to_string(std::sqrt(squares)) + " at " + RowText(row) +
                              " (stored vectors are unit length)");
  }
  auto fresh = std::make_unique<VectorStore>(dim, dtype);
  // (An empty column may come with null pointers, which memcpy must not see.)
  if (rows > 0) fresh->AddRaw(data, scales, rows);
  column.store = std::move(fresh);
  column.present.assign(present, present + rows);
  column.row_version.resize(rows, 0);
  column.RecordRewrite();
  ++column.version;
  ++epoch_;
}

void Catalog::ImportNumbers(int f, const double* values, size_t count) {
  CheckField(f, FieldKind::kNumber, FieldKind::kTime);
  FieldColumn& c = fields_[f];
  const std::string what = "Field '" + c.name + "'";
  if (count != rows_) CorruptColumn(what, "has " + std::to_string(count) + " values for " + std::to_string(rows_) + " rows");
  // Stored values are finite or NaN (missing); dead rows hold none.
  for (size_t row = 0; row < count; ++row) {
    if (std::isinf(values[row])) CorruptColumn(what, "has an infinite value at " + RowText(row));
    if (!alive_[row] && !std::isnan(values[row])) CorruptColumn(what, "has a value at " + RowText(row) + ", which is not alive");
  }
  c.numbers.assign(values, values + count);
  ++epoch_;
}

void Catalog::ImportCodes(int f, const int32_t* codes, size_t count, int64_t dictionary_size) {
  CheckField(f, FieldKind::kCategory, FieldKind::kBool);
  FieldColumn& c = fields_[f];
  const std::string what = "Field '" + c.name + "'";
  if (c.kind == FieldKind::kBool) dictionary_size = 2;
  if (count != rows_) CorruptColumn(what, "has " + std::to_string(count) + " codes for " + std::to_string(rows_) + " rows");
  // A code past the dictionary would name no value (and size per-value
  // tables in the ranker's caps by a number from the file).
  for (size_t row = 0; row < count; ++row) {
    const int32_t code = codes[row];
    if (code < -1 || (dictionary_size >= 0 && code >= dictionary_size))
      CorruptColumn(what, "has code " + std::to_string(code) + " at " + RowText(row) +
                              (dictionary_size >= 0 ? " (its dictionary has " + std::to_string(dictionary_size) + " values)" : ""));
    if (!alive_[row] && code != -1) CorruptColumn(what, "has a value at " + RowText(row) + ", which is not alive");
  }
  c.codes.assign(codes, codes + count);
  ++epoch_;
}

void Catalog::ImportTags(int f, const uint32_t* flat, size_t count, int64_t dictionary_size) {
  CheckField(f, FieldKind::kTags, FieldKind::kTags);
  FieldColumn& c = fields_[f];
  const std::string what = "Field '" + c.name + "'";
  const size_t rows = rows_;
  if (count < rows + 1) CorruptColumn(what, "has " + std::to_string(count) + " entries, fewer than " + std::to_string(rows + 1) + " offsets");
  const uint32_t* offsets = flat;
  const uint32_t* codes = flat + rows + 1;
  const size_t total = count - rows - 1;
  if (offsets[0] != 0) CorruptColumn(what, "has first tag offset " + std::to_string(offsets[0]) + " (expected 0)");
  if (offsets[rows] != total)
    CorruptColumn(what, "has " + std::to_string(total) + " tag codes but its offsets end at " + std::to_string(offsets[rows]));
  for (size_t row = 0; row < rows; ++row) {
    if (offsets[row + 1] < offsets[row] || offsets[row + 1] > total)
      CorruptColumn(what, "has tag offsets out of order at " + RowText(row));
    if (!alive_[row] && offsets[row + 1] != offsets[row]) CorruptColumn(what, "has tags at " + RowText(row) + ", which is not alive");
    // Filters binary-search a row's tags: strictly increasing, as SetTags
    // stores them.
    for (uint32_t i = offsets[row]; i < offsets[row + 1]; ++i) {
      if (dictionary_size >= 0 && codes[i] >= uint64_t(dictionary_size))
        CorruptColumn(what, "has tag code " + std::to_string(codes[i]) + " at " + RowText(row) + " (its dictionary has " +
                                std::to_string(dictionary_size) + " values)");
      if (i > offsets[row] && codes[i] <= codes[i - 1])
        CorruptColumn(what, "has tags out of order or repeated at " + RowText(row));
    }
  }
  std::vector<std::vector<uint32_t>> tags(rows);
  for (size_t row = 0; row < rows; ++row) tags[row].assign(codes + offsets[row], codes + offsets[row + 1]);
  c.tags = std::move(tags);
  ++epoch_;
}

void Catalog::AdoptIndex(int v, std::unique_ptr<HnswIndex> index) {
  CheckVector(v);
  VectorColumn& column = vectors_[v];
  bool covers = true;
  for (size_t row = 0; row < rows_ && covers; ++row)
    if (column.present[row] && !index->Contains(static_cast<uint32_t>(row))) covers = false;
  column.index = std::move(index);
  column.dirty.clear();
  column.indexed_version = covers ? column.version : ~uint64_t(0);
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

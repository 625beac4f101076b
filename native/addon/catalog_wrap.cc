// JS binding of fr::Catalog: columnar setters and getters over rows. The
// TypeScript Catalog owns ids, dictionaries and row allocation and has
// validated everything; the guards here only keep a direct call from
// crashing the process. Mutations take the catalog's writer lock, so they
// wait for in-flight async rank requests instead of racing them.
#include "catalog_wrap.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "addon.h"

namespace fr {

namespace {

template <typename T, napi_typedarray_type Type>
Napi::TypedArrayOf<T> RequireTyped(const Napi::CallbackInfo& info, size_t i, const char* name, const char* what) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != Type)
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a ") + what + " for " + name);
  return info[i].As<Napi::TypedArrayOf<T>>();
}

class CatalogWrap : public Napi::ObjectWrap<CatalogWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeCatalog",
                       {
                           InstanceMethod<&CatalogWrap::AddVector>("addVector"),
                           InstanceMethod<&CatalogWrap::AddField>("addField"),
                           InstanceMethod<&CatalogWrap::Activate>("activate"),
                           InstanceMethod<&CatalogWrap::Remove>("remove"),
                           InstanceMethod<&CatalogWrap::SetVectors>("setVectors"),
                           InstanceMethod<&CatalogWrap::SetNumbers>("setNumbers"),
                           InstanceMethod<&CatalogWrap::SetCodes>("setCodes"),
                           InstanceMethod<&CatalogWrap::SetTags>("setTags"),
                           InstanceMethod<&CatalogWrap::GetVector>("getVector"),
                           InstanceMethod<&CatalogWrap::GetFields>("getFields"),
                           InstanceMethod<&CatalogWrap::Rows>("rows"),
                           InstanceMethod<&CatalogWrap::BuildIndex>("buildIndex"),
                           InstanceMethod<&CatalogWrap::IndexSize>("indexSize"),
                           InstanceMethod<&CatalogWrap::ExportVector>("exportVector"),
                           InstanceMethod<&CatalogWrap::ImportVector>("importVector"),
                           InstanceMethod<&CatalogWrap::ExportField>("exportField"),
                           InstanceMethod<&CatalogWrap::ImportField>("importField"),
                           InstanceMethod<&CatalogWrap::ExportAlive>("exportAlive"),
                           InstanceMethod<&CatalogWrap::ImportAlive>("importAlive"),
                           InstanceMethod<&CatalogWrap::SaveIndex>("saveIndex"),
                           InstanceMethod<&CatalogWrap::LoadIndex>("loadIndex"),
                       });
  }

  explicit CatalogWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CatalogWrap>(info) {
    catalog_ = std::make_shared<Catalog>();
  }

  std::shared_ptr<Catalog> catalog() const { return catalog_; }

 private:
  int RequireVector(const Napi::CallbackInfo& info, size_t i) {
    const uint32_t v = RequireUint32(info, i, "vector");
    if (v >= catalog_->vectors().size())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_VECTOR", "Unknown vector index " + std::to_string(v));
    return static_cast<int>(v);
  }
  int RequireField(const Napi::CallbackInfo& info, size_t i) {
    const uint32_t f = RequireUint32(info, i, "field");
    if (f >= catalog_->fields().size())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_FIELD", "Unknown field index " + std::to_string(f));
    return static_cast<int>(f);
  }
  Napi::Uint32Array RowsArg(const Napi::CallbackInfo& info, size_t i) {
    auto rows = OptionalUint32Array(info, i, "rows");
    if (rows.IsEmpty())
      Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Uint32Array for rows");
    return rows;
  }

  Napi::Value AddVector(const Napi::CallbackInfo& info) {
    const std::string name = RequireString(info, 0, "name");
    const uint32_t dim = RequireUint32(info, 1, "dim");
    const std::string dtype_name = RequireString(info, 2, "dtype");
    Dtype dtype;
    if (!ParseDtype(dtype_name, &dtype))
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_DTYPE", "Unknown dtype '" + dtype_name + "'");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    return Napi::Number::New(info.Env(), Guard(info.Env(), [&] { return catalog_->AddVector(name, dim, dtype); }));
  }

  Napi::Value AddField(const Napi::CallbackInfo& info) {
    const std::string name = RequireString(info, 0, "name");
    const std::string kind_name = RequireString(info, 1, "kind");
    FieldKind kind;
    if (!ParseFieldKind(kind_name, &kind))
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE", "Unknown field type '" + kind_name + "'");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    return Napi::Number::New(info.Env(), Guard(info.Env(), [&] { return catalog_->AddField(name, kind); }));
  }

  Napi::Value Activate(const Napi::CallbackInfo& info) {
    auto rows = RowsArg(info, 0);
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->Activate(rows.Data(), rows.ElementLength()); });
    return info.Env().Undefined();
  }

  Napi::Value Remove(const Napi::CallbackInfo& info) {
    auto rows = RowsArg(info, 0);
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->Remove(rows.Data(), rows.ElementLength()); });
    return info.Env().Undefined();
  }

  Napi::Value SetVectors(const Napi::CallbackInfo& info) {
    const int v = RequireVector(info, 0);
    auto rows = RowsArg(info, 1);
    auto data = RequireFloat32Array(info, 2, "vectors");
    auto present = RequireTyped<uint8_t, napi_uint8_array>(info, 3, "present", "Uint8Array");
    const size_t n = rows.ElementLength(), dim = catalog_->vectors()[v].store->dim();
    if (data.ElementLength() != n * dim || present.ElementLength() != n)
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected " + std::to_string(n * dim) + " floats and " + std::to_string(n) + " presence flags");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->SetVectors(v, rows.Data(), n, data.Data(), present.Data()); });
    return info.Env().Undefined();
  }

  Napi::Value SetNumbers(const Napi::CallbackInfo& info) {
    const int f = RequireField(info, 0);
    auto rows = RowsArg(info, 1);
    auto values = RequireTyped<double, napi_float64_array>(info, 2, "values", "Float64Array");
    if (values.ElementLength() != rows.ElementLength())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected one value per row");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->SetNumbers(f, rows.Data(), rows.ElementLength(), values.Data()); });
    return info.Env().Undefined();
  }

  Napi::Value SetCodes(const Napi::CallbackInfo& info) {
    const int f = RequireField(info, 0);
    auto rows = RowsArg(info, 1);
    auto codes = RequireTyped<int32_t, napi_int32_array>(info, 2, "codes", "Int32Array");
    if (codes.ElementLength() != rows.ElementLength())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected one code per row");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->SetCodes(f, rows.Data(), rows.ElementLength(), codes.Data()); });
    return info.Env().Undefined();
  }

  Napi::Value SetTags(const Napi::CallbackInfo& info) {
    const int f = RequireField(info, 0);
    auto rows = RowsArg(info, 1);
    auto offsets = RequireTyped<uint32_t, napi_uint32_array>(info, 2, "offsets", "Uint32Array");
    auto codes = RequireTyped<uint32_t, napi_uint32_array>(info, 3, "codes", "Uint32Array");
    const size_t n = rows.ElementLength();
    if (offsets.ElementLength() != n + 1 || offsets.Data()[n] > codes.ElementLength())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Tag offsets do not match the codes");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->SetTags(f, rows.Data(), n, offsets.Data(), codes.Data()); });
    return info.Env().Undefined();
  }

  Napi::Value GetVector(const Napi::CallbackInfo& info) {
    const int v = RequireVector(info, 0);
    const uint32_t row = RequireUint32(info, 1, "row");
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const VectorColumn& column = catalog_->vectors()[v];
    if (!catalog_->alive(row) || !column.present[row]) return info.Env().Null();
    auto out = Napi::Float32Array::New(info.Env(), column.store->dim());
    Guard(info.Env(), [&] { column.store->Get(row, out.Data()); });
    return out;
  }

  // Values of every field for one row: number | null, code (-1 missing), or
  // an array of tag codes.
  Napi::Value GetFields(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t row = RequireUint32(info, 0, "row");
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    if (!catalog_->alive(row)) return env.Null();
    const auto& fields = catalog_->fields();
    Napi::Array out = Napi::Array::New(env, fields.size());
    for (uint32_t f = 0; f < fields.size(); ++f) {
      const FieldColumn& c = fields[f];
      switch (c.kind) {
        case FieldKind::kNumber:
        case FieldKind::kTime:
          out.Set(f, std::isnan(c.numbers[row]) ? env.Null() : Napi::Number::New(env, c.numbers[row]));
          break;
        case FieldKind::kTags: {
          Napi::Array tags = Napi::Array::New(env, c.tags[row].size());
          for (uint32_t t = 0; t < c.tags[row].size(); ++t) tags.Set(t, c.tags[row][t]);
          out.Set(f, tags);
          break;
        }
        default: out.Set(f, Napi::Number::New(env, c.codes[row])); break;
      }
    }
    return out;
  }

  Napi::Value Rows(const Napi::CallbackInfo& info) {
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    return Napi::Number::New(info.Env(), static_cast<double>(catalog_->rows()));
  }

  Napi::Value BuildIndex(const Napi::CallbackInfo& info) {
    const int v = RequireVector(info, 0);
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 1, "threads"), 64));
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->CatchUpIndex(*Data(info.Env()).kernels, v, threads); });
    return info.Env().Undefined();
  }

  Napi::Value IndexSize(const Napi::CallbackInfo& info) {
    const int v = RequireVector(info, 0);
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const auto& index = catalog_->vectors()[v].index;
    return Napi::Number::New(info.Env(), index ? static_cast<double>(index->size()) : -1.0);
  }

  // Raw column bytes for persistence: { data, scales?, present }.
  Napi::Value ExportVector(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int v = RequireVector(info, 0);
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const VectorColumn& column = catalog_->vectors()[v];
    const StoreView view = column.store->View();
    const size_t bytes = view.rows * column.store->row_bytes();
    auto data = Napi::Uint8Array::New(env, bytes);
    if (bytes) std::memcpy(data.Data(), view.block->data.get(), bytes);
    auto present = Napi::Uint8Array::New(env, column.present.size());
    std::copy(column.present.begin(), column.present.end(), present.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("data", data);
    out.Set("present", present);
    if (view.dtype == Dtype::kI8) {
      auto scales = Napi::Float32Array::New(env, view.rows);
      if (view.rows) std::memcpy(scales.Data(), view.block->scales.get(), view.rows * sizeof(float));
      out.Set("scales", scales);
    }
    out.Set("rowBytes", static_cast<double>(column.store->row_bytes()));
    return out;
  }

  // Loads a column saved by ExportVector into a catalog whose liveness was
  // just imported. The bytes come from a file: Catalog::ImportVector checks
  // them (ERR_FUSIONRANK_CORRUPT) before anything changes.
  Napi::Value ImportVector(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int v = RequireVector(info, 0);
    auto data = RequireTyped<uint8_t, napi_uint8_array>(info, 1, "data", "Uint8Array");
    auto present = RequireTyped<uint8_t, napi_uint8_array>(info, 2, "present", "Uint8Array");
    Napi::Float32Array scales;
    size_t scale_count = 0;
    if (info.Length() > 3 && !info[3].IsUndefined() && !info[3].IsNull()) {
      scales = RequireFloat32Array(info, 3, "scales");
      scale_count = scales.ElementLength();
    }
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(env, [&] {
      catalog_->ImportVector(*Data(env).kernels, v, data.Data(), data.ElementLength(), present.Data(),
                             present.ElementLength(), scale_count ? scales.Data() : nullptr, scale_count);
    });
    return env.Undefined();
  }

  Napi::Value ExportField(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int f = RequireField(info, 0);
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const FieldColumn& c = catalog_->fields()[f];
    switch (c.kind) {
      case FieldKind::kNumber:
      case FieldKind::kTime: {
        auto out = Napi::Float64Array::New(env, c.numbers.size());
        std::copy(c.numbers.begin(), c.numbers.end(), out.Data());
        return out;
      }
      case FieldKind::kTags: {
        // Flattened: n + 1 offsets, then the codes.
        size_t total = 0;
        for (const auto& t : c.tags) total += t.size();
        auto out = Napi::Uint32Array::New(env, c.tags.size() + 1 + total);
        uint32_t* p = out.Data();
        uint32_t offset = 0;
        for (size_t i = 0; i < c.tags.size(); ++i) p[i] = offset, offset += static_cast<uint32_t>(c.tags[i].size());
        p[c.tags.size()] = offset;
        uint32_t* codes = p + c.tags.size() + 1;
        for (const auto& t : c.tags) codes = std::copy(t.begin(), t.end(), codes);
        return out;
      }
      default: {
        auto out = Napi::Int32Array::New(env, c.codes.size());
        std::copy(c.codes.begin(), c.codes.end(), out.Data());
        return out;
      }
    }
  }

  // importField(field, values, dictionarySize?): a column saved by
  // ExportField. With dictionarySize, category codes and tag codes are also
  // checked to be below it. Checked by the core (ERR_FUSIONRANK_CORRUPT).
  Napi::Value ImportField(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int f = RequireField(info, 0);
    int64_t dictionary_size = -1;
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull())
      dictionary_size = RequireUint32(info, 2, "dictionarySize");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    switch (catalog_->fields()[f].kind) {
      case FieldKind::kNumber:
      case FieldKind::kTime: {
        auto a = RequireTyped<double, napi_float64_array>(info, 1, "values", "Float64Array");
        Guard(env, [&] { catalog_->ImportNumbers(f, a.Data(), a.ElementLength()); });
        break;
      }
      case FieldKind::kTags: {
        auto a = RequireTyped<uint32_t, napi_uint32_array>(info, 1, "values", "Uint32Array");
        Guard(env, [&] { catalog_->ImportTags(f, a.Data(), a.ElementLength(), dictionary_size); });
        break;
      }
      default: {
        auto a = RequireTyped<int32_t, napi_int32_array>(info, 1, "values", "Int32Array");
        Guard(env, [&] { catalog_->ImportCodes(f, a.Data(), a.ElementLength(), dictionary_size); });
        break;
      }
    }
    return env.Undefined();
  }

  Napi::Value ExportAlive(const Napi::CallbackInfo& info) {
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const auto& alive = catalog_->alive_bits();
    auto out = Napi::Uint8Array::New(info.Env(), alive.size());
    std::copy(alive.begin(), alive.end(), out.Data());
    return out;
  }

  Napi::Value ImportAlive(const Napi::CallbackInfo& info) {
    auto alive = RequireTyped<uint8_t, napi_uint8_array>(info, 0, "alive", "Uint8Array");
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(info.Env(), [&] { catalog_->ImportAlive(alive.Data(), alive.ElementLength()); });
    return info.Env().Undefined();
  }

  Napi::Value SaveIndex(const Napi::CallbackInfo& info) {
    const int v = RequireVector(info, 0);
    const std::string path = RequireString(info, 1, "path");
    std::shared_lock<std::shared_mutex> lock(catalog_->mutex());
    const auto& column = catalog_->vectors()[v];
    if (!column.index) return Napi::Boolean::New(info.Env(), false);
    std::string error;
    if (!column.index->Save(path, &error))
      Throw(info.Env(), ErrorKind::kError, "ERR_FUSIONRANK_IO", "Could not write " + path + ": " + error);
    return Napi::Boolean::New(info.Env(), true);
  }

  // loadIndex(vector, path, mmap): the graph file is untrusted. It is
  // checked whole (HnswIndex::CheckGraph: structure, levels, neighbour
  // counts and slots, keys distinct rows of this column) before use; a bad
  // one throws ERR_FUSIONRANK_CORRUPT naming the file and leaves the
  // column's graph as it was. It is not rebuilt from the vectors instead: a
  // file that fails its checks after its checksum matched was written by
  // something other than fusionrank's save, so the other files of that
  // snapshot are suspect too, and a silent rebuild would hide it and cost
  // every replica minutes on a large catalog (what SQLite does with a
  // corrupt page: SQLITE_CORRUPT, not a repair). A graph that is merely
  // behind its vectors (saved before a catch-up) is kept and caught up
  // (Catalog::AdoptIndex).
  Napi::Value LoadIndex(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int v = RequireVector(info, 0);
    const std::string path = RequireString(info, 1, "path");
    const bool mmap = info.Length() > 2 && info[2].ToBoolean().Value();
    std::unique_lock<std::shared_mutex> lock(catalog_->mutex());
    Guard(env, [&] {
      auto& column = catalog_->vectors()[v];
      // Keys index the column's rows, whose vectors the search reads.
      const size_t rows = std::min(catalog_->rows(), column.store->size());
      auto index = std::make_unique<HnswIndex>();
      index->Load(path, mmap, rows);
      index->BuildCodes(*Data(env).kernels, column.store->View(),
                        std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
      catalog_->AdoptIndex(v, std::move(index));
    });
    return env.Undefined();
  }

  std::shared_ptr<Catalog> catalog_;
};

}  // namespace

std::shared_ptr<Catalog> CatalogFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).catalog_ctor.Value()))
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a NativeCatalog");
  return CatalogWrap::Unwrap(value.As<Napi::Object>())->catalog();
}

void InitCatalog(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = CatalogWrap::Define(env);
  Data(env).catalog_ctor = Napi::Persistent(ctor);
  exports.Set("NativeCatalog", ctor);
}

}  // namespace fr

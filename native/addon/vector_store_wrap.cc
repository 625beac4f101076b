// JS binding of fr::VectorStore. Arguments are copied into plain C++ values
// on the main thread; async work only ever sees those copies.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/parallel.h"
#include "../core/topk.h"
#include "../core/topk_many.h"
#include "../core/vector_store.h"
#include "addon.h"
#include "topk_many_wrap.h"

namespace fr {

namespace {

class TopKManyWorker : public Napi::AsyncWorker {
 public:
  TopKManyWorker(Napi::Env env, const KernelTable& kernels, StoreView view, std::vector<float> queries,
                 size_t nq, std::vector<uint32_t> rows, bool all_rows, size_t k, unsigned threads)
      : Napi::AsyncWorker(env, "fusionrank.topKMany"),
        deferred_(Napi::Promise::Deferred::New(env)),
        kernels_(kernels),
        view_(std::move(view)),
        queries_(std::move(queries)),
        nq_(nq),
        rows_(std::move(rows)),
        all_rows_(all_rows),
        k_(k),
        threads_(threads) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    MarkPoolThreadBatch();
    const auto failure = CatchAll([&] {
      // Normalised and padded off the main thread: one aligned nq x pdim block.
      const size_t dim = view_.dim, pdim = view_.pdim;
      AlignedPtr<float> prepared = AllocateAligned<float>(nq_ * pdim);
      for (size_t q = 0; q < nq_; ++q) {
        AlignedPtr<float> one = PrepareQuery(kernels_, queries_.data() + q * dim, dim, pdim);
        std::copy(one.get(), one.get() + pdim, prepared.get() + q * pdim);
      }
      std::vector<float>().swap(queries_);
      const size_t n = all_rows_ ? view_.rows : rows_.size();
      result_ = fr::TopKMany(kernels_, view_, prepared.get(), nq_, all_rows_ ? nullptr : rows_.data(), n,
                             k_, threads_);
    });
    if (failure) {
      kind_ = failure->kind;
      code_ = failure->code;
      SetError(failure->message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto rows = Napi::Uint32Array::New(env, result_.rows.size());
    auto scores = Napi::Float32Array::New(env, result_.scores.size());
    std::copy(result_.rows.begin(), result_.rows.end(), rows.Data());
    std::copy(result_.scores.begin(), result_.scores.end(), scores.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("rows", rows);
    out.Set("scores", scores);
    out.Set("k", Napi::Number::New(env, static_cast<double>(result_.k)));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(MakeError(Env(), kind_, code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  const KernelTable& kernels_;
  StoreView view_;
  std::vector<float> queries_;
  size_t nq_;
  std::vector<uint32_t> rows_;
  bool all_rows_;
  size_t k_;
  unsigned threads_;
  TopKManyResult result_;
  ErrorKind kind_ = ErrorKind::kError;
  const char* code_ = "ERR_FUSIONRANK_INTERNAL";
};


}  // namespace

Napi::Promise QueueTopKMany(Napi::Env env, const KernelTable& kernels, StoreView view, std::vector<float> queries,
                            size_t nq, std::vector<uint32_t> rows, bool all_rows, size_t k, unsigned threads) {
  // The result holds nq x min(k, n) pairs: refuse what cannot be allocated
  // rather than failing half-way on the pool.
  const size_t n = all_rows ? view.rows : rows.size();
  const double pairs = static_cast<double>(nq) * static_cast<double>(std::min<size_t>(k, n));
  if (pairs > 2.0e9)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K",
          "queries x k = " + std::to_string(static_cast<uint64_t>(pairs)) +
              " results is too many for one call (at most 2e9): pass fewer queries per call");
  auto* worker = new TopKManyWorker(env, kernels, std::move(view), std::move(queries), nq, std::move(rows), all_rows, k,
                                    threads);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

size_t CheckQueries(Napi::Env env, const Napi::Float32Array& queries, size_t dim) {
  const size_t len = queries.ElementLength();
  if (len == 0 || len % dim != 0)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
          "Expected queries of a length that is a positive multiple of dim " + std::to_string(dim) +
              " but received " + std::to_string(len));
  const size_t bad = FirstNonFinite(queries.Data(), len);
  if (bad < len)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
          "Queries must be finite: query " + std::to_string(bad / dim) + ", element " + std::to_string(bad % dim) +
              " is " + (std::isnan(queries.Data()[bad]) ? "NaN" : "Infinity"));
  return len / dim;
}

namespace {

class VectorStoreWrap : public Napi::ObjectWrap<VectorStoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeVectorStore",
        {
            InstanceMethod<&VectorStoreWrap::Add>("add"),
            InstanceMethod<&VectorStoreWrap::Set>("set"),
            InstanceMethod<&VectorStoreWrap::Get>("get"),
            InstanceMethod<&VectorStoreWrap::IsZero>("isZero"),
            InstanceMethod<&VectorStoreWrap::Size>("size"),
            InstanceMethod<&VectorStoreWrap::MemoryBytes>("memoryBytes"),
            InstanceMethod<&VectorStoreWrap::Cosine>("cosine"),
            InstanceMethod<&VectorStoreWrap::CosineMany>("cosineMany"),
            InstanceMethod<&VectorStoreWrap::TopK>("topK"),
            InstanceMethod<&VectorStoreWrap::TopKAsync>("topKAsync"),
            InstanceMethod<&VectorStoreWrap::TopKManyAsync>("topKManyAsync"),
            InstanceMethod<&VectorStoreWrap::ExportF16>("exportF16"),
            InstanceMethod<&VectorStoreWrap::ProbeRead>("probeRead"),
        });
  }

  explicit VectorStoreWrap(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<VectorStoreWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t dim = RequireUint32(info, 0, "dim");
    const std::string dtype_name = RequireString(info, 1, "dtype");
    Dtype dtype;
    if (!ParseDtype(dtype_name, &dtype))
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_DTYPE",
            "Unknown dtype '" + dtype_name + "': expected 'f32', 'f16' or 'i8'");
    Guard(env, [&] { store_ = std::make_unique<VectorStore>(dim, dtype); });
  }

 private:
  const KernelTable& Kernels(Napi::Env env) { return *Data(env).kernels; }

  // Validates a query of exactly dim floats and returns it normalised/padded.
  AlignedPtr<float> Query(const Napi::CallbackInfo& info, size_t i) {
    auto q = RequireFloat32Array(info, i, "query");
    if (q.ElementLength() != store_->dim())
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected query of length " + std::to_string(store_->dim()) + " but received " +
                std::to_string(q.ElementLength()));
    return Guard(info.Env(),
                 [&] { return PrepareQuery(Kernels(info.Env()), q.Data(), store_->dim(), store_->pdim()); });
  }

  // Optional row list, every id checked against the current size.
  Napi::Uint32Array Rows(const Napi::CallbackInfo& info, size_t i) {
    auto rows = OptionalUint32Array(info, i, "rows");
    if (rows.IsEmpty()) return rows;
    const size_t size = store_->size();
    const uint32_t* r = rows.Data();
    for (size_t j = 0, n = rows.ElementLength(); j < n; ++j)
      if (r[j] >= size)
        Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
              "rows[" + std::to_string(j) + "] = " + std::to_string(r[j]) +
                  " is out of range for a store of " + std::to_string(size) + " rows");
    return rows;
  }

  Napi::Value Add(const Napi::CallbackInfo& info) {
    auto v = RequireFloat32Array(info, 0, "vectors");
    const size_t len = v.ElementLength();
    if (len == 0 || len % store_->dim() != 0)
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected a length that is a positive multiple of dim " +
                std::to_string(store_->dim()) + " but received " + std::to_string(len));
    const size_t first =
        Guard(info.Env(), [&] { return store_->Add(v.Data(), len / store_->dim()); });
    return Napi::Number::New(info.Env(), static_cast<double>(first));
  }

  Napi::Value Set(const Napi::CallbackInfo& info) {
    const uint32_t row = RequireUint32(info, 0, "row");
    auto v = RequireFloat32Array(info, 1, "vectors");
    const size_t len = v.ElementLength();
    if (len == 0 || len % store_->dim() != 0)
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected a length that is a positive multiple of dim " +
                std::to_string(store_->dim()) + " but received " + std::to_string(len));
    Guard(info.Env(), [&] { store_->Set(row, v.Data(), len / store_->dim()); });
    return info.Env().Undefined();
  }

  Napi::Value Get(const Napi::CallbackInfo& info) {
    const uint32_t row = RequireUint32(info, 0, "row");
    auto out = Napi::Float32Array::New(info.Env(), store_->dim());
    Guard(info.Env(), [&] { store_->Get(row, out.Data()); });
    return out;
  }

  Napi::Value IsZero(const Napi::CallbackInfo& info) {
    const uint32_t row = RequireUint32(info, 0, "row");
    return Napi::Boolean::New(info.Env(), store_->IsZero(row));
  }

  Napi::Value Size(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_->size()));
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_->memory_bytes()));
  }

  Napi::Value Cosine(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto q = Query(info, 0);
    auto rows = Rows(info, 1);
    const size_t n = rows.IsEmpty() ? store_->size() : rows.ElementLength();
    auto out = Napi::Float32Array::New(env, n);
    if (n == 0) return out;
    const StoreView view = store_->View();
    if (rows.IsEmpty())
      ScoreRange(Kernels(env), view, q.get(), 0, n, out.Data());
    else
      Score(Kernels(env), view, q.get(), rows.Data(), n, out.Data());
    return out;
  }

  Napi::Value CosineMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto queries = RequireFloat32Array(info, 0, "queries");
    const size_t dim = store_->dim(), len = queries.ElementLength();
    if (len == 0 || len % dim != 0)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected queries of a length that is a positive multiple of dim " +
                std::to_string(dim) + " but received " + std::to_string(len));
    auto rows = Rows(info, 1);
    const size_t nq = len / dim;
    const size_t n = rows.IsEmpty() ? store_->size() : rows.ElementLength();
    auto out = Napi::Float32Array::New(env, nq * n);
    if (n == 0) return out;
    std::vector<AlignedPtr<float>> prepared;
    prepared.reserve(nq);
    Guard(env, [&] {
      for (size_t qi = 0; qi < nq; ++qi)
        prepared.push_back(
            PrepareQuery(Kernels(env), queries.Data() + qi * dim, dim, store_->pdim()));
    });
    const StoreView view = store_->View();
    // Rows in blocks that stay in cache while every query passes over them.
    constexpr size_t kBlock = 256;
    float* o = out.Data();
    for (size_t b = 0; b < n; b += kBlock) {
      const size_t m = std::min(kBlock, n - b);
      for (size_t qi = 0; qi < nq; ++qi) {
        if (rows.IsEmpty())
          ScoreRange(Kernels(env), view, prepared[qi].get(), b, m, o + qi * n + b);
        else
          Score(Kernels(env), view, prepared[qi].get(), rows.Data() + b, m, o + qi * n + b);
      }
    }
    return out;
  }

  static uint32_t RequireK(const Napi::CallbackInfo& info, size_t i) {
    const uint32_t k = RequireUint32(info, i, "k");
    if (k == 0)
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K",
            "Expected k to be a positive integer");
    return k;
  }

  static Napi::Object ToJs(Napi::Env env, const TopKResult& r) {
    auto rows = Napi::Uint32Array::New(env, r.rows.size());
    auto scores = Napi::Float32Array::New(env, r.scores.size());
    std::copy(r.rows.begin(), r.rows.end(), rows.Data());
    std::copy(r.scores.begin(), r.scores.end(), scores.Data());
    Napi::Object out = Napi::Object::New(env);
    out.Set("rows", rows);
    out.Set("scores", scores);
    return out;
  }

  Napi::Value TopK(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto q = Query(info, 0);
    const uint32_t k = RequireK(info, 1);
    auto rows = Rows(info, 2);
    const size_t n = rows.IsEmpty() ? store_->size() : rows.ElementLength();
    const StoreView view = store_->View();
    TopKResult r = Guard(env, [&] {
      return fr::TopK(Kernels(env), view, q.get(), rows.IsEmpty() ? nullptr : rows.Data(), n, k, 1);
    });
    return ToJs(env, r);
  }

  class TopKWorker : public Napi::AsyncWorker {
   public:
    TopKWorker(Napi::Env env, const KernelTable& kernels, StoreView view, AlignedPtr<float> query,
               std::vector<uint32_t> rows, bool all_rows, size_t k, unsigned threads)
        : Napi::AsyncWorker(env, "fusionrank.topKAsync"),
          deferred_(Napi::Promise::Deferred::New(env)),
          kernels_(kernels),
          view_(std::move(view)),
          query_(std::move(query)),
          rows_(std::move(rows)),
          all_rows_(all_rows),
          k_(k),
          threads_(threads) {}

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      MarkPoolThreadBatch();
      const auto failure = CatchAll([&] {
        const size_t n = all_rows_ ? view_.rows : rows_.size();
        result_ = fr::TopK(kernels_, view_, query_.get(), all_rows_ ? nullptr : rows_.data(), n,
                           k_, threads_);
      });
      if (failure) {
        kind_ = failure->kind;
        code_ = failure->code;
        SetError(failure->message);
      }
    }
    void OnOK() override { deferred_.Resolve(ToJs(Env(), result_)); }
    void OnError(const Napi::Error& e) override {
      Napi::Error err = MakeError(Env(), kind_, code_, e.Message());
      deferred_.Reject(err.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    const KernelTable& kernels_;
    StoreView view_;
    AlignedPtr<float> query_;
    std::vector<uint32_t> rows_;
    bool all_rows_;
    size_t k_;
    unsigned threads_;
    TopKResult result_;
    ErrorKind kind_ = ErrorKind::kError;
    const char* code_ = "ERR_FUSIONRANK_INTERNAL";
  };

  Napi::Value TopKAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto q = Query(info, 0);
    const uint32_t k = RequireK(info, 1);
    auto rows = Rows(info, 2);
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 3, "threads"), 256));
    std::vector<uint32_t> row_copy;
    if (!rows.IsEmpty()) row_copy.assign(rows.Data(), rows.Data() + rows.ElementLength());
    auto* worker = new TopKWorker(env, Kernels(env), store_->View(), std::move(q),
                                  std::move(row_copy), rows.IsEmpty(), k, threads);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // topKManyAsync(queries: Float32Array (q x dim), k, rows?: Uint32Array,
  // threads) -> Promise<{ rows, scores, k }>. Everything is validated and
  // copied here, on the main thread; the worker sees only its copies.
  Napi::Value TopKManyAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto queries = RequireFloat32Array(info, 0, "queries");
    const size_t nq = CheckQueries(env, queries, store_->dim());
    const uint32_t k = RequireK(info, 1);
    auto rows = Rows(info, 2);
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 3, "threads"), 256));
    std::vector<float> copy(queries.Data(), queries.Data() + queries.ElementLength());
    std::vector<uint32_t> row_copy;
    if (!rows.IsEmpty()) row_copy.assign(rows.Data(), rows.Data() + rows.ElementLength());
    return QueueTopKMany(env, Kernels(env), store_->View(), std::move(copy), nq, std::move(row_copy), rows.IsEmpty(),
                         k, threads);
  }

  // exportF16(first, count) -> Uint16Array of count x dim: the stored rows,
  // normalised (and dequantised), as IEEE binary16, for the GPU's copy.
  Napi::Value ExportF16(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t first = RequireUint32(info, 0, "first");
    const uint32_t count = RequireUint32(info, 1, "count");
    const size_t size = store_->size(), dim = store_->dim();
    if (first > size || count > size - first)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
            "Rows " + std::to_string(first) + ".." + std::to_string(size_t(first) + count) +
                " are out of range for a store of " + std::to_string(size) + " rows");
    auto out = Napi::Uint16Array::New(env, size_t(count) * dim);
    const StoreView view = store_->View();
    std::vector<float> row(view.pdim);
    const KernelTable& k = Kernels(env);
    uint16_t* o = out.Data();
    for (size_t i = 0; i < count; ++i) {
      DecodeRow(k, view, static_cast<uint32_t>(first + i), row.data());
      for (size_t j = 0; j < dim; ++j) o[i * dim + j] = FloatToHalf(row[j]);
    }
    return out;
  }

  // Memory-read probe over the same bytes cosine(query, rows) would read,
  // optionally split over threads like topKAsync (to show whether the
  // machine's memory bandwidth grows with a second core).
  Napi::Value ProbeRead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto rows = Rows(info, 0);
    const uint32_t threads =
        info.Length() > 1 && !info[1].IsUndefined() ? std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 1, "threads"), 256)) : 1;
    const StoreView view = store_->View();
    const size_t n = rows.IsEmpty() ? view.rows : rows.ElementLength();
    if (n == 0) return Napi::Number::New(env, 0);
    const size_t row_bytes = store_->row_bytes();
    const KernelTable& k = Kernels(env);
    const uint8_t* base = view.block->data.get();
    const uint32_t* ids = rows.IsEmpty() ? nullptr : rows.Data();
    auto read = [&](size_t begin, size_t end) {
      return ids ? k.probe_read(base, row_bytes, ids + begin, end - begin, row_bytes)
                 : k.probe_read(base + begin * row_bytes, row_bytes, nullptr, end - begin, row_bytes);
    };
    uint64_t sink = 0;
    if (threads <= 1) {
      sink = read(0, n);
    } else {
      std::vector<uint64_t> sinks(threads, 0);
      ParallelRanges(n, threads, [&](size_t part, size_t begin, size_t end) { sinks[part] = read(begin, end); });
      for (uint64_t v : sinks) sink ^= v;
    }
    // Returned so the reads cannot be optimised away; callers ignore it.
    return Napi::Number::New(env, static_cast<double>(sink & 0xFFFF));
  }

  std::unique_ptr<VectorStore> store_;
};

}  // namespace

void InitVectorStore(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = VectorStoreWrap::Define(env);
  Data(env).vector_store_ctor = Napi::Persistent(ctor);
  exports.Set("NativeVectorStore", ctor);
}

}  // namespace fr

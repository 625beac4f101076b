// Bindings of the CUDA package's extra exports (cudaProbe, cudaSaxpy,
// cudaProbeH2D, CudaRowSet, CudaMlp), registered by addon.cc's Init when
// built with FR_CUDA=ON. Every argument is checked here, before the core
// makes its first CUDA call, so misuse is a coded error on any machine. Outside that
// build this file compiles to nothing (binding.gyp / the CPU packages never
// list it, but it must not break a build that globs it).
#if defined(FR_CUDA)
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../addon/addon.h"
#include "cuda.h"

namespace fr {

static const char* StatusName(CudaStatus s) {
  switch (s) {
    case CudaStatus::kOk: return "ok";
    case CudaStatus::kNoDriver: return "no-driver";
    case CudaStatus::kDriverTooOld: return "driver-too-old";
    case CudaStatus::kNoDevice: return "no-device";
    case CudaStatus::kNoSupportedDevice: return "no-supported-device";
    case CudaStatus::kError: break;
  }
  return "error";
}

// cudaProbe() -> { status, driverVersion, runtimeVersion, deviceCount, error,
// devices: [{ index, name, computeCapability, memoryBytes, supported }] }
static Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    const CudaProbeResult r = ProbeCuda();
    Napi::Object out = Napi::Object::New(env);
    out.Set("status", StatusName(r.status));
    out.Set("driverVersion", r.driver_version);
    out.Set("runtimeVersion", r.runtime_version);
    out.Set("deviceCount", r.device_count);
    out.Set("minComputeCapability", kCudaMinComputeCapability);
    out.Set("error", r.error);
    Napi::Array devices = Napi::Array::New(env, r.devices.size());
    for (size_t i = 0; i < r.devices.size(); ++i) {
      const CudaDevice& d = r.devices[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("index", d.index);
      o.Set("name", d.name);
      o.Set("computeCapability", d.major * 10 + d.minor);
      o.Set("memoryBytes", static_cast<double>(d.memory_bytes));
      o.Set("supported", d.supported);
      devices.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("devices", devices);
    return out;
  });
}

// cudaSaxpy(a: number, x: Float32Array, y: Float32Array, device?: number)
// -> Float32Array of a*x + y. Synchronous; the trivial kernel the package
// tests check against the CPU.
static Napi::Value CudaSaxpyBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber())
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a number for a");
    const double a = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(a))
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE", "Expected a finite number for a");
    const Napi::Float32Array x = RequireFloat32Array(info, 1, "x");
    const Napi::Float32Array y = RequireFloat32Array(info, 2, "y");
    if (x.ElementLength() != y.ElementLength())
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "x and y must have the same length (" + std::to_string(x.ElementLength()) + " vs " +
                std::to_string(y.ElementLength()) + ")");
    const uint32_t device =
        info.Length() > 3 && !info[3].IsUndefined() ? RequireUint32(info, 3, "device") : 0;
    if (device > 1024)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a CUDA device ordinal for device");
    const size_t n = x.ElementLength();
    // Synchronous on the main thread, so the JS buffers are read in place.
    auto out = Napi::Float32Array::New(env, n);
    CudaSaxpy(static_cast<int>(device), static_cast<float>(a), x.Data(), y.Data(), out.Data(), n);
    return out;
  });
}

namespace {

uint32_t OptionalDevice(const Napi::CallbackInfo& info, size_t i) {
  const uint32_t device = info.Length() > i && !info[i].IsUndefined() ? RequireUint32(info, i, "device") : 0;
  if (device > kCudaMaxDeviceOrdinal)
    Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a CUDA device ordinal for device");
  return device;
}

// cudaProbeH2D(bytes, device?) -> { seconds, gbPerSec, bytes }: one pinned
// host -> device copy of `bytes`, timed with events (synchronous).
static Napi::Value CudaProbeH2DBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    constexpr double kMaxBytes = 17179869184.0;  // 16 GiB
    if (info.Length() < 1 || !info[0].IsNumber())
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a number for bytes");
    const double bytes = info[0].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 1 && bytes <= kMaxBytes) || bytes != std::floor(bytes))
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected an integer in [1, 2^34] for bytes");
    const uint32_t device = OptionalDevice(info, 1);
    const CudaCopyTiming t = CudaProbeH2D(static_cast<int>(device), static_cast<size_t>(bytes));
    Napi::Object out = Napi::Object::New(env);
    out.Set("bytes", bytes);
    out.Set("seconds", t.seconds);
    out.Set("gbPerSec", t.gb_per_sec);
    return out;
  });
}

// A job's failure as a coded rejection (the AsyncWorker pattern of
// vector_store_wrap.cc: inputs copied on the main thread, work under CatchAll).
class CodedWorker : public Napi::AsyncWorker {
 public:
  CodedWorker(Napi::Env env, const char* name)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  template <class Fn>
  void Run(Fn&& body) {
    MarkPoolThreadBatch();
    const auto failure = CatchAll(std::forward<Fn>(body));
    if (failure) {
      kind_ = failure->kind;
      code_ = failure->code;
      SetError(failure->message);
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), kind_, code_, e.Message()).Value()); }
  Napi::Promise::Deferred deferred_;

 private:
  ErrorKind kind_ = ErrorKind::kError;
  const char* code_ = "ERR_FUSIONRANK_INTERNAL";
};

// new CudaRowSet(dim, device?, placement?: 'auto' | 'device' | 'host')
class CudaRowSetWrap : public Napi::ObjectWrap<CudaRowSetWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaRowSet",
                       {
                           InstanceMethod<&CudaRowSetWrap::Dim>("dim"),
                           InstanceMethod<&CudaRowSetWrap::Size>("size"),
                           InstanceMethod<&CudaRowSetWrap::Bytes>("bytes"),
                           InstanceMethod<&CudaRowSetWrap::Placement>("placement"),
                           InstanceMethod<&CudaRowSetWrap::Write>("write"),
                           InstanceMethod<&CudaRowSetWrap::Release>("release"),
                           InstanceMethod<&CudaRowSetWrap::TopKMany>("topKMany"),
                       });
  }

  explicit CudaRowSetWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaRowSetWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t dim = RequireUint32(info, 0, "dim");
    if (dim == 0 || dim > CudaRowSet::kMaxDim)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_DIM",
            "Expected dim in [1, " + std::to_string(CudaRowSet::kMaxDim) + "] but received " + std::to_string(dim));
    const uint32_t device = OptionalDevice(info, 1);
    CudaRowPlacement placement = CudaRowPlacement::kAuto;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      const std::string name = RequireString(info, 2, "placement");
      if (name == "device")
        placement = CudaRowPlacement::kDevice;
      else if (name == "host")
        placement = CudaRowPlacement::kHost;
      else if (name != "auto")
        Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
              "Expected 'auto', 'device' or 'host' for placement but received '" + name + "'");
    }
    Guard(env, [&] { set_ = std::make_shared<CudaRowSet>(dim, static_cast<int>(device), placement); });
  }

 private:
  Napi::Value Dim(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(set_->dim())); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(set_->size())); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(set_->bytes())); }
  Napi::Value Placement(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), set_->placement()); }

  Napi::Value Release(const Napi::CallbackInfo& info) {
    Guard(info.Env(), [&] { set_->Release(); });
    return info.Env().Undefined();
  }

  // write(firstRow, rows: Uint16Array of count x dim binary16): synchronous.
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint32_t first = RequireUint32(info, 0, "firstRow");
    if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint16_array)
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Uint16Array of binary16 rows for rows");
    const Napi::Uint16Array rows = info[1].As<Napi::Uint16Array>();
    const size_t dim = set_->dim(), len = rows.ElementLength();
    if (len == 0 || len % dim != 0)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected a length that is a positive multiple of dim " + std::to_string(dim) + " but received " +
                std::to_string(len));
    const size_t size = set_->size();
    if (first > size)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
            "Expected firstRow <= " + std::to_string(size) + " (the rows written so far) but received " +
                std::to_string(first));
    // Synchronous on the main thread, so the JS buffer is read in place.
    Guard(env, [&] { set_->Write(first, rows.Data(), len / dim); });
    return env.Undefined();
  }

  class TopKManyWorker : public CodedWorker {
   public:
    TopKManyWorker(Napi::Env env, std::shared_ptr<const CudaRowSet> set, std::vector<float> queries, size_t k,
                   std::vector<uint32_t> subset, bool has_subset, bool scores_only)
        : CodedWorker(env, "fusionrank.cudaTopKMany"),
          set_(std::move(set)),
          queries_(std::move(queries)),
          k_(k),
          subset_(std::move(subset)),
          has_subset_(has_subset),
          scores_only_(scores_only) {}

    void Execute() override {
      Run([&] {
        result_ = set_->TopKMany(queries_.data(), queries_.size() / set_->dim(), k_, has_subset_ ? subset_.data() : nullptr,
                                 subset_.size(), scores_only_);
      });
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
      out.Set("k", static_cast<double>(result_.k));
      out.Set("seconds", result_.seconds);
      deferred_.Resolve(out);
    }

   private:
    std::shared_ptr<const CudaRowSet> set_;
    std::vector<float> queries_;
    size_t k_;
    std::vector<uint32_t> subset_;
    bool has_subset_;
    bool scores_only_;
    CudaTopKOutput result_;
  };

  // topKMany(queries: Float32Array of q x dim, k, rows?: Uint32Array,
  // options?: { scoresOnly?: boolean }) -> Promise<{ rows, scores, k, seconds }>
  Napi::Value TopKMany(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Napi::Float32Array queries = RequireFloat32Array(info, 0, "queries");
    const size_t dim = set_->dim(), len = queries.ElementLength();
    if (len == 0 || len % dim != 0)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected queries of a length that is a positive multiple of dim " + std::to_string(dim) +
                " but received " + std::to_string(len));
    if (len / dim > CudaRowSet::kMaxQueries)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
            "Expected at most " + std::to_string(CudaRowSet::kMaxQueries) + " queries but received " +
                std::to_string(len / dim));
    const uint32_t k = RequireUint32(info, 1, "k");
    if (k == 0 || k > CudaRowSet::kMaxK)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K",
            "Expected k in [1, " + std::to_string(CudaRowSet::kMaxK) + "] but received " + std::to_string(k));
    const Napi::Uint32Array rows = OptionalUint32Array(info, 2, "rows");
    const size_t size = set_->size();
    std::vector<uint32_t> subset;
    if (!rows.IsEmpty()) {
      const uint32_t* r = rows.Data();
      for (size_t j = 0, n = rows.ElementLength(); j < n; ++j)
        if (r[j] >= size)
          Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE",
                "rows[" + std::to_string(j) + "] = " + std::to_string(r[j]) + " is out of range for a row set of " +
                    std::to_string(size) + " rows");
      subset.assign(r, r + rows.ElementLength());
    }
    // The result holds nq x min(k, candidates) pairs: refuse what cannot be
    // allocated up front (the CPU's topKManyAsync limit), not half-way.
    const size_t candidates = rows.IsEmpty() ? size : rows.ElementLength();
    const double pairs = static_cast<double>(len / dim) * static_cast<double>(std::min<size_t>(k, candidates));
    if (pairs > 2.0e9)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K",
            "queries x k = " + std::to_string(static_cast<uint64_t>(pairs)) +
                " results is too many for one call (at most 2e9): pass fewer queries per call");
    bool scores_only = false;
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsObject())
        Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected an options object for options");
      scores_only = info[3].As<Napi::Object>().Get("scoresOnly").ToBoolean().Value();
    }
    std::vector<float> copy;
    Guard(env, [&] { copy.assign(queries.Data(), queries.Data() + len); });
    auto* worker = new TopKManyWorker(env, set_, std::move(copy), k, std::move(subset), !rows.IsEmpty(), scores_only);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  std::shared_ptr<CudaRowSet> set_;
};

[[noreturn]] void ThrowLayer(Napi::Env env, const std::string& message) {
  Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", message);
}

// A Float32Array property of exactly `length` floats (or absent, when optional).
Napi::Float32Array LayerFloats(Napi::Env env, const Napi::Object& o, const char* key, size_t length, bool optional,
                               const std::string& where) {
  const Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return Napi::Float32Array();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowLayer(env, "Expected a Float32Array for " + where + "." + key);
  const Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != length)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
          "Expected " + std::to_string(length) + " floats for " + where + "." + key + " but received " +
              std::to_string(a.ElementLength()));
  return a;
}

double LayerNumber(Napi::Env env, const Napi::Object& o, const char* key, double fallback, const std::string& where) {
  const Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowLayer(env, "Expected a number for " + where + "." + key);
  return v.As<Napi::Number>().DoubleValue();
}

Activation LayerActivation(Napi::Env env, const Napi::Object& o, const std::string& where) {
  const Napi::Value v = o.Get("activation");
  if (v.IsUndefined()) return Activation::kNone;
  if (!v.IsString()) ThrowLayer(env, "Expected a string for " + where + ".activation");
  static const std::pair<const char*, Activation> kNames[] = {
      {"none", Activation::kNone},         {"relu", Activation::kRelu},         {"leakyRelu", Activation::kLeakyRelu},
      {"sigmoid", Activation::kSigmoid},   {"tanh", Activation::kTanh},         {"gelu", Activation::kGeluErf},
      {"geluTanh", Activation::kGeluTanh}, {"silu", Activation::kSilu},         {"softplus", Activation::kSoftplus},
      {"clip", Activation::kClip},
  };
  const std::string name = v.As<Napi::String>().Utf8Value();
  for (const auto& [n, act] : kNames)
    if (name == n) return act;
  Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Unknown activation '" + name + "' for " + where);
}

// LeakyRelu's slope (default 0.01) or Clip's bounds (default unbounded), as
// the CPU binding reads them.
std::pair<float, float> LayerActivationParams(Napi::Env env, const Napi::Object& o, Activation act,
                                              const std::string& where) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool clip = act == Activation::kClip;
  return {static_cast<float>(LayerNumber(env, o, "alpha", clip ? -inf : 0.01, where)),
          static_cast<float>(LayerNumber(env, o, "beta", clip ? inf : 0, where))};
}

// new CudaMlp(inputSize, layers: LayerSpec[], precision: 'f16' | 'bf16', device?)
class CudaMlpWrap : public Napi::ObjectWrap<CudaMlpWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CudaMlp",
                       {
                           InstanceMethod<&CudaMlpWrap::InputSize>("inputSize"),
                           InstanceMethod<&CudaMlpWrap::OutputSize>("outputSize"),
                           InstanceMethod<&CudaMlpWrap::Precision>("precision"),
                           InstanceMethod<&CudaMlpWrap::Forward>("forward"),
                       });
  }

  explicit CudaMlpWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaMlpWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t input_size = RequireUint32(info, 0, "inputSize");
    if (info.Length() < 2 || !info[1].IsArray()) ThrowLayer(env, "Expected an array for layers");
    const Napi::Array layers = info[1].As<Napi::Array>();
    const std::string precision_name = RequireString(info, 2, "precision");
    CudaPrecision precision;
    if (precision_name == "f16")
      precision = CudaPrecision::kF16;
    else if (precision_name == "bf16")
      precision = CudaPrecision::kBf16;
    else
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
            "Expected 'f16' or 'bf16' for precision but received '" + precision_name + "'");
    const uint32_t device = OptionalDevice(info, 3);
    Guard(env, [&] { mlp_ = std::make_shared<CudaMlp>(input_size, static_cast<int>(device), precision); });
    for (uint32_t i = 0; i < layers.Length(); ++i) {
      const std::string where = "layers[" + std::to_string(i) + "]";
      const Napi::Value lv = layers.Get(i);
      if (!lv.IsObject()) ThrowLayer(env, "Expected an object for " + where);
      const Napi::Object l = lv.As<Napi::Object>();
      const Napi::Value kv = l.Get("kind");
      if (!kv.IsString()) ThrowLayer(env, "Expected a string for " + where + ".kind");
      const std::string kind = kv.As<Napi::String>().Utf8Value();
      const size_t width = mlp_->output_size();
      if (kind == "dense") {
        const double out = LayerNumber(env, l, "out", -1, where);
        if (!(out >= 1 && out <= static_cast<double>(CudaMlp::kMaxWidth)) || out != std::floor(out))
          Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "Expected an integer in [1, " + std::to_string(CudaMlp::kMaxWidth) + "] for " + where + ".out");
        const size_t n = static_cast<size_t>(out);
        if (width * n > (size_t{1} << 31))
          Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "A dense layer of " + std::to_string(width) + " x " + std::to_string(n) + " weights is larger than 2^31");
        const Napi::Float32Array weight = LayerFloats(env, l, "weight", width * n, false, where);
        const Napi::Float32Array bias = LayerFloats(env, l, "bias", n, true, where);
        const bool out_major = l.Get("outMajor").ToBoolean();
        const Activation act = LayerActivation(env, l, where);
        const auto [alpha, beta] = LayerActivationParams(env, l, act, where);
        Guard(env, [&] {
          mlp_->AddDense(n, weight.Data(), out_major, bias.IsEmpty() ? nullptr : bias.Data(), act, alpha, beta);
        });
      } else if (kind == "layernorm") {
        const Napi::Float32Array scale = LayerFloats(env, l, "scale", width, false, where);
        const Napi::Float32Array shift = LayerFloats(env, l, "shift", width, true, where);
        const float epsilon = static_cast<float>(LayerNumber(env, l, "epsilon", 1e-5, where));
        Guard(env, [&] { mlp_->AddLayerNorm(scale.Data(), shift.IsEmpty() ? nullptr : shift.Data(), epsilon); });
      } else if (kind == "affine") {
        const Napi::Float32Array scale = LayerFloats(env, l, "scale", width, false, where);
        const Napi::Float32Array shift = LayerFloats(env, l, "shift", width, false, where);
        Guard(env, [&] { mlp_->AddAffine(scale.Data(), shift.Data()); });
      } else if (kind == "activation") {
        const Activation act = LayerActivation(env, l, where);
        const auto [alpha, beta] = LayerActivationParams(env, l, act, where);
        Guard(env, [&] { mlp_->AddActivation(act, alpha, beta); });
      } else if (kind == "softmax") {
        Guard(env, [&] { mlp_->AddSoftmax(); });
      } else if (kind == "l2norm") {
        const float epsilon = static_cast<float>(LayerNumber(env, l, "epsilon", 1e-12, where));
        const float scale = static_cast<float>(LayerNumber(env, l, "scale", 1, where));
        Guard(env, [&] { mlp_->AddL2Normalize(epsilon, scale); });
      } else {
        Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Unknown layer kind '" + kind + "' for " + where);
      }
    }
  }

 private:
  Napi::Value InputSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(mlp_->input_size()));
  }
  Napi::Value OutputSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(mlp_->output_size()));
  }
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), mlp_->precision() == CudaPrecision::kBf16 ? "bf16" : "f16");
  }

  class ForwardWorker : public CodedWorker {
   public:
    ForwardWorker(Napi::Env env, std::shared_ptr<const CudaMlp> mlp, std::vector<float> input, size_t batch)
        : CodedWorker(env, "fusionrank.cudaMlpForward"), mlp_(std::move(mlp)), input_(std::move(input)), batch_(batch) {}
    void Execute() override {
      Run([&] { output_ = mlp_->Forward(input_.data(), batch_); });
    }
    void OnOK() override {
      auto out = Napi::Float32Array::New(Env(), output_.size());
      std::copy(output_.begin(), output_.end(), out.Data());
      deferred_.Resolve(out);
    }

   private:
    std::shared_ptr<const CudaMlp> mlp_;
    std::vector<float> input_;
    size_t batch_;
    std::vector<float> output_;
  };

  // forward(x: Float32Array of batch x inputSize, batch) -> Promise<Float32Array>
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const Napi::Float32Array x = RequireFloat32Array(info, 0, "input");
    const uint32_t batch = RequireUint32(info, 1, "batch");
    if (batch == 0 || batch > CudaMlp::kMaxBatch)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
            "Expected a batch size in [1, " + std::to_string(CudaMlp::kMaxBatch) + "] but received " +
                std::to_string(batch));
    const size_t size = mlp_->input_size();
    if (x.ElementLength() != size_t(batch) * size)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected an input of " + std::to_string(batch) + " x " + std::to_string(size) + " floats but received " +
                std::to_string(x.ElementLength()));
    std::vector<float> copy;
    Guard(env, [&] { copy.assign(x.Data(), x.Data() + x.ElementLength()); });
    auto* worker = new ForwardWorker(env, mlp_, std::move(copy), batch);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  std::shared_ptr<CudaMlp> mlp_;
};

}  // namespace

void InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbe, "cudaProbe"));
  exports.Set("cudaSaxpy", Napi::Function::New(env, CudaSaxpyBinding, "cudaSaxpy"));
  exports.Set("cudaProbeH2D", Napi::Function::New(env, CudaProbeH2DBinding, "cudaProbeH2D"));
  exports.Set("CudaRowSet", CudaRowSetWrap::Define(env));
  exports.Set("CudaMlp", CudaMlpWrap::Define(env));
}

}  // namespace fr
#endif  // FR_CUDA

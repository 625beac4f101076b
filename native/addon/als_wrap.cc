// Bindings of the implicit ALS solver (core/als.h): fitAls runs on the libuv
// pool and every core it is given; alsGram and alsFoldIn are synchronous.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "../core/als.h"
#include "addon.h"

namespace fr {

namespace {

double RequireNumber(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber())
    throw Error(ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", std::string("Expected a number for options.") + key);
  return v.As<Napi::Number>().DoubleValue();
}

uint64_t RequireCount(const Napi::Object& o, const char* key, double max) {
  const double v = RequireNumber(o, key);
  if (!(v >= 0 && v <= max && std::floor(v) == v))
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
                std::string("Expected options.") + key + " to be an integer in [0, " + std::to_string(static_cast<uint64_t>(max)) + "]");
  return static_cast<uint64_t>(v);
}

Napi::Float32Array OptionalFloat32Array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Float32Array();
  return RequireFloat32Array(info, i, name);
}

Napi::Uint32Array RequireUint32Array(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Uint32Array a = OptionalUint32Array(info, i, name);
  if (a.IsEmpty())
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", std::string("Expected a Uint32Array for ") + name);
  return a;
}

class FitWorker : public Napi::AsyncWorker {
 public:
  FitWorker(Napi::Env env, const KernelTable& kernels, std::vector<uint32_t> users, std::vector<uint32_t> items,
            std::vector<float> weights, bool weighted, size_t n_users, size_t n_items, AlsOptions options,
            std::vector<float> user_init, std::vector<float> item_init)
      : Napi::AsyncWorker(env, "fusionrank.fitAls"),
        deferred_(Napi::Promise::Deferred::New(env)),
        kernels_(kernels),
        users_(std::move(users)),
        items_(std::move(items)),
        weights_(std::move(weights)),
        weighted_(weighted),
        n_users_(n_users),
        n_items_(n_items),
        options_(options),
        user_init_(std::move(user_init)),
        item_init_(std::move(item_init)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    MarkPoolThreadBatch();
    const auto failure = CatchAll([&] {
      const auto started = std::chrono::steady_clock::now();
      AlsInput input{users_.data(), items_.data(), weighted_ ? weights_.data() : nullptr, users_.size(), n_users_, n_items_,
                     user_init_.empty() ? nullptr : user_init_.data(), item_init_.empty() ? nullptr : item_init_.data()};
      result_ = FitAls(kernels_, input, options_);
      seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    });
    if (failure) {
      kind_ = failure->kind;
      code_ = failure->code;
      SetError(failure->message);
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    auto user_factors = Napi::Float32Array::New(env, result_.user_factors.size());
    std::copy(result_.user_factors.begin(), result_.user_factors.end(), user_factors.Data());
    auto item_factors = Napi::Float32Array::New(env, result_.item_factors.size());
    std::copy(result_.item_factors.begin(), result_.item_factors.end(), item_factors.Data());
    auto loss = Napi::Float64Array::New(env, result_.loss.size());
    std::copy(result_.loss.begin(), result_.loss.end(), loss.Data());
    out.Set("userFactors", user_factors);
    out.Set("itemFactors", item_factors);
    out.Set("loss", loss);
    out.Set("pairs", Napi::Number::New(env, static_cast<double>(result_.pairs)));
    out.Set("solveFlops", Napi::Number::New(env, result_.solve_flops));
    out.Set("seconds", Napi::Number::New(env, seconds_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), kind_, code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const KernelTable& kernels_;
  std::vector<uint32_t> users_, items_;
  std::vector<float> weights_;
  bool weighted_;
  size_t n_users_, n_items_;
  AlsOptions options_;
  std::vector<float> user_init_, item_init_;
  AlsResult result_;
  double seconds_ = 0;
  ErrorKind kind_ = ErrorKind::kError;
  const char* code_ = "ERR_FUSIONRANK_INTERNAL";
};

// fitAls(users, items, weights | null, nUsers, nItems, options) -> Promise<{ userFactors, itemFactors, loss, pairs, solveFlops, seconds }>
Napi::Value FitAlsBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto users = RequireUint32Array(info, 0, "users");
  auto items = RequireUint32Array(info, 1, "items");
  auto weights = OptionalFloat32Array(info, 2, "weights");
  const uint32_t n_users = RequireUint32(info, 3, "nUsers");
  const uint32_t n_items = RequireUint32(info, 4, "nItems");
  if (info.Length() <= 5 || !info[5].IsObject())
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected an options object");
  if (items.ElementLength() != users.ElementLength() || (!weights.IsEmpty() && weights.ElementLength() != users.ElementLength()))
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_LENGTH_MISMATCH", "Expected users, items and weights of the same length");
  AlsOptions options;
  Guard(env, [&] {
    const Napi::Object o = info[5].As<Napi::Object>();
    options.factors = RequireCount(o, "factors", kAlsMaxLd);
    options.regularization = RequireNumber(o, "regularization");
    options.alpha = RequireNumber(o, "alpha");
    options.iterations = static_cast<uint32_t>(RequireCount(o, "iterations", 1e6));
    options.cg_steps = static_cast<uint32_t>(RequireCount(o, "cgSteps", 1e4));
    options.seed = RequireCount(o, "seed", 4294967295.0);
    options.threads = static_cast<unsigned>(std::max<uint64_t>(1, RequireCount(o, "threads", 256)));
    options.loss = o.Get("loss").ToBoolean().Value();
  });
  const size_t n = users.ElementLength();
  std::vector<uint32_t> u(users.Data(), users.Data() + n), it(items.Data(), items.Data() + n);
  std::vector<float> w;
  if (!weights.IsEmpty()) w.assign(weights.Data(), weights.Data() + n);
  // Optional starting factors: userInit (nUsers × factors) and itemInit (nItems × factors).
  std::vector<float> inits[2];
  const char* init_names[2] = {"userInit", "itemInit"};
  const uint64_t init_rows[2] = {n_users, n_items};
  const Napi::Object o = info[5].As<Napi::Object>();
  for (int side = 0; side < 2; ++side) {
    Napi::Value v = o.Get(init_names[side]);
    if (v.IsUndefined() || v.IsNull()) continue;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", std::string("Expected a Float32Array for options.") + init_names[side]);
    auto a = v.As<Napi::Float32Array>();
    if (a.ElementLength() != init_rows[side] * options.factors)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_LENGTH_MISMATCH", std::string("Expected options.") + init_names[side] + " of rows · factors floats");
    inits[side].assign(a.Data(), a.Data() + a.ElementLength());
  }
  auto* worker = new FitWorker(env, *Data(env).kernels, std::move(u), std::move(it), std::move(w), !weights.IsEmpty(),
                               n_users, n_items, options, std::move(inits[0]), std::move(inits[1]));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// alsGram(rows, n, factors) -> Float64Array(factors²): rowsᵀrows.
Napi::Value AlsGramBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto rows = RequireFloat32Array(info, 0, "rows");
  const uint32_t n = RequireUint32(info, 1, "n");
  const uint32_t factors = RequireUint32(info, 2, "factors");
  if (factors < 1 || factors > kAlsMaxLd || uint64_t(n) * factors != rows.ElementLength())
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_LENGTH_MISMATCH", "Expected rows of length n · factors");
  std::vector<double> g = Guard(env, [&] { return Gram(rows.Data(), n, factors); });
  auto out = Napi::Float64Array::New(env, g.size());
  std::copy(g.begin(), g.end(), out.Data());
  return out;
}

// alsFoldIn(itemFactors, nItems, factors, gram, regularization, alpha, items, weights | null) -> Float32Array(factors)
Napi::Value AlsFoldInBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto item_factors = RequireFloat32Array(info, 0, "itemFactors");
  const uint32_t n_items = RequireUint32(info, 1, "nItems");
  const uint32_t factors = RequireUint32(info, 2, "factors");
  if (info.Length() <= 3 || !info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Float64Array for gram");
  auto gram = info[3].As<Napi::Float64Array>();
  if (info.Length() <= 5 || !info[4].IsNumber() || !info[5].IsNumber())
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected numbers for regularization and alpha");
  const double regularization = info[4].As<Napi::Number>().DoubleValue();
  const double alpha = info[5].As<Napi::Number>().DoubleValue();
  auto items = RequireUint32Array(info, 6, "items");
  auto weights = OptionalFloat32Array(info, 7, "weights");
  if (factors < 1 || factors > kAlsMaxLd || uint64_t(n_items) * factors != item_factors.ElementLength() ||
      gram.ElementLength() != uint64_t(factors) * factors || (!weights.IsEmpty() && weights.ElementLength() != items.ElementLength()))
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_LENGTH_MISMATCH",
          "Expected itemFactors of nItems · factors, gram of factors², and one weight per item");
  auto out = Napi::Float32Array::New(env, factors);
  Guard(env, [&] {
    AlsFoldIn(*Data(env).kernels, item_factors.Data(), n_items, factors, gram.Data(), regularization, alpha, items.Data(),
              weights.IsEmpty() ? nullptr : weights.Data(), items.ElementLength(), out.Data());
  });
  return out;
}

}  // namespace

void InitAls(Napi::Env env, Napi::Object exports) {
  exports.Set("fitAls", Napi::Function::New(env, FitAlsBinding, "fitAls"));
  exports.Set("alsGram", Napi::Function::New(env, AlsGramBinding, "alsGram"));
  exports.Set("alsFoldIn", Napi::Function::New(env, AlsFoldInBinding, "alsFoldIn"));
}

}  // namespace fr

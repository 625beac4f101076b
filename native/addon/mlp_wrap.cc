// JS binding of fr::Mlp. The TypeScript loader lowers ONNX / safetensors to a
// layer list; this file only re-checks it cheaply (a direct native call must
// not crash the process), copies async inputs on the main thread and runs the
// forward pass.
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <system_error>
#include <vector>

#include "../core/mlp.h"
#include "addon.h"

namespace fr {

namespace {

[[noreturn]] void ThrowSpec(Napi::Env env, const std::string& message) {
  Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", message);
}

Napi::Float32Array FloatProp(Napi::Env env, const Napi::Object& o, const char* key, size_t length,
                             bool optional, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return Napi::Float32Array();
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowSpec(env, "Expected a Float32Array for " + where + "." + key);
  auto a = v.As<Napi::Float32Array>();
  if (a.ElementLength() != length)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
          "Expected " + std::to_string(length) + " floats for " + where + "." + key +
              " but received " + std::to_string(a.ElementLength()));
  return a;
}

double NumberProp(Napi::Env env, const Napi::Object& o, const char* key, double fallback,
                  const std::string& where) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowSpec(env, "Expected a number for " + where + "." + key);
  return v.As<Napi::Number>().DoubleValue();
}

Activation ParseActivation(Napi::Env env, const Napi::Object& o, const std::string& where) {
  Napi::Value v = o.Get("activation");
  if (v.IsUndefined()) return Activation::kNone;
  if (!v.IsString()) ThrowSpec(env, "Expected a string for " + where + ".activation");
  const std::string name = v.As<Napi::String>().Utf8Value();
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "leakyRelu") return Activation::kLeakyRelu;
  if (name == "sigmoid") return Activation::kSigmoid;
  if (name == "tanh") return Activation::kTanh;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "geluTanh") return Activation::kGeluTanh;
  if (name == "silu") return Activation::kSilu;
  if (name == "softplus") return Activation::kSoftplus;
  if (name == "clip") return Activation::kClip;
  Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
        "Unknown activation '" + name + "' for " + where);
}

// An activation's parameters: LeakyRelu's slope in alpha (default 0.01);
// Clip's bounds in alpha and beta (default unbounded).
std::pair<float, float> ActivationParams(Napi::Env env, const Napi::Object& l, Activation act,
                                         const std::string& where) {
  const double inf = std::numeric_limits<double>::infinity();
  const bool clip = act == Activation::kClip;
  return {static_cast<float>(NumberProp(env, l, "alpha", clip ? -inf : 0.01, where)),
          static_cast<float>(NumberProp(env, l, "beta", clip ? inf : 0, where))};
}

// Input copies of large batches are reused across calls: a fresh multi-MB
// allocation per call costs more in page faults than the copy itself. At most
// two buffers of up to 32 MiB each are kept per model.
class BufferPool {
 public:
  // A buffer with capacity for `floats` when one is cached, else an empty one.
  std::vector<float> Take(size_t floats) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].capacity() >= floats &&
          (best == free_.size() || free_[i].capacity() < free_[best].capacity()))
        best = i;
    std::vector<float> out;
    if (best < free_.size()) {
      out = std::move(free_[best]);
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
    }
    return out;
  }

  void Give(std::vector<float> buffer) {
    const size_t bytes = buffer.capacity() * sizeof(float);
    if (bytes < kMinBytes || bytes > kMaxBytes) return;
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(buffer));
    if (free_.size() > kMaxBuffers) {
      size_t smallest = 0;
      for (size_t i = 1; i < free_.size(); ++i)
        if (free_[i].capacity() < free_[smallest].capacity()) smallest = i;
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(smallest));
    }
  }

 private:
  static constexpr size_t kMinBytes = size_t{256} << 10;
  static constexpr size_t kMaxBytes = size_t{32} << 20;
  static constexpr size_t kMaxBuffers = 2;
  std::mutex mutex_;
  std::vector<std::vector<float>> free_;
};

class FusionMlpWrap : public Napi::ObjectWrap<FusionMlpWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeFusionMlp",
                       {
                           InstanceMethod<&FusionMlpWrap::InputSize>("inputSize"),
                           InstanceMethod<&FusionMlpWrap::OutputSize>("outputSize"),
                           InstanceMethod<&FusionMlpWrap::FlopsPerRow>("flopsPerRow"),
                           InstanceMethod<&FusionMlpWrap::UseBf16>("useBf16"),
                           InstanceMethod<&FusionMlpWrap::Precision>("precision"),
                           InstanceMethod<&FusionMlpWrap::Predict>("predict"),
                           InstanceMethod<&FusionMlpWrap::PredictAsync>("predictAsync"),
                       });
  }

  // new NativeFusionMlp(inputSize, layers)
  explicit FusionMlpWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FusionMlpWrap>(info) {
    Napi::Env env = info.Env();
    const uint32_t input_size = RequireUint32(info, 0, "inputSize");
    if (info.Length() < 2 || !info[1].IsArray()) ThrowSpec(env, "Expected an array for layers");
    Napi::Array layers = info[1].As<Napi::Array>();
    Guard(env, [&] { mlp_ = std::make_shared<Mlp>(input_size); });
    for (uint32_t i = 0; i < layers.Length(); ++i) {
      const std::string where = "layers[" + std::to_string(i) + "]";
      Napi::Value lv = layers.Get(i);
      if (!lv.IsObject()) ThrowSpec(env, "Expected an object for " + where);
      Napi::Object l = lv.As<Napi::Object>();
      Napi::Value kv = l.Get("kind");
      if (!kv.IsString()) ThrowSpec(env, "Expected a string for " + where + ".kind");
      const std::string kind = kv.As<Napi::String>().Utf8Value();
      const size_t width = mlp_->output_size();
      if (kind == "dense") {
        const double out = NumberProp(env, l, "out", -1, where);
        if (!(out >= 1 && out <= Mlp::kMaxWidth) || out != static_cast<double>(static_cast<size_t>(out)))
          Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_MLP_SHAPE",
                "Expected an integer in [1, " + std::to_string(Mlp::kMaxWidth) + "] for " + where + ".out");
        const size_t n = static_cast<size_t>(out);
        auto weight = FloatProp(env, l, "weight", width * n, false, where);
        auto bias = FloatProp(env, l, "bias", n, true, where);
        const bool out_major = l.Get("outMajor").ToBoolean();
        const Activation act = ParseActivation(env, l, where);
        const auto [alpha, beta] = ActivationParams(env, l, act, where);
        Guard(env, [&] {
          mlp_->AddDense(n, weight.Data(), out_major, bias.IsEmpty() ? nullptr : bias.Data(), act,
                         alpha, beta);
        });
      } else if (kind == "layernorm") {
        auto scale = FloatProp(env, l, "scale", width, false, where);
        auto shift = FloatProp(env, l, "shift", width, true, where);
        const float eps = static_cast<float>(NumberProp(env, l, "epsilon", 1e-5, where));
        Guard(env, [&] { mlp_->AddLayerNorm(scale.Data(), shift.IsEmpty() ? nullptr : shift.Data(), eps); });
      } else if (kind == "affine") {
        auto scale = FloatProp(env, l, "scale", width, false, where);
        auto shift = FloatProp(env, l, "shift", width, false, where);
        Guard(env, [&] { mlp_->AddAffine(scale.Data(), shift.Data()); });
      } else if (kind == "activation") {
        const Activation act = ParseActivation(env, l, where);
        const auto [alpha, beta] = ActivationParams(env, l, act, where);
        Guard(env, [&] { mlp_->AddActivation(act, alpha, beta); });
      } else if (kind == "softmax") {
        Guard(env, [&] { mlp_->AddSoftmax(); });
      } else if (kind == "l2norm") {
        const float eps = static_cast<float>(NumberProp(env, l, "epsilon", 1e-12, where));
        const float scale = static_cast<float>(NumberProp(env, l, "scale", 1, where));
        Guard(env, [&] { mlp_->AddL2Normalize(eps, scale); });
      } else {
        Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
              "Unknown layer kind '" + kind + "' for " + where);
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
  // useBf16(on): dense layers in bfloat16 where the kernels have it (see
  // Mlp::UseBf16). Called once, before the model is shared.
  Napi::Value UseBf16(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const bool on = info.Length() > 0 && info[0].ToBoolean().Value();
    Guard(env, [&] { mlp_->UseBf16(on); });
    return env.Undefined();
  }

  // The precision predictions run at now, with this environment's kernels.
  Napi::Value Precision(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Napi::String::New(env, mlp_->bf16() && Data(env).kernels->gemm_bf16 ? "bf16" : "f32");
  }

  Napi::Value FlopsPerRow(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(mlp_->flops_per_row()));
  }

  size_t Batch(const Napi::CallbackInfo& info, size_t i) {
    const uint32_t batch = RequireUint32(info, i, "batch");
    if (batch == 0 || batch > Mlp::kMaxBatch)
      Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_BATCH",
            "Expected a batch size in [1, " + std::to_string(Mlp::kMaxBatch) + "] but received " +
                std::to_string(batch));
    return batch;
  }

  // Argument 0 is a Float32Array of batch x inputSize floats, or an array of
  // segments { data?, width, fill?, present? } covering inputSize together.
  // Returns a pointer to the flat rows: the caller's array when it is flat
  // and `copy` is false, else `storage`, filled here.
  const float* Input(const Napi::CallbackInfo& info, size_t batch, bool copy,
                     std::vector<float>& storage) {
    Napi::Env env = info.Env();
    const size_t size = mlp_->input_size();
    if (info.Length() > 0 && info[0].IsTypedArray()) {
      auto x = RequireFloat32Array(info, 0, "input");
      if (x.ElementLength() != batch * size)
        Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
              "Expected an input of " + std::to_string(batch) + " x " + std::to_string(size) +
                  " floats but received " + std::to_string(x.ElementLength()));
      if (!copy) return x.Data();
      storage = pool_->Take(x.ElementLength());
      storage.assign(x.Data(), x.Data() + x.ElementLength());
      return storage.data();
    }
    if (info.Length() == 0 || !info[0].IsArray())
      ThrowSpec(env, "Expected a Float32Array or an array of input segments for input");
    Napi::Array list = info[0].As<Napi::Array>();
    std::vector<InputSegment> segments(list.Length());
    // Handles kept alive by the CallbackInfo scope; data pointers are read now.
    size_t total = 0;
    for (uint32_t s = 0; s < list.Length(); ++s) {
      const std::string where = "input[" + std::to_string(s) + "]";
      Napi::Value sv = list.Get(s);
      if (!sv.IsObject()) ThrowSpec(env, "Expected an object for " + where);
      Napi::Object o = sv.As<Napi::Object>();
      const double w = NumberProp(env, o, "width", -1, where);
      if (!(w >= 1 && w <= size) || w != static_cast<double>(static_cast<size_t>(w)))
        Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
              "Expected an integer in [1, " + std::to_string(size) + "] for " + where + ".width");
      InputSegment& seg = segments[s];
      seg.width = static_cast<size_t>(w);
      total += seg.width;
      auto data = FloatProp(env, o, "data", batch * seg.width, true, where);
      auto fill = FloatProp(env, o, "fill", seg.width, true, where);
      seg.data = data.IsEmpty() ? nullptr : data.Data();
      seg.fill = fill.IsEmpty() ? nullptr : fill.Data();
      seg.present = nullptr;
      Napi::Value pv = o.Get("present");
      if (!pv.IsUndefined() && !pv.IsNull()) {
        if (!pv.IsTypedArray() || pv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
          ThrowSpec(env, "Expected a Uint8Array for " + where + ".present");
        auto present = pv.As<Napi::Uint8Array>();
        if (present.ElementLength() != batch)
          Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
                "Expected " + std::to_string(batch) + " flags for " + where + ".present");
        seg.present = present.Data();
      }
    }
    if (total != size)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Input segments cover " + std::to_string(total) + " features but the model takes " +
                std::to_string(size));
    Guard(env, [&] {
      storage = pool_->Take(batch * size);
      // Only grows (a reused buffer may be larger); every float is overwritten.
      if (storage.size() < batch * size) storage.resize(batch * size);
      GatherInputs(segments.data(), segments.size(), batch, storage.data());
    });
    return storage.data();
  }

  // predict(input, batch) -> Float32Array of batch x outputSize
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t batch = Batch(info, 1);
    std::vector<float> storage;
    const float* x = Input(info, batch, false, storage);
    auto out = Napi::Float32Array::New(env, batch * mlp_->output_size());
    Guard(env, [&] { mlp_->Forward(*Data(env).kernels, x, mlp_->input_size(), batch, out.Data()); });
    pool_->Give(std::move(storage));
    return out;
  }

  class PredictWorker : public Napi::AsyncWorker {
   public:
    PredictWorker(Napi::Env env, std::shared_ptr<const Mlp> mlp, std::shared_ptr<BufferPool> pool,
                  const KernelTable& kernels, std::vector<float> input, size_t batch,
                  unsigned threads)
        : Napi::AsyncWorker(env, "fusionrank.predictAsync"),
          deferred_(Napi::Promise::Deferred::New(env)),
          mlp_(std::move(mlp)),
          pool_(std::move(pool)),
          kernels_(kernels),
          input_(std::move(input)),
          batch_(batch),
          threads_(threads) {}

    ~PredictWorker() override { pool_->Give(std::move(input_)); }

    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      MarkPoolThreadBatch();
      const auto failure = CatchAll([&] {
        output_.resize(batch_ * mlp_->output_size());
        mlp_->ForwardParallel(kernels_, input_.data(), batch_, output_.data(), threads_);
      });
      if (failure) {
        code_ = failure->code;
        SetError(failure->message);
      }
    }
    void OnOK() override {
      auto out = Napi::Float32Array::New(Env(), output_.size());
      std::copy(output_.begin(), output_.end(), out.Data());
      deferred_.Resolve(out);
    }
    void OnError(const Napi::Error& e) override {
      deferred_.Reject(MakeError(Env(), ErrorKind::kError, code_, e.Message()).Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    std::shared_ptr<const Mlp> mlp_;  // kept alive even if the JS object is collected
    std::shared_ptr<BufferPool> pool_;
    const KernelTable& kernels_;
    std::vector<float> input_;
    size_t batch_;
    unsigned threads_;
    std::vector<float> output_;
    const char* code_ = "ERR_FUSIONRANK_INTERNAL";
  };

  // predictAsync(input, batch, threads) -> Promise<Float32Array>
  Napi::Value PredictAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t batch = Batch(info, 1);
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 2, "threads"), 256));
    std::vector<float> storage;
    Guard(env, [&] { Input(info, batch, true, storage); });
    auto* worker = new PredictWorker(env, mlp_, pool_, *Data(env).kernels, std::move(storage), batch,
                                     threads);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  std::shared_ptr<Mlp> mlp_;
  std::shared_ptr<BufferPool> pool_ = std::make_shared<BufferPool>();

 public:
  std::shared_ptr<const Mlp> mlp() const { return mlp_; }
};

}  // namespace

std::shared_ptr<const Mlp> MlpFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).mlp_ctor.Value()))
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a NativeFusionMlp");
  return FusionMlpWrap::Unwrap(value.As<Napi::Object>())->mlp();
}

void InitFusionMlp(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = FusionMlpWrap::Define(env);
  Data(env).mlp_ctor = Napi::Persistent(ctor);
  exports.Set("NativeFusionMlp", ctor);
}

}  // namespace fr

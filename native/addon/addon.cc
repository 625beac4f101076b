// Module entry: capability queries, the ISA override, the physical-limit
// probes, and registration of the classes.
#include "addon.h"

#include <cstdlib>
#include <cstring>

#include "../core/aligned.h"
#include "../core/cpu.h"
#include "../core/kernels/kernels.h"

namespace fr {

static bool IsDetached(Napi::Env env, napi_value buffer) {
  bool detached = false;
  napi_is_detached_arraybuffer(env, buffer, &detached);
  return detached;
}

static void RequireLive(const Napi::CallbackInfo& info, const Napi::TypedArray& array,
                        const char* name) {
  if (IsDetached(info.Env(), array.ArrayBuffer()))
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_DETACHED_BUFFER",
          std::string(name) + " is backed by a detached ArrayBuffer");
}

Napi::Float32Array RequireFloat32Array(const Napi::CallbackInfo& info, size_t i,
                                       const char* name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a Float32Array for ") + name);
  auto array = info[i].As<Napi::Float32Array>();
  RequireLive(info, array, name);
  return array;
}

Napi::Uint32Array OptionalUint32Array(const Napi::CallbackInfo& info, size_t i,
                                      const char* name) {
  if (info.Length() <= i || info[i].IsUndefined() || info[i].IsNull()) return Napi::Uint32Array();
  if (!info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a Uint32Array for ") + name);
  auto array = info[i].As<Napi::Uint32Array>();
  RequireLive(info, array, name);
  return array;
}

uint32_t RequireUint32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber())
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a number for ") + name);
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 4294967295.0) || v != static_cast<double>(static_cast<uint64_t>(v)))
    Throw(info.Env(), ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a non-negative 32-bit integer for ") + name);
  return static_cast<uint32_t>(v);
}

std::string RequireString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString())
    Throw(info.Env(), ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          std::string("Expected a string for ") + name);
  return info[i].As<Napi::String>().Utf8Value();
}

static Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", IsaName(Data(env).kernels->isa));
  out.Set("best", IsaName(DetectBestIsa()));
  Napi::Array available = Napi::Array::New(env);
  uint32_t i = 0;
  for (Isa isa : AvailableIsas()) available.Set(i++, IsaName(isa));
  out.Set("available", available);
  out.Set("bf16", CpuHasAvx512Bf16());
  return out;
}

// Selects the kernels this environment uses. Only tiers this CPU runs are
// accepted: forcing a newer one would crash on an illegal instruction.
static Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string name = RequireString(info, 0, "isa");
  Isa isa;
  if (!ParseIsa(name, &isa))
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_ISA",
          "Unknown instruction set '" + name + "'");
  if (!IsaAvailable(isa))
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_ISA_UNAVAILABLE",
          "Instruction set '" + name + "' is not supported by this CPU");
  Data(env).kernels = &KernelsFor(isa);
  return Napi::String::New(env, IsaName(Data(env).kernels->isa));
}

static Napi::Value IsDetachedBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) return Napi::Boolean::New(env, false);
  return Napi::Boolean::New(env, IsDetached(env, info[0]));
}

// FMA-throughput probe: returns { flops, value } for `iterations` rounds.
static Napi::Value ProbeFma(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t iterations = RequireUint32(info, 0, "iterations");
  const KernelTable& k = *Data(env).kernels;
  const float value = k.probe_fma(iterations, 1.0f);
  Napi::Object out = Napi::Object::New(env);
  out.Set("flops", static_cast<double>(iterations) * k.probe_fma_flops_per_iteration);
  out.Set("value", value);
  return out;
}

// The graph-navigation code kernel on its own, for tests:
// scoreU4(query: Int8Array, codes: Uint8Array, stride, rows: Uint32Array,
// cdim) -> Int32Array. Checks every bound the kernel relies on, and copies
// into aligned buffers.
static Napi::Value ScoreU4(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[3].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int8_array ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[3].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT",
          "Expected (Int8Array, Uint8Array, stride, Uint32Array, cdim)");
  const auto query = info[0].As<Napi::Int8Array>();
  const auto codes = info[1].As<Napi::Uint8Array>();
  const auto rows = info[3].As<Napi::Uint32Array>();
  const uint32_t stride = RequireUint32(info, 2, "stride");
  const uint32_t cdim = RequireUint32(info, 4, "cdim");
  if (cdim == 0 || cdim % kU4Block || stride % 64 || stride < cdim / 2 || query.ElementLength() != cdim)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Inconsistent code layout");
  const size_t code_rows = codes.ElementLength() / stride;
  for (size_t i = 0; i < rows.ElementLength(); ++i)
    if (rows[i] >= code_rows) Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_ROW_OUT_OF_RANGE", "Row out of range");
  AlignedPtr<int8_t> q = AllocateAligned<int8_t>(cdim);
  std::memcpy(q.get(), query.Data(), cdim);
  AlignedPtr<uint8_t> c = AllocateAligned<uint8_t>(codes.ElementLength());
  if (codes.ElementLength()) std::memcpy(c.get(), codes.Data(), codes.ElementLength());
  auto out = Napi::Int32Array::New(env, rows.ElementLength());
  Data(env).kernels->score_u4(q.get(), c.get(), stride, rows.Data(), rows.ElementLength(), cdim, out.Data());
  return out;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->kernels = &KernelsFor(DetectBestIsa());
  env.SetInstanceData(data);  // deleted by N-API when this environment ends
  // The real process environment; worker threads with their own `env` are
  // handled by the TypeScript loader through setIsa.
  if (const char* forced = std::getenv("FUSIONRANK_ISA")) {
    Isa isa;
    if (ParseIsa(forced, &isa) && IsaAvailable(isa)) data->kernels = &KernelsFor(isa);
  }
  exports.Set("capabilities", Napi::Function::New(env, Capabilities, "capabilities"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetachedBuffer, "isDetached"));
  exports.Set("probeFma", Napi::Function::New(env, ProbeFma, "probeFma"));
  exports.Set("scoreU4", Napi::Function::New(env, ScoreU4, "scoreU4"));
  InitVectorStore(env, exports);
  InitFusionMlp(env, exports);
  InitCatalog(env, exports);
  InitRanker(env, exports);
  InitAls(env, exports);
#if defined(FR_CUDA)
  InitCuda(env, exports);  // the CUDA package only (FR_CUDA=ON)
#endif
  return exports;
}

}  // namespace fr

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return fr::Init(env, exports);
}

NODE_API_MODULE(fusionrank, InitModule)

// Per-instance addon state (one per Node environment, so worker threads are
// independent) and the one exception policy shared by every binding.
#pragma once
#include <napi.h>

#include <string>

#include "../core/error.h"
#include "../core/kernels/kernels.h"

namespace fr {

struct AddonData {
  const KernelTable* kernels = nullptr;
  Napi::FunctionReference vector_store_ctor;
  Napi::FunctionReference catalog_ctor;
  Napi::FunctionReference mlp_ctor;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Builds a JS error of the right class with `code` set.
inline Napi::Error MakeError(Napi::Env env, ErrorKind kind, const char* code,
                             const std::string& message) {
  Napi::Error err = kind == ErrorKind::kTypeError    ? Napi::TypeError::New(env, message)
                    : kind == ErrorKind::kRangeError ? Napi::RangeError::New(env, message)
                                                     : Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

[[noreturn]] inline void Throw(Napi::Env env, ErrorKind kind, const char* code,
                               const std::string& message) {
  throw MakeError(env, kind, code, message);
}

// Runs a binding body and converts core errors and allocation failures into
// JS errors; Napi::Error passes through untouched.
template <typename Fn>
auto Guard(Napi::Env env, Fn&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    Throw(env, e.kind(), e.code(), e.what());
  } catch (const std::bad_alloc&) {
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY", "Out of memory");
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    // Anything else escaping a binding would terminate the process.
    Throw(env, ErrorKind::kError, "ERR_FUSIONRANK_INTERNAL", e.what());
  }
}

// Cheap argument guards: TypeScript validates with full messages first; these
// only make sure a direct native call cannot crash the process.
Napi::Float32Array RequireFloat32Array(const Napi::CallbackInfo& info, size_t i, const char* name);
// Returns an empty handle when the argument is undefined or null.
Napi::Uint32Array OptionalUint32Array(const Napi::CallbackInfo& info, size_t i, const char* name);
uint32_t RequireUint32(const Napi::CallbackInfo& info, size_t i, const char* name);
std::string RequireString(const Napi::CallbackInfo& info, size_t i, const char* name);

void InitVectorStore(Napi::Env env, Napi::Object exports);
void InitFusionMlp(Napi::Env env, Napi::Object exports);
void InitCatalog(Napi::Env env, Napi::Object exports);
void InitRanker(Napi::Env env, Napi::Object exports);

}  // namespace fr

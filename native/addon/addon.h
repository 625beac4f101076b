// Per-instance addon state (one per Node environment, so worker threads are
// independent) and the one exception policy shared by every binding.
#pragma once
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

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

// Called at the start of every CPU-bound job fusionrank runs on the libuv
// pool (rankAsync, predictAsync, topKAsync). On Linux it moves the pool
// thread to SCHED_BATCH once: same CPU share and niceness, but its wakeups
// no longer preempt the running thread. Without it, queueing a request woke
// a pool thread on the event loop's own core and, in ~1 % of requests, the
// loop was descheduled for a whole request (~1 ms of wall time inside
// uv_queue_work, measured with 13-64 us of the loop's own CPU time). The
// pool threads keep the policy for any later work (fs, zlib, ...), which
// then cannot preempt the event loop either. FUSIONRANK_SCHED_BATCH=0 opts
// out. Errors are ignored: the job runs either way.
inline void MarkPoolThreadBatch() {
#if defined(__linux__) && defined(SCHED_BATCH)
  static thread_local bool marked = false;
  if (marked) return;
  marked = true;
  static const bool enabled = [] {
    const char* value = std::getenv("FUSIONRANK_SCHED_BATCH");
    return !(value && std::strcmp(value, "0") == 0);
  }();
  if (!enabled) return;
  int policy = 0;
  sched_param param{};
  if (pthread_getschedparam(pthread_self(), &policy, &param) != 0 || policy != SCHED_OTHER) return;
  param.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
#endif
}

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

// What a job on a pool thread threw, as the worker's error: its code, kind
// and message. A C++ exception escaping AsyncWorker::Execute would terminate
// the process, so every Execute runs its body through CatchAll.
struct JobFailure {
  ErrorKind kind;
  const char* code;
  std::string message;
};

template <typename Fn>
std::optional<JobFailure> CatchAll(Fn&& body) {
  try {
    body();
    return std::nullopt;
  } catch (const Error& e) {
    return JobFailure{e.kind(), e.code(), e.what()};
  } catch (const std::bad_alloc&) {
    return JobFailure{ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY", "Out of memory"};
  } catch (const std::system_error& e) {
    return JobFailure{ErrorKind::kError, "ERR_FUSIONRANK_INTERNAL", std::string("Could not start a worker thread: ") + e.what()};
  } catch (const std::exception& e) {
    return JobFailure{ErrorKind::kError, "ERR_FUSIONRANK_INTERNAL", e.what()};
  } catch (...) {
    return JobFailure{ErrorKind::kError, "ERR_FUSIONRANK_INTERNAL", "Unknown native error"};
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
void InitAls(Napi::Env env, Napi::Object exports);
#if defined(FR_CUDA)
void InitCuda(Napi::Env env, Napi::Object exports);  // native/cuda/cuda_wrap.cc
#endif

}  // namespace fr

// Bindings of the CUDA package's extra exports (cudaProbe, cudaSaxpy),
// registered by addon.cc's Init when built with FR_CUDA=ON. Outside that
// build this file compiles to nothing (binding.gyp / the CPU packages never
// list it, but it must not break a build that globs it).
#if defined(FR_CUDA)
#include <cmath>
#include <string>

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

void InitCuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbe, "cudaProbe"));
  exports.Set("cudaSaxpy", Napi::Function::New(env, CudaSaxpyBinding, "cudaSaxpy"));
}

}  // namespace fr
#endif  // FR_CUDA

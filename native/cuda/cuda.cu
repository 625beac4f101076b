// Runtime-API probe and the trivial kernel of the CUDA package. The runtime
// is linked statically (cudart_static): it finds libcuda.so.1 (the driver)
// when first called, so the addon loads on machines without a driver and
// the probe reports what is missing.
#include "cuda.h"

#include <cuda_runtime.h>

#include <string>

#include "../core/error.h"

namespace fr {
namespace {

std::string Describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// Maps a runtime error to the addon's error classes and codes.
[[noreturn]] void ThrowCuda(cudaError_t e, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  const std::string message = std::string(what) + " failed (" + Describe(e) + ")";
  switch (e) {
    case cudaErrorMemoryAllocation:
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY", message);
    case cudaErrorInsufficientDriver:
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInitializationError:
      throw Error(ErrorKind::kError, "ERR_FUSIONRANK_CUDA_UNAVAILABLE", message);
    default:
      throw Error(ErrorKind::kError, "ERR_FUSIONRANK_CUDA_FAILED", message);
  }
}

inline void Check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) ThrowCuda(e, what);
}

__global__ void SaxpyKernel(float a, const float* __restrict__ x, const float* __restrict__ y,
                            float* __restrict__ out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = fmaf(a, x[i], y[i]);
}

// Device buffers freed on every path (a throw included).
struct DeviceBuffer {
  float* ptr = nullptr;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
};

}  // namespace

CudaProbeResult ProbeCuda() {
  CudaProbeResult r;
  cudaRuntimeGetVersion(&r.runtime_version);
  if (cudaDriverGetVersion(&r.driver_version) != cudaSuccess) r.driver_version = 0;
  const cudaError_t e = cudaGetDeviceCount(&r.device_count);
  if (e != cudaSuccess) {
    cudaGetLastError();
    r.device_count = 0;
    r.error = Describe(e);
    // cudaDriverGetVersion reports 0 when libcuda.so.1 cannot be loaded at all.
    if (e == cudaErrorInsufficientDriver || e == cudaErrorCallRequiresNewerDriver)
      r.status = r.driver_version == 0 ? CudaStatus::kNoDriver : CudaStatus::kDriverTooOld;
    else if (e == cudaErrorNoDevice)
      r.status = CudaStatus::kNoDevice;
    else
      r.status = CudaStatus::kError;
    return r;
  }
  int supported = 0;
  for (int i = 0; i < r.device_count; ++i) {
    cudaDeviceProp prop{};
    CudaDevice d;
    d.index = i;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess) {
      d.name = prop.name;
      d.major = prop.major;
      d.minor = prop.minor;
      d.memory_bytes = prop.totalGlobalMem;
      d.supported = prop.major * 10 + prop.minor >= kCudaMinComputeCapability;
    } else {
      cudaGetLastError();
    }
    supported += d.supported;
    r.devices.push_back(d);
  }
  r.status = r.device_count == 0 ? CudaStatus::kNoDevice
             : supported == 0    ? CudaStatus::kNoSupportedDevice
                                 : CudaStatus::kOk;
  return r;
}

void CudaSaxpy(int device, float a, const float* x, const float* y, float* out, size_t n) {
  if (n == 0) return;
  Check(cudaSetDevice(device), "cudaSetDevice");
  const size_t bytes = n * sizeof(float);
  DeviceBuffer dx, dy, dout;
  Check(cudaMalloc(&dx.ptr, bytes), "cudaMalloc");
  Check(cudaMalloc(&dy.ptr, bytes), "cudaMalloc");
  Check(cudaMalloc(&dout.ptr, bytes), "cudaMalloc");
  Check(cudaMemcpy(dx.ptr, x, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  Check(cudaMemcpy(dy.ptr, y, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  const unsigned threads = 256;
  const size_t wanted = (n + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(wanted < 65535 ? wanted : 65535);
  SaxpyKernel<<<blocks, threads>>>(a, dx.ptr, dy.ptr, dout.ptr, n);
  Check(cudaGetLastError(), "SaxpyKernel launch");
  Check(cudaMemcpy(out, dout.ptr, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

}  // namespace fr

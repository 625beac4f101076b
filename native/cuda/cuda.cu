// Runtime-API probe and the trivial kernel of the CUDA package. The runtime
// is linked statically (cudart_static): it finds libcuda.so.1 (the driver)
// when first called, so the addon loads on machines without a driver and
// the probe reports what is missing.
#include "cuda.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../core/error.h"
#include "cuda_internal.cuh"

namespace fr {

using namespace cuda_detail;

namespace {

__global__ void SaxpyKernel(float a, const float* __restrict__ x, const float* __restrict__ y,
                            float* __restrict__ out, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = fmaf(a, x[i], y[i]);
}

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
  DeviceArray<float> dx, dy, dout;
  dx.Allocate(n, "cudaSaxpy's x");
  dy.Allocate(n, "cudaSaxpy's y");
  dout.Allocate(n, "cudaSaxpy's output");
  Check(cudaMemcpy(dx.get(), x, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  Check(cudaMemcpy(dy.get(), y, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  const unsigned threads = 256;
  const size_t wanted = (n + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(wanted < 65535 ? wanted : 65535);
  SaxpyKernel<<<blocks, threads>>>(a, dx.get(), dy.get(), dout.get(), n);
  Check(cudaGetLastError(), "SaxpyKernel launch");
  Check(cudaMemcpy(out, dout.get(), bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

CudaCopyTiming CudaProbeH2D(int device, size_t bytes) {
  if (bytes == 0)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a positive byte count for bytes");
  UseDevice(device);
  PinnedArray<unsigned char> host;
  host.Allocate(bytes, "cudaProbeH2D");
  std::fill(host.get(), host.get() + bytes, static_cast<unsigned char>(1));  // fault every page in first
  DeviceArray<unsigned char> dev;
  dev.Allocate(bytes, "cudaProbeH2D's device buffer");
  Stream stream;
  Event start(true), stop(true);
  // One warm-up copy (first-touch costs in the driver), then the median of five.
  Check(cudaMemcpyAsync(dev.get(), host.get(), bytes, cudaMemcpyHostToDevice, stream.get()), "cudaMemcpyAsync");
  stream.Synchronize();
  std::vector<float> ms;
  for (int i = 0; i < 5; ++i) {
    start.Record(stream.get());
    Check(cudaMemcpyAsync(dev.get(), host.get(), bytes, cudaMemcpyHostToDevice, stream.get()), "cudaMemcpyAsync");
    stop.Record(stream.get());
    stop.Synchronize();
    float elapsed = 0;
    Check(cudaEventElapsedTime(&elapsed, start.get(), stop.get()), "cudaEventElapsedTime");
    ms.push_back(elapsed);
  }
  std::sort(ms.begin(), ms.end());
  CudaCopyTiming t;
  t.seconds = ms[ms.size() / 2] / 1e3;
  t.gb_per_sec = t.seconds > 0 ? static_cast<double>(bytes) / t.seconds / 1e9 : 0;
  return t;
}

}  // namespace fr

// The CUDA part of the core: plain C++ (no Node, no CUDA headers), so the
// addon glue compiles with the host compiler alone. Implemented in cuda.cu,
// built only with FR_CUDA=ON (the @fusionrank/linux-x64-gnu-cuda package).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace fr {

// Why CUDA cannot be used, when it cannot. kOk: at least one supported device.
enum class CudaStatus { kOk, kNoDriver, kDriverTooOld, kNoDevice, kNoSupportedDevice, kError };

struct CudaDevice {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t memory_bytes = 0;
  bool supported = false;    // this build has code for it (sm_75 or newer)
};

struct CudaProbeResult {
  CudaStatus status = CudaStatus::kError;
  int driver_version = 0;   // the CUDA version the driver supports, e.g. 12040; 0 without a driver
  int runtime_version = 0;  // the CUDA runtime linked in, e.g. 13000
  int device_count = 0;     // every device the driver reports
  std::string error;        // "cudaErrorInsufficientDriver: ..." when a call failed
  std::vector<CudaDevice> devices;
};

// Never throws for a missing driver or device: that is the result. Creates
// no CUDA context (only the driver is initialised).
CudaProbeResult ProbeCuda();

// out[i] = a * x[i] + y[i] on `device` (synchronous). Throws fr::Error:
// ERR_FUSIONRANK_CUDA_UNAVAILABLE (no driver / device / kernel image),
// ERR_FUSIONRANK_OUT_OF_MEMORY, ERR_FUSIONRANK_CUDA_FAILED (anything else).
void CudaSaxpy(int device, float a, const float* x, const float* y, float* out, size_t n);

// The oldest compute capability this build has machine code or PTX for.
constexpr int kCudaMinComputeCapability = 75;

}  // namespace fr

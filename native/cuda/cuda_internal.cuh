// Shared by the .cu files of the CUDA package: the mapping of runtime errors
// to the addon's codes, and RAII owners for device memory, pinned host
// memory, streams and events, so every path (a throw included) frees what it
// took. Host-side only; nothing here is visible outside native/cuda/.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "../core/error.h"

namespace fr {
namespace cuda_detail {

inline std::string Describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// Maps a runtime error to the addon's error classes and codes.
[[noreturn]] inline void ThrowCuda(cudaError_t e, const char* what) {
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

inline std::string MiB(size_t bytes) {
  return std::to_string((bytes + (size_t{1} << 19)) >> 20) + " MiB";
}

// Free device memory, for sizing work and for out-of-memory messages.
inline size_t FreeDeviceBytes() {
  size_t free_bytes = 0, total = 0;
  if (cudaMemGetInfo(&free_bytes, &total) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return free_bytes;
}

[[noreturn]] inline void ThrowOutOfMemory(const std::string& what, size_t needed) {
  throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
              what + " needs " + std::to_string(needed) + " bytes (" + MiB(needed) +
                  ") of GPU memory, but only " + std::to_string(FreeDeviceBytes()) + " bytes (" +
                  MiB(FreeDeviceBytes()) + ") are free");
}

// a * b, or a coded error when it does not fit a size_t.
inline size_t CheckedMul(size_t a, size_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a)
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
                std::string(what) + " is too large to address");
  return a * b;
}

inline size_t RoundUp(size_t n, size_t m) { return (n + m - 1) / m * m; }

// Makes `device` current on the calling thread (pool threads start with
// device 0, and the runtime's current device is per thread).
inline void UseDevice(int device) { Check(cudaSetDevice(device), "cudaSetDevice"); }

template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  ~DeviceArray() { Reset(); }

  // Allocates `count` elements; an allocation failure is a coded
  // out-of-memory error naming `what`, the bytes needed and the bytes free.
  void Allocate(size_t count, const std::string& what) {
    Reset();
    if (count == 0) return;
    const size_t bytes = CheckedMul(count, sizeof(T), what.c_str());
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ThrowOutOfMemory(what, bytes);
    }
    Check(e, "cudaMalloc");
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void Reset() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

// Page-locked host memory: the only kind an async copy really overlaps with.
template <class T>
class PinnedArray {
 public:
  PinnedArray() = default;
  PinnedArray(const PinnedArray&) = delete;
  PinnedArray& operator=(const PinnedArray&) = delete;
  PinnedArray(PinnedArray&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  PinnedArray& operator=(PinnedArray&& o) noexcept {
    if (this != &o) {
      Reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  ~PinnedArray() { Reset(); }

  // Returns false (nothing allocated) when the host cannot pin that much.
  bool TryAllocate(size_t count) {
    Reset();
    if (count == 0) return true;
    void* p = nullptr;
    if (cudaHostAlloc(&p, CheckedMul(count, sizeof(T), "A pinned host buffer"), cudaHostAllocDefault) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    ptr_ = static_cast<T*>(p);
    count_ = count;
    return true;
  }
  void Allocate(size_t count, const char* what) {
    if (!TryAllocate(count))
      throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_OUT_OF_MEMORY",
                  std::string(what) + " could not pin " + std::to_string(count * sizeof(T)) +
                      " bytes of host memory");
  }
  void Reset() {
    if (ptr_) cudaFreeHost(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

class Stream {
 public:
  Stream() { Check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking), "cudaStreamCreate"); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t get() const { return s_; }
  void Synchronize() const { Check(cudaStreamSynchronize(s_), "cudaStreamSynchronize"); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  explicit Event(bool timing = false) {
    Check(cudaEventCreateWithFlags(&e_, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreate");
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  cudaEvent_t get() const { return e_; }
  void Record(cudaStream_t s) { Check(cudaEventRecord(e_, s), "cudaEventRecord"); }
  void Synchronize() const { Check(cudaEventSynchronize(e_), "cudaEventSynchronize"); }

 private:
  cudaEvent_t e_ = nullptr;
};

// Launch errors are reported by cudaGetLastError; faults inside a kernel
// surface at the next synchronisation, which Check also maps.
inline void CheckLaunch(const char* what) { Check(cudaGetLastError(), what); }

}  // namespace cuda_detail
}  // namespace fr

// CUDA runtime helpers of api.h: availability, streams, memory. Every CUDA
// error becomes cuda::Error("<call>: <cudaGetErrorName>: <text>").
#include <cuda_runtime.h>

#include <string>

#include "cuda/api.h"
#include "cuda/common.cuh"

namespace f2g {
namespace cuda {

void throw_error(const char* call, cudaError_t e) {
  throw Error(std::string(call) + ": " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

std::string unavailable_reason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess) return n > 0 ? "" : "no device";
  cudaGetLastError();  // clear the sticky-free error state of this thread
  if (e == cudaErrorNoDevice) return "no device";
  // cudaErrorInsufficientDriver (no driver, or one older than the runtime),
  // cudaErrorInitializationError and the like: the driver cannot be used.
  return "no driver";
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

DeviceInfo device_info(int device) {
  cudaDeviceProp p;
  F2G_CUDA(cudaGetDeviceProperties(&p, device), "deviceInfo");
  DeviceInfo d;
  d.name = p.name;
  d.major = p.major;
  d.minor = p.minor;
  d.memory = p.totalGlobalMem;
  cudaRuntimeGetVersion(&d.runtime_version);
  cudaDriverGetVersion(&d.driver_version);
  return d;
}

void require_device(const char* call) {
  const std::string why = unavailable_reason();
  if (!why.empty()) throw Error(std::string(call) + ": CUDA is not available (" + why + ")");
}

void set_device(int device, const char* call) { F2G_CUDA(cudaSetDevice(device), call); }

Stream stream_create(const char* call) {
  cudaStream_t s = nullptr;
  F2G_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), call);
  return s;
}
void stream_destroy(Stream s) noexcept {
  if (s) cudaStreamDestroy(static_cast<cudaStream_t>(s));
}
void stream_sync(Stream s, const char* call) {
  F2G_CUDA(cudaGetLastError(), call);
  F2G_CUDA(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), call);
}

void* malloc_device(std::size_t bytes, const char* call) {
  void* p = nullptr;
  F2G_CUDA(cudaMalloc(&p, bytes ? bytes : 1), call);
  return p;
}
void free_device(void* p) noexcept {
  if (p) cudaFree(p);
}
void* malloc_async(std::size_t bytes, Stream s, const char* call) {
  void* p = nullptr;
  F2G_CUDA(cudaMallocAsync(&p, bytes ? bytes : 1, static_cast<cudaStream_t>(s)), call);
  return p;
}
void free_async(void* p, Stream s) noexcept {
  if (p) cudaFreeAsync(p, static_cast<cudaStream_t>(s));
}
void memset_async(void* d, int value, std::size_t bytes, Stream s, const char* call) {
  F2G_CUDA(cudaMemsetAsync(d, value, bytes, static_cast<cudaStream_t>(s)), call);
}
void copy_h2d(void* d_dst, const void* src, std::size_t bytes, Stream s, const char* call) {
  F2G_CUDA(cudaMemcpyAsync(d_dst, src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s)), call);
}
void copy_d2h(void* dst, const void* d_src, std::size_t bytes, Stream s, const char* call) {
  F2G_CUDA(cudaMemcpyAsync(dst, d_src, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(s)), call);
}
void copy_d2d(void* d_dst, const void* d_src, std::size_t bytes, Stream s, const char* call) {
  F2G_CUDA(cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(s)),
           call);
}
void check_launch(const char* call) { F2G_CUDA(cudaGetLastError(), call); }

}  // namespace cuda
}  // namespace f2g

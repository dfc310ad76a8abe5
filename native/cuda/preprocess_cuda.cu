// GPU rendering of model inputs: one thread per output pixel, running the shared MG_HD render_pixel.
// Built only where nvcc exists; linked with the static cudart so the addon needs no CUDA libraries
// at load time, and every entry point degrades to "unavailable" on a machine with no driver or GPU.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../preprocess.h"
#include "cuda_support.h"

namespace mg {

namespace {

__global__ void RenderKernel(SourceView source, RenderSpec spec, float* out) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < spec.out_w && y < spec.out_h) render_pixel(source, spec, x, y, out);
}


// Device buffers reused across calls by the same worker thread (cudaMalloc per frame would dominate).
struct DeviceScratch {
  uint8_t* source = nullptr;
  size_t source_bytes = 0;
  float* output = nullptr;
  size_t output_bytes = 0;
  ~DeviceScratch() {
    if (source) cudaFree(source);
    if (output) cudaFree(output);
  }
  void Reserve(size_t src, size_t dst) {
    if (src > source_bytes) {
      if (source) cudaFree(source);
      source = nullptr;
      CudaCheck(cudaMalloc(&source, src), "cudaMalloc(source)");
      source_bytes = src;
    }
    if (dst > output_bytes) {
      if (output) cudaFree(output);
      output = nullptr;
      CudaCheck(cudaMalloc(&output, dst), "cudaMalloc(output)");
      output_bytes = dst;
    }
  }
};

}  // namespace

CudaProbe ProbeCuda() {
  CudaProbe probe;
  probe.built = true;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    probe.reason = std::string("CUDA runtime reports: ") + cudaGetErrorString(status);
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return probe;
  }
  probe.device_count = count;
  probe.available = count > 0;
  probe.reason = count > 0 ? std::to_string(count) + " CUDA device(s) found" : "no CUDA device";
  return probe;
}

void RenderCuda(const SourceView& source, const RenderSpec& spec, float* out, int device_id) {
  thread_local DeviceScratch scratch;
  CudaCheck(cudaSetDevice(device_id), "cudaSetDevice");
  const size_t src_bytes = SourceSpanBytes(source);
  const size_t dst_bytes = sizeof(float) * 3 * (size_t)spec.out_w * spec.out_h;
  scratch.Reserve(src_bytes, dst_bytes);
  CudaCheck(cudaMemcpy(scratch.source, source.plane0, src_bytes, cudaMemcpyHostToDevice), "cudaMemcpy(to device)");
  const SourceView device_view = RebasedSource(source, scratch.source);
  const dim3 block(16, 16);
  const dim3 grid((spec.out_w + block.x - 1) / block.x, (spec.out_h + block.y - 1) / block.y);
  RenderKernel<<<grid, block>>>(device_view, spec, scratch.output);
  CudaCheck(cudaGetLastError(), "render kernel launch");
  CudaCheck(cudaMemcpy(out, scratch.output, dst_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(to host)");
}

}  // namespace mg

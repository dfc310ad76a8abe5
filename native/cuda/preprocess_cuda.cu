// GPU rendering of model inputs: one thread per output pixel, running the shared MG_HD render_pixel.
// Built only where nvcc exists; linked with the static cudart so the addon needs no CUDA libraries
// at load time, and every entry point degrades to "unavailable" on a machine with no driver or GPU.
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "../preprocess.h"

namespace mg {

namespace {

__global__ void RenderKernel(SourceView source, RenderSpec spec, float* out) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < spec.out_w && y < spec.out_h) render_pixel(source, spec, x, y, out);
}

void Check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
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
      Check(cudaMalloc(&source, src), "cudaMalloc(source)");
      source_bytes = src;
    }
    if (dst > output_bytes) {
      if (output) cudaFree(output);
      output = nullptr;
      Check(cudaMalloc(&output, dst), "cudaMalloc(output)");
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
  Check(cudaSetDevice(device_id), "cudaSetDevice");
  // Copy the planes as one block, up to the last byte of the last plane's last row (the caller's buffer may
  // end there: the last row needs no stride padding). Plane offsets stay relative to plane0.
  const uint8_t* begin = source.plane0;
  const int chroma_w = (source.width + 1) / 2;
  const int chroma_h = (source.height + 1) / 2;
  const uint8_t* end = nullptr;
  switch (source.format) {
    case PixelFormat::RGB: end = source.plane0 + (size_t)source.stride0 * (source.height - 1) + 3 * (size_t)source.width; break;
    case PixelFormat::RGBA: end = source.plane0 + (size_t)source.stride0 * (source.height - 1) + 4 * (size_t)source.width; break;
    case PixelFormat::I420: end = source.plane2 + (size_t)source.stride2 * (chroma_h - 1) + chroma_w; break;
    case PixelFormat::NV12: end = source.plane1 + (size_t)source.stride1 * (chroma_h - 1) + 2 * (size_t)chroma_w; break;
  }
  const size_t src_bytes = (size_t)(end - begin);
  const size_t dst_bytes = sizeof(float) * 3 * (size_t)spec.out_w * spec.out_h;
  scratch.Reserve(src_bytes, dst_bytes);
  Check(cudaMemcpy(scratch.source, begin, src_bytes, cudaMemcpyHostToDevice), "cudaMemcpy(to device)");
  SourceView device_view = source;
  device_view.plane0 = scratch.source;
  if (source.plane1) device_view.plane1 = scratch.source + (source.plane1 - begin);
  if (source.plane2) device_view.plane2 = scratch.source + (source.plane2 - begin);
  const dim3 block(16, 16);
  const dim3 grid((spec.out_w + block.x - 1) / block.x, (spec.out_h + block.y - 1) / block.y);
  RenderKernel<<<grid, block>>>(device_view, spec, scratch.output);
  Check(cudaGetLastError(), "render kernel launch");
  Check(cudaMemcpy(out, scratch.output, dst_bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(to host)");
}

}  // namespace mg

// The cuda kind of BatchMemory (../batch_memory.h): a batch's input tensor in GPU memory, filled by one launch.
//
// It compiles in CI (nvcc, no GPU) and its host-side twin (batch_memory_host.cc) runs in the tests. On a GPU it has
// run only inside mesoguard-render-parity (an H100, 2026-11-27): its uploads, descriptors and launch gave every item
// exactly its RenderCpu render. With ONNX Runtime's GPU providers (the addon's device batches) it has NEVER RUN.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "../batch_memory.h"
#include "cuda_support.h"

namespace mg {

namespace {

struct ItemDescriptor {  // one item as the kernel reads it: its source in device memory, and its spec
  SourceView source;
  RenderSpec spec;
};

// x, y: output pixel; z: batch item. Every item writes its own item_floats slice of `out`.
__global__ void RenderBatchKernel(const ItemDescriptor* items, float* out, size_t item_floats) {
  const ItemDescriptor& item = items[blockIdx.z];
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x < item.spec.out_w && y < item.spec.out_h) render_pixel(item.source, item.spec, x, y, out + blockIdx.z * item_floats);
}

constexpr size_t kAlign = 256;
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// A device buffer that only grows.
struct DeviceBuffer {
  void* data = nullptr;
  size_t bytes = 0;
  ~DeviceBuffer() { if (data) cudaFree(data); }
  void* Reserve(size_t n) {
    if (n > bytes) {
      if (data) cudaFree(data);
      data = nullptr;
      bytes = 0;
      CudaCheck(cudaMalloc(&data, n), "cudaMalloc");
      bytes = n;
    }
    return data;
  }
};

class CudaBatchMemory : public BatchMemory {
 public:
  CudaBatchMemory(int device_id, void* stream) : device_id_(device_id) {
    CudaCheck(cudaSetDevice(device_id_), "cudaSetDevice");
    if (stream) {
      stream_ = static_cast<cudaStream_t>(stream);
    } else {
      CudaCheck(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
      own_stream_ = true;
    }
  }
  ~CudaBatchMemory() override {
    if (stream_) cudaStreamSynchronize(stream_);
    if (staging_) cudaFreeHost(staging_);
    if (own_stream_) cudaStreamDestroy(stream_);
  }

  const char* device() const override { return "cuda"; }
  const char* ort_memory_name() const override { return "Cuda"; }
  int device_id() const override { return device_id_; }

  float* Render(const std::vector<BatchItem>& items, size_t item_floats) override {
    CudaCheck(cudaSetDevice(device_id_), "cudaSetDevice");
    // Staging layout: the item descriptors, then each distinct frame once (a frame with several faces is one upload).
    const size_t descriptors_bytes = AlignUp(sizeof(ItemDescriptor) * items.size());
    std::unordered_map<const uint8_t*, size_t> frame_offset;
    std::vector<const SourceView*> frames;
    size_t total = descriptors_bytes;
    for (const BatchItem& item : items) {
      if (frame_offset.emplace(item.source.plane0, total).second) {
        frames.push_back(&item.source);
        total += AlignUp(SourceSpanBytes(item.source));
      }
    }
    // The staging buffer is rewritten below: the previous batch's upload from it must be over (also after a failure).
    CudaCheck(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(previous batch)");
    ReserveStaging(total);
    uint8_t* device_base = static_cast<uint8_t*>(upload_.Reserve(total));
    for (const SourceView* frame : frames) {
      std::memcpy(staging_ + frame_offset[frame->plane0], frame->plane0, SourceSpanBytes(*frame));
    }
    ItemDescriptor* descriptors = reinterpret_cast<ItemDescriptor*>(staging_);
    int max_w = 0, max_h = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      descriptors[i].source = RebasedSource(items[i].source, device_base + frame_offset[items[i].source.plane0]);
      descriptors[i].spec = items[i].spec;
      max_w = std::max(max_w, items[i].spec.out_w);
      max_h = std::max(max_h, items[i].spec.out_h);
    }
    CudaCheck(cudaMemcpyAsync(device_base, staging_, total, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync(frames)");
    float* input = static_cast<float*>(input_.Reserve(sizeof(float) * item_floats * items.size()));
    const dim3 block(16, 16);
    const dim3 grid((max_w + block.x - 1) / block.x, (max_h + block.y - 1) / block.y, (unsigned)items.size());
    RenderBatchKernel<<<grid, block, 0, stream_>>>(reinterpret_cast<const ItemDescriptor*>(device_base), input, item_floats);
    CudaCheck(cudaGetLastError(), "batch render kernel launch");
    // Where ONNX Runtime runs on another stream (it was not given ours), it must not start before the render ends.
    if (own_stream_) CudaCheck(cudaStreamSynchronize(stream_), "batch render");
    return input;
  }

  float* Output(size_t index, size_t floats) override {
    if (outputs_.size() <= index) outputs_.resize(index + 1);
    return static_cast<float*>(outputs_[index].Reserve(sizeof(float) * floats));
  }

  void CopyToHost(const float* src, float* dst, size_t floats) override {
    CudaCheck(cudaMemcpyAsync(dst, src, sizeof(float) * floats, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync(outputs)");
    CudaCheck(cudaStreamSynchronize(stream_), "cudaStreamSynchronize(outputs)");
  }

 private:
  void ReserveStaging(size_t n) {
    if (n <= staging_bytes_) return;
    if (staging_) cudaFreeHost(staging_);
    staging_ = nullptr;
    staging_bytes_ = 0;
    CudaCheck(cudaHostAlloc(reinterpret_cast<void**>(&staging_), n, cudaHostAllocDefault), "cudaHostAlloc(staging)");
    staging_bytes_ = n;
  }

  int device_id_;
  cudaStream_t stream_ = nullptr;
  bool own_stream_ = false;
  uint8_t* staging_ = nullptr;  // pinned: the upload is a true async DMA
  size_t staging_bytes_ = 0;
  DeviceBuffer upload_;  // descriptors + frames
  DeviceBuffer input_;   // the batch's input tensor
  std::vector<DeviceBuffer> outputs_;
};

}  // namespace

std::unique_ptr<BatchMemory> MakeCudaBatchMemory(int device_id, void* stream) {
  return std::make_unique<CudaBatchMemory>(device_id, stream);
}

void* CreateCudaStream(int device_id) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device_id >= count || cudaSetDevice(device_id) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error: no GPU here is not a failure of later calls
    return nullptr;
  }
  cudaStream_t stream = nullptr;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return stream;
}

void DestroyCudaStream(void* stream) {
  if (stream) cudaStreamDestroy(static_cast<cudaStream_t>(stream));
}

}  // namespace mg

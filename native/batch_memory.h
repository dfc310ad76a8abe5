// Where a device batch's tensors live, and how a batch's items are rendered there (native/device_batch.h runs
// them). Two kinds share this interface, so the batch assembly and IoBinding code is one:
//   host (batch_memory_host.cc): CPU memory, each item rendered by RenderCpu. Runs everywhere, so the tests
//        exercise device batches on the CPU provider (scorer option deviceBatches: "host").
//   cuda (cuda/batch_memory_cuda.cu): GPU memory; each distinct frame of the batch is uploaded once through a
//        pinned staging buffer, and one kernel launch renders every item into the batch's input tensor.
//        Its upload and launch ran on an H100 in mesoguard-render-parity (every item equal to RenderCpu); with
//        ONNX Runtime's GPU providers (IoBinding on its memory) it has NEVER RUN (none was at hand).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "pixel_math.h"
#include "preprocess.h"

namespace mg {

// One batch item: `spec` rendered from `source` (host memory, kept alive by the item's owner).
struct BatchItem {
  SourceView source;
  RenderSpec spec;
  bool detector_input = false;  // a detector letterbox: the CPU renders it with RenderDetectorCpu
};

// An item rendered on the CPU (host batch memory, the host fallback, the canary's CPU side).
inline void RenderItemCpu(const BatchItem& item, float* out) {
  if (item.detector_input) {
    RenderDetectorCpu(item.source, item.spec, out);
  } else {
    RenderCpu(item.source, item.spec, out);
  }
}

class BatchMemory {
 public:
  virtual ~BatchMemory() = default;
  virtual const char* device() const = 0;           // where items are rendered: "cpu" | "cuda"
  virtual const char* ort_memory_name() const = 0;  // the OrtMemoryInfo name of this memory: "Cpu" | "Cuda"
  virtual int device_id() const = 0;
  // Renders items[i] into input + i * item_floats, all of them, and returns input (in this memory; valid until the
  // next Render). Throws std::runtime_error.
  virtual float* Render(const std::vector<BatchItem>& items, size_t item_floats) = 0;
  // A buffer of `floats` in this memory for output `index` (valid until the next call for that index).
  virtual float* Output(size_t index, size_t floats) = 0;
  // Copies `floats` from `src` (this memory, after the run) to host memory. Throws std::runtime_error.
  virtual void CopyToHost(const float* src, float* dst, size_t floats) = 0;
};

std::unique_ptr<BatchMemory> MakeHostBatchMemory();

// GPU `device_id`. `stream` (a cudaStream_t, or null for one of its own) is the stream ONNX Runtime was given as its
// user compute stream, so rendering and inference are ordered on it without a host wait. Throws std::runtime_error
// where the addon was built without CUDA or the device does not answer. Ran on an H100 in the parity check (see above).
std::unique_ptr<BatchMemory> MakeCudaBatchMemory(int device_id, void* stream);

// A CUDA stream on `device_id` for ONNX Runtime's CUDA/TensorRT providers and the cuda batch memory to share;
// null where CUDA is not built or no device answers. Never run on a GPU yet.
void* CreateCudaStream(int device_id);
void DestroyCudaStream(void* stream);

}  // namespace mg

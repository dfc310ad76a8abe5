// Built instead of preprocess_cuda.cu and batch_memory_cuda.cu where nvcc is absent (and always by node-gyp): CUDA is "not built".
#include <stdexcept>

#include "../batch_memory.h"
#include "../preprocess.h"

namespace mg {

CudaProbe ProbeCuda() {
  CudaProbe probe;
  probe.reason = "this addon was built without CUDA (no nvcc at build time, or the node-gyp CPU build)";
  return probe;
}

void RenderCuda(const SourceView&, const RenderSpec&, float*, int) {
  throw std::runtime_error("this addon was built without CUDA");
}

std::unique_ptr<BatchMemory> MakeCudaBatchMemory(int, void*) {
  throw std::runtime_error("this addon was built without CUDA");
}

void* CreateCudaStream(int) { return nullptr; }

void DestroyCudaStream(void*) {}

}  // namespace mg

// Built instead of preprocess_cuda.cu where nvcc is absent (and always by node-gyp): CUDA is "not built".
#include <stdexcept>

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

}  // namespace mg

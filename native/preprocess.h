// Frame -> model input: resize a whole decoded frame to out_w x out_h planar RGB in [0,1].
#pragma once

#include <string>

#include "pixel_math.h"

namespace mg {

// CPU path: the same per-pixel function the CUDA kernel runs, in a plain loop.
void PreprocessCpu(const SourceView& source, ResizeMode mode, int out_w, int out_h, float* planar_out);

// CUDA path (native/cuda/). Where the addon was built without CUDA, or no driver/device exists, it is
// unavailable and `reason` says why; callers then use the CPU path.
struct CudaProbe {
  bool built = false;      // compiled with nvcc
  bool available = false;  // a device answered
  int device_count = 0;
  std::string reason;
};
CudaProbe ProbeCuda();

// Same contract as PreprocessCpu, computed on GPU `device_id` (output copied back to host memory).
// Throws std::runtime_error on any CUDA failure.
void PreprocessCuda(const SourceView& source, ResizeMode mode, int out_w, int out_h, float* planar_out, int device_id);

}  // namespace mg

// Frame -> model input tensors: renders a RenderSpec (whole-frame resize, letterbox, rotated face crop) into floats.
#pragma once

#include <string>

#include "pixel_math.h"

namespace mg {

// CPU path: the same values the shared per-pixel function (render_pixel, which the CUDA kernel runs) gives,
// bit for bit, computed with less work around it (a loop per pixel format and resize mode).
void RenderCpu(const SourceView& source, const RenderSpec& spec, float* out);

// The definition itself: render_pixel for every output pixel, in a plain loop. The reference the fast path is
// tested against (preprocess() with device "cpu-reference"), and the bench's baseline.
void RenderCpuReference(const SourceView& source, const RenderSpec& spec, float* out);

// The CPU detector's input: RenderCpu, except that an area render with an axis-aligned affine (BlazeFace's
// letterbox) sums each footprint separably, down the columns of its source rows and then across its columns, in
// exact integers (packed RGB) or doubles (YUV), rounded once: within 1e-6 of the definition's floats
// (test/native/renderFast.test.ts), not bit for bit, at a fraction of the cost. Only the CPU renders of detector
// inputs use it; the CUDA kernel and RenderCpu keep the definition, so the GPU parity check compares exact paths.
void RenderDetectorCpu(const SourceView& source, const RenderSpec& spec, float* out);

// The frame rows [*begin, *end) that rendering `spec` (an affine render: a face crop, a region's letterbox) can read
// from a frame `height` rows high: the bilinear taps, area footprints and nearest points of its output pixels, plus
// two rows for float rounding, clamped to the frame. False for a whole-frame spec and for non-finite geometry: every
// row may be read.
bool SourceRowsRead(const RenderSpec& spec, int height, int* begin, int* end);

// CUDA path (native/cuda/). Where the addon was built without CUDA, or no driver/device exists, it is
// unavailable and `reason` says why; callers then use the CPU path.
struct CudaProbe {
  bool built = false;      // compiled with nvcc
  bool available = false;  // a device answered
  int device_count = 0;
  std::string reason;
};
CudaProbe ProbeCuda();

// Same contract as RenderCpu, computed on GPU `device_id` (output copied back to host memory).
// Throws std::runtime_error on any CUDA failure.
void RenderCuda(const SourceView& source, const RenderSpec& spec, float* out, int device_id);

}  // namespace mg

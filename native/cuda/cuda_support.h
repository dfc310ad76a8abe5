// What the CUDA sources share: error checks, and the bytes a decoded frame's planes span.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../pixel_math.h"

namespace mg {

inline void CudaCheck(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

// The planes as one block from plane0, up to the last byte of the last plane's last row (the caller's buffer may end
// there: the last row needs no stride padding). Plane offsets stay relative to plane0.
inline size_t SourceSpanBytes(const SourceView& source) {
  const int chroma_w = (source.width + 1) / 2;
  const int chroma_h = (source.height + 1) / 2;
  const uint8_t* end = nullptr;
  switch (source.format) {
    case PixelFormat::RGB: end = source.plane0 + (size_t)source.stride0 * (source.height - 1) + 3 * (size_t)source.width; break;
    case PixelFormat::RGBA: end = source.plane0 + (size_t)source.stride0 * (source.height - 1) + 4 * (size_t)source.width; break;
    case PixelFormat::I420: end = source.plane2 + (size_t)source.stride2 * (chroma_h - 1) + chroma_w; break;
    case PixelFormat::NV12: end = source.plane1 + (size_t)source.stride1 * (chroma_h - 1) + 2 * (size_t)chroma_w; break;
  }
  return (size_t)(end - source.plane0);
}

// `source` with its planes moved to `base`, where its SourceSpanBytes were copied.
inline SourceView RebasedSource(const SourceView& source, const uint8_t* base) {
  SourceView moved = source;
  moved.plane0 = base;
  if (source.plane1) moved.plane1 = base + (source.plane1 - source.plane0);
  if (source.plane2) moved.plane2 = base + (source.plane2 - source.plane0);
  return moved;
}

}  // namespace mg

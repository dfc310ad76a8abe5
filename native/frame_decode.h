// Frames as they arrive from JS (JPEG bytes or raw RGB/RGBA/I420/NV12) and their decoding into a SourceView.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "pixel_math.h"

namespace mg {

// An error tied to one frame: it rejects that frame's promise with `code` and touches nothing else.
struct FrameError : std::runtime_error {
  std::string code;
  FrameError(std::string c, const std::string& message) : std::runtime_error(message), code(std::move(c)) {}
};

enum class FrameKind : int { Jpeg = 0, Rgb = 1, Rgba = 2, I420 = 3, Nv12 = 4, Png = 5 };

// Largest side any decoder accepts. Frames are also capped by the caller's maxFramePixels, always before allocating
// (src/scoring/scorerOptions.ts owns its default and its ceiling).
constexpr int kMaxFrameSide = 16384;

// The error for a frame over `max_pixels` (ERR_INVALID_INPUT), saying how to raise the cap.
[[noreturn]] void ThrowOverPixelCap(int width, int height, int64_t max_pixels);

struct FrameInput {
  FrameKind kind = FrameKind::Jpeg;
  std::vector<uint8_t> bytes;  // a copy of the caller's buffer: the worker must not read JS memory
  int width = 0;               // raw formats only
  int height = 0;
  int stride0 = 0;  // 0 = tightly packed default
  int stride1 = 0;
  int stride2 = 0;
  int64_t max_pixels = 0;  // the frame-pixel cap its declared size is checked against, before any allocation
};

// A decoded frame: owns the pixels it points at (for JPEG) or borrows the FrameInput's bytes (raw).
struct DecodedFrame {
  SourceView view{};
  std::vector<uint8_t> owned;
};

// Checks a raw frame's dimensions, strides and that `byte_length` bytes hold it; fills in default strides.
// Throws FrameError.
void ValidateRawLayout(FrameInput& in, size_t byte_length);

// Decodes/validates `in` into a view. JPEG goes through libjpeg-turbo, PNG through libpng; raw formats are only
// validated. `in` must outlive the result. Throws FrameError: ERR_INVALID_INPUT, ERR_JPEG_DECODE, ERR_PNG_DECODE.
DecodedFrame DecodeFrame(FrameInput& in);

// The frame rows a caller will read, [begin, end); `end` 0 = all of them.
struct RowRange {
  int begin = 0, end = 0;
};

// DecodeFrame, where a JPEG may decode only `rows` (`*partial` says whether it did): those rows bit for bit as the
// whole frame decodes them (libjpeg-turbo skips the rows above with the upsampler's context kept), the others 0.
// Reading stops after the last of them, so damage further down the stream is not seen; a warning (corrupt data)
// in what is read is an error, as for a whole frame. Other kinds decode whole.
DecodedFrame DecodeFrameRows(FrameInput& in, RowRange rows, bool* partial);

const char* FrameKindName(FrameKind kind);

// A rectangle of a frame painted one value in every channel: occlusion sensitivity (src/scan/occlusion.ts).
struct OcclusionCell {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // columns [x1, x2), rows [y1, y2), frame pixels
  uint8_t value = 0;
};

// Throws FrameError ERR_INVALID_ARG unless `frame` is a raw RGB frame (its layout validated) and `cell` a
// non-empty rectangle inside it.
void CheckOcclusionCell(const FrameInput& frame, const OcclusionCell& cell);
// Paints `cell` of the (checked) RGB frame with cell.value; every other byte, row padding included, is untouched.
void OccludeRgb(FrameInput& frame, const OcclusionCell& cell);

// RGB (interleaved, tightly packed) -> JPEG bytes, 4:2:0. Throws std::runtime_error.
std::vector<uint8_t> EncodeJpegRgb(const uint8_t* rgb, int width, int height, int quality);

}  // namespace mg

#include "frame_decode.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include <jpeglib.h>

namespace mg {

namespace {

void CheckDimensions(int width, int height, int64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    throw FrameError("ERR_INVALID_INPUT", "frame width and height must be positive, got " + std::to_string(width) +
                                              "x" + std::to_string(height));
  }
  if (width > kMaxFrameSide || height > kMaxFrameSide) {
    throw FrameError("ERR_INVALID_INPUT", "frame " + std::to_string(width) + "x" + std::to_string(height) +
                                              " is larger than the limit of " + std::to_string(kMaxFrameSide) +
                                              " per side");
  }
  if ((int64_t)width * height > max_pixels) ThrowOverPixelCap(width, height, max_pixels);
}

void CheckStride(const char* name, int stride, int64_t min_stride) {
  if (stride < min_stride) {
    throw FrameError("ERR_INVALID_INPUT", std::string(name) + " " + std::to_string(stride) +
                                              " is smaller than the row size " + std::to_string(min_stride));
  }
}

struct TjHandleCloser {
  void operator()(void* h) const { tjDestroy(h); }
};

// libjpeg's error handling for DecodeJpegRows: an error, or a warning (corrupt data, as TJFLAG_STOPONWARNING
// treats it), jumps back with the message.
struct JpegErrorJump {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void JumpOnJpegError(j_common_ptr info) {
  JpegErrorJump* error = reinterpret_cast<JpegErrorJump*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

void JumpOnJpegWarning(j_common_ptr info, int level) {
  if (level < 0) JumpOnJpegError(info);  // level >= 0: trace messages
}

// Rows [begin, end) of a width x height JPEG into `rgb` (its whole frame's size, packed RGB), with TurboJPEG's
// defaults (RGB out, the accurate integer IDCT, fancy upsampling). False with `message` on any error. No C++
// object lives between the setjmp and a longjmp.
bool DecodeJpegRows(const FrameInput& in, int width, int height, int begin, int end, uint8_t* rgb, std::string* message) {
  jpeg_decompress_struct info;
  std::memset(&info, 0, sizeof(info));
  JpegErrorJump error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = JumpOnJpegError;
  error.manager.emit_message = JumpOnJpegWarning;
  error.message[0] = 0;
  if (setjmp(error.jump)) {
    *message = error.message;
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, in.bytes.data(), (unsigned long)in.bytes.size());
  jpeg_read_header(&info, TRUE);
  info.out_color_space = JCS_EXT_RGB;
  jpeg_start_decompress(&info);
  if ((int)info.output_width != width || (int)info.output_height != height || info.output_components != 3) {
    std::snprintf(error.message, sizeof(error.message), "the decoder's output is %ux%u x %d, not the header's %dx%d RGB",
                  info.output_width, info.output_height, info.output_components, width, height);
    *message = error.message;
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_skip_scanlines(&info, (JDIMENSION)begin);
  while ((int)info.output_scanline < end) {
    JSAMPROW row = rgb + (size_t)info.output_scanline * width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_destroy_decompress(&info);  // the rest of the stream is never read
  return true;
}

DecodedFrame DecodeJpeg(const FrameInput& in, RowRange rows, bool* partial) {
  if (in.bytes.size() < 4 || in.bytes[0] != 0xFF || in.bytes[1] != 0xD8) {
    throw FrameError("ERR_JPEG_DECODE", "not a JPEG: the data does not start with the SOI marker FF D8");
  }
  std::unique_ptr<void, TjHandleCloser> handle(tjInitDecompress());
  if (!handle) throw FrameError("ERR_JPEG_DECODE", "libjpeg-turbo could not create a decompressor");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), in.bytes.data(), (unsigned long)in.bytes.size(), &width, &height,
                          &subsampling, &colorspace) != 0) {
    throw FrameError("ERR_JPEG_DECODE", std::string("bad JPEG header: ") + tjGetErrorStr2(handle.get()));
  }
  // libjpeg-turbo accepts a tables-only (abbreviated) stream here and reports 0x0: a stream cut off before
  // its frame header lands here too. Either way there is no image to decode.
  if (width <= 0 || height <= 0) {
    throw FrameError("ERR_JPEG_DECODE", "JPEG has no frame header (truncated, or a tables-only stream)");
  }
  CheckDimensions(width, height, in.max_pixels);
  DecodedFrame out;
  out.owned.resize((size_t)width * height * 3);
  out.view = SourceView{PixelFormat::RGB, width, height, out.owned.data(), nullptr, nullptr, width * 3, 0, 0};
  const int begin = std::min(height, std::max(0, rows.begin)), end = rows.end > 0 ? std::min(height, rows.end) : height;
  *partial = begin > 0 || end < height;
  if (*partial) {
    std::string message;
    if (!DecodeJpegRows(in, width, height, begin, std::max(begin, end), out.owned.data(), &message)) {
      throw FrameError("ERR_JPEG_DECODE", "JPEG decode failed: " + message);
    }
    return out;
  }
  // Default flags: accurate integer IDCT and fancy upsampling, as PIL (and so Keras load_img) decodes.
  // STOPONWARNING: a truncated or corrupt stream is an error, never a half-grey image scored as real.
  if (tjDecompress2(handle.get(), in.bytes.data(), (unsigned long)in.bytes.size(), out.owned.data(), width,
                    width * 3, height, TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
    throw FrameError("ERR_JPEG_DECODE", std::string("JPEG decode failed: ") + tjGetErrorStr2(handle.get()));
  }
  return out;
}

DecodedFrame DecodePng(const FrameInput& in) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (in.bytes.size() < 8 || std::memcmp(in.bytes.data(), kSignature, 8) != 0) {
    throw FrameError("ERR_PNG_DECODE", "not a PNG: the data does not start with the PNG signature");
  }
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, in.bytes.data(), in.bytes.size())) {
    throw FrameError("ERR_PNG_DECODE", std::string("bad PNG: ") + image.message);
  }
  const int width = (int)image.width, height = (int)image.height;
  try {
    CheckDimensions(width, height, in.max_pixels);
  } catch (...) {
    png_image_free(&image);
    throw;
  }
  image.format = PNG_FORMAT_RGB;  // alpha is composited onto black, 16-bit and palettes converted
  DecodedFrame out;
  out.owned.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.owned.data(), 0, nullptr)) {
    const std::string message = image.message;
    png_image_free(&image);
    throw FrameError("ERR_PNG_DECODE", "PNG decode failed: " + message);
  }
  out.view = SourceView{PixelFormat::RGB, width, height, out.owned.data(), nullptr, nullptr, width * 3, 0, 0};
  return out;
}

}  // namespace

void ThrowOverPixelCap(int width, int height, int64_t max_pixels) {
  throw FrameError("ERR_INVALID_INPUT",
                   "frame " + std::to_string(width) + "x" + std::to_string(height) + " (" +
                       std::to_string((int64_t)width * height) + " pixels) is over the frame-pixel cap of " +
                       std::to_string(max_pixels) +
                       "; raise it with the scorer option maxFramePixels (server: --max-frame-pixels)");
}

std::vector<uint8_t> EncodeJpegRgb(const uint8_t* rgb, int width, int height, int quality) {
  std::unique_ptr<void, TjHandleCloser> handle(tjInitCompress());
  if (!handle) throw std::runtime_error("libjpeg-turbo could not create a compressor");
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  if (tjCompress2(handle.get(), rgb, width, width * 3, height, TJPF_RGB, &jpeg, &size, TJSAMP_420, quality, 0) != 0) {
    const std::string message = tjGetErrorStr2(handle.get());
    tjFree(jpeg);
    throw std::runtime_error("JPEG encode failed: " + message);
  }
  std::vector<uint8_t> out(jpeg, jpeg + size);
  tjFree(jpeg);
  return out;
}

const char* FrameKindName(FrameKind kind) {
  switch (kind) {
    case FrameKind::Jpeg: return "jpeg";
    case FrameKind::Rgb: return "rgb";
    case FrameKind::Rgba: return "rgba";
    case FrameKind::I420: return "i420";
    case FrameKind::Nv12: return "nv12";
    case FrameKind::Png: return "png";
  }
  return "unknown";
}

void ValidateRawLayout(FrameInput& in, size_t byte_length) {
  if (in.kind == FrameKind::Jpeg || in.kind == FrameKind::Png) return;
  CheckDimensions(in.width, in.height, in.max_pixels);
  const int64_t w = in.width, h = in.height;
  const int64_t chroma_w = (w + 1) / 2, chroma_h = (h + 1) / 2;
  int64_t needed = 0;
  switch (in.kind) {
    case FrameKind::Rgb:
    case FrameKind::Rgba: {
      const int64_t bpp = in.kind == FrameKind::Rgb ? 3 : 4;
      if (in.stride0 == 0) in.stride0 = (int)(w * bpp);
      CheckStride("stride", in.stride0, w * bpp);
      needed = (int64_t)in.stride0 * (h - 1) + w * bpp;
      break;
    }
    case FrameKind::I420: {
      if (in.stride0 == 0) in.stride0 = (int)w;
      if (in.stride1 == 0) in.stride1 = (int)chroma_w;
      if (in.stride2 == 0) in.stride2 = in.stride1;
      CheckStride("strideY", in.stride0, w);
      CheckStride("strideU", in.stride1, chroma_w);
      CheckStride("strideV", in.stride2, chroma_w);
      needed = (int64_t)in.stride0 * h + (int64_t)in.stride1 * chroma_h + (int64_t)in.stride2 * (chroma_h - 1) + chroma_w;
      break;
    }
    case FrameKind::Nv12: {
      if (in.stride0 == 0) in.stride0 = (int)w;
      if (in.stride1 == 0) in.stride1 = (int)(2 * chroma_w);
      CheckStride("strideY", in.stride0, w);
      CheckStride("strideUV", in.stride1, 2 * chroma_w);
      needed = (int64_t)in.stride0 * h + (int64_t)in.stride1 * (chroma_h - 1) + 2 * chroma_w;
      break;
    }
    case FrameKind::Jpeg:
    case FrameKind::Png: break;
  }
  if ((int64_t)byte_length < needed) {
    throw FrameError("ERR_INVALID_INPUT", std::string(FrameKindName(in.kind)) + " frame " + std::to_string(w) + "x" +
                                              std::to_string(h) + " needs " + std::to_string(needed) +
                                              " bytes with these strides, got " + std::to_string(byte_length));
  }
}

DecodedFrame DecodeFrame(FrameInput& in) {
  bool partial = false;
  return DecodeFrameRows(in, RowRange{}, &partial);
}

DecodedFrame DecodeFrameRows(FrameInput& in, RowRange rows, bool* partial) {
  *partial = false;
  if (in.kind == FrameKind::Jpeg) return DecodeJpeg(in, rows, partial);
  if (in.kind == FrameKind::Png) return DecodePng(in);
  ValidateRawLayout(in, in.bytes.size());
  DecodedFrame out;
  const uint8_t* base = in.bytes.data();
  const int64_t h = in.height, chroma_h = (h + 1) / 2;
  switch (in.kind) {
    case FrameKind::Rgb:
      out.view = SourceView{PixelFormat::RGB, in.width, in.height, base, nullptr, nullptr, in.stride0, 0, 0};
      break;
    case FrameKind::Rgba:
      out.view = SourceView{PixelFormat::RGBA, in.width, in.height, base, nullptr, nullptr, in.stride0, 0, 0};
      break;
    case FrameKind::I420: {
      const uint8_t* u = base + (int64_t)in.stride0 * h;
      const uint8_t* v = u + (int64_t)in.stride1 * chroma_h;
      out.view = SourceView{PixelFormat::I420, in.width, in.height, base, u, v, in.stride0, in.stride1, in.stride2};
      break;
    }
    case FrameKind::Nv12: {
      const uint8_t* uv = base + (int64_t)in.stride0 * h;
      out.view = SourceView{PixelFormat::NV12, in.width, in.height, base, uv, nullptr, in.stride0, in.stride1, 0};
      break;
    }
    case FrameKind::Jpeg:
    case FrameKind::Png: break;
  }
  return out;
}

void CheckOcclusionCell(const FrameInput& frame, const OcclusionCell& cell) {
  if (frame.kind != FrameKind::Rgb) throw FrameError("ERR_INVALID_ARG", "occlusion takes an rgb frame");
  if (!(0 <= cell.x1 && cell.x1 < cell.x2 && cell.x2 <= frame.width && 0 <= cell.y1 && cell.y1 < cell.y2 && cell.y2 <= frame.height)) {
    throw FrameError("ERR_INVALID_ARG", "an occlusion cell must be a non-empty [x1, y1, x2, y2] inside the " +
                                            std::to_string(frame.width) + "x" + std::to_string(frame.height) + " frame");
  }
}

void OccludeRgb(FrameInput& frame, const OcclusionCell& cell) {
  for (int y = cell.y1; y < cell.y2; ++y) {
    uint8_t* row = frame.bytes.data() + (size_t)y * frame.stride0;
    std::fill(row + (size_t)cell.x1 * 3, row + (size_t)cell.x2 * 3, cell.value);
  }
}

}  // namespace mg

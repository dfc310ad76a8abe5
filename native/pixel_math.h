// Per-pixel math shared by the CPU path and the CUDA kernels.
// Every function here is MG_HD (host + device) so CPU tests exercise exactly the code a GPU runs.
#pragma once

#include <stdint.h>

#if defined(__CUDACC__)
#define MG_HD __host__ __device__ inline
#else
#define MG_HD inline
#endif

namespace mg {

enum class PixelFormat : int { RGB = 0, RGBA = 1, I420 = 2, NV12 = 3 };
enum class ResizeMode : int { Nearest = 0, Bilinear = 1, Area = 2 };

// A read-only view of one decoded frame. Planes are byte pointers with their own strides.
// RGB/RGBA: plane0 only. I420: plane0 = Y, plane1 = U, plane2 = V. NV12: plane0 = Y, plane1 = interleaved UV.
struct SourceView {
  PixelFormat format;
  int width;
  int height;
  const uint8_t* plane0;
  const uint8_t* plane1;
  const uint8_t* plane2;
  int stride0;
  int stride1;
  int stride2;
};

MG_HD float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }
MG_HD int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// BT.601 limited-range YUV -> RGB in [0,1], what webcams and WebRTC decoders produce.
MG_HD void yuv_to_rgb01(int y, int u, int v, float rgb[3]) {
  const float c = 1.164383f * (float)(y - 16);
  const float d = (float)(u - 128);
  const float e = (float)(v - 128);
  rgb[0] = clamp01((c + 1.596027f * e) / 255.f);
  rgb[1] = clamp01((c - 0.391762f * d - 0.812968f * e) / 255.f);
  rgb[2] = clamp01((c + 2.017232f * d) / 255.f);
}

// The source pixel (x, y) as RGB in [0,1]; x and y must be inside the frame.
MG_HD void fetch_rgb01(const SourceView& s, int x, int y, float rgb[3]) {
  switch (s.format) {
    case PixelFormat::RGB: {
      const uint8_t* p = s.plane0 + (int64_t)y * s.stride0 + 3 * x;
      rgb[0] = p[0] / 255.f; rgb[1] = p[1] / 255.f; rgb[2] = p[2] / 255.f;
      return;
    }
    case PixelFormat::RGBA: {
      const uint8_t* p = s.plane0 + (int64_t)y * s.stride0 + 4 * x;
      rgb[0] = p[0] / 255.f; rgb[1] = p[1] / 255.f; rgb[2] = p[2] / 255.f;
      return;
    }
    case PixelFormat::I420: {
      const int yy = s.plane0[(int64_t)y * s.stride0 + x];
      const int u = s.plane1[(int64_t)(y >> 1) * s.stride1 + (x >> 1)];
      const int v = s.plane2[(int64_t)(y >> 1) * s.stride2 + (x >> 1)];
      yuv_to_rgb01(yy, u, v, rgb);
      return;
    }
    case PixelFormat::NV12: {
      const int yy = s.plane0[(int64_t)y * s.stride0 + x];
      const uint8_t* uv = s.plane1 + (int64_t)(y >> 1) * s.stride1 + 2 * (x >> 1);
      yuv_to_rgb01(yy, uv[0], uv[1], rgb);
      return;
    }
  }
  rgb[0] = rgb[1] = rgb[2] = 0.f;
}

// Nearest-neighbour source index exactly as Keras/PIL pick it: floor((i + 0.5) * in / out),
// computed in integers so no rounding can move it.
MG_HD int nearest_source_index(int i, int in_size, int out_size) {
  const int64_t idx = ((int64_t)(2 * i + 1) * in_size) / (2 * (int64_t)out_size);
  return clampi((int)idx, 0, in_size - 1);
}

// Bilinear with half-pixel centres (align_corners = false), edges clamped.
MG_HD void sample_bilinear(const SourceView& s, float sx, float sy, float rgb[3]) {
  sx = sx < 0.f ? 0.f : sx;
  sy = sy < 0.f ? 0.f : sy;
  int x0 = (int)sx, y0 = (int)sy;
  x0 = clampi(x0, 0, s.width - 1);
  y0 = clampi(y0, 0, s.height - 1);
  const int x1 = clampi(x0 + 1, 0, s.width - 1);
  const int y1 = clampi(y0 + 1, 0, s.height - 1);
  const float fx = sx - (float)x0 > 1.f ? 1.f : sx - (float)x0;
  const float fy = sy - (float)y0 > 1.f ? 1.f : sy - (float)y0;
  float a[3], b[3], c[3], d[3];
  fetch_rgb01(s, x0, y0, a);
  fetch_rgb01(s, x1, y0, b);
  fetch_rgb01(s, x0, y1, c);
  fetch_rgb01(s, x1, y1, d);
  for (int k = 0; k < 3; ++k) {
    const float top = a[k] + (b[k] - a[k]) * fx;
    const float bottom = c[k] + (d[k] - c[k]) * fx;
    rgb[k] = top + (bottom - top) * fy;
  }
}

// Area (box) filter: the mean of every source pixel whose centre falls in the output pixel's footprint.
// Used for downscaling; for upscaling it degenerates to nearest.
MG_HD void sample_area(const SourceView& s, int ox, int oy, int out_w, int out_h, float rgb[3]) {
  int x_begin = (int)(((int64_t)ox * s.width) / out_w);
  int x_end = (int)(((int64_t)(ox + 1) * s.width + out_w - 1) / out_w);
  int y_begin = (int)(((int64_t)oy * s.height) / out_h);
  int y_end = (int)(((int64_t)(oy + 1) * s.height + out_h - 1) / out_h);
  if (x_end <= x_begin) x_end = x_begin + 1;
  if (y_end <= y_begin) y_end = y_begin + 1;
  x_end = clampi(x_end, 1, s.width);
  y_end = clampi(y_end, 1, s.height);
  float acc[3] = {0.f, 0.f, 0.f};
  for (int y = y_begin; y < y_end; ++y) {
    for (int x = x_begin; x < x_end; ++x) {
      float p[3];
      fetch_rgb01(s, x, y, p);
      acc[0] += p[0]; acc[1] += p[1]; acc[2] += p[2];
    }
  }
  const float n = (float)((x_end - x_begin) * (y_end - y_begin));
  rgb[0] = acc[0] / n; rgb[1] = acc[1] / n; rgb[2] = acc[2] / n;
}

// One output pixel (ox, oy) of an out_w x out_h resize of the whole source, as RGB in [0,1]. Nearest picks
// exactly the pixels Keras load_img picks.
MG_HD void sample_whole_frame(const SourceView& s, ResizeMode mode, int ox, int oy, int out_w, int out_h, float rgb[3]) {
  if (mode == ResizeMode::Bilinear) {
    const float sx = ((float)ox + 0.5f) * (float)s.width / (float)out_w - 0.5f;
    const float sy = ((float)oy + 0.5f) * (float)s.height / (float)out_h - 0.5f;
    sample_bilinear(s, sx, sy, rgb);
  } else if (mode == ResizeMode::Area) {
    sample_area(s, ox, oy, out_w, out_h, rgb);
  } else {
    fetch_rgb01(s, nearest_source_index(ox, s.width, out_w), nearest_source_index(oy, s.height, out_h), rgb);
  }
}

// Maps an output pixel centre (u, v) = (ox + 0.5, oy + 0.5) to a source point in pixel units (pixel k spans
// [k, k+1)): x = a*u + b*v + c, y = d*u + e*v + f. Letterboxing, face crops (scale, rotate, shift) are affines.
struct Affine {
  float a, b, c, d, e, f;
};

// The source pixel (x, y) or the pad colour where (x, y) lies outside the frame: crops at the frame's edge
// are padded, never shifted.
MG_HD void fetch_or_pad(const SourceView& s, int x, int y, float pad, float rgb[3]) {
  if (x < 0 || y < 0 || x >= s.width || y >= s.height) {
    rgb[0] = rgb[1] = rgb[2] = pad;
    return;
  }
  fetch_rgb01(s, x, y, rgb);
}

// floor(v) as an int. NaN and values beyond +-2^30 (far outside any frame, whose sides are at most 16384) give
// -2^30 or 2^30: an out-of-frame position sampled as padding, never an out-of-range float-to-int conversion
// (undefined behaviour) or a later int overflow.
constexpr int kFarOutside = 1 << 30;
MG_HD int floor_to_int(float v) {
  if (!(v > -(float)kFarOutside)) return -kFarOutside;  // NaN too
  if (v >= (float)kFarOutside) return kFarOutside;
  const int i = (int)v;
  return (v < (float)i) ? i - 1 : i;
}

// Samples the source at affine-mapped point (sx, sy). Area averages the pixels whose centres fall in a
// footprint_w x footprint_h box around the point (the output pixel's extent in the source).
MG_HD void sample_affine(const SourceView& s, ResizeMode mode, float sx, float sy, float footprint_w, float footprint_h,
                         float pad, float rgb[3]) {
  // A non-finite point (geometry overflowed: keypoints or a region near the float limits) lies nowhere in the
  // frame; bilinear weights made of it would turn the pad into NaN.
  if (!(sx > -3.0e38f && sx < 3.0e38f && sy > -3.0e38f && sy < 3.0e38f)) {
    rgb[0] = rgb[1] = rgb[2] = pad;
    return;
  }
  if (mode == ResizeMode::Nearest || (mode == ResizeMode::Area && footprint_w <= 1.f && footprint_h <= 1.f)) {
    fetch_or_pad(s, floor_to_int(sx), floor_to_int(sy), pad, rgb);
    return;
  }
  if (mode == ResizeMode::Bilinear) {
    const float px = sx - 0.5f, py = sy - 0.5f;
    const int x0 = floor_to_int(px), y0 = floor_to_int(py);
    const float fx = px - (float)x0, fy = py - (float)y0;
    float a[3], b[3], c[3], d[3];
    fetch_or_pad(s, x0, y0, pad, a);
    fetch_or_pad(s, x0 + 1, y0, pad, b);
    fetch_or_pad(s, x0, y0 + 1, pad, c);
    fetch_or_pad(s, x0 + 1, y0 + 1, pad, d);
    for (int k = 0; k < 3; ++k) {
      const float top = a[k] + (b[k] - a[k]) * fx;
      const float bottom = c[k] + (d[k] - c[k]) * fx;
      rgb[k] = top + (bottom - top) * fy;
    }
    return;
  }
  // Area: pixel k's centre k + 0.5 must lie in [lo, hi).
  const int x_begin = floor_to_int(sx - footprint_w * 0.5f - 0.5f) + 1;
  const int x_end = floor_to_int(sx + footprint_w * 0.5f - 0.5f) + 1;
  const int y_begin = floor_to_int(sy - footprint_h * 0.5f - 0.5f) + 1;
  const int y_end = floor_to_int(sy + footprint_h * 0.5f - 0.5f) + 1;
  if (x_end <= x_begin || y_end <= y_begin) {
    fetch_or_pad(s, floor_to_int(sx), floor_to_int(sy), pad, rgb);
    return;
  }
  // Only the part of the footprint inside the frame is visited; the pixels outside it are all `pad` and are
  // counted, not fetched. A huge footprint (a crop far larger than the frame) so costs at most the frame's
  // pixels instead of side^2 iterations per output pixel. Same sums as visiting them all when pad is 0.
  const int xs = x_begin < 0 ? 0 : x_begin, xe = x_end > s.width ? s.width : x_end;
  const int ys = y_begin < 0 ? 0 : y_begin, ye = y_end > s.height ? s.height : y_end;
  float acc[3] = {0.f, 0.f, 0.f};
  for (int y = ys; y < ye; ++y) {
    for (int x = xs; x < xe; ++x) {
      float p[3];
      fetch_rgb01(s, x, y, p);
      acc[0] += p[0]; acc[1] += p[1]; acc[2] += p[2];
    }
  }
  const int64_t total = ((int64_t)x_end - x_begin) * ((int64_t)y_end - y_begin);
  if (pad != 0.f) {
    const int64_t inside = (xe > xs && ye > ys) ? ((int64_t)xe - xs) * ((int64_t)ye - ys) : 0;
    const float outside = (float)(total - inside) * pad;
    acc[0] += outside; acc[1] += outside; acc[2] += outside;
  }
  const float n = (float)total;
  rgb[0] = acc[0] / n; rgb[1] = acc[1] / n; rgb[2] = acc[2] / n;
}

enum class Layout : int { Planar = 0 /* NCHW */, Interleaved = 1 /* NHWC */ };

// How to render one model input from a frame: geometry, sampling, layout and value range.
struct RenderSpec {
  int out_w;
  int out_h;
  ResizeMode mode;
  bool whole_frame;  // stretch the whole frame (Keras-exact nearest); otherwise `affine`
  Affine affine;
  Layout layout;
  float scale;   // value = rgb01 * scale + offset: MesoNet 1, 0; BlazeFace 2, -1
  float offset;
  float pad;     // rgb01 value outside the frame (0 = black)
};

// Renders output pixel (ox, oy) of `spec` into `out` (one item: out_w * out_h * 3 floats).
MG_HD void render_pixel(const SourceView& s, const RenderSpec& spec, int ox, int oy, float* out) {
  float rgb[3];
  if (spec.whole_frame) {
    sample_whole_frame(s, spec.mode, ox, oy, spec.out_w, spec.out_h, rgb);
  } else {
    const Affine& m = spec.affine;
    const float u = (float)ox + 0.5f, v = (float)oy + 0.5f;
    const float sx = m.a * u + m.b * v + m.c;
    const float sy = m.d * u + m.e * v + m.f;
    // The output pixel's extent in the source, along x and y (rotation folded into an axis-aligned box).
    const float fw = (m.a < 0 ? -m.a : m.a) + (m.b < 0 ? -m.b : m.b);
    const float fh = (m.d < 0 ? -m.d : m.d) + (m.e < 0 ? -m.e : m.e);
    sample_affine(s, spec.mode, sx, sy, fw, fh, spec.pad, rgb);
  }
  const int64_t i = (int64_t)oy * spec.out_w + ox;
  if (spec.layout == Layout::Planar) {
    const int64_t plane = (int64_t)spec.out_w * spec.out_h;
    out[i] = rgb[0] * spec.scale + spec.offset;
    out[plane + i] = rgb[1] * spec.scale + spec.offset;
    out[2 * plane + i] = rgb[2] * spec.scale + spec.offset;
  } else {
    out[3 * i] = rgb[0] * spec.scale + spec.offset;
    out[3 * i + 1] = rgb[1] * spec.scale + spec.offset;
    out[3 * i + 2] = rgb[2] * spec.scale + spec.offset;
  }
}

// MesoNet's input from a whole frame: stretched to out_w x out_h, planar, RGB in [0,1].
MG_HD RenderSpec whole_frame_spec(ResizeMode mode, int out_w, int out_h) {
  RenderSpec spec;
  spec.out_w = out_w;
  spec.out_h = out_h;
  spec.mode = mode;
  spec.whole_frame = true;
  spec.affine = Affine{1.f, 0.f, 0.f, 0.f, 1.f, 0.f};
  spec.layout = Layout::Planar;
  spec.scale = 1.f;
  spec.offset = 0.f;
  spec.pad = 0.f;
  return spec;
}

}  // namespace mg

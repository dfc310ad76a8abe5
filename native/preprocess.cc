#include "preprocess.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

// The fast CPU path computes every output value with the same float operations, in the same order, as the shared
// per-pixel definition (pixel_math.h: render_pixel); what it saves is work around them: the format switch and the
// bounds checks per tap (a loop per format, a check per output pixel), the byte / 255.f division (a table of those
// very quotients), YUV->RGB once per source pixel a face crop touches instead of once per tap, the per-column and
// per-row parts of whole-frame resizes computed once, and, for bilinear face crops, the three channels of a pixel
// interpolated as the lanes of one 4-float vector (GCC/clang vector extensions: SSE on x86-64, NEON on ARM, no
// runtime dispatch needed). The build keeps -ffp-contract=off, so the compiler may vectorise but never fuse or
// reorder; test/native/renderFast.test.ts compares both paths bit for bit.

namespace mg {

bool SourceRowsRead(const RenderSpec& spec, int height, int* begin, int* end) {
  if (spec.whole_frame) return false;
  const Affine& m = spec.affine;
  // An affine map takes its extremes over the output pixels' centres at the corners.
  double lo = INFINITY, hi = -INFINITY;
  for (const double u : {0.5, (double)spec.out_w - 0.5}) {
    for (const double v : {0.5, (double)spec.out_h - 0.5}) {
      const double sy = (double)m.d * u + (double)m.e * v + (double)m.f;
      lo = std::min(lo, sy);
      hi = std::max(hi, sy);
    }
  }
  const double footprint = std::fabs((double)m.d) + std::fabs((double)m.e);
  if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(footprint)) return false;
  // Half an area footprint, the bilinear tap one row below, and two rows for the float sums' rounding.
  const double reach = footprint * 0.5 + 1.0 + 2.0;
  *begin = (int)std::max(0.0, std::min((double)height, std::floor(lo - reach)));
  *end = (int)std::max(0.0, std::min((double)height, std::ceil(hi + reach) + 1.0));
  return true;
}

void RenderCpuReference(const SourceView& source, const RenderSpec& spec, float* out) {
  for (int y = 0; y < spec.out_h; ++y) {
    for (int x = 0; x < spec.out_w; ++x) render_pixel(source, spec, x, y, out);
  }
}

namespace {

// byte / 255.f for every byte: the exact quotients fetch_rgb01 computes.
struct ByteTo01 {
  float value[256];
  ByteTo01() {
    for (int b = 0; b < 256; ++b) value[b] = (float)b / 255.f;
  }
};
const ByteTo01 kByteTo01;

// Pixel sources for the fast loops: get(x, y) is fetch_rgb01(x, y) for (x, y) in [x_lo, x_hi) x [y_lo, y_hi).
// Outside that window the loops fall back on the reference fetch_or_pad.
template <int kBytes>
struct PackedRgbSource {
  const uint8_t* base;
  int64_t stride;
  int x_lo, y_lo, x_hi, y_hi;
  explicit PackedRgbSource(const SourceView& s)
      : base(s.plane0), stride(s.stride0), x_lo(0), y_lo(0), x_hi(s.width), y_hi(s.height) {}
  void get(int x, int y, float rgb[3]) const {
    const uint8_t* p = base + (int64_t)y * stride + kBytes * x;
    rgb[0] = kByteTo01.value[p[0]];
    rgb[1] = kByteTo01.value[p[1]];
    rgb[2] = kByteTo01.value[p[2]];
  }
};

struct I420Source {
  SourceView s;
  int x_lo, y_lo, x_hi, y_hi;
  explicit I420Source(const SourceView& view) : s(view), x_lo(0), y_lo(0), x_hi(view.width), y_hi(view.height) {}
  void get(int x, int y, float rgb[3]) const {
    const int yy = s.plane0[(int64_t)y * s.stride0 + x];
    const int u = s.plane1[(int64_t)(y >> 1) * s.stride1 + (x >> 1)];
    const int v = s.plane2[(int64_t)(y >> 1) * s.stride2 + (x >> 1)];
    yuv_to_rgb01(yy, u, v, rgb);
  }
};

struct Nv12Source {
  SourceView s;
  int x_lo, y_lo, x_hi, y_hi;
  explicit Nv12Source(const SourceView& view) : s(view), x_lo(0), y_lo(0), x_hi(view.width), y_hi(view.height) {}
  void get(int x, int y, float rgb[3]) const {
    const int yy = s.plane0[(int64_t)y * s.stride0 + x];
    const uint8_t* uv = s.plane1 + (int64_t)(y >> 1) * s.stride1 + 2 * (x >> 1);
    yuv_to_rgb01(yy, uv[0], uv[1], rgb);
  }
};

// Four floats, one SSE register (a NEON one on ARM): a pixel's R, G, B (and an unused 0) as the lanes of one
// vector, so the bilinear path interpolates all three channels with one operation of each kind, per lane the very
// operation (IEEE single, no contraction) the scalar definition performs.
typedef float Float4 __attribute__((vector_size(16)));

// YUV -> RGB [0,1] for the pixels [x0, x0 + n) of row y, into r, g, b: the row's Y, U and V are gathered first, so
// the conversion (yuv_to_rgb01 itself) runs as a loop the compiler vectorises. ys, us, vs: n ints of scratch.
void ConvertYuvRow(const SourceView& s, int y, int x0, int n, int* ys, int* us, int* vs, float* r, float* g, float* b) {
  const uint8_t* luma = s.plane0 + (int64_t)y * s.stride0;
  for (int i = 0; i < n; ++i) ys[i] = luma[x0 + i];
  if (s.format == PixelFormat::I420) {
    const uint8_t* u = s.plane1 + (int64_t)(y >> 1) * s.stride1;
    const uint8_t* v = s.plane2 + (int64_t)(y >> 1) * s.stride2;
    for (int i = 0; i < n; ++i) {
      us[i] = u[(x0 + i) >> 1];
      vs[i] = v[(x0 + i) >> 1];
    }
  } else {
    const uint8_t* uv = s.plane1 + (int64_t)(y >> 1) * s.stride1;
    for (int i = 0; i < n; ++i) {
      us[i] = uv[2 * ((x0 + i) >> 1)];
      vs[i] = uv[2 * ((x0 + i) >> 1) + 1];
    }
  }
  for (int i = 0; i < n; ++i) {
    float rgb[3];
    yuv_to_rgb01(ys[i], us[i], vs[i], rgb);
    r[i] = rgb[0];
    g[i] = rgb[1];
    b[i] = rgb[2];
  }
}

// A window of the frame converted to RGB [0,1] once (fetch_rgb01's values), one Float4 per pixel, for renders whose
// taps revisit the same source pixels or that interpolate whole pixels (the bilinear row below).
struct ConvertedWindow {
  std::unique_ptr<Float4[]> pixels;
  int x_lo, y_lo, x_hi, y_hi;
  int64_t row;  // pixels per window row
  ConvertedWindow(const SourceView& s, int x0, int y0, int x1, int y1)
      : pixels(new Float4[(size_t)(x1 - x0) * (size_t)(y1 - y0)]), x_lo(x0), y_lo(y0), x_hi(x1), y_hi(y1), row(x1 - x0) {
    const int n = x1 - x0;
    if (s.format == PixelFormat::RGB || s.format == PixelFormat::RGBA) {
      const int bytes = s.format == PixelFormat::RGB ? 3 : 4;
      for (int y = y0; y < y1; ++y) {
        const uint8_t* p = s.plane0 + (int64_t)y * s.stride0 + (int64_t)bytes * x0;
        Float4* w = pixels.get() + (size_t)(y - y0) * n;
        for (int i = 0; i < n; ++i, p += bytes) {
          w[i] = Float4{kByteTo01.value[p[0]], kByteTo01.value[p[1]], kByteTo01.value[p[2]], 0.f};
        }
      }
      return;
    }
    std::vector<int> ys(n), us(n), vs(n);
    std::vector<float> r(n), g(n), b(n);
    for (int y = y0; y < y1; ++y) {
      ConvertYuvRow(s, y, x0, n, ys.data(), us.data(), vs.data(), r.data(), g.data(), b.data());
      Float4* w = pixels.get() + (size_t)(y - y0) * n;
      for (int i = 0; i < n; ++i) w[i] = Float4{r[i], g[i], b[i], 0.f};
    }
  }
  const Float4& at(int x, int y) const { return pixels[(y - y_lo) * row + (x - x_lo)]; }
  void get(int x, int y, float rgb[3]) const {
    const Float4& p = at(x, y);
    rgb[0] = p[0];
    rgb[1] = p[1];
    rgb[2] = p[2];
  }
};

template <class Source>
bool Inside(const Source& src, int x0, int y0, int x1, int y1) {  // the box [x0, x1] x [y0, y1], inclusive
  return x0 >= src.x_lo && y0 >= src.y_lo && x1 < src.x_hi && y1 < src.y_hi;
}

// The output write of render_pixel.
struct Writer {
  float* out;
  int64_t plane;
  Layout layout;
  float scale, offset;
  Writer(const RenderSpec& spec, float* o)
      : out(o), plane((int64_t)spec.out_w * spec.out_h), layout(spec.layout), scale(spec.scale), offset(spec.offset) {}
  void put(int64_t i, const float rgb[3]) const {
    if (layout == Layout::Planar) {
      out[i] = rgb[0] * scale + offset;
      out[plane + i] = rgb[1] * scale + offset;
      out[2 * plane + i] = rgb[2] * scale + offset;
    } else {
      out[3 * i] = rgb[0] * scale + offset;
      out[3 * i + 1] = rgb[1] * scale + offset;
      out[3 * i + 2] = rgb[2] * scale + offset;
    }
  }
};

void Lerp4(const float a[3], const float b[3], const float c[3], const float d[3], float fx, float fy, float rgb[3]) {
  for (int k = 0; k < 3; ++k) {
    const float top = a[k] + (b[k] - a[k]) * fx;
    const float bottom = c[k] + (d[k] - c[k]) * fx;
    rgb[k] = top + (bottom - top) * fy;
  }
}

// sample_whole_frame, with what depends only on the column or only on the row computed once.
template <class Source>
void RenderWholeFrame(const SourceView& s, const Source& src, const RenderSpec& spec, float* out) {
  const Writer w(spec, out);
  const int ow = spec.out_w, oh = spec.out_h;
  float rgb[3];
  if (spec.mode == ResizeMode::Nearest) {
    std::vector<int> xs(ow);
    for (int ox = 0; ox < ow; ++ox) xs[ox] = nearest_source_index(ox, s.width, ow);
    for (int oy = 0; oy < oh; ++oy) {
      const int y = nearest_source_index(oy, s.height, oh);
      for (int ox = 0; ox < ow; ++ox) {
        src.get(xs[ox], y, rgb);
        w.put((int64_t)oy * ow + ox, rgb);
      }
    }
    return;
  }
  if (spec.mode == ResizeMode::Bilinear) {
    // sample_bilinear's clamps and weights along one axis.
    struct Tap { int i0, i1; float f; };
    auto taps = [](int out_size, int in_size) {
      std::vector<Tap> t(out_size);
      for (int o = 0; o < out_size; ++o) {
        float p = ((float)o + 0.5f) * (float)in_size / (float)out_size - 0.5f;
        p = p < 0.f ? 0.f : p;
        const int i0 = clampi((int)p, 0, in_size - 1);
        t[o] = Tap{i0, clampi(i0 + 1, 0, in_size - 1), p - (float)i0 > 1.f ? 1.f : p - (float)i0};
      }
      return t;
    };
    const std::vector<Tap> tx = taps(ow, s.width), ty = taps(oh, s.height);
    for (int oy = 0; oy < oh; ++oy) {
      const Tap& r = ty[oy];
      for (int ox = 0; ox < ow; ++ox) {
        const Tap& c = tx[ox];
        float a[3], b[3], cc[3], d[3];
        src.get(c.i0, r.i0, a);
        src.get(c.i1, r.i0, b);
        src.get(c.i0, r.i1, cc);
        src.get(c.i1, r.i1, d);
        Lerp4(a, b, cc, d, c.f, r.f, rgb);
        w.put((int64_t)oy * ow + ox, rgb);
      }
    }
    return;
  }
  // Area: sample_area's box along one axis.
  struct Span { int begin, end; };
  auto spans = [](int out_size, int in_size) {
    std::vector<Span> t(out_size);
    for (int o = 0; o < out_size; ++o) {
      const int begin = (int)(((int64_t)o * in_size) / out_size);
      int end = (int)(((int64_t)(o + 1) * in_size + out_size - 1) / out_size);
      if (end <= begin) end = begin + 1;
      t[o] = Span{begin, clampi(end, 1, in_size)};
    }
    return t;
  };
  const std::vector<Span> sx = spans(ow, s.width), sy = spans(oh, s.height);
  for (int oy = 0; oy < oh; ++oy) {
    const Span& r = sy[oy];
    for (int ox = 0; ox < ow; ++ox) {
      const Span& c = sx[ox];
      float acc[3] = {0.f, 0.f, 0.f};
      for (int y = r.begin; y < r.end; ++y) {
        for (int x = c.begin; x < c.end; ++x) {
          float p[3];
          src.get(x, y, p);
          acc[0] += p[0]; acc[1] += p[1]; acc[2] += p[2];
        }
      }
      const float n = (float)((c.end - c.begin) * (r.end - r.begin));
      rgb[0] = acc[0] / n; rgb[1] = acc[1] / n; rgb[2] = acc[2] / n;
      w.put((int64_t)oy * ow + ox, rgb);
    }
  }
}

// One axis of sample_affine's area filter at coordinate c with footprint f: the pixels whose centres lie in the
// footprint ([begin, end)), the pixel under c (the fallback for an empty footprint), and whether c is finite.
struct AreaAxis {
  bool finite;
  int begin, end, point;
};
inline AreaAxis MapAreaAxis(float c, float f) {
  return AreaAxis{c > -3.0e38f && c < 3.0e38f, floor_to_int(c - f * 0.5f - 0.5f) + 1, floor_to_int(c + f * 0.5f - 0.5f) + 1,
                  floor_to_int(c)};
}

// sample_affine's area filter (a footprint wider than one pixel) over the box of two axes, taps inside the
// source's window read from it, the rest by the reference fetch_rgb01.
template <class Source>
void SampleArea(const SourceView& s, const Source& src, const AreaAxis& ax, const AreaAxis& ay, float pad, float rgb[3]) {
  if (!ax.finite || !ay.finite) {
    rgb[0] = rgb[1] = rgb[2] = pad;
    return;
  }
  const int x_begin = ax.begin, x_end = ax.end, y_begin = ay.begin, y_end = ay.end;
  if (x_end <= x_begin || y_end <= y_begin) {
    fetch_or_pad(s, ax.point, ay.point, pad, rgb);
    return;
  }
  const int xs = x_begin < 0 ? 0 : x_begin, xe = x_end > s.width ? s.width : x_end;
  const int ys = y_begin < 0 ? 0 : y_begin, ye = y_end > s.height ? s.height : y_end;
  float acc[3] = {0.f, 0.f, 0.f};
  const bool windowed = xe > xs && ye > ys && Inside(src, xs, ys, xe - 1, ye - 1);
  for (int y = ys; y < ye; ++y) {
    for (int x = xs; x < xe; ++x) {
      float p[3];
      if (windowed) {
        src.get(x, y, p);
      } else {
        fetch_rgb01(s, x, y, p);
      }
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

typedef int Int4 __attribute__((vector_size(16)));

// Lane by lane `mask ? a : b` (mask lanes all ones or all zeros, as vector comparisons give them).
inline Float4 Select(Int4 mask, Float4 a, Float4 b) { return (Float4)(((Int4)a & mask) | ((Int4)b & ~mask)); }

// floor_to_int on four lanes, written with masks so that no comparison becomes a branch (the compiler keeps
// scalar comparisons as branches, which stops it vectorising the row loops): the same clamps to +-2^30 (NaN to
// -2^30), the same truncation and the same floor.
inline Int4 FloorToInt4(Float4 v) {
  const float k = (float)kFarOutside;
  const Float4 hi = {k, k, k, k}, lo = -hi;
  Float4 t = Select(v > lo, v, lo);  // NaN compares false: -2^30
  t = Select(t < hi, t, hi);
  const Int4 i = __builtin_convertvector(t, Int4);
  return i + (t < __builtin_convertvector(i, Float4));  // a true comparison is -1 in its lane
}

// One output row's source points, by render_pixel's arithmetic: (a*u + b*v) + c, the products of v computed once,
// four output pixels at a time (the arrays are padded to a multiple of four; the extra lanes are never read).
struct RowPoints {
  int lanes;  // out_w rounded up to a multiple of 4
  std::vector<Float4> sx, sy;
  std::vector<Int4> x0, y0;    // the taps' top-left source pixel
  std::vector<Float4> fx, fy;  // bilinear weights
  std::vector<Int4> finite;    // all ones where both coordinates are finite
  explicit RowPoints(int n)
      : lanes((n + 3) / 4 * 4), sx(lanes / 4), sy(lanes / 4), x0(lanes / 4), y0(lanes / 4), fx(lanes / 4), fy(lanes / 4),
        finite(lanes / 4) {}
  float sx_at(int ox) const { return sx[ox >> 2][ox & 3]; }
  float sy_at(int ox) const { return sy[ox >> 2][ox & 3]; }
  int x0_at(int ox) const { return x0[ox >> 2][ox & 3]; }
  int y0_at(int ox) const { return y0[ox >> 2][ox & 3]; }
  float fx_at(int ox) const { return fx[ox >> 2][ox & 3]; }
  float fy_at(int ox) const { return fy[ox >> 2][ox & 3]; }
  bool finite_at(int ox) const { return finite[ox >> 2][ox & 3] != 0; }

  void Map(const Affine& m, int oy) {
    const float v = (float)oy + 0.5f;
    const float bv = m.b * v, ev = m.e * v;
    const Float4 limit = {3.0e38f, 3.0e38f, 3.0e38f, 3.0e38f};
    for (int g = 0; g < lanes / 4; ++g) {
      const Int4 ox = Int4{0, 1, 2, 3} + 4 * g;
      const Float4 u = __builtin_convertvector(ox, Float4) + 0.5f;
      sx[g] = m.a * u + bv + m.c;
      sy[g] = m.d * u + ev + m.f;
      finite[g] = (sx[g] > -limit) & (sx[g] < limit) & (sy[g] > -limit) & (sy[g] < limit);
    }
  }
  void Nearest() {
    for (int g = 0; g < lanes / 4; ++g) {
      x0[g] = FloorToInt4(sx[g]);
      y0[g] = FloorToInt4(sy[g]);
    }
  }
  void Bilinear() {
    for (int g = 0; g < lanes / 4; ++g) {
      const Float4 px = sx[g] - 0.5f, py = sy[g] - 0.5f;
      x0[g] = FloorToInt4(px);
      y0[g] = FloorToInt4(py);
      fx[g] = px - __builtin_convertvector(x0[g], Float4);
      fy[g] = py - __builtin_convertvector(y0[g], Float4);
    }
  }
};

// render_pixel's bilinear sample for output pixel ox of a mapped row (row.Bilinear): taps inside the source's window
// read from it, the rest by the reference fetch_or_pad.
template <class Source>
void BilinearPixel(const SourceView& s, const Source& src, const RowPoints& row, int ox, float pad, float rgb[3]) {
  rgb[0] = rgb[1] = rgb[2] = pad;
  if (!row.finite_at(ox)) return;
  const int x0 = row.x0_at(ox), y0 = row.y0_at(ox);
  float a[3], b[3], c[3], d[3];
  if (Inside(src, x0, y0, x0 + 1, y0 + 1)) {
    src.get(x0, y0, a);
    src.get(x0 + 1, y0, b);
    src.get(x0, y0 + 1, c);
    src.get(x0 + 1, y0 + 1, d);
  } else {
    fetch_or_pad(s, x0, y0, pad, a);
    fetch_or_pad(s, x0 + 1, y0, pad, b);
    fetch_or_pad(s, x0, y0 + 1, pad, c);
    fetch_or_pad(s, x0 + 1, y0 + 1, pad, d);
  }
  Lerp4(a, b, c, d, row.fx_at(ox), row.fy_at(ox), rgb);
}

// One output row of render_pixel's bilinear branch.
template <class Source>
void BilinearRow(const SourceView& s, const Source& src, const RowPoints& row, const Writer& w, int64_t row_start,
                 int out_w, float pad) {
  for (int ox = 0; ox < out_w; ++ox) {
    float rgb[3];
    BilinearPixel(s, src, row, ox, pad, rgb);
    w.put(row_start + ox, rgb);
  }
}

// The same row from a converted window, the interior's pixels (all four taps in the window) interpolated with
// their R, G and B as the lanes of one Float4: Lerp4's operations in Lerp4's order, per lane, then the Writer's.
// The layout is a template argument, so the loop has no branch but the interior test.
template <Layout kLayout>
void BilinearRowConverted(const SourceView& s, const ConvertedWindow& src, const RowPoints& row, const Writer& w,
                          int64_t row_start, int out_w, float pad) {
  const int64_t stride = src.row;
  for (int g = 0; g * 4 < out_w; ++g) {
    // Inside(src, x0, y0, x0 + 1, y0 + 1) for four pixels (x0 and y0 are at most 2^30: no overflow).
    const Int4 x0 = row.x0[g], y0 = row.y0[g];
    const Int4 interior = row.finite[g] & (x0 >= src.x_lo) & (y0 >= src.y_lo) & (x0 < src.x_hi - 1) & (y0 < src.y_hi - 1);
    const Float4 fx = row.fx[g], fy = row.fy[g];
    for (int j = 0; j < 4; ++j) {  // unrolled: the lanes are read at constant positions
      const int ox = 4 * g + j;
      if (ox >= out_w) break;
      const int64_t i = row_start + ox;
      if (!interior[j]) {
        float rgb[3];
        BilinearPixel(s, src, row, ox, pad, rgb);
        w.put(i, rgb);
        continue;
      }
      const Float4* p = &src.at(x0[j], y0[j]);
      const Float4 a = p[0], b = p[1], c = p[stride], d = p[stride + 1];
      const Float4 top = a + (b - a) * fx[j];
      const Float4 bottom = c + (d - c) * fx[j];
      const Float4 v = (top + (bottom - top) * fy[j]) * w.scale + w.offset;
      if (kLayout == Layout::Planar) {
        w.out[i] = v[0];
        w.out[w.plane + i] = v[1];
        w.out[2 * w.plane + i] = v[2];
      } else {
        w.out[3 * i] = v[0];
        w.out[3 * i + 1] = v[1];
        w.out[3 * i + 2] = v[2];
      }
    }
  }
}

void BilinearRow(const SourceView& s, const ConvertedWindow& src, const RowPoints& row, const Writer& w,
                 int64_t row_start, int out_w, float pad) {
  if (w.layout == Layout::Planar) {
    BilinearRowConverted<Layout::Planar>(s, src, row, w, row_start, out_w, pad);
  } else {
    BilinearRowConverted<Layout::Interleaved>(s, src, row, w, row_start, out_w, pad);
  }
}

// render_pixel's affine branch over every output pixel. Nearest and bilinear map a whole row first (loops the
// compiler vectorises), then fetch; area's footprint loops dominate, so it samples point by point.
template <class Source>
void RenderAffine(const SourceView& s, const Source& src, const RenderSpec& spec, float* out) {
  const Writer w(spec, out);
  const Affine& m = spec.affine;
  const float fw = (m.a < 0 ? -m.a : m.a) + (m.b < 0 ? -m.b : m.b);
  const float fh = (m.d < 0 ? -m.d : m.d) + (m.e < 0 ? -m.e : m.e);
  const bool nearest = spec.mode == ResizeMode::Nearest || (spec.mode == ResizeMode::Area && fw <= 1.f && fh <= 1.f);
  const float pad = spec.pad;
  RowPoints row(spec.out_w);
  const bool axis_aligned = m.b == 0.f && m.d == 0.f;
  std::vector<AreaAxis> columns(axis_aligned ? spec.out_w : 0);
  for (int oy = 0; oy < spec.out_h; ++oy) {
    row.Map(m, oy);
    const int64_t row_start = (int64_t)oy * spec.out_w;
    if (nearest) {
      row.Nearest();
      for (int ox = 0; ox < spec.out_w; ++ox) {
        float rgb[3] = {pad, pad, pad};
        const int x = row.x0_at(ox), y = row.y0_at(ox);
        if (!row.finite_at(ox)) {
        } else if (Inside(src, x, y, x, y)) {
          src.get(x, y, rgb);
        } else {
          fetch_or_pad(s, x, y, pad, rgb);
        }
        w.put(row_start + ox, rgb);
      }
    } else if (spec.mode == ResizeMode::Bilinear) {
      row.Bilinear();
      BilinearRow(s, src, row, w, row_start, spec.out_w, pad);
    } else if (axis_aligned) {
      // A letterbox: x depends on the column only, y on the row only (b*v and d*u are +-0), so the columns'
      // footprints are mapped once.
      if (oy == 0) {
        for (int ox = 0; ox < spec.out_w; ++ox) columns[ox] = MapAreaAxis(row.sx_at(ox), fw);
      }
      const AreaAxis ay = MapAreaAxis(row.sy_at(0), fh);
      for (int ox = 0; ox < spec.out_w; ++ox) {
        float rgb[3];
        SampleArea(s, src, columns[ox], ay, pad, rgb);
        w.put(row_start + ox, rgb);
      }
    } else {
      for (int ox = 0; ox < spec.out_w; ++ox) {
        float rgb[3];
        SampleArea(s, src, MapAreaAxis(row.sx_at(ox), fw), MapAreaAxis(row.sy_at(ox), fh), pad, rgb);
        w.put(row_start + ox, rgb);
      }
    }
  }
}

// The source pixels an affine render can touch (its output rectangle's corners mapped, widened by the footprint
// and a margin for rounding), clipped to the frame; false where that is empty or not finite.
bool AffineWindow(const SourceView& s, const RenderSpec& spec, int* x0, int* y0, int* x1, int* y1) {
  const Affine& m = spec.affine;
  const float us[2] = {0.f, (float)spec.out_w}, vs[2] = {0.f, (float)spec.out_h};
  double lo_x = INFINITY, hi_x = -INFINITY, lo_y = INFINITY, hi_y = -INFINITY;
  for (float u : us) {
    for (float v : vs) {
      const double x = (double)m.a * u + (double)m.b * v + m.c, y = (double)m.d * u + (double)m.e * v + m.f;
      lo_x = std::min(lo_x, x); hi_x = std::max(hi_x, x);
      lo_y = std::min(lo_y, y); hi_y = std::max(hi_y, y);
    }
  }
  const double fw = std::fabs((double)m.a) + std::fabs((double)m.b), fh = std::fabs((double)m.d) + std::fabs((double)m.e);
  const double margin_x = fw + 2.0, margin_y = fh + 2.0;
  if (!std::isfinite(lo_x + hi_x + lo_y + hi_y + margin_x + margin_y)) return false;
  *x0 = (int)std::max(0.0, std::floor(lo_x - margin_x));
  *y0 = (int)std::max(0.0, std::floor(lo_y - margin_y));
  *x1 = (int)std::min((double)s.width, std::ceil(hi_x + margin_x));
  *y1 = (int)std::min((double)s.height, std::ceil(hi_y + margin_y));
  return *x1 > *x0 && *y1 > *y0;
}

template <class Source>
void RenderWith(const SourceView& s, const Source& src, const RenderSpec& spec, float* out) {
  if (spec.whole_frame) {
    RenderWholeFrame(s, src, spec, out);
  } else {
    RenderAffine(s, src, spec, out);
  }
}

// A render whose window (the source pixels it can touch) holds fewer pixels than twice its taps converts the window
// once: for YUV frames any render (area filters visit every pixel of theirs), for packed RGB frames, whose bytes
// cost only a table lookup per tap, the affine bilinear one, which then interpolates whole pixels. At most 3M
// pixels (48 MB); otherwise the frame is read tap by tap through `Source`.
constexpr int64_t kMaxConvertedWindow = int64_t{3} << 20;

template <class Source>
void RenderConverted(const SourceView& s, const RenderSpec& spec, float* out) {
  const bool yuv = s.format == PixelFormat::I420 || s.format == PixelFormat::NV12;
  int x0 = 0, y0 = 0, x1 = s.width, y1 = s.height;
  if ((yuv || (!spec.whole_frame && spec.mode == ResizeMode::Bilinear)) &&
      (spec.whole_frame || AffineWindow(s, spec, &x0, &y0, &x1, &y1))) {
    const int64_t pixels = (int64_t)spec.out_w * spec.out_h;
    const int64_t taps = spec.mode == ResizeMode::Nearest ? pixels : spec.mode == ResizeMode::Bilinear ? 4 * pixels : INT64_MAX / 4;
    const int64_t window = (int64_t)(x1 - x0) * (y1 - y0);
    if (window < 2 * taps && window <= kMaxConvertedWindow) {
      RenderWith(s, ConvertedWindow(s, x0, y0, x1, y1), spec, out);
      return;
    }
  }
  RenderWith(s, Source(s), spec, out);
}

// The detector's letterbox (RenderDetectorCpu): sample_affine's area filter with the footprints summed separably,
// first down the columns of an output row's source rows, then across each output pixel's columns, in exact
// integers (packed RGB) or doubles (YUV, per source pixel fetch_rgb01's floats). Each source pixel is read once per
// output row instead of through a per-pixel box loop; the sum is rounded once, so the values differ from the
// definition's (float sums in row-major order) only by the definition's own rounding.

// The column sums of packed RGB bytes: per column and channel, the sum over rows [y0, y1), exact.
template <int kBytes>
struct PackedColumnSums {
  const SourceView& s;
  std::vector<uint32_t> sums;  // kBytes per column, from column x_lo (16384 rows x 255 fit)
  int x_lo = 0;
  explicit PackedColumnSums(const SourceView& view) : s(view) {}
  void Sum(int y0, int y1, int x0, int x1) {  // y1 > y0
    x_lo = x0;
    const int n = kBytes * (x1 - x0);
    sums.resize(n);
    // restrict: the sums never alias the frame's bytes (a uint8_t pointer may alias anything, which kept the
    // compiler from vectorising the widening adds).
    uint32_t* __restrict acc = sums.data();
    const auto row = [&](int y) { return s.plane0 + (int64_t)y * s.stride0 + (int64_t)kBytes * x0; };
    const uint8_t* __restrict first = row(y0);
    for (int i = 0; i < n; ++i) acc[i] = first[i];
    for (int y = y0 + 1; y < y1; ++y) {
      const uint8_t* __restrict p = row(y);
      for (int i = 0; i < n; ++i) acc[i] += p[i];
    }
  }
  // Columns [xs, xe) of the last Sum, as RGB [0,1] units (byte / 255).
  void Span(int xs, int xe, double rgb[3]) const {
    int64_t r = 0, g = 0, b = 0;  // signed: a cheap conversion to double
    const uint32_t* p = sums.data() + (size_t)kBytes * (xs - x_lo);
    for (int x = xs; x < xe; ++x, p += kBytes) {
      r += p[0];
      g += p[1];
      b += p[2];
    }
    rgb[0] = (double)r / 255.0;
    rgb[1] = (double)g / 255.0;
    rgb[2] = (double)b / 255.0;
  }
};

// The column sums of a YUV frame: each source pixel converted as fetch_rgb01 converts it, summed in doubles.
struct YuvColumnSums {
  const SourceView& s;
  std::vector<double> r, g, b;
  std::vector<int> ys, us, vs;
  std::vector<float> fr, fg, fb;
  int x_lo = 0;
  explicit YuvColumnSums(const SourceView& view) : s(view) {}
  void Sum(int y0, int y1, int x0, int x1) {
    x_lo = x0;
    const int n = x1 - x0;
    r.assign(n, 0.0);
    g.assign(n, 0.0);
    b.assign(n, 0.0);
    for (std::vector<int>* v : {&ys, &us, &vs}) v->resize(n);
    for (std::vector<float>* v : {&fr, &fg, &fb}) v->resize(n);
    for (int y = y0; y < y1; ++y) {
      ConvertYuvRow(s, y, x0, n, ys.data(), us.data(), vs.data(), fr.data(), fg.data(), fb.data());
      for (int i = 0; i < n; ++i) {
        r[i] += fr[i];
        g[i] += fg[i];
        b[i] += fb[i];
      }
    }
  }
  void Span(int xs, int xe, double rgb[3]) const {
    double sr = 0, sg = 0, sb = 0;
    for (int x = xs - x_lo; x < xe - x_lo; ++x) {
      sr += r[x];
      sg += g[x];
      sb += b[x];
    }
    rgb[0] = sr;
    rgb[1] = sg;
    rgb[2] = sb;
  }
};

// An axis-aligned area render (b = d = 0: x depends on the column only, y on the row only), by sample_affine's
// cases: a non-finite point is pad, an empty footprint the pixel under the point, else the footprint's mean with
// the pixels outside the frame counted as pad.
template <class ColumnSums>
void RenderAreaSeparable(const SourceView& s, const RenderSpec& spec, float* out) {
  ColumnSums sums(s);
  const Writer w(spec, out);
  const Affine& m = spec.affine;
  const float fw = (m.a < 0 ? -m.a : m.a) + (m.b < 0 ? -m.b : m.b);
  const float fh = (m.d < 0 ? -m.d : m.d) + (m.e < 0 ? -m.e : m.e);
  const float pad = spec.pad;
  // render_pixel's source point of column ox (in row 0) and of row oy (in column 0).
  std::vector<AreaAxis> columns(spec.out_w), rows(spec.out_h);
  for (int ox = 0; ox < spec.out_w; ++ox) columns[ox] = MapAreaAxis(m.a * ((float)ox + 0.5f) + m.b * 0.5f + m.c, fw);
  for (int oy = 0; oy < spec.out_h; ++oy) rows[oy] = MapAreaAxis(m.d * 0.5f + m.e * ((float)oy + 0.5f) + m.f, fh);
  // The frame columns any footprint covers, and 1 / width of each column's footprint.
  int frame_x0 = s.width, frame_x1 = 0;
  std::vector<double> inv_width(spec.out_w);
  for (int ox = 0; ox < spec.out_w; ++ox) {
    const AreaAxis& c = columns[ox];
    inv_width[ox] = 1.0 / ((double)c.end - c.begin);
    if (!c.finite || c.end <= c.begin) continue;
    frame_x0 = std::min(frame_x0, std::max(c.begin, 0));
    frame_x1 = std::max(frame_x1, std::min(c.end, s.width));
  }
  for (int oy = 0; oy < spec.out_h; ++oy) {
    const AreaAxis& r = rows[oy];
    const int ys = std::max(r.begin, 0), ye = std::min(r.end, s.height);
    const bool rows_inside = r.finite && r.end > r.begin && ye > ys && frame_x1 > frame_x0;
    if (rows_inside) sums.Sum(ys, ye, frame_x0, frame_x1);
    const double inv_height = 1.0 / ((double)r.end - r.begin);
    const int64_t row_start = (int64_t)oy * spec.out_w;
    for (int ox = 0; ox < spec.out_w; ++ox) {
      const AreaAxis& c = columns[ox];
      float rgb[3] = {pad, pad, pad};
      if (!c.finite || !r.finite) {
      } else if (c.end <= c.begin || r.end <= r.begin) {
        fetch_or_pad(s, c.point, r.point, pad, rgb);
      } else {
        const int xs = std::max(c.begin, 0), xe = std::min(c.end, s.width);
        double acc[3] = {0.0, 0.0, 0.0};
        int64_t inside = 0;
        if (rows_inside && xe > xs) {
          sums.Span(xs, xe, acc);
          inside = ((int64_t)xe - xs) * ((int64_t)ye - ys);
        }
        const int64_t total = ((int64_t)c.end - c.begin) * ((int64_t)r.end - r.begin);
        const double outside = (double)(total - inside) * pad;
        const double inv_total = inv_width[ox] * inv_height;
        for (int k = 0; k < 3; ++k) rgb[k] = (float)((acc[k] + outside) * inv_total);
      }
      w.put(row_start + ox, rgb);
    }
  }
}

}  // namespace

void RenderCpu(const SourceView& source, const RenderSpec& spec, float* out) {
  switch (source.format) {
    case PixelFormat::RGB: RenderConverted<PackedRgbSource<3>>(source, spec, out); return;
    case PixelFormat::RGBA: RenderConverted<PackedRgbSource<4>>(source, spec, out); return;
    case PixelFormat::I420: RenderConverted<I420Source>(source, spec, out); return;
    case PixelFormat::NV12: RenderConverted<Nv12Source>(source, spec, out); return;
  }
  RenderCpuReference(source, spec, out);
}

void RenderDetectorCpu(const SourceView& source, const RenderSpec& spec, float* out) {
  const Affine& m = spec.affine;
  // sample_affine samples an area footprint of at most a pixel each way as nearest: RenderCpu's case.
  const bool separable = !spec.whole_frame && spec.mode == ResizeMode::Area && m.b == 0.f && m.d == 0.f &&
                         !(std::fabs(m.a) <= 1.f && std::fabs(m.e) <= 1.f);
  if (!separable) {
    RenderCpu(source, spec, out);
    return;
  }
  switch (source.format) {
    case PixelFormat::RGB: RenderAreaSeparable<PackedColumnSums<3>>(source, spec, out); return;
    case PixelFormat::RGBA: RenderAreaSeparable<PackedColumnSums<4>>(source, spec, out); return;
    case PixelFormat::I420:
    case PixelFormat::NV12: RenderAreaSeparable<YuvColumnSums>(source, spec, out); return;
  }
  RenderCpu(source, spec, out);
}

}  // namespace mg

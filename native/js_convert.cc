#include "js_convert.h"

#include <cmath>

namespace mg {

std::string GetString(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw FrameError("ERR_INVALID_ARG", std::string("option '") + key + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

double GetNumber(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    throw FrameError("ERR_INVALID_ARG", std::string("option '") + key + "' must be a finite number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

int GetInt(const Napi::Object& o, const char* key, int fallback) {
  const double d = GetNumber(o, key, fallback);
  if (d != std::floor(d) || d < -2147483648.0 || d > 2147483647.0) {
    throw FrameError("ERR_INVALID_ARG", std::string("option '") + key + "' must be an integer");
  }
  return (int)d;
}

bool GetBool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw FrameError("ERR_INVALID_ARG", std::string("option '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

namespace {

[[noreturn]] void Missing(const char* key, const char* type) {
  throw FrameError("ERR_INVALID_ARG", std::string("option '") + key + "' is required (" + type + ")");
}

}  // namespace

std::string RequireString(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) Missing(key, "a string");
  return GetString(o, key, "");
}

double RequireNumber(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) Missing(key, "a number");
  return GetNumber(o, key, 0);
}

int RequireInt(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) Missing(key, "an integer");
  return GetInt(o, key, 0);
}

bool RequireBool(const Napi::Object& o, const char* key) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) Missing(key, "a boolean");
  return GetBool(o, key, false);
}

Napi::Object RequireObject(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsObject()) Missing(key, "an object");
  return v.As<Napi::Object>();
}

std::array<float, 2 * kKeypoints> ParseKeypoints(const Napi::Value& v) {
  std::array<float, 2 * kKeypoints> out{};
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2 * kKeypoints) {
    throw FrameError("ERR_INVALID_ARG", "face keypoints must be an array of 12 numbers (6 x,y pairs)");
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value n = a.Get(i);
    if (!n.IsNumber() || !std::isfinite(n.As<Napi::Number>().DoubleValue())) {
      throw FrameError("ERR_INVALID_ARG", "face keypoints must be finite numbers");
    }
    // Checked as a double: 1e39 is finite there but infinite as a float, and huge keypoints make the crop's
    // side and affine overflow to inf/NaN (a NaN score, or a crop millions of pixels wide).
    if (std::fabs(n.As<Napi::Number>().DoubleValue()) > (double)kMaxKeypointMagnitude) {
      throw FrameError("ERR_INVALID_ARG", "face keypoints must lie within +-" +
                                              std::to_string((long long)kMaxKeypointMagnitude) + " pixels");
    }
    out[i] = n.As<Napi::Number>().FloatValue();
  }
  return out;
}

Box ParseBox(const Napi::Value& v, const char* what) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 4) {
    throw FrameError("ERR_INVALID_ARG", std::string(what) + " must be [x1, y1, x2, y2]");
  }
  Napi::Array a = v.As<Napi::Array>();
  float c[4];
  for (uint32_t i = 0; i < 4; ++i) {
    Napi::Value n = a.Get(i);
    if (!n.IsNumber() || !std::isfinite(n.As<Napi::Number>().DoubleValue())) {
      throw FrameError("ERR_INVALID_ARG", std::string(what) + " must hold finite numbers");
    }
    c[i] = n.As<Napi::Number>().FloatValue();
  }
  if (!(c[2] > c[0] && c[3] > c[1])) throw FrameError("ERR_INVALID_ARG", std::string(what) + " needs x2 > x1 and y2 > y1");
  return Box{c[0], c[1], c[2], c[3]};
}

ResizeMode ParseResizeMode(const std::string& name) {
  if (name == "nearest") return ResizeMode::Nearest;
  if (name == "bilinear") return ResizeMode::Bilinear;
  if (name == "area") return ResizeMode::Area;
  throw FrameError("ERR_INVALID_ARG", "resize must be nearest, bilinear or area, got '" + name + "'");
}

bool BytesOf(const Napi::Value& value, const uint8_t** bytes, size_t* length) {
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    *bytes = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    *length = array.ByteLength();
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    *bytes = static_cast<const uint8_t*>(buffer.Data());
    *length = buffer.ByteLength();
    return true;
  }
  if (value.IsDataView()) {
    Napi::DataView view = value.As<Napi::DataView>();
    *bytes = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    *length = view.ByteLength();
    return true;
  }
  return false;
}

namespace {

// A frame's size or stride: absent = 0 (the frame's default), else an integer 0..INT_MAX. Out of range is the
// frame's fault (ERR_INVALID_INPUT), found before any copy or work: a stride of 0xffffffff is not a wrap-around.
int FrameInt(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return 0;
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 2147483647.0) || d != std::floor(d)) {
    throw FrameError("ERR_INVALID_INPUT", std::string("frame ") + key + " must be an integer 0..2147483647, got " +
                                              (v.IsNumber() ? std::to_string((long double)d) : "a non-number"));
  }
  return (int)d;
}

}  // namespace

FrameInput ParseFrame(const Napi::Value& value, int64_t max_pixels) {
  if (!value.IsObject()) throw FrameError("ERR_INVALID_INPUT", "a frame must be an object {kind, data, ...}");
  Napi::Object o = value.As<Napi::Object>();
  FrameInput in;
  in.max_pixels = max_pixels;
  Napi::Value kind_value = o.Get("kind");
  const std::string kind = kind_value.IsString() ? kind_value.As<Napi::String>().Utf8Value() : "";
  if (kind == "jpeg") in.kind = FrameKind::Jpeg;
  else if (kind == "rgb") in.kind = FrameKind::Rgb;
  else if (kind == "rgba") in.kind = FrameKind::Rgba;
  else if (kind == "i420") in.kind = FrameKind::I420;
  else if (kind == "nv12") in.kind = FrameKind::Nv12;
  else if (kind == "png") in.kind = FrameKind::Png;
  else throw FrameError("ERR_INVALID_INPUT", "frame kind must be jpeg, png, rgb, rgba, i420 or nv12, got '" + kind + "'");

  const uint8_t* bytes = nullptr;
  size_t length = 0;
  if (!BytesOf(o.Get("data"), &bytes, &length)) {
    throw FrameError("ERR_INVALID_INPUT", "frame data must be a Buffer, TypedArray, DataView or ArrayBuffer");
  }
  if (length == 0) throw FrameError("ERR_INVALID_INPUT", "frame data is empty");
  if (in.kind != FrameKind::Jpeg && in.kind != FrameKind::Png) {
    in.width = FrameInt(o, "width");
    in.height = FrameInt(o, "height");
    if (in.kind == FrameKind::Rgb || in.kind == FrameKind::Rgba) {
      in.stride0 = FrameInt(o, "stride");
    } else {
      in.stride0 = FrameInt(o, "strideY");
      in.stride1 = FrameInt(o, in.kind == FrameKind::Nv12 ? "strideUV" : "strideU");
      if (in.kind == FrameKind::I420) in.stride2 = FrameInt(o, "strideV");
    }
    // Layout errors are found here, before the copy: a wrong size never costs a worker's time.
    ValidateRawLayout(in, length);
  }
  // A copy: the caller may reuse or detach its buffer as soon as score() returns.
  in.bytes.assign(bytes, bytes + length);
  return in;
}

OcclusionCell ParseOcclusionCell(const Napi::Value& box, const Napi::Value& value) {
  const Box b = ParseBox(box, "an occlusion cell");
  if (b.x1 != std::floor(b.x1) || b.y1 != std::floor(b.y1) || b.x2 != std::floor(b.x2) || b.y2 != std::floor(b.y2)) {
    throw FrameError("ERR_INVALID_ARG", "an occlusion cell's corners must be whole pixels");
  }
  if (!value.IsNumber()) throw FrameError("ERR_INVALID_ARG", "the occlusion value must be an integer 0..255");
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 255 && v == std::floor(v))) throw FrameError("ERR_INVALID_ARG", "the occlusion value must be an integer 0..255");
  return OcclusionCell{(int)b.x1, (int)b.y1, (int)b.x2, (int)b.y2, (uint8_t)v};
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

}  // namespace mg

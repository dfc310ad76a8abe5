// Reading JS option objects and frame descriptions; building JS errors with a `code`.
#pragma once

#include <napi.h>

#include <array>
#include <string>

#include "face_geometry.h"
#include "frame_decode.h"
#include "pixel_math.h"

namespace mg {

// Optional fields of per-call options: `fallback` when absent. Throw FrameError ERR_INVALID_ARG when mistyped.
std::string GetString(const Napi::Object& o, const char* key, const std::string& fallback);
int GetInt(const Napi::Object& o, const char* key, int fallback);
double GetNumber(const Napi::Object& o, const char* key, double fallback);
bool GetBool(const Napi::Object& o, const char* key, bool fallback);

// Required fields (options whose defaults the JS facade owns): FrameError ERR_INVALID_ARG when absent or mistyped.
std::string RequireString(const Napi::Object& o, const char* key);
int RequireInt(const Napi::Object& o, const char* key);
double RequireNumber(const Napi::Object& o, const char* key);
bool RequireBool(const Napi::Object& o, const char* key);
Napi::Object RequireObject(const Napi::Object& o, const char* key);

// [x1, y1, x2, y2]: finite, x2 > x1 and y2 > y1. `what` names it in the error.
Box ParseBox(const Napi::Value& v, const char* what);
// 12 finite numbers (BlazeFace order, frame pixels), within +-kMaxKeypointMagnitude.
std::array<float, 2 * kKeypoints> ParseKeypoints(const Napi::Value& v);

// The bytes of a Buffer / TypedArray / DataView / ArrayBuffer, not copied; false for any other value.
bool BytesOf(const Napi::Value& value, const uint8_t** bytes, size_t* length);

// Parses {kind, data, width?, height?, stride*?} and copies `data`; a raw frame's size is checked against
// `max_pixels` here, a JPEG's or PNG's when its header is read. Throws FrameError for bad shapes/types.
FrameInput ParseFrame(const Napi::Value& value, int64_t max_pixels);
ResizeMode ParseResizeMode(const std::string& name);
// An occlusion cell: `box` [x1, y1, x2, y2] of integers, `value` an integer 0..255 (checked against a frame by
// CheckOcclusionCell).
OcclusionCell ParseOcclusionCell(const Napi::Value& box, const Napi::Value& value);

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace mg

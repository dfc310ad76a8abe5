// Reading JS option objects and frame descriptions; building JS errors with a `code`.
#pragma once

#include <napi.h>

#include <string>

#include "frame_decode.h"
#include "pixel_math.h"

namespace mg {

std::string GetString(const Napi::Object& o, const char* key, const std::string& fallback);
int GetInt(const Napi::Object& o, const char* key, int fallback);
double GetNumber(const Napi::Object& o, const char* key, double fallback);
bool GetBool(const Napi::Object& o, const char* key, bool fallback);

// The bytes of a Buffer / TypedArray / DataView / ArrayBuffer, not copied; false for any other value.
bool BytesOf(const Napi::Value& value, const uint8_t** bytes, size_t* length);

// Parses {kind, data, width?, height?, stride*?} and copies `data`. Throws FrameError for bad shapes/types.
FrameInput ParseFrame(const Napi::Value& value);
ResizeMode ParseResizeMode(const std::string& name);

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace mg

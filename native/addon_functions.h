// The addon's stand-alone functions: preprocess (one frame to a model input tensor, as the pipeline renders it),
// encodeJpeg (saved crops and thumbnails), runtimeInfo (which ONNX Runtime and CUDA this process really has) and
// nativeHeap (glibc malloc statistics, for /metrics).
#pragma once

#include <napi.h>

namespace mg {

void RegisterAddonFunctions(Napi::Env env, Napi::Object exports);

}  // namespace mg

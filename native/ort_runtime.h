// The one ONNX Runtime of the process: API handle (version-checked), the shared OrtEnv, provider list.
#pragma once

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include <memory>
#include <string>
#include <vector>

namespace mg {

// Initialises the ORT C++ API against the loaded libonnxruntime. Throws std::runtime_error naming the
// versions when the library is older than the headers we were compiled against.
void InitOrtApi();

std::string OrtVersionString();
int OrtHeaderApiVersion();
// Path of the libonnxruntime.so that this process actually uses (dladdr), to prove there is one runtime.
std::string OrtLibraryPath();
// Providers compiled into the runtime (not necessarily loadable: their libraries may be missing).
std::vector<std::string> OrtAvailableProviders();

// The process-wide environment, created on first use.
Ort::Env& SharedOrtEnv();

}  // namespace mg

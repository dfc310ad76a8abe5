#include "ort_runtime.h"

#include <dlfcn.h>

#include <mutex>
#include <stdexcept>

namespace mg {

void InitOrtApi() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    const OrtApiBase* base = OrtGetApiBase();
    const OrtApi* api = base->GetApi(ORT_API_VERSION);
    if (api == nullptr) {
      error = std::string("ONNX Runtime ") + base->GetVersionString() + " does not provide C API version " +
              std::to_string(ORT_API_VERSION) +
              " that mesoguard was compiled for: reinstall the onnxruntime-node version pinned in package.json";
      return;
    }
    Ort::InitApi(api);
  });
  if (!error.empty()) throw std::runtime_error(error);
}

std::string OrtVersionString() { return OrtGetApiBase()->GetVersionString(); }

int OrtHeaderApiVersion() { return ORT_API_VERSION; }

std::string OrtLibraryPath() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) != 0 && info.dli_fname != nullptr) {
    return info.dli_fname;
  }
  return "";
}

std::vector<std::string> OrtAvailableProviders() { return Ort::GetAvailableProviders(); }

Ort::Env& SharedOrtEnv() {
  // ERROR, not WARNING: BlazeFace's files make ORT warn about unused initialisers at every load.
  // Leaked on purpose: sessions may be torn down by env cleanup hooks in any order, and ORT must outlive them.
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "mesoguard");
  return *env;
}

}  // namespace mg

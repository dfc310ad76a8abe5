// Module entry: registers the exports. Scorer and createScorer (scorer.h), VideoDecoder (video_decoder_js.h),
// VideoFile (video_file_js.h),
// preprocess, encodeJpeg and runtimeInfo (addon_functions.h).
#include <napi.h>

#include "addon_functions.h"
#include "idle_trimmer.h"
#include "ort_runtime.h"
#include "scorer.h"
#include "video_decoder_js.h"
#include "video_file_js.h"

namespace mg {

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    InitOrtApi();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return exports;
  }
  CapMallocArenas(2);
  RegisterScorer(env, exports);
  RegisterAddonFunctions(env, exports);
  RegisterVideoDecoder(env, exports);
  RegisterVideoFile(env, exports);
  return exports;
}

}  // namespace

}  // namespace mg

static Napi::Object InitMesoguard(Napi::Env env, Napi::Object exports) { return mg::Init(env, exports); }

NODE_API_MODULE(mesoguard, InitMesoguard)

// The JS-facing VideoDecoder: `new addon.VideoDecoder({codec: "VP8" | "H264", maxFramePixels, maxPending})`, one
// per stream.
// decode(accessUnit, {returnPixels}) returns a Promise per access unit; the decoding runs on the decoder's own
// thread, in call order, and results come back through a thread-safe function. The event loop only copies the
// compressed bytes in and hands the decoded planes out.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "js_lifecycle.h"
#include "video_decoder.h"
#include "work_pool.h"

namespace mg {

struct VideoJob;

class VideoDecoderJs : public JsLifecycle<VideoDecoderJs, VideoJob> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit VideoDecoderJs(const Napi::CallbackInfo& info);  // info[0]: {codec, maxPending?}
  ~VideoDecoderJs() override;

  static void OnCompletion(Napi::Env env, Napi::Function, VideoDecoderJs* self, VideoJob* job);
  // JsLifecycle's steps.
  void BeginClose(bool drain);
  void StopDrained();
  void StopNow();

 private:
  Napi::Value Decode(const Napi::CallbackInfo& info);
  Napi::Value Reset(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetCodec(const Napi::CallbackInfo& info);

  void Run(VideoJob* job);  // worker thread
  void Deliver(VideoJob* job);

  VideoCodec codec_ = VideoCodec::VP8;
  std::unique_ptr<VideoDecoder> decoder_;  // used by the worker thread only, once constructed
  std::unique_ptr<WorkPool> worker_;        // one thread: frames in order
  std::atomic<bool> cancel_{false};
  std::mutex stats_mutex_;
  VideoDecoderStats stats_;  // a copy the worker refreshes after each job
  int max_pending_ = 64;
  int pending_ = 0;      // decode promises not settled yet (JS thread only)
  double next_index_ = 0;
};

// Adds VideoDecoder to the addon's exports.
void RegisterVideoDecoder(Napi::Env env, Napi::Object exports);

}  // namespace mg

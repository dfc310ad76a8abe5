// The JS-facing VideoFile: `new addon.VideoFile({path, fps, maxFrames, maxFramePixels})`, one per file being
// scanned. open() resolves with the stream's description, read() with the next sampled frame as packed I420 (or
// null at the end), close() when the file is released. Every step runs on the object's own thread, in call order;
// the event loop only hands the decoded planes out. One frame is held at a time, however long the file.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "js_lifecycle.h"
#include "video_file.h"
#include "work_pool.h"

namespace mg {

struct VideoFileJob;

class VideoFileJs : public JsLifecycle<VideoFileJs, VideoFileJob> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit VideoFileJs(const Napi::CallbackInfo& info);
  ~VideoFileJs() override;

  static void OnCompletion(Napi::Env env, Napi::Function, VideoFileJs* self, VideoFileJob* job);
  // JsLifecycle's steps.
  void BeginClose(bool drain);
  void StopDrained();
  void StopNow();

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Post(Napi::Env env, int kind);
  void Run(VideoFileJob* job);  // worker thread

  std::unique_ptr<VideoFile> file_;    // used by the worker thread only
  std::unique_ptr<WorkPool> worker_;  // one thread: steps in order
  std::atomic<bool> cancel_{false};
};

// Adds VideoFile to the addon's exports.
void RegisterVideoFile(Napi::Env env, Napi::Object exports);

}  // namespace mg

#include "video_file_js.h"

#include <string>

#include "js_convert.h"

namespace mg {

struct VideoFileJob {
  enum Kind { kOpen, kRead, kDrained };
  int kind = kOpen;
  Napi::Promise::Deferred* deferred = nullptr;  // JS thread only
  VideoFileInfo info;
  bool has_frame = false;
  SampledFrame frame;
  std::string error_code;
  std::string error_message;
};

Napi::Function VideoFileJs::DefineClass(Napi::Env env) {
  return ObjectWrap<VideoFileJs>::DefineClass(env, "VideoFile",
                                              {InstanceMethod<&VideoFileJs::Open>("open"),
                                               InstanceMethod<&VideoFileJs::Read>("read"),
                                               InstanceMethod("close", &VideoFileJs::CloseMethod)});
}

VideoFileJs::VideoFileJs(const Napi::CallbackInfo& info) : JsLifecycle(info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw FrameError("ERR_INVALID_ARG", "new VideoFile({path, fps, maxFrames, maxFramePixels})");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    // Read as given: src/scan/scanOptions.ts owns the ranges of fps and maxFrames, src/scoring/scorerOptions.ts
    // the frame-pixel cap's.
    const std::string path = RequireString(o, "path");
    const double fps = RequireNumber(o, "fps");
    const int max_frames = RequireInt(o, "maxFrames");
    const int max_pixels = RequireInt(o, "maxFramePixels");
    file_ = std::make_unique<VideoFile>(path, fps, max_frames, max_pixels);
  } catch (const FrameError& e) {
    MakeError(env, e.code, e.what()).ThrowAsJavaScriptException();
    return;
  }
  worker_ = std::make_unique<WorkPool>(1, "mg-video-file");
  Started(env, "mesoguard.videoFile");
}

VideoFileJs::~VideoFileJs() { Teardown(); }

void VideoFileJs::StopNow() {
  cancel_ = true;
  if (worker_) worker_->Stop(false);  // waits for the step being run, if any
  worker_.reset();
  file_.reset();
}

void VideoFileJs::StopDrained() {
  if (worker_) worker_->Stop(true);  // idle by now: joins at once
  worker_.reset();
  file_.reset();
}

void VideoFileJs::BeginClose(bool) {
  cancel_ = true;  // steps still queued reject with ERR_CLOSED: a scan stops reading a file by closing it
  auto* job = new VideoFileJob();
  job->kind = VideoFileJob::kDrained;
  worker_->Post([this, job] { Run(job); });
}

// Worker thread.
void VideoFileJs::Run(VideoFileJob* job) {
  if (job->kind != VideoFileJob::kDrained) {
    try {
      if (cancel_) throw FrameError("ERR_CLOSED", "the video file was closed");
      if (job->kind == VideoFileJob::kOpen) job->info = file_->Open();
      else job->has_frame = file_->Next(&job->frame);
    } catch (const FrameError& e) {
      job->error_code = e.code;
      job->error_message = e.what();
    } catch (const std::exception& e) {
      job->error_code = "ERR_VIDEO_DECODE";
      job->error_message = e.what();
    }
  }
  if (tsfn_.NonBlockingCall(job) != napi_ok) {
    delete job->deferred;  // torn down: nothing can be settled any more
    delete job;
  }
}

Napi::Value VideoFileJs::Post(Napi::Env env, int kind) {
  if (!accepting()) return Rejected(env, "ERR_CLOSED", "the video file is closed");
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto* job = new VideoFileJob();
  job->kind = kind;
  job->deferred = new Napi::Promise::Deferred(deferred);
  PromiseStarted();
  worker_->Post([this, job] { Run(job); });
  return deferred.Promise();
}

Napi::Value VideoFileJs::Open(const Napi::CallbackInfo& info) { return Post(info.Env(), VideoFileJob::kOpen); }

Napi::Value VideoFileJs::Read(const Napi::CallbackInfo& info) { return Post(info.Env(), VideoFileJob::kRead); }

void VideoFileJs::OnCompletion(Napi::Env env, Napi::Function, VideoFileJs* self, VideoFileJob* job) {
  std::unique_ptr<VideoFileJob> owned(job);
  std::unique_ptr<Napi::Promise::Deferred> deferred(job->deferred);
  if (env == nullptr) return;  // being torn down
  Napi::HandleScope scope(env);
  if (job->kind == VideoFileJob::kDrained) {
    self->FinishClose(env);
    return;
  }
  if (!job->error_code.empty()) {
    deferred->Reject(MakeError(env, job->error_code, job->error_message).Value());
  } else if (job->kind == VideoFileJob::kOpen) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("container", job->info.container);
    o.Set("codec", job->info.codec);
    o.Set("width", job->info.width);
    o.Set("height", job->info.height);
    o.Set("rotation", job->info.rotation);
    o.Set("durationS", job->info.duration_s);
    o.Set("frameRate", job->info.frame_rate);
    deferred->Resolve(o);
  } else if (!job->has_frame) {
    deferred->Resolve(env.Null());
  } else {
    SampledFrame& f = job->frame;
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", "i420");
    o.Set("width", f.width);
    o.Set("height", f.height);
    o.Set("timeS", f.time_s);
    o.Set("decodedIndex", (double)f.decoded_index);
    // Hand the planes over without a copy: the Buffer owns the vector.
    auto* holder = new std::vector<uint8_t>(std::move(f.i420));
    o.Set("data", Napi::Buffer<uint8_t>::NewOrCopy(
                      env, holder->data(), holder->size(),
                      [](Napi::Env, uint8_t*, std::vector<uint8_t>* h) { delete h; }, holder));
    deferred->Resolve(o);
  }
  self->PromiseSettled();
}

void RegisterVideoFile(Napi::Env env, Napi::Object exports) { exports.Set("VideoFile", VideoFileJs::DefineClass(env)); }

}  // namespace mg

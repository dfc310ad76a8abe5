#include "video_decoder_js.h"

#include <vector>

#include "js_convert.h"

namespace mg {

struct VideoJob {
  enum class Kind { Decode, Reset, Drained };
  Kind kind = Kind::Decode;
  std::vector<uint8_t> data;
  bool want_pixels = false;
  double index = 0;
  Napi::Promise::Deferred* deferred = nullptr;  // Decode only; touched on the JS thread only
  // Results.
  DecodedVideo result;
  std::string error_code;
  std::string error_message;
};

Napi::Function VideoDecoderJs::DefineClass(Napi::Env env) {
  return ObjectWrap<VideoDecoderJs>::DefineClass(env, "VideoDecoder",
                                                 {InstanceMethod<&VideoDecoderJs::Decode>("decode"),
                                                  InstanceMethod<&VideoDecoderJs::Reset>("reset"),
                                                  InstanceMethod<&VideoDecoderJs::Stats>("stats"),
                                                  InstanceMethod("close", &VideoDecoderJs::CloseMethod),
                                                  InstanceAccessor<&VideoDecoderJs::GetCodec>("codec")});
}

VideoDecoderJs::VideoDecoderJs(const Napi::CallbackInfo& info) : JsLifecycle(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "new VideoDecoder({codec: 'VP8' | 'H264', maxFramePixels, maxPending})").ThrowAsJavaScriptException();
    return;
  }
  try {
    Napi::Object o = info[0].As<Napi::Object>();
    codec_ = ParseVideoCodec(RequireString(o, "codec"));
    // Required: src/sfu/RtpStreamRegistry.ts sizes it from the stream's decode queue.
    max_pending_ = RequireInt(o, "maxPending");
    if (max_pending_ < 1 || max_pending_ > 100000) throw FrameError("ERR_INVALID_ARG", "maxPending must be 1..100000");
    // The scorer's frame-pixel cap: required (src/scoring/scorerOptions.ts owns its default and range).
    decoder_ = std::make_unique<VideoDecoder>(codec_, RequireInt(o, "maxFramePixels"));
  } catch (const FrameError& e) {
    Napi::Error error = MakeError(env, e.code, e.what());
    error.ThrowAsJavaScriptException();
    return;
  }
  worker_ = std::make_unique<WorkPool>(1, "mg-video-decode");
  Started(env, "mesoguard.videoDecoder");
}

VideoDecoderJs::~VideoDecoderJs() { Teardown(); }

void VideoDecoderJs::StopNow() {
  cancel_ = true;
  if (worker_) worker_->Stop(false);  // waits for the access unit being decoded, if any (milliseconds)
  worker_.reset();
  decoder_.reset();
}

void VideoDecoderJs::StopDrained() {
  if (worker_) worker_->Stop(true);  // idle by now: joins at once
  worker_.reset();
  decoder_.reset();
}

void VideoDecoderJs::BeginClose(bool drain) {
  if (!drain) cancel_ = true;  // queued access units reject with ERR_CLOSED
  auto* job = new VideoJob();
  job->kind = VideoJob::Kind::Drained;
  worker_->Post([this, job] { Deliver(job); });
}

// Worker thread.
void VideoDecoderJs::Run(VideoJob* job) {
  if (job->kind == VideoJob::Kind::Reset) {
    if (!cancel_) decoder_->Reset();
  } else if (job->kind == VideoJob::Kind::Decode) {
    if (cancel_) {
      job->error_code = "ERR_CLOSED";
      job->error_message = "the video decoder was closed before this access unit was decoded";
    } else {
      try {
        job->result = decoder_->Decode(job->data.data(), job->data.size(), job->want_pixels);
      } catch (const FrameError& e) {
        job->error_code = e.code;
        job->error_message = e.what();
      } catch (const std::exception& e) {
        decoder_->Reset();
        job->error_code = "ERR_VIDEO_DECODE";
        job->error_message = std::string("decoding failed: ") + e.what();
      }
    }
    job->data.clear();
    job->data.shrink_to_fit();
  }
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_ = decoder_->stats();
  }
  Deliver(job);
}

void VideoDecoderJs::Deliver(VideoJob* job) {
  if (job->kind == VideoJob::Kind::Reset) {
    delete job;
    return;
  }
  if (tsfn_.NonBlockingCall(job) != napi_ok) {
    delete job->deferred;  // torn down: nothing can be settled any more
    delete job;
  }
}

Napi::Value VideoDecoderJs::Decode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!accepting()) return Rejected(env, "ERR_CLOSED", "the video decoder is closed");
  const uint8_t* bytes = nullptr;
  size_t length = 0;
  if (info.Length() < 1 || !BytesOf(info[0], &bytes, &length)) {
    return Rejected(env, "ERR_INVALID_INPUT", "decode(accessUnit): the access unit must be a Buffer, TypedArray, DataView or ArrayBuffer");
  }
  if (length == 0) return Rejected(env, "ERR_INVALID_INPUT", "the access unit is empty");
  bool want_pixels = false;
  try {
    if (info.Length() > 1 && info[1].IsObject()) want_pixels = GetBool(info[1].As<Napi::Object>(), "returnPixels", false);
  } catch (const FrameError& e) {
    return Rejected(env, e.code, e.what());
  }
  if (pending_ >= max_pending_) {
    return Rejected(env, "ERR_QUEUE_FULL", "the video decoder already has " + std::to_string(pending_) +
                                               " access units waiting (maxPending)");
  }
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto* job = new VideoJob();
  job->kind = VideoJob::Kind::Decode;
  job->data.assign(bytes, bytes + length);  // a copy: the worker must not read JS memory
  job->want_pixels = want_pixels;
  job->index = next_index_++;
  job->deferred = new Napi::Promise::Deferred(deferred);
  pending_++;
  PromiseStarted();
  worker_->Post([this, job] { Run(job); });
  return deferred.Promise();
}

Napi::Value VideoDecoderJs::Reset(const Napi::CallbackInfo& info) {
  if (!accepting()) return info.Env().Undefined();
  auto* job = new VideoJob();
  job->kind = VideoJob::Kind::Reset;
  worker_->Post([this, job] { Run(job); });
  return info.Env().Undefined();
}

void VideoDecoderJs::OnCompletion(Napi::Env env, Napi::Function, VideoDecoderJs* self, VideoJob* job) {
  std::unique_ptr<VideoJob> owned(job);
  std::unique_ptr<Napi::Promise::Deferred> deferred(job->deferred);
  if (env == nullptr) return;  // being torn down: nothing can be settled
  Napi::HandleScope scope(env);
  if (job->kind == VideoJob::Kind::Drained) {
    self->FinishClose(env);
    return;
  }
  self->pending_--;
  if (!job->error_code.empty()) {
    Napi::Error error = MakeError(env, job->error_code, job->error_message);
    error.Set("index", Napi::Number::New(env, job->index));
    deferred->Reject(error.Value());
    self->PromiseSettled();
    return;
  }
  const DecodedVideo& r = job->result;
  Napi::Object result = Napi::Object::New(env);
  result.Set("index", Napi::Number::New(env, job->index));
  result.Set("decoded", Napi::Boolean::New(env, r.decoded));
  result.Set("width", Napi::Number::New(env, r.width));
  result.Set("height", Napi::Number::New(env, r.height));
  result.Set("keyframe", Napi::Boolean::New(env, r.keyframe));
  result.Set("decodeMs", Napi::Number::New(env, r.decode_ms));
  if (!r.i420.empty()) {
    // Hand the planes over without a copy: the Buffer owns the vector.
    auto* holder = new std::vector<uint8_t>(std::move(owned->result.i420));
    Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::NewOrCopy(
        env, holder->data(), holder->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* h) { delete h; }, holder);
    result.Set("i420", buffer);
  }
  deferred->Resolve(result);
  self->PromiseSettled();
}

Napi::Value VideoDecoderJs::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  VideoDecoderStats s;
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    s = stats_;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("decoded", Napi::Number::New(env, (double)s.decoded));
  o.Set("empty", Napi::Number::New(env, (double)s.empty));
  o.Set("failed", Napi::Number::New(env, (double)s.failed));
  o.Set("skipped", Napi::Number::New(env, (double)s.skipped));
  o.Set("resets", Napi::Number::New(env, (double)s.resets));
  o.Set("pending", Napi::Number::New(env, pending_));
  o.Set("closed", Napi::Boolean::New(env, !accepting()));
  return o;
}

Napi::Value VideoDecoderJs::GetCodec(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), VideoCodecName(codec_));
}

void RegisterVideoDecoder(Napi::Env env, Napi::Object exports) {
  exports.Set("VideoDecoder", VideoDecoderJs::DefineClass(env));
}

}  // namespace mg

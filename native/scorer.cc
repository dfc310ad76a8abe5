#include "scorer.h"

#include <cmath>
#include <optional>

#include "js_convert.h"
#include "preprocess.h"
#include "scorer_options.h"

namespace mg {

namespace {

struct PromiseHandle {
  Napi::Promise::Deferred deferred;
};

struct AddonData {
  Napi::FunctionReference scorer_constructor;
};

Napi::Array BoxToJs(Napi::Env env, const Box& b) {
  Napi::Array a = Napi::Array::New(env, 4);
  a.Set(0u, b.x1);
  a.Set(1u, b.y1);
  a.Set(2u, b.x2);
  a.Set(3u, b.y2);
  return a;
}

Napi::Object OutputsToJs(Napi::Env env, const std::vector<TensorInfo>& names, const std::vector<float>& values) {
  Napi::Object o = Napi::Object::New(env);
  for (size_t i = 0; i < values.size() && i < names.size(); ++i) o.Set(names[i].name, values[i]);
  return o;
}

Napi::Object SessionInfo(Napi::Env env, const ModelSession& session) {
  Napi::Object o = Napi::Object::New(env);
  const SessionConfig& config = session.config();
  o.Set("modelPath", config.model_path);
  o.Set("requestedProvider", config.provider);
  o.Set("provider", session.provider());
  Napi::Array attempts = Napi::Array::New(env);
  for (size_t i = 0; i < session.attempts().size(); ++i) {
    const ProviderAttempt& a = session.attempts()[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("provider", a.provider);
    item.Set("chosen", a.chosen);
    item.Set("reason", a.reason);
    attempts.Set(i, item);
  }
  o.Set("attempts", attempts);
  o.Set("graphOptimization", config.graph_optimization);
  o.Set("intraOpThreads", config.intra_op_threads);
  Napi::Object input = Napi::Object::New(env);
  input.Set("name", session.input().name);
  Napi::Array shape = Napi::Array::New(env);
  for (size_t i = 0; i < session.input().shape.size(); ++i) shape.Set(i, Napi::Number::New(env, (double)session.input().shape[i]));
  input.Set("shape", shape);
  o.Set("input", input);
  Napi::Array outputs = Napi::Array::New(env);
  for (size_t i = 0; i < session.outputs().size(); ++i) outputs.Set(i, session.outputs()[i].name);
  o.Set("outputs", outputs);
  return o;
}

// Loads the model on a libuv worker and resolves with a Scorer built on the JS thread.
class CreateScorerWorker : public Napi::AsyncWorker {
 public:
  CreateScorerWorker(Napi::Env env, SessionConfig mesonet, std::optional<SessionConfig> detector, PipelineConfig pipeline)
      : Napi::AsyncWorker(env, "mesoguard.createScorer"),
        deferred_(Napi::Promise::Deferred::New(env)),
        mesonet_config_(std::move(mesonet)),
        detector_config_(std::move(detector)),
        pipeline_config_(std::move(pipeline)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      mesonet_ = std::make_shared<ModelSession>(mesonet_config_);
    } catch (const std::exception& e) {
      SetError(e.what());
      return;
    }
    if (!detector_config_) return;
    try {
      detector_ = std::make_shared<ModelSession>(*detector_config_);
    } catch (const std::exception& e) {
      SetError(std::string("face detector: ") + e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    AddonData* data = env.GetInstanceData<AddonData>();
    PreparedScorer prepared{mesonet_, detector_, pipeline_config_};
    try {
      Napi::Object scorer = data->scorer_constructor.New({Napi::External<PreparedScorer>::New(env, &prepared)});
      deferred_.Resolve(scorer);
    } catch (const Napi::Error& e) {
      deferred_.Reject(MakeError(env, "ERR_SCORER_CONFIG", e.Message()).Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(MakeError(Env(), "ERR_MODEL_LOAD", e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  SessionConfig mesonet_config_;
  std::optional<SessionConfig> detector_config_;
  PipelineConfig pipeline_config_;
  std::shared_ptr<ModelSession> mesonet_;
  std::shared_ptr<ModelSession> detector_;
};

}  // namespace

Napi::Function Scorer::DefineClass(Napi::Env env) {
  return ObjectWrap<Scorer>::DefineClass(env, "Scorer",
                                         {InstanceMethod<&Scorer::Score>("score"),
                                          InstanceMethod<&Scorer::ScoreOccluded>("scoreOccluded"),
                                          InstanceMethod<&Scorer::Analyze>("analyze"),
                                          InstanceMethod<&Scorer::Info>("info"),
                                          InstanceMethod<&Scorer::Stats>("stats"),
                                          InstanceMethod<&Scorer::Cancel>("cancel"),
                                          InstanceMethod("close", &Scorer::CloseMethod)});
}

Scorer::Scorer(const Napi::CallbackInfo& info) : JsLifecycle(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(env, "Scorer is created with createScorer(options), not with new").ThrowAsJavaScriptException();
    return;
  }
  PreparedScorer* prepared = info[0].As<Napi::External<PreparedScorer>>().Data();
  mesonet_ = prepared->mesonet;
  detector_ = prepared->detector;
  config_ = prepared->pipeline;
  try {
    pipeline_ = std::make_unique<FramePipeline>(
        mesonet_, detector_, config_,
        [this](std::unique_ptr<Request> request) {
          auto* completion = new Completion{std::move(request)};
          if (tsfn_.NonBlockingCall(completion) != napi_ok) delete completion;
        },
        [this] {
          auto* completion = new Completion{nullptr};
          if (tsfn_.NonBlockingCall(completion) != napi_ok) delete completion;
        });
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return;
  }
  // The pipeline's threads only call the thread-safe function once a request is submitted, after this.
  Started(env, "mesoguard.scorer");
}

Scorer::~Scorer() { Teardown(); }

void Scorer::StopNow() {
  if (pipeline_) {
    pipeline_->Abort();
    pipeline_.reset();
  }
}

void Scorer::StopDrained() {
  pipeline_->Join();
  final_stats_ = pipeline_->Stats();
  pipeline_.reset();
}

void Scorer::BeginClose(bool drain) { pipeline_->Close(drain); }

Napi::Value Scorer::Enqueue(Napi::Env env, std::unique_ptr<Request> request) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  auto* handle = new PromiseHandle{deferred};
  request->user = handle;
  std::string code, why;
  if (!pipeline_->Submit(request, &code, &why)) {
    delete handle;
    deferred.Reject(MakeError(env, code, why).Value());
    return deferred.Promise();
  }
  PromiseStarted();
  return deferred.Promise();
}

// score(frame, {resize}): the whole frame is one face crop.
Napi::Value Scorer::Score(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!accepting()) return Rejected(env, "ERR_CLOSED", "the scorer is closed");
  auto request = std::make_unique<Request>();
  request->mode = Request::Mode::Crop;
  try {
    request->frame = ParseFrame(info[0], config_.max_frame_pixels);
    std::string resize = "nearest";
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      resize = GetString(o, "resize", resize);
      request->group = GetString(o, "group", "");
    }
    request->resize = ParseResizeMode(resize);
  } catch (const FrameError& e) {
    return Rejected(env, e.code, e.what());
  }
  return Enqueue(env, std::move(request));
}

// scoreOccluded(frame, {cells, value, resize}) -> one Promise per cell, as score() resolves: the rgb frame scored
// with that cell painted `value` in every channel (occlusion sensitivity, src/scan/occlusion.ts). The frame is
// copied once here; each variant is painted on a pipeline worker and goes through the same queue as score().
// Bad arguments throw (ERR_INVALID_ARG, ERR_INVALID_INPUT) before any variant is queued.
Napi::Value Scorer::ScoreOccluded(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<const FrameInput> source;
  std::vector<OcclusionCell> cells;
  ResizeMode resize;
  try {
    if (info.Length() < 2 || !info[1].IsObject()) throw FrameError("ERR_INVALID_ARG", "scoreOccluded(frame, {cells, value, resize})");
    Napi::Object o = info[1].As<Napi::Object>();
    FrameInput frame = ParseFrame(info[0], config_.max_frame_pixels);
    resize = ParseResizeMode(RequireString(o, "resize"));
    Napi::Value list = o.Get("cells");
    if (!list.IsArray()) throw FrameError("ERR_INVALID_ARG", "cells must be an array of [x1, y1, x2, y2] boxes");
    Napi::Array a = list.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      cells.push_back(ParseOcclusionCell(a.Get(i), o.Get("value")));
      CheckOcclusionCell(frame, cells.back());
    }
    source = std::make_shared<const FrameInput>(std::move(frame));
  } catch (const FrameError& e) {
    MakeError(env, e.code, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array promises = Napi::Array::New(env, cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    if (!accepting()) {
      promises.Set(i, Rejected(env, "ERR_CLOSED", "the scorer is closed"));
      continue;
    }
    auto request = std::make_unique<Request>();
    request->mode = Request::Mode::Crop;
    request->resize = resize;
    request->occlusion_source = source;
    request->occlusion = cells[i];
    promises.Set(i, Enqueue(env, std::move(request)));
  }
  return promises;
}

// analyze(frame, {detect, score, regions, faces, returnCrops}): find (or take) the faces, crop and score each; with
// score: false, only find them.
Napi::Value Scorer::Analyze(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!accepting()) return Rejected(env, "ERR_CLOSED", "the scorer is closed");
  auto request = std::make_unique<Request>();
  request->mode = Request::Mode::Analyze;
  try {
    request->frame = ParseFrame(info[0], config_.max_frame_pixels);
    Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    request->detect = GetBool(o, "detect", true);
    request->score_faces = GetBool(o, "score", true);
    request->return_crops = GetBool(o, "returnCrops", false);
    request->group = GetString(o, "group", "");
    Napi::Value regions = o.Get("regions");
    if (regions.IsArray()) {
      Napi::Array a = regions.As<Napi::Array>();
      // Each region is a detector input rendered up front (768 KiB at 256x256) and queued for the detector.
      if (a.Length() > 256) throw FrameError("ERR_INVALID_ARG", "at most 256 detection regions per frame");
      for (uint32_t i = 0; i < a.Length(); ++i) request->regions.push_back(ParseBox(a.Get(i), "a detection region"));
    } else if (!regions.IsUndefined() && !regions.IsNull()) {
      throw FrameError("ERR_INVALID_ARG", "regions must be an array of [x1, y1, x2, y2] boxes");
    }
    Napi::Value faces = o.Get("faces");
    if (faces.IsArray()) {
      Napi::Array a = faces.As<Napi::Array>();
      if (a.Length() > 256) throw FrameError("ERR_INVALID_ARG", "at most 256 faces per frame");
      for (uint32_t i = 0; i < a.Length(); ++i) {
        if (!a.Get(i).IsObject()) throw FrameError("ERR_INVALID_ARG", "each face must be {box, keypoints, score?}");
        Napi::Object f = a.Get(i).As<Napi::Object>();
        FaceInput face;
        face.box = ParseBox(f.Get("box"), "a face box");
        face.keypoints = ParseKeypoints(f.Get("keypoints"));
        face.score = (float)GetNumber(f, "score", 0.0);
        request->faces.push_back(face);
      }
    } else if (!faces.IsUndefined() && !faces.IsNull()) {
      throw FrameError("ERR_INVALID_ARG", "faces must be an array");
    }
    if (request->detect && !request->faces.empty()) {
      throw FrameError("ERR_INVALID_ARG", "pass faces only with detect: false");
    }
    if (!request->score_faces && !request->detect) {
      throw FrameError("ERR_INVALID_ARG", "score: false (the detections alone) needs detect: true");
    }
    if (!request->score_faces && request->return_crops) {
      throw FrameError("ERR_INVALID_ARG", "score: false renders no crops: returnCrops must be false");
    }
  } catch (const FrameError& e) {
    return Rejected(env, e.code, e.what());
  }
  return Enqueue(env, std::move(request));
}

void Scorer::OnCompletion(Napi::Env env, Napi::Function, Scorer* self, Completion* completion) {
  std::unique_ptr<Completion> owned(completion);
  if (env == nullptr) {  // the function is being torn down: nothing can be settled any more
    if (owned->request) delete static_cast<PromiseHandle*>(owned->request->user);
    return;
  }
  Napi::HandleScope scope(env);
  if (!owned->request) {  // drained after close()
    self->FinishClose(env);
    return;
  }
  Request& r = *owned->request;
  std::unique_ptr<PromiseHandle> handle(static_cast<PromiseHandle*>(r.user));
  if (!r.error_code.empty()) {
    handle->deferred.Reject(MakeError(env, r.error_code, r.error_message).Value());
    self->PromiseSettled();
    return;
  }
  const std::vector<TensorInfo>& names = self->mesonet_->outputs();
  Napi::Object result = Napi::Object::New(env);
  if (r.mode == Request::Mode::Crop) {
    Napi::Object outputs = Napi::Object::New(env);
    for (size_t i = 0; i < r.outputs.size() && i < names.size(); ++i) {
      Napi::Float32Array values = Napi::Float32Array::New(env, r.outputs[i].size());
      std::copy(r.outputs[i].begin(), r.outputs[i].end(), values.Data());
      outputs.Set(names[i].name, values);
    }
    result.Set("outputs", outputs);
    result.Set("batchSize", Napi::Number::New(env, r.batch_size));
    result.Set("preprocessMs", Napi::Number::New(env, r.decode_ms + r.render_ms));
    result.Set("waitMs", Napi::Number::New(env, r.wait_ms));
    result.Set("inferenceMs", Napi::Number::New(env, r.inference_ms));
    result.Set("preprocessDevice", Napi::String::New(env, r.preprocess_device));
  } else {
    result.Set("width", r.frame_width);
    result.Set("height", r.frame_height);
    Napi::Array faces = Napi::Array::New(env, r.faces_out.size());
    for (size_t i = 0; i < r.faces_out.size(); ++i) {
      const FaceResult& f = r.faces_out[i];
      Napi::Object face = Napi::Object::New(env);
      face.Set("box", BoxToJs(env, f.box));
      Napi::Array kp = Napi::Array::New(env, f.keypoints.size());
      for (size_t k = 0; k < f.keypoints.size(); ++k) kp.Set(k, f.keypoints[k]);
      face.Set("keypoints", kp);
      face.Set("detectorScore", f.detector_score);
      Napi::Object crop = Napi::Object::New(env);
      Napi::Array center = Napi::Array::New(env, 2);
      center.Set(0u, f.crop_center_x);
      center.Set(1u, f.crop_center_y);
      crop.Set("center", center);
      crop.Set("side", f.crop_side);
      crop.Set("angle", f.crop_angle);
      if (!f.crop_rgb.empty()) {
        crop.Set("rgb", Napi::Buffer<uint8_t>::Copy(env, f.crop_rgb.data(), f.crop_rgb.size()));
      }
      face.Set("crop", crop);
      face.Set("outputs", OutputsToJs(env, names, f.outputs));
      face.Set("batchSize", f.batch_size);
      faces.Set(i, face);
    }
    result.Set("faces", faces);
    result.Set("detectorRuns", r.detector_runs);
    result.Set("facesFound", r.faces_found);
    Napi::Object timings = Napi::Object::New(env);
    timings.Set("decodeMs", r.decode_ms);
    timings.Set("detectMs", r.detect_ms);
    timings.Set("renderMs", r.render_ms);
    timings.Set("waitMs", r.wait_ms);
    timings.Set("inferenceMs", r.inference_ms);
    timings.Set("totalMs", r.total_ms);
    timings.Set("batchSize", r.batch_size);
    timings.Set("preprocessDevice", r.preprocess_device);
    result.Set("timings", timings);
  }
  handle->deferred.Resolve(result);
  self->PromiseSettled();
}

Napi::Value Scorer::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = SessionInfo(env, *mesonet_);
  o.Set("maxBatch", pipeline_ ? pipeline_->mesonet_max_batch() : config_.max_batch);
  o.Set("maxWaitMs", config_.max_wait_ms);
  o.Set("prepThreads", config_.prep_threads);
  o.Set("maxPending", config_.max_pending);
  o.Set("maxPendingPerGroup", config_.max_pending_per_group);
  o.Set("maxFramePixels", (double)config_.max_frame_pixels);
  if (pipeline_) {
    o.Set("preprocess", pipeline_->preprocess_device());
    o.Set("preprocessReason", pipeline_->preprocess_reason());
    const DeviceBatchStatus batches = pipeline_->device_batch_status();
    Napi::Object b = Napi::Object::New(env);
    b.Set("mode", batches.mode);
    b.Set("active", batches.active);
    b.Set("reason", batches.reason);
    Napi::Object canary = Napi::Object::New(env);
    canary.Set("state", batches.canary);
    canary.Set("tolerance", kCanaryTolerance);
    canary.Set("deviceRealProbability", batches.canary_device < 0 ? env.Null() : Napi::Number::New(env, batches.canary_device));
    canary.Set("cpuRealProbability", batches.canary_cpu < 0 ? env.Null() : Napi::Number::New(env, batches.canary_cpu));
    b.Set("canary", canary);
    o.Set("deviceBatches", b);
  }
  if (detector_) {
    Napi::Object d = SessionInfo(env, *detector_);
    d.Set("inputSize", pipeline_ ? pipeline_->detector_input_size() : 0);
    d.Set("minScore", config_.detector.min_score);
    d.Set("nmsIou", config_.detector.nms_iou);
    d.Set("maxFaces", config_.detector.max_faces);
    o.Set("detector", d);
  } else {
    o.Set("detector", env.Null());
  }
  Napi::Object crop = Napi::Object::New(env);
  crop.Set("factor", config_.crop.factor);
  crop.Set("margin", config_.crop.margin);
  o.Set("crop", crop);
  o.Set("closed", Napi::Boolean::New(env, closing_));
  return o;
}

// cancel(group) -> the number of the group's frames still pending; those not yet inside a model run reject
// with ERR_CANCELLED, skipping their remaining stages.
Napi::Value Scorer::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString() || info[0].As<Napi::String>().Utf8Value().empty()) {
    Napi::TypeError::New(env, "cancel(group): group must be a non-empty string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!pipeline_) return Napi::Number::New(env, 0);
  return Napi::Number::New(env, pipeline_->Cancel(info[0].As<Napi::String>().Utf8Value()));
}

Napi::Value Scorer::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  PipelineStats s = pipeline_ ? pipeline_->Stats() : final_stats_;
  o.Set("submitted", Napi::Number::New(env, (double)s.submitted));
  o.Set("completed", Napi::Number::New(env, (double)s.completed));
  o.Set("failed", Napi::Number::New(env, (double)s.failed));
  o.Set("cancelled", Napi::Number::New(env, (double)s.cancelled));
  o.Set("memoryTrims", Napi::Number::New(env, (double)s.memory_trims));
  o.Set("batches", Napi::Number::New(env, (double)s.batches));
  o.Set("arenaReleases", Napi::Number::New(env, (double)s.arena_releases));
  o.Set("meanBatchSize", Napi::Number::New(env, s.batches ? (double)s.batched_items / (double)s.batches : 0.0));
  o.Set("detectorRuns", Napi::Number::New(env, (double)s.detector_runs));
  o.Set("partialDecodes", Napi::Number::New(env, (double)s.partial_decodes));
  o.Set("pending", Napi::Number::New(env, s.pending));
  return o;
}

namespace {

Napi::Value CreateScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "createScorer(options) needs an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ScorerOptions options;
  try {
    options = ParseScorerOptions(info[0].As<Napi::Object>());
  } catch (const FrameError& e) {
    Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new CreateScorerWorker(env, options.mesonet, options.detector, options.pipeline);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void RegisterScorer(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->scorer_constructor = Napi::Persistent(Scorer::DefineClass(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("Scorer", data->scorer_constructor.Value());
  exports.Set("createScorer", Napi::Function::New<CreateScorer>(env, "createScorer"));
}

}  // namespace mg

// Module entry: createScorer (async model load), preprocess (one frame to a model input tensor), encodeJpeg,
// runtimeInfo (which ONNX Runtime and CUDA this process really has), VideoDecoder (video_decoder_js.h).
#include <napi.h>

#include <memory>
#include <optional>

#include <cmath>

#include "face_geometry.h"
#include "frame_decode.h"
#include "js_convert.h"
#include "model_session.h"
#include "ort_runtime.h"
#include "preprocess.h"
#include "scorer.h"
#include "video_decoder_js.h"

namespace mg {

namespace {

struct AddonData {
  Napi::FunctionReference scorer_constructor;
};

#ifndef MG_BUILD_SYSTEM
#define MG_BUILD_SYSTEM "unknown"
#endif

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

Napi::Value CreateScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "createScorer(options) needs an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  SessionConfig session;
  std::optional<SessionConfig> detector;
  PipelineConfig pipeline;
  try {
    session.model_path = GetString(o, "modelPath", "");
    session.provider = GetString(o, "provider", "auto");
    session.graph_optimization = GetString(o, "graphOptimization", "all");
    session.device_id = GetInt(o, "deviceId", 0);
    session.intra_op_threads = GetInt(o, "intraOpThreads", 0);
    session.cache_dir = GetString(o, "cacheDir", "");
    session.fp16 = GetBool(o, "fp16", true);
    pipeline.max_batch = GetInt(o, "maxBatch", 8);
    session.max_batch = pipeline.max_batch;
    pipeline.max_wait_ms = GetNumber(o, "maxWaitMs", 2.0);
    pipeline.prep_threads = GetInt(o, "prepThreads", 1);
    pipeline.max_pending = GetInt(o, "maxPending", 1024);
    pipeline.preprocess = GetString(o, "preprocess", "auto");
    Napi::Value d = o.Get("detector");
    if (d.IsObject()) {
      Napi::Object dobj = d.As<Napi::Object>();
      SessionConfig dc = session;  // same provider, device and caches as MesoNet
      dc.model_path = GetString(dobj, "modelPath", "");
      dc.graph_optimization = GetString(dobj, "graphOptimization", "all");
      dc.max_batch = 1;
      if (dc.model_path.empty()) throw FrameError("ERR_INVALID_ARG", "detector.modelPath is required");
      pipeline.detector.min_score = (float)GetNumber(dobj, "minScore", 0.5);
      pipeline.detector.nms_iou = (float)GetNumber(dobj, "nmsIou", 0.3);
      pipeline.detector.max_faces = GetInt(dobj, "maxFaces", 16);
      pipeline.detector.mode = ParseResizeMode(GetString(dobj, "resize", "area"));
      if (pipeline.detector.min_score < 0 || pipeline.detector.min_score > 1) throw FrameError("ERR_INVALID_ARG", "detector.minScore must be in [0, 1]");
      if (pipeline.detector.nms_iou < 0 || pipeline.detector.nms_iou > 1) throw FrameError("ERR_INVALID_ARG", "detector.nmsIou must be in [0, 1]");
      if (pipeline.detector.max_faces < 1 || pipeline.detector.max_faces > 256) throw FrameError("ERR_INVALID_ARG", "detector.maxFaces must be 1..256");
      detector = dc;
    } else if (!d.IsUndefined() && !d.IsNull()) {
      throw FrameError("ERR_INVALID_ARG", "detector must be an object {modelPath, ...}");
    }
    Napi::Value c = o.Get("crop");
    if (c.IsObject()) {
      Napi::Object cobj = c.As<Napi::Object>();
      pipeline.crop.factor = (float)GetNumber(cobj, "factor", 2.2);
      pipeline.crop.margin = (float)GetNumber(cobj, "margin", 1.3);
      pipeline.crop.mode = ParseResizeMode(GetString(cobj, "resize", "bilinear"));
      if (!(pipeline.crop.factor > 0 && pipeline.crop.factor <= kMaxCropScale) ||
          !(pipeline.crop.margin > 0 && pipeline.crop.margin <= kMaxCropScale)) {
        throw FrameError("ERR_INVALID_ARG", "crop.factor and crop.margin must be positive, at most 100");
      }
    }
    if (pipeline.max_batch < 1 || pipeline.max_batch > 1024) throw FrameError("ERR_INVALID_ARG", "maxBatch must be 1..1024");
  } catch (const FrameError& e) {
    Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (session.model_path.empty()) {
    Napi::TypeError::New(env, "createScorer: modelPath is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new CreateScorerWorker(env, session, detector, pipeline);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// preprocess(frame, {width, height, resize, device, keypoints?, crop?, region?}) -> Promise<Float32Array>:
// the planar RGB [0,1] tensor the pipeline would feed a model: the whole frame stretched (default), a face crop
// from keypoints, or a letterboxed region.
class PreprocessWorker : public Napi::AsyncWorker {
 public:
  PreprocessWorker(Napi::Env env, FrameInput frame, RenderSpec spec, bool cuda)
      : Napi::AsyncWorker(env, "mesoguard.preprocess"),
        deferred_(Napi::Promise::Deferred::New(env)),
        frame_(std::move(frame)),
        spec_(spec),
        cuda_(cuda) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      DecodedFrame decoded = DecodeFrame(frame_);
      out_.resize(3 * (size_t)spec_.out_w * spec_.out_h);
      if (cuda_) {
        RenderCuda(decoded.view, spec_, out_.data(), 0);
      } else {
        RenderCpu(decoded.view, spec_, out_.data());
      }
    } catch (const FrameError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception& e) {
      code_ = "ERR_PREPROCESS";
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Float32Array array = Napi::Float32Array::New(Env(), out_.size());
    std::copy(out_.begin(), out_.end(), array.Data());
    deferred_.Resolve(array);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  FrameInput frame_;
  RenderSpec spec_;
  bool cuda_;
  std::vector<float> out_;
  std::string code_;
};

std::vector<float> GetFloats(const Napi::Object& o, const char* key, size_t count) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != count) {
    throw FrameError("ERR_INVALID_ARG", std::string(key) + " must be an array of " + std::to_string(count) + " numbers");
  }
  std::vector<float> out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value n = a.Get(i);
    if (!n.IsNumber() || !std::isfinite(n.As<Napi::Number>().DoubleValue())) {
      throw FrameError("ERR_INVALID_ARG", std::string(key) + " must hold finite numbers");
    }
    out.push_back(n.As<Napi::Number>().FloatValue());
  }
  return out;
}

Napi::Value Preprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    FrameInput frame = ParseFrame(info[0]);
    Napi::Object o = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
    const int width = GetInt(o, "width", 256);
    const int height = GetInt(o, "height", 256);
    if (width < 1 || height < 1 || width > 4096 || height > 4096) {
      throw FrameError("ERR_INVALID_ARG", "output width and height must be 1..4096");
    }
    const ResizeMode mode = ParseResizeMode(GetString(o, "resize", "nearest"));
    const std::string device = GetString(o, "device", "cpu");
    if (device != "cpu" && device != "cuda") throw FrameError("ERR_INVALID_ARG", "device must be cpu or cuda");
    RenderSpec spec = whole_frame_spec(mode, width, height);
    if (!o.Get("keypoints").IsUndefined()) {
      const std::vector<float> k = GetFloats(o, "keypoints", 2 * kKeypoints);
      for (float v : k) {
        if (!(std::fabs(v) <= kMaxKeypointMagnitude)) {
          throw FrameError("ERR_INVALID_ARG", "keypoints must lie within +-1000000 pixels");
        }
      }
      std::array<float, 2 * kKeypoints> keypoints{};
      std::copy(k.begin(), k.end(), keypoints.begin());
      CropConfig crop;
      crop.mode = mode;
      if (o.Get("crop").IsObject()) {
        crop.factor = (float)GetNumber(o.Get("crop").As<Napi::Object>(), "factor", crop.factor);
        crop.margin = (float)GetNumber(o.Get("crop").As<Napi::Object>(), "margin", crop.margin);
        if (!(crop.factor > 0 && crop.factor <= kMaxCropScale) || !(crop.margin > 0 && crop.margin <= kMaxCropScale)) {
          throw FrameError("ERR_INVALID_ARG", "crop.factor and crop.margin must be positive, at most 100");
        }
      }
      if (width != height) throw FrameError("ERR_INVALID_ARG", "face crops are square: width must equal height");
      spec = MakeFaceCrop(keypoints, crop, width).spec;
    } else if (!o.Get("region").IsUndefined()) {
      const std::vector<float> r = GetFloats(o, "region", 4);
      if (!(r[2] > r[0] && r[3] > r[1])) throw FrameError("ERR_INVALID_ARG", "region needs x2 > x1 and y2 > y1");
      if (width != height) throw FrameError("ERR_INVALID_ARG", "letterboxes are square: width must equal height");
      spec = MakeLetterbox(Box{r[0], r[1], r[2], r[3]}, width, mode, Layout::Planar, 1.f, 0.f).spec;
    }
    auto* worker = new PreprocessWorker(env, std::move(frame), spec, device == "cuda");
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const FrameError& e) {
    deferred.Reject(MakeError(env, e.code, e.what()).Value());
    return deferred.Promise();
  }
}

// encodeJpeg(rgb, width, height, quality = 90) -> Promise<Buffer>: for saved crops and thumbnails.
class EncodeJpegWorker : public Napi::AsyncWorker {
 public:
  EncodeJpegWorker(Napi::Env env, std::vector<uint8_t> rgb, int width, int height, int quality)
      : Napi::AsyncWorker(env, "mesoguard.encodeJpeg"),
        deferred_(Napi::Promise::Deferred::New(env)),
        rgb_(std::move(rgb)),
        width_(width),
        height_(height),
        quality_(quality) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      jpeg_ = EncodeJpegRgb(rgb_.data(), width_, height_, quality_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(Env(), jpeg_.data(), jpeg_.size())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(MakeError(Env(), "ERR_JPEG_ENCODE", e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<uint8_t> rgb_;
  int width_, height_, quality_;
  std::vector<uint8_t> jpeg_;
};

Napi::Value EncodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    deferred.Reject(MakeError(env, "ERR_INVALID_ARG", "encodeJpeg(rgb: Uint8Array, width, height, quality?)").Value());
    return deferred.Promise();
  }
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  const int width = info[1].As<Napi::Number>().Int32Value();
  const int height = info[2].As<Napi::Number>().Int32Value();
  const int quality = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 90;
  if (width < 1 || height < 1 || width > kMaxFrameSide || height > kMaxFrameSide || quality < 1 || quality > 100 ||
      array.ByteLength() < (size_t)width * height * 3) {
    deferred.Reject(MakeError(env, "ERR_INVALID_ARG", "encodeJpeg: bad size or quality, or too few bytes for width x height RGB").Value());
    return deferred.Promise();
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
  auto* worker = new EncodeJpegWorker(env, std::vector<uint8_t>(bytes, bytes + (size_t)width * height * 3), width, height, quality);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("ortVersion", OrtVersionString());
  o.Set("ortApiVersion", OrtHeaderApiVersion());
  o.Set("ortLibraryPath", OrtLibraryPath());
  Napi::Array providers = Napi::Array::New(env);
  std::vector<std::string> names = OrtAvailableProviders();
  for (size_t i = 0; i < names.size(); ++i) providers.Set(i, names[i]);
  o.Set("availableProviders", providers);
  const CudaProbe cuda = ProbeCuda();
  Napi::Object c = Napi::Object::New(env);
  c.Set("built", cuda.built);
  c.Set("available", cuda.available);
  c.Set("deviceCount", cuda.device_count);
  c.Set("reason", cuda.reason);
  o.Set("cuda", c);
  o.Set("buildSystem", MG_BUILD_SYSTEM);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    InitOrtApi();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return exports;
  }
  auto* data = new AddonData();
  data->scorer_constructor = Napi::Persistent(Scorer::DefineClass(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("Scorer", data->scorer_constructor.Value());
  exports.Set("createScorer", Napi::Function::New<CreateScorer>(env, "createScorer"));
  exports.Set("preprocess", Napi::Function::New<Preprocess>(env, "preprocess"));
  exports.Set("encodeJpeg", Napi::Function::New<EncodeJpeg>(env, "encodeJpeg"));
  exports.Set("runtimeInfo", Napi::Function::New<RuntimeInfo>(env, "runtimeInfo"));
  RegisterVideoDecoder(env, exports);  // VideoDecoder (libavcodec VP8/H.264, for RTP ingest)
  return exports;
}

}  // namespace

}  // namespace mg

static Napi::Object InitMesoguard(Napi::Env env, Napi::Object exports) { return mg::Init(env, exports); }

NODE_API_MODULE(mesoguard, InitMesoguard)

// Module entry: createScorer (async model load), preprocess (one frame to the model's input tensor),
// runtimeInfo (which ONNX Runtime and CUDA this process really has).
#include <napi.h>

#include <memory>

#include "js_convert.h"
#include "model_session.h"
#include "ort_runtime.h"
#include "preprocess.h"
#include "scorer.h"

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
  CreateScorerWorker(Napi::Env env, SessionConfig session_config, QueueConfig queue_config)
      : Napi::AsyncWorker(env, "mesoguard.createScorer"),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_config_(std::move(session_config)),
        queue_config_(std::move(queue_config)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      session_ = std::make_shared<ModelSession>(session_config_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    AddonData* data = env.GetInstanceData<AddonData>();
    PreparedScorer prepared{session_, queue_config_};
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
  SessionConfig session_config_;
  QueueConfig queue_config_;
  std::shared_ptr<ModelSession> session_;
};

Napi::Value CreateScorer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "createScorer(options) needs an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object o = info[0].As<Napi::Object>();
  SessionConfig session;
  QueueConfig queue;
  try {
    session.model_path = GetString(o, "modelPath", "");
    session.provider = GetString(o, "provider", "auto");
    session.graph_optimization = GetString(o, "graphOptimization", "all");
    session.device_id = GetInt(o, "deviceId", 0);
    session.intra_op_threads = GetInt(o, "intraOpThreads", 0);
    session.cache_dir = GetString(o, "cacheDir", "");
    session.fp16 = GetBool(o, "fp16", true);
    queue.max_batch = GetInt(o, "maxBatch", 8);
    session.max_batch = queue.max_batch;
    queue.max_wait_ms = GetNumber(o, "maxWaitMs", 2.0);
    queue.prep_threads = GetInt(o, "prepThreads", 1);
    queue.max_pending = GetInt(o, "maxPending", 1024);
    queue.preprocess = GetString(o, "preprocess", "auto");
  } catch (const FrameError& e) {
    Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (session.model_path.empty()) {
    Napi::TypeError::New(env, "createScorer: modelPath is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new CreateScorerWorker(env, session, queue);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// preprocess(frame, {width, height, resize, device}) -> Promise<Float32Array> planar RGB in [0,1].
class PreprocessWorker : public Napi::AsyncWorker {
 public:
  PreprocessWorker(Napi::Env env, FrameInput frame, ResizeMode mode, int width, int height, bool cuda)
      : Napi::AsyncWorker(env, "mesoguard.preprocess"),
        deferred_(Napi::Promise::Deferred::New(env)),
        frame_(std::move(frame)),
        mode_(mode),
        width_(width),
        height_(height),
        cuda_(cuda) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      DecodedFrame decoded = DecodeFrame(frame_);
      out_.resize(3 * (size_t)width_ * height_);
      if (cuda_) {
        PreprocessCuda(decoded.view, mode_, width_, height_, out_.data(), 0);
      } else {
        PreprocessCpu(decoded.view, mode_, width_, height_, out_.data());
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
  ResizeMode mode_;
  int width_, height_;
  bool cuda_;
  std::vector<float> out_;
  std::string code_;
};

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
    auto* worker = new PreprocessWorker(env, std::move(frame), mode, width, height, device == "cuda");
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  } catch (const FrameError& e) {
    deferred.Reject(MakeError(env, e.code, e.what()).Value());
    return deferred.Promise();
  }
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
  exports.Set("runtimeInfo", Napi::Function::New<RuntimeInfo>(env, "runtimeInfo"));
  return exports;
}

}  // namespace

}  // namespace mg

static Napi::Object InitMesoguard(Napi::Env env, Napi::Object exports) { return mg::Init(env, exports); }

NODE_API_MODULE(mesoguard, InitMesoguard)

// The JS-facing Scorer: MesoNet (and optionally the BlazeFace detector) behind a FramePipeline. Every call
// returns a Promise; all pixel and inference work runs on the pipeline's threads, and results come back
// through a thread-safe function.
#pragma once

#include <napi.h>

#include <memory>

#include "frame_pipeline.h"
#include "js_lifecycle.h"
#include "model_session.h"

namespace mg {

// Built on a libuv worker (loading a model, or building a TensorRT engine, can take long), handed to the
// Scorer constructor on the JS thread.
struct PreparedScorer {
  std::shared_ptr<ModelSession> mesonet;
  std::shared_ptr<ModelSession> detector;  // may be null
  PipelineConfig pipeline;
};

struct Completion {
  std::unique_ptr<Request> request;  // null for the "drained" signal
};

class Scorer : public JsLifecycle<Scorer, Completion> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit Scorer(const Napi::CallbackInfo& info);  // info[0]: External<PreparedScorer>
  ~Scorer() override;

  static void OnCompletion(Napi::Env env, Napi::Function, Scorer* self, Completion* completion);
  // JsLifecycle's steps.
  void BeginClose(bool drain);
  void StopDrained();
  void StopNow();

 private:
  Napi::Value Score(const Napi::CallbackInfo& info);
  Napi::Value ScoreOccluded(const Napi::CallbackInfo& info);
  Napi::Value Analyze(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);

  Napi::Value Enqueue(Napi::Env env, std::unique_ptr<Request> request);

  std::shared_ptr<ModelSession> mesonet_;
  std::shared_ptr<ModelSession> detector_;
  PipelineConfig config_;
  std::unique_ptr<FramePipeline> pipeline_;
  PipelineStats final_stats_;  // kept after close() so stats() still tells what happened
};

// Adds Scorer and createScorer(options) (loads the models off the JS thread) to the addon's exports.
void RegisterScorer(Napi::Env env, Napi::Object exports);

}  // namespace mg

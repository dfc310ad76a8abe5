// The JS-facing Scorer: MesoNet (and optionally the BlazeFace detector) behind a FramePipeline. Every call
// returns a Promise; all pixel and inference work runs on the pipeline's threads, and results come back
// through a thread-safe function.
#pragma once

#include <napi.h>

#include "pending_promises.h"

#include <memory>
#include <optional>

#include "frame_pipeline.h"
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

class Scorer : public Napi::ObjectWrap<Scorer> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit Scorer(const Napi::CallbackInfo& info);  // info[0]: External<PreparedScorer>
  ~Scorer() override;

  static void OnCompletion(Napi::Env env, Napi::Function, Scorer* self, Completion* completion);
  void Teardown();  // process exit: stop threads without settling promises

 private:
  Napi::Value Score(const Napi::CallbackInfo& info);
  Napi::Value Analyze(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  Napi::Value Enqueue(Napi::Env env, std::unique_ptr<Request> request, Napi::Promise::Deferred deferred);
  void TrackStart();  // a promise is outstanding: keep the loop and this object alive
  void TrackEnd();

  using Tsfn = Napi::TypedThreadSafeFunction<Scorer, Completion, &Scorer::OnCompletion>;

  std::shared_ptr<ModelSession> mesonet_;
  std::shared_ptr<ModelSession> detector_;
  PipelineConfig config_;
  std::unique_ptr<FramePipeline> pipeline_;
  PipelineStats final_stats_;  // kept after close() so stats() still tells what happened
  Tsfn tsfn_;
  PendingPromises<Scorer, Tsfn> keep_alive_;  // JS thread only
  bool closing_ = false;
  bool torn_down_ = false;
  std::optional<Napi::Promise::Deferred> close_deferred_;
  napi_env env_ = nullptr;
};

}  // namespace mg

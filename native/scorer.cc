#include "scorer.h"

#include "js_convert.h"
#include "preprocess.h"

namespace mg {

namespace {

struct PromiseHandle {
  Napi::Promise::Deferred deferred;
};

// One named function so the hook added in the constructor is the one removed later.
void TeardownHook(void* arg) { static_cast<Scorer*>(arg)->Teardown(); }

}  // namespace

Napi::Function Scorer::DefineClass(Napi::Env env) {
  return ObjectWrap<Scorer>::DefineClass(env, "Scorer",
                                         {InstanceMethod<&Scorer::Score>("score"),
                                          InstanceMethod<&Scorer::Info>("info"),
                                          InstanceMethod<&Scorer::Stats>("stats"),
                                          InstanceMethod<&Scorer::Close>("close")});
}

Scorer::Scorer(const Napi::CallbackInfo& info) : ObjectWrap<Scorer>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(env, "Scorer is created with createScorer(options), not with new").ThrowAsJavaScriptException();
    torn_down_ = true;  // nothing was set up: the destructor must not release a thread-safe function never made
    return;
  }
  PreparedScorer* prepared = info[0].As<Napi::External<PreparedScorer>>().Data();
  session_ = prepared->session;
  queue_config_ = prepared->queue;
  tsfn_ = Tsfn::New(env, "mesoguard.scorer", 0, 1, this);
  tsfn_.Unref(env);  // an idle scorer must not keep the process alive
  try {
    queue_ = std::make_unique<BatchQueue>(
        session_, queue_config_,
        [this](std::unique_ptr<Job> job) {
          auto* completion = new Completion{std::move(job)};
          if (tsfn_.NonBlockingCall(completion) != napi_ok) delete completion;
        },
        [this] {
          auto* completion = new Completion{nullptr};
          if (tsfn_.NonBlockingCall(completion) != napi_ok) delete completion;
        });
  } catch (const std::exception& e) {
    tsfn_.Release();
    torn_down_ = true;
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    return;
  }
  napi_add_env_cleanup_hook(env_, TeardownHook, this);
}

Scorer::~Scorer() { Teardown(); }

void Scorer::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  napi_remove_env_cleanup_hook(env_, TeardownHook, this);
  if (queue_) {
    queue_->Abort();
    queue_->Join();
    queue_.reset();
  }
  tsfn_.Abort();
}

void Scorer::TrackStart() {
  if (outstanding_++ == 0) {
    tsfn_.Ref(Env());
    Ref();  // the JS object must not be collected while its promises are pending
  }
}

void Scorer::TrackEnd() {
  if (--outstanding_ == 0) {
    tsfn_.Unref(Env());
    Unref();
  }
}

Napi::Value Scorer::Score(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (closing_ || !queue_) {
    deferred.Reject(MakeError(env, "ERR_CLOSED", "the scorer is closed").Value());
    return deferred.Promise();
  }
  auto job = std::make_unique<Job>();
  try {
    job->frame = ParseFrame(info[0]);
    std::string resize = "nearest";
    if (info.Length() > 1 && info[1].IsObject()) resize = GetString(info[1].As<Napi::Object>(), "resize", resize);
    job->resize = ParseResizeMode(resize);
  } catch (const FrameError& e) {
    deferred.Reject(MakeError(env, e.code, e.what()).Value());
    return deferred.Promise();
  }
  auto* handle = new PromiseHandle{deferred};
  job->user = handle;
  std::string code, why;
  if (!queue_->Submit(job, &code, &why)) {
    delete handle;
    deferred.Reject(MakeError(env, code, why).Value());
    return deferred.Promise();
  }
  TrackStart();
  return deferred.Promise();
}

void Scorer::OnCompletion(Napi::Env env, Napi::Function, Scorer* self, Completion* completion) {
  std::unique_ptr<Completion> owned(completion);
  if (env == nullptr) {  // the function is being torn down: nothing can be settled any more
    if (owned->job) delete static_cast<PromiseHandle*>(owned->job->user);
    return;
  }
  Napi::HandleScope scope(env);
  if (!owned->job) {  // drained after close()
    self->queue_->Join();
    self->queue_.reset();
    self->tsfn_.Release();
    self->torn_down_ = true;
    napi_remove_env_cleanup_hook(self->env_, TeardownHook, self);
    if (self->close_deferred_) self->close_deferred_->Resolve(env.Undefined());
    self->close_deferred_.reset();
    self->TrackEnd();
    return;
  }
  Job& job = *owned->job;
  std::unique_ptr<PromiseHandle> handle(static_cast<PromiseHandle*>(job.user));
  if (!job.error_code.empty()) {
    handle->deferred.Reject(MakeError(env, job.error_code, job.error_message).Value());
  } else {
    Napi::Object result = Napi::Object::New(env);
    Napi::Object outputs = Napi::Object::New(env);
    const std::vector<TensorInfo>& names = self->session_->outputs();
    for (size_t i = 0; i < job.outputs.size() && i < names.size(); ++i) {
      Napi::Float32Array values = Napi::Float32Array::New(env, job.outputs[i].size());
      std::copy(job.outputs[i].begin(), job.outputs[i].end(), values.Data());
      outputs.Set(names[i].name, values);
    }
    result.Set("outputs", outputs);
    result.Set("batchSize", Napi::Number::New(env, job.batch_size));
    result.Set("preprocessMs", Napi::Number::New(env, job.preprocess_ms));
    result.Set("waitMs", Napi::Number::New(env, job.wait_ms));
    result.Set("inferenceMs", Napi::Number::New(env, job.inference_ms));
    result.Set("preprocessDevice", Napi::String::New(env, job.preprocess_device));
    handle->deferred.Resolve(result);
  }
  self->TrackEnd();
}

Napi::Value Scorer::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool drain = true;
  if (info.Length() > 0 && info[0].IsObject()) {
    try {
      drain = GetBool(info[0].As<Napi::Object>(), "drain", true);
    } catch (const FrameError& e) {  // an uncaught C++ exception here would terminate the process
      Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  if (close_deferred_) return close_deferred_->Promise();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (!queue_) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  closing_ = true;
  close_deferred_ = deferred;
  TrackStart();  // held until the drained signal arrives
  queue_->Close(drain);
  return deferred.Promise();
}

Napi::Value Scorer::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const SessionConfig& config = session_->config();
  o.Set("modelPath", config.model_path);
  o.Set("requestedProvider", config.provider);
  o.Set("provider", session_->provider());
  Napi::Array attempts = Napi::Array::New(env);
  for (size_t i = 0; i < session_->attempts().size(); ++i) {
    const ProviderAttempt& a = session_->attempts()[i];
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
  input.Set("name", session_->input().name);
  Napi::Array shape = Napi::Array::New(env);
  for (size_t i = 0; i < session_->input().shape.size(); ++i) shape.Set(i, Napi::Number::New(env, (double)session_->input().shape[i]));
  input.Set("shape", shape);
  o.Set("input", input);
  Napi::Array outputs = Napi::Array::New(env);
  for (size_t i = 0; i < session_->outputs().size(); ++i) outputs.Set(i, session_->outputs()[i].name);
  o.Set("outputs", outputs);
  o.Set("maxBatch", queue_config_.max_batch);
  o.Set("maxWaitMs", queue_config_.max_wait_ms);
  o.Set("prepThreads", queue_config_.prep_threads);
  o.Set("maxPending", queue_config_.max_pending);
  if (queue_) {
    o.Set("preprocess", queue_->preprocess_device());
    o.Set("preprocessReason", queue_->preprocess_reason());
  }
  o.Set("closed", Napi::Boolean::New(env, closing_));
  return o;
}

Napi::Value Scorer::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  QueueStats s = queue_ ? queue_->Stats() : QueueStats{};
  o.Set("submitted", Napi::Number::New(env, (double)s.submitted));
  o.Set("completed", Napi::Number::New(env, (double)s.completed));
  o.Set("failed", Napi::Number::New(env, (double)s.failed));
  o.Set("batches", Napi::Number::New(env, (double)s.batches));
  o.Set("meanBatchSize", Napi::Number::New(env, s.batches ? (double)s.batched_items / (double)s.batches : 0.0));
  o.Set("pending", Napi::Number::New(env, s.pending));
  return o;
}

}  // namespace mg

// The life of a JS-facing native object that runs work on its own threads and settles promises through a
// thread-safe function (Scorer, VideoDecoder): set-up, close({drain}), the drained hand-back and teardown.
#pragma once

#include <napi.h>

#include <optional>

#include "js_convert.h"

namespace mg {

// Derived provides, all on the JS thread:
//   static void OnCompletion(Napi::Env, Napi::Function, Derived*, Item*);  results and the drained signal
//   void BeginClose(bool drain);  stop accepting; signal "drained" (call FinishClose) once the work is done
//   void StopDrained();           after drained: join the (idle) threads
//   void StopNow();               teardown: stop the threads at once, dropping queued work unsettled
template <typename Derived, typename Item>
class JsLifecycle : public Napi::ObjectWrap<Derived> {
 public:
  // Process exit or collection: stop the threads without settling promises. Derived's destructor calls it.
  void Teardown() {
    if (torn_down_) return;
    torn_down_ = true;
    napi_remove_env_cleanup_hook(env_, TeardownHook, this);
    self().StopNow();
    tsfn_.Abort();
  }

 protected:
  static void CallJs(Napi::Env env, Napi::Function fn, Derived* self, Item* item) {
    Derived::OnCompletion(env, fn, self, item);
  }
  using Tsfn = Napi::TypedThreadSafeFunction<Derived, Item, &JsLifecycle::CallJs>;

  explicit JsLifecycle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info), env_(info.Env()) {}

  // The object is set up: from now on it has a thread-safe function to settle through and a teardown hook.
  // Until then the destructor releases nothing.
  void Started(Napi::Env env, const char* name) {
    tsfn_ = Tsfn::New(env, name, 0, 1, &self());
    tsfn_.Unref(env);  // an idle object must not keep the process alive
    torn_down_ = false;
    napi_add_env_cleanup_hook(env_, TeardownHook, this);
  }

  bool accepting() const { return !torn_down_ && !closing_; }

  // close({drain = true}): one promise however often it is called; resolves when the work is done.
  Napi::Value CloseMethod(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    bool drain = true;
    try {
      if (info.Length() > 0 && info[0].IsObject()) drain = GetBool(info[0].As<Napi::Object>(), "drain", true);
    } catch (const FrameError& e) {
      Napi::TypeError::New(env, e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (close_deferred_) return close_deferred_->Promise();
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    if (torn_down_) {
      deferred.Resolve(env.Undefined());
      return deferred.Promise();
    }
    closing_ = true;
    close_deferred_ = deferred;
    PromiseStarted();  // held until the drained signal arrives
    self().BeginClose(drain);
    return deferred.Promise();
  }

  // The drained signal reached the JS thread: join, let the thread-safe function go, resolve close().
  void FinishClose(Napi::Env env) {
    self().StopDrained();
    tsfn_.Release();
    torn_down_ = true;
    napi_remove_env_cleanup_hook(env_, TeardownHook, this);
    if (close_deferred_) close_deferred_->Resolve(env.Undefined());
    close_deferred_.reset();
    PromiseSettled();
  }

  // The first outstanding promise refs the thread-safe function (the loop must not exit while a result is on
  // its way) and the JS object (the GC must not collect it under the worker threads); the last lets both go.
  void PromiseStarted() {
    if (outstanding_++ == 0) {
      tsfn_.Ref(Napi::Env(env_));
      this->Ref();
    }
  }
  void PromiseSettled() {
    if (--outstanding_ == 0) {
      tsfn_.Unref(Napi::Env(env_));
      this->Unref();
    }
  }

  static Napi::Promise Rejected(Napi::Env env, const std::string& code, const std::string& message) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(MakeError(env, code, message).Value());
    return deferred.Promise();
  }

  Tsfn tsfn_;
  bool closing_ = false;
  bool torn_down_ = true;  // until Started()

 private:
  Derived& self() { return *static_cast<Derived*>(this); }
  static void TeardownHook(void* arg) { static_cast<JsLifecycle*>(arg)->Teardown(); }

  napi_env env_ = nullptr;
  int outstanding_ = 0;
  std::optional<Napi::Promise::Deferred> close_deferred_;
};

}  // namespace mg

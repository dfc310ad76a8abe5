// Keeps a JS-facing native object alive while its promises are outstanding, and only then.
#pragma once

#include <napi.h>

namespace mg {

// The first outstanding promise refs the object's thread-safe function (the event loop must not exit while a
// result is on its way) and the JS object (the GC must not collect it under the worker threads); the last one
// lets both go, so an idle object neither keeps the process up nor stays uncollectable. JS thread only.
template <typename Wrapped, typename Tsfn>
class PendingPromises {
 public:
  void Add(Napi::Env env, Wrapped& self, Tsfn& tsfn) {
    if (count_++ == 0) {
      tsfn.Ref(env);
      self.Ref();
    }
  }
  void Remove(Napi::Env env, Wrapped& self, Tsfn& tsfn) {
    if (--count_ == 0) {
      tsfn.Unref(env);
      self.Unref();
    }
  }

 private:
  int count_ = 0;
};

}  // namespace mg

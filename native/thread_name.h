// Names the calling thread, so `top -H`, perf and /proc/<pid>/task/*/comm tell the addon's threads apart
// (Linux keeps 15 characters). Elsewhere it does nothing.
#pragma once

#if defined(__linux__)
#include <pthread.h>
#endif

namespace mg {

inline void NameThisThread(const char* name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

}  // namespace mg

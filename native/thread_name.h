// Names the calling thread, so `top -H`, perf and /proc/<pid>/task/*/comm tell the addon's threads apart
// (Linux keeps 15 characters), and sets its CPU priority. Elsewhere both do nothing.
#pragma once

#include <cerrno>

#if defined(__linux__)
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace mg {

inline void NameThisThread(const char* name) {
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name);
#else
  (void)name;
#endif
}

// Adds `increment` to the calling thread's nice value (capped at 19). On Linux a thread is a task with a nice value
// of its own: the process's other threads keep theirs. Raising it needs no privilege; failure changes nothing.
inline void NiceThisThread(int increment) {
#if defined(__linux__)
  const id_t tid = (id_t)syscall(SYS_gettid);
  errno = 0;
  const int now = getpriority(PRIO_PROCESS, tid);
  if (errno == 0) setpriority(PRIO_PROCESS, tid, now + increment > 19 ? 19 : now + increment);
#else
  (void)increment;
#endif
}

}  // namespace mg

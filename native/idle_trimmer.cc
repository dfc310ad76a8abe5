#include "idle_trimmer.h"

#include "thread_name.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mg {

void CapMallocArenas(int count) {
#if defined(__GLIBC__)
  mallopt(M_ARENA_MAX, count);
#else
  (void)count;
#endif
}

IdleTrimmer::IdleTrimmer(std::chrono::milliseconds delay)
    : delay_(delay), thread_([this] {
        NameThisThread("mg-trim");
        Loop();
      }) {}

IdleTrimmer::~IdleTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void IdleTrimmer::Busy() {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_ = false;
  worked_ = true;
  ++generation_;
}

void IdleTrimmer::Idle() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_ = true;
  }
  cv_.notify_all();
}

uint64_t IdleTrimmer::trims() {
  std::lock_guard<std::mutex> lock(mutex_);
  return trims_;
}

void IdleTrimmer::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || (idle_ && worked_); });
    if (stop_) return;
    const uint64_t generation = generation_;
    // Still idle `delay` later, with no work in between: the burst is over.
    if (cv_.wait_for(lock, delay_, [this, generation] { return stop_ || generation_ != generation; })) continue;
    worked_ = false;
    ++trims_;
    lock.unlock();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    lock.lock();
  }
}

}  // namespace mg

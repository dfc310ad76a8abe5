#include "idle_trimmer.h"

#include <algorithm>

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

NativeHeapUsage ReadNativeHeap() {
  NativeHeapUsage usage;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  const struct mallinfo2 info = mallinfo2();
  usage.available = true;
  usage.in_use_bytes = info.uordblks + info.hblkhd;
  usage.free_bytes = info.fordblks;
#endif
  return usage;
}

IdleTrimmer::IdleTrimmer(std::chrono::milliseconds delay, std::chrono::milliseconds busy_interval)
    : delay_(delay), busy_interval_(busy_interval), thread_([this] {
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
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_ = false;
    first = !worked_;
    if (first) work_since_ = std::chrono::steady_clock::now();
    worked_ = true;
    ++generation_;
  }
  if (first) cv_.notify_all();  // the first work since a trim starts the busy interval's clock
}

void IdleTrimmer::Idle() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_ = true;
    idle_since_ = std::chrono::steady_clock::now();
  }
  cv_.notify_all();
}

uint64_t IdleTrimmer::trims() {
  std::lock_guard<std::mutex> lock(mutex_);
  return trims_;
}

void IdleTrimmer::Loop() {
  using Clock = std::chrono::steady_clock;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || worked_; });
    if (stop_) return;
    const uint64_t generation = generation_;
    const Clock::time_point due = work_since_ + busy_interval_;  // work since the last trim, never paused
    // Further work shows as a changed generation when this wait ends.
    cv_.wait_until(lock, std::min(Clock::now() + delay_, due), [this] { return stop_; });
    if (stop_) return;
    const Clock::time_point now = Clock::now();
    const bool burst_over = idle_ && generation_ == generation && now - idle_since_ >= delay_;
    if (!burst_over && now < due) continue;
    if (burst_over) worked_ = false;
    ++trims_;
    lock.unlock();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    lock.lock();
    work_since_ = Clock::now();
  }
}

}  // namespace mg

// Gives freed native memory back to the system. glibc keeps what frame copies, decoded pixels and tensors freed in
// its arenas (after a churn the process held 1.3-1.8 GB of RSS for a 26 MB V8 heap); malloc_trim(0) returns it.
// Trimming walks the heap, so it runs on this object's own thread, never on the JS thread: once a burst of work is
// over (idle for `delay`), and every `busy_interval` under work that never pauses (a soak's RSS otherwise grew
// 60-90 MiB in 30 minutes while the bytes in use stayed flat: freed memory kept, scattered across the heap).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace mg {

// At most `count` glibc malloc arenas for the threads created from now on (the pipelines' threads). By default
// glibc gives up to 8 per core, and memory freed in a thread's own arena is returned far less readily than in a
// few shared ones: with 2, a burst's RSS went back to its baseline after the trim. Called once at addon load.
void CapMallocArenas(int count);

// What glibc's allocator holds (mallinfo2): bytes handed out and not yet freed, and bytes freed but kept. A leak
// grows the first; memory kept for reuse grows only the second. `available` is false off glibc.
struct NativeHeapUsage {
  bool available = false;
  uint64_t in_use_bytes = 0;  // allocated from the heaps and mmap, not freed
  uint64_t free_bytes = 0;    // freed, still held by the allocator (part of it may already be back with madvise)
};
NativeHeapUsage ReadNativeHeap();

class IdleTrimmer {
 public:
  IdleTrimmer(std::chrono::milliseconds delay, std::chrono::milliseconds busy_interval);
  ~IdleTrimmer();
  IdleTrimmer(const IdleTrimmer&) = delete;
  IdleTrimmer& operator=(const IdleTrimmer&) = delete;

  void Busy();  // work arrived
  void Idle();  // the last pending work finished
  uint64_t trims();  // how many times it trimmed (for stats)

 private:
  void Loop();

  const std::chrono::milliseconds delay_;
  const std::chrono::milliseconds busy_interval_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool idle_ = true;
  std::chrono::steady_clock::time_point idle_since_{};
  std::chrono::steady_clock::time_point work_since_{};  // the first work after the last trim
  bool worked_ = false;     // work happened since the last trim
  uint64_t generation_ = 0;  // bumped by Busy(): an idle period that ends early does not trim
  uint64_t trims_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mg

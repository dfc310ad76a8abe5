// Gives freed native memory back to the system once a burst of work is over. glibc keeps what frame copies,
// decoded pixels and tensors freed in its arenas (after a churn the process held 1.3-1.8 GB of RSS for a 26 MB V8
// heap); malloc_trim(0) returns it. Trimming walks the heap, so it runs on this object's own thread, only after
// the work has been idle for `delay` and only once per burst: never on the JS thread, never while frames flow.
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

class IdleTrimmer {
 public:
  explicit IdleTrimmer(std::chrono::milliseconds delay);
  ~IdleTrimmer();
  IdleTrimmer(const IdleTrimmer&) = delete;
  IdleTrimmer& operator=(const IdleTrimmer&) = delete;

  void Busy();  // work arrived
  void Idle();  // the last pending work finished
  uint64_t trims();  // how many times it trimmed (for stats)

 private:
  void Loop();

  const std::chrono::milliseconds delay_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool idle_ = true;
  bool worked_ = false;     // work happened since the last trim
  uint64_t generation_ = 0;  // bumped by Busy(): an idle period that ends early does not trim
  uint64_t trims_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mg

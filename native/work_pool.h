// A fixed set of threads running queued tasks (frame decoding, rendering crops).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mg {

class WorkPool {
 public:
  // `name`: the threads' name (thread_name.h).
  WorkPool(int threads, const char* name);
  ~WorkPool();
  void Post(std::function<void()> task);
  // Finish queued tasks, then stop the threads (drain), or drop them (abort). Joins.
  void Stop(bool drain);

 private:
  void Loop();
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool drop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mg

// One model's inference thread: collects ready input tensors into batches (up to max_batch; waiting at most
// max_wait, and only while producers have announced more tensors on their way), runs the session, and calls
// each tensor's callback with its slice of the outputs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model_session.h"

namespace mg {

using Clock = std::chrono::steady_clock;

struct TensorResult {
  std::vector<std::vector<float>> outputs;  // this item's slice of each model output, in session output order
  std::string error;                        // non-empty: the batch failed
  int batch_size = 0;
  double wait_ms = 0;       // ready -> batch start
  double inference_ms = 0;  // the whole batch's Run
};

struct TensorJob {
  std::vector<float> tensor;  // one input item
  std::function<void(TensorResult&&)> done;  // runs on the batcher thread
  Clock::time_point ready{};
};

struct BatcherStats {
  uint64_t batches = 0;
  uint64_t items = 0;
};

class InferenceBatcher {
 public:
  InferenceBatcher(std::shared_ptr<ModelSession> session, int max_batch, double max_wait_ms);
  ~InferenceBatcher();

  // A producer will submit `n` more tensors soon (batches wait for them, within max_wait).
  void Announce(int n);
  // Withdraw announced tensors that will not come (their frame failed).
  void Withdraw(int n);
  // Submits one tensor; consumes one announcement if any is outstanding.
  void Submit(TensorJob job);
  // Stops after the queue is empty (drain) or at once, dropping queued tensors without callbacks.
  void Stop(bool drain);

  BatcherStats Stats();
  int max_batch() const { return max_batch_; }
  const ModelSession& session() const { return *session_; }

 private:
  void Loop();

  std::shared_ptr<ModelSession> session_;
  int max_batch_;
  double max_wait_ms_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TensorJob> ready_;
  int announced_ = 0;
  bool stopping_ = false;
  bool drop_ = false;
  BatcherStats stats_;
  std::thread thread_;
};

}  // namespace mg

// The work queue behind every model: JS enqueues frames; prep threads decode and resize them; one inference
// thread forms batches (up to max_batch, waiting at most max_wait for more when more is on its way) and runs
// the session. Completed jobs go to a callback on the worker thread, which hands them back to JS.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frame_decode.h"
#include "model_session.h"

namespace mg {

using Clock = std::chrono::steady_clock;

struct Job {
  FrameInput frame;
  ResizeMode resize = ResizeMode::Nearest;
  void* user = nullptr;  // owner's completion handle (the JS promise), opaque here

  // Filled by the workers.
  std::vector<float> tensor;                 // one model input item, planar
  std::vector<std::vector<float>> outputs;   // this item's slice of each model output
  std::string error_code;                    // empty on success
  std::string error_message;
  std::string preprocess_device;             // "cpu" | "cuda"
  int batch_size = 0;
  Clock::time_point enqueued{};
  Clock::time_point prepared{};
  double preprocess_ms = 0;
  double wait_ms = 0;       // enqueue -> batch start, minus preprocessing
  double inference_ms = 0;  // the whole batch's Run
};

struct QueueConfig {
  int max_batch = 8;
  double max_wait_ms = 2.0;
  int prep_threads = 1;
  int max_pending = 1024;        // jobs queued or in flight; beyond that new jobs are refused
  std::string preprocess = "auto";  // auto | cpu | cuda
};

struct QueueStats {
  uint64_t submitted = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t batches = 0;
  uint64_t batched_items = 0;
  int pending = 0;
};

class BatchQueue {
 public:
  using Completion = std::function<void(std::unique_ptr<Job>)>;

  // `on_complete` runs on a worker thread for every job, success or failure, exactly once.
  // `on_drained` runs on a worker thread once, after Close(), when the last job has completed.
  BatchQueue(std::shared_ptr<ModelSession> session, const QueueConfig& config, Completion on_complete,
             std::function<void()> on_drained);
  ~BatchQueue();  // stops and joins without completing what is left (used at process teardown)

  // Returns false (and leaves `job` with the caller) when closed or full; `why` says which.
  bool Submit(std::unique_ptr<Job>& job, std::string* why_code, std::string* why);

  // Stop accepting. drain = finish everything queued; otherwise queued jobs fail with ERR_CLOSED.
  void Close(bool drain);
  // Joins the threads; call after on_drained fired (or at teardown after Abort()).
  void Join();
  // Teardown: stop at once, drop queued jobs without completing them.
  void Abort();

  QueueStats Stats();
  const std::string& preprocess_device() const { return preprocess_device_; }
  const std::string& preprocess_reason() const { return preprocess_reason_; }

 private:
  void PrepLoop();
  void InferenceLoop();
  void Prepare(Job& job);
  void Finish(std::unique_ptr<Job> job);
  void Fail(std::unique_ptr<Job> job, const std::string& code, const std::string& message);
  void MaybeDrained();  // caller holds no lock

  std::shared_ptr<ModelSession> session_;
  QueueConfig config_;
  Completion on_complete_;
  std::function<void()> on_drained_;
  int out_w_ = 0, out_h_ = 0;
  std::string preprocess_device_ = "cpu";
  std::string preprocess_reason_;

  std::mutex mutex_;
  std::condition_variable prep_cv_;
  std::condition_variable ready_cv_;
  std::deque<std::unique_ptr<Job>> incoming_;
  std::deque<std::unique_ptr<Job>> ready_;
  int preparing_ = 0;
  int pending_ = 0;  // submitted and not yet completed
  bool closing_ = false;
  bool aborted_ = false;
  bool drained_signalled_ = false;
  QueueStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace mg

// One model's inference thread: collects ready input tensors into batches (up to max_batch; waiting at most
// max_wait, and only while producers have announced more tensors on their way), runs the session, and calls
// each tensor's callback with its slice of the outputs. With a DeviceBatchRunner (device_batch.h), jobs may carry
// what to render instead of a tensor: the batch is then rendered into its input tensor and run in one go.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "batch_memory.h"
#include "device_batch.h"
#include "model_session.h"

namespace mg {

using Clock = std::chrono::steady_clock;

struct TensorResult {
  std::vector<std::vector<float>> outputs;  // this item's slice of each model output, in session output order
  std::string error;                        // non-empty: the batch failed
  std::string error_code;                   // with error: ERR_INFERENCE, or ERR_DEVICE_BATCH
  std::string render_device;                // where a job with `render` was rendered ("cpu" | "cuda"); else ""
  int batch_size = 0;
  double wait_ms = 0;       // ready -> batch start
  double inference_ms = 0;  // the whole batch's Run
};

struct TensorJob {
  std::vector<float> tensor;  // one input item, or empty with `render`
  std::optional<BatchItem> render;  // rendered by the batcher into the batch's input (device batches)
  std::shared_ptr<const void> keep_alive;  // owns render's source pixels until the job is done
  std::function<void(TensorResult&&)> done;  // runs on the batcher thread
  Clock::time_point ready{};
};

struct BatcherStats {
  uint64_t batches = 0;
  uint64_t items = 0;
  uint64_t arena_releases = 0;  // idle spells that gave the arena's memory back (ReleaseIdle)
};

class InferenceBatcher {
 public:
  // `device`: this model's device batches, or null. `name`: the thread's name (thread_name.h). `nice`: added to
  // the thread's nice value (Linux; 0 = as its creator's), a lower CPU priority for work no frame waits on.
  InferenceBatcher(std::shared_ptr<ModelSession> session, int max_batch, double max_wait_ms,
                   std::unique_ptr<DeviceBatchRunner> device, const char* name, int nice = 0);
  ~InferenceBatcher();

  // A producer will submit `n` more tensors soon (batches wait for them, within max_wait).
  void Announce(int n);
  // Withdraw announced tensors that will not come (their frame failed).
  void Withdraw(int n);
  // A tensor of one input item to render into: one a finished job gave back where there is one (its old values:
  // every render writes each value), else a new one. A reused one costs neither a zero fill nor, as fresh memory
  // does, a page fault per 4 KiB written (768 KiB for a MesoNet crop). Thread-safe.
  std::vector<float> NewTensor();
  // Submits one tensor; consumes one announcement if any is outstanding.
  void Submit(TensorJob job);
  // Stops after the queue is empty (drain) or at once, dropping queued tensors without callbacks.
  void Stop(bool drain);

  BatcherStats Stats();
  int max_batch() const { return max_batch_; }
  const ModelSession& session() const { return *session_; }
  // Whether jobs should carry `render` now (device batches are on); they are still served if that changes.
  bool device_batches() { return device_ && device_->active(); }
  const char* device_batch_device() const { return device_ ? device_->device() : "cpu"; }

 private:
  void Loop();
  // The batch's input on the host: pre-rendered tensors copied in (one alone is run in place), `render` jobs
  // rendered by the CPU path.
  std::vector<std::vector<float>> RunOnHost(std::vector<TensorJob>& batch);
  // Gives the arena's batch peak back after an idle spell (called with `lock` held; runs unlocked).
  void ReleaseIdle(std::unique_lock<std::mutex>& lock);

  std::shared_ptr<ModelSession> session_;
  std::unique_ptr<DeviceBatchRunner> device_;
  std::vector<float> input_;  // RunOnHost's, reused
  // Finished jobs' tensors for NewTensor, at most kSpareTensors; all freed after an idle spell (with the arena).
  std::vector<std::vector<float>> spare_tensors_;
  static constexpr size_t kSpareTensors = 8;
  int max_batch_;
  double max_wait_ms_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TensorJob> ready_;
  int announced_ = 0;
  int largest_since_release_ = 0;  // the largest batch run since the arena was last released
  static constexpr std::chrono::milliseconds kIdleRelease{250};
  bool stopping_ = false;
  bool drop_ = false;
  BatcherStats stats_;
  std::thread thread_;
};

}  // namespace mg

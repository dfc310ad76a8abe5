#include "batch_queue.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "preprocess.h"

namespace mg {

namespace {

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

BatchQueue::BatchQueue(std::shared_ptr<ModelSession> session, const QueueConfig& config, Completion on_complete,
                       std::function<void()> on_drained)
    : session_(std::move(session)),
      config_(config),
      on_complete_(std::move(on_complete)),
      on_drained_(std::move(on_drained)) {
  const std::vector<int64_t>& shape = session_->input().shape;
  if (shape.size() != 4 || shape[1] != 3) {
    throw std::runtime_error("the queue feeds planar RGB (N,3,H,W) models; '" + session_->input().name +
                             "' has another shape");
  }
  out_h_ = (int)shape[2];
  out_w_ = (int)shape[3];
  if (config_.max_batch < 1) throw std::invalid_argument("maxBatch must be at least 1");
  if (config_.max_batch > session_->config().max_batch) {
    throw std::invalid_argument("maxBatch " + std::to_string(config_.max_batch) +
                                " exceeds the session's batch limit " + std::to_string(session_->config().max_batch));
  }
  if (config_.prep_threads < 1 || config_.prep_threads > 64) throw std::invalid_argument("prepThreads must be 1..64");
  if (config_.max_wait_ms < 0) throw std::invalid_argument("maxWaitMs must not be negative");
  if (config_.max_pending < 1) throw std::invalid_argument("maxPending must be at least 1");

  const CudaProbe cuda = ProbeCuda();
  const bool gpu_session = session_->provider() != "cpu";
  if (config_.preprocess == "cuda") {
    if (!cuda.available) throw std::runtime_error("preprocess 'cuda' requested but " + cuda.reason);
    preprocess_device_ = "cuda";
    preprocess_reason_ = "requested explicitly";
  } else if (config_.preprocess == "auto") {
    preprocess_device_ = gpu_session && cuda.available ? "cuda" : "cpu";
    preprocess_reason_ = !gpu_session ? "inference runs on CPU" : cuda.reason;
  } else if (config_.preprocess == "cpu") {
    preprocess_reason_ = "requested explicitly";
  } else {
    throw std::invalid_argument("preprocess must be auto, cpu or cuda, got '" + config_.preprocess + "'");
  }

  for (int i = 0; i < config_.prep_threads; ++i) threads_.emplace_back([this] { PrepLoop(); });
  threads_.emplace_back([this] { InferenceLoop(); });
}

BatchQueue::~BatchQueue() {
  Abort();
  Join();
}

bool BatchQueue::Submit(std::unique_ptr<Job>& job, std::string* why_code, std::string* why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_ || aborted_) {
      *why_code = "ERR_CLOSED";
      *why = "the scorer is closed";
      return false;
    }
    if (pending_ >= config_.max_pending) {
      *why_code = "ERR_QUEUE_FULL";
      *why = "the work queue holds " + std::to_string(pending_) + " frames (maxPending); frame refused";
      return false;
    }
    job->enqueued = Clock::now();
    ++pending_;
    ++stats_.submitted;
    incoming_.push_back(std::move(job));
  }
  prep_cv_.notify_one();
  return true;
}

void BatchQueue::Close(bool drain) {
  std::deque<std::unique_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
    closing_ = true;
    if (!drain) {
      dropped.swap(incoming_);
      for (auto& job : ready_) dropped.push_back(std::move(job));
      ready_.clear();
    }
  }
  prep_cv_.notify_all();
  ready_cv_.notify_all();
  for (auto& job : dropped) Fail(std::move(job), "ERR_CLOSED", "the scorer was closed before this frame ran");
  MaybeDrained();
}

void BatchQueue::Abort() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
    closing_ = true;
    incoming_.clear();
    ready_.clear();
  }
  prep_cv_.notify_all();
  ready_cv_.notify_all();
}

void BatchQueue::Join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

QueueStats BatchQueue::Stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  QueueStats s = stats_;
  s.pending = pending_;
  return s;
}

void BatchQueue::PrepLoop() {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      prep_cv_.wait(lock, [this] { return aborted_ || closing_ || !incoming_.empty(); });
      if (aborted_ || incoming_.empty()) break;  // closing with nothing left to prepare
      job = std::move(incoming_.front());
      incoming_.pop_front();
      ++preparing_;
    }
    bool ok = true;
    try {
      Prepare(*job);
    } catch (const FrameError& e) {
      ok = false;
      job->error_code = e.code;
      job->error_message = e.what();
    } catch (const std::exception& e) {
      ok = false;
      job->error_code = "ERR_PREPROCESS";
      job->error_message = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --preparing_;
      if (ok && !aborted_) ready_.push_back(std::move(job));
    }
    ready_cv_.notify_one();
    if (job) Finish(std::move(job));  // failed in preparation: complete it now
  }
  ready_cv_.notify_all();  // the inference thread may be waiting to see that preparation is over
}

void BatchQueue::Prepare(Job& job) {
  const Clock::time_point start = Clock::now();
  DecodedFrame decoded = DecodeFrame(job.frame);
  job.tensor.resize(3 * (size_t)out_w_ * out_h_);
  job.preprocess_device = "cpu";
  if (preprocess_device_ == "cuda") {
    try {
      PreprocessCuda(decoded.view, job.resize, out_w_, out_h_, job.tensor.data(), session_->config().device_id);
      job.preprocess_device = "cuda";
    } catch (const std::exception&) {
      // A GPU hiccup costs speed, never the frame: the CPU path computes the same pixels.
      PreprocessCpu(decoded.view, job.resize, out_w_, out_h_, job.tensor.data());
    }
  } else {
    PreprocessCpu(decoded.view, job.resize, out_w_, out_h_, job.tensor.data());
  }
  job.frame.bytes.clear();
  job.frame.bytes.shrink_to_fit();
  job.prepared = Clock::now();
  job.preprocess_ms = MsBetween(start, job.prepared);
}

void BatchQueue::InferenceLoop() {
  std::vector<float> batch_input;
  for (;;) {
    std::vector<std::unique_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      ready_cv_.wait(lock, [this] {
        return aborted_ || !ready_.empty() || (closing_ && incoming_.empty() && preparing_ == 0);
      });
      if (aborted_) return;
      if (ready_.empty()) return;  // closing, and nothing will arrive any more
      // Wait for a fuller batch only while more frames are actually on their way.
      const Clock::time_point deadline =
          ready_.front()->prepared + std::chrono::microseconds((int64_t)(config_.max_wait_ms * 1000));
      while (!aborted_ && (int)ready_.size() < config_.max_batch && (!incoming_.empty() || preparing_ > 0) &&
             Clock::now() < deadline) {
        ready_cv_.wait_until(lock, deadline);
      }
      if (aborted_) return;
      const size_t n = std::min(ready_.size(), (size_t)config_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(ready_.front()));
        ready_.pop_front();
      }
    }

    const Clock::time_point start = Clock::now();
    const size_t item = (size_t)session_->input_item_size();
    batch_input.resize(item * batch.size());
    for (size_t i = 0; i < batch.size(); ++i) std::memcpy(&batch_input[i * item], batch[i]->tensor.data(), item * sizeof(float));
    std::vector<std::vector<float>> outputs;
    std::string error;
    try {
      outputs = session_->Run(batch_input.data(), (int)batch.size());
    } catch (const std::exception& e) {
      error = e.what();
    }
    const double inference_ms = MsBetween(start, Clock::now());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.batches;
      stats_.batched_items += batch.size();
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      Job& job = *batch[i];
      job.batch_size = (int)batch.size();
      job.inference_ms = inference_ms;
      job.wait_ms = std::max(0.0, MsBetween(job.enqueued, start) - job.preprocess_ms);
      job.tensor.clear();
      job.tensor.shrink_to_fit();
      if (!error.empty()) {
        job.error_code = "ERR_INFERENCE";
        job.error_message = error;
      } else {
        for (const std::vector<float>& output : outputs) {
          const size_t per_item = output.size() / batch.size();
          job.outputs.emplace_back(output.begin() + i * per_item, output.begin() + (i + 1) * per_item);
        }
      }
      Finish(std::move(batch[i]));
    }
  }
}

void BatchQueue::Fail(std::unique_ptr<Job> job, const std::string& code, const std::string& message) {
  job->error_code = code;
  job->error_message = message;
  Finish(std::move(job));
}

void BatchQueue::Finish(std::unique_ptr<Job> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --pending_;
    if (aborted_) return;  // process teardown: nobody is left to hand the result to
    if (job->error_code.empty()) {
      ++stats_.completed;
    } else {
      ++stats_.failed;
    }
  }
  on_complete_(std::move(job));
  MaybeDrained();
}

void BatchQueue::MaybeDrained() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closing_ || aborted_ || pending_ != 0 || drained_signalled_) return;
    drained_signalled_ = true;
  }
  on_drained_();
}

}  // namespace mg

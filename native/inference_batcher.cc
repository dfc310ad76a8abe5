#include "inference_batcher.h"

#include <algorithm>
#include <cstring>

#include "preprocess.h"
#include "thread_name.h"

namespace mg {

namespace {
double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

InferenceBatcher::InferenceBatcher(std::shared_ptr<ModelSession> session, int max_batch, double max_wait_ms,
                                   std::unique_ptr<DeviceBatchRunner> device, const char* name, int nice)
    : session_(std::move(session)), device_(std::move(device)), max_batch_(max_batch), max_wait_ms_(max_wait_ms) {
  // A model with a static batch dimension (BlazeFace's is 1) caps the batch.
  const int64_t static_batch = session_->input().shape.empty() ? -1 : session_->input().shape[0];
  if (static_batch > 0) max_batch_ = (int)std::min<int64_t>(max_batch_, static_batch);
  thread_ = std::thread([this, name, nice] {
    NameThisThread(name);
    if (nice != 0) NiceThisThread(nice);
    Loop();
  });
}

InferenceBatcher::~InferenceBatcher() { Stop(false); }

void InferenceBatcher::Announce(int n) {
  std::lock_guard<std::mutex> lock(mutex_);
  announced_ += n;
}

void InferenceBatcher::Withdraw(int n) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    announced_ = std::max(0, announced_ - n);
  }
  cv_.notify_all();
}

std::vector<float> InferenceBatcher::NewTensor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!spare_tensors_.empty()) {
      std::vector<float> tensor = std::move(spare_tensors_.back());
      spare_tensors_.pop_back();
      return tensor;
    }
  }
  return std::vector<float>((size_t)session_->input_item_size());
}

void InferenceBatcher::Submit(TensorJob job) {
  job.ready = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (announced_ > 0) --announced_;
    if (drop_) return;
    ready_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void InferenceBatcher::Stop(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (!drain) {
      drop_ = true;
      ready_.clear();
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

BatcherStats InferenceBatcher::Stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void InferenceBatcher::Loop() {
  for (;;) {
    std::vector<TensorJob> batch;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // While the arena holds a larger batch's peak, an idle spell of kIdleRelease gives it back (ReleaseIdle).
      while (!stopping_ && ready_.empty()) {
        if (largest_since_release_ <= 1) {
          cv_.wait(lock);
        } else if (cv_.wait_for(lock, kIdleRelease) == std::cv_status::timeout && ready_.empty() && !stopping_ &&
                   announced_ == 0) {
          ReleaseIdle(lock);
        }
      }
      if (drop_ || (stopping_ && ready_.empty())) return;
      const Clock::time_point deadline =
          ready_.front().ready + std::chrono::microseconds((int64_t)(max_wait_ms_ * 1000));
      while (!drop_ && (int)ready_.size() < max_batch_ && announced_ > 0 && Clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
      }
      if (drop_) return;
      const size_t n = std::min(ready_.size(), (size_t)max_batch_);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(ready_.front()));
        ready_.pop_front();
      }
      ++stats_.batches;
      stats_.items += n;
      // The session's memory arena keeps what the largest batch since its last release needed; it is released
      // only after kIdleRelease without work (ReleaseIdle), never while frames keep coming. A release makes the
      // next runs page-fault their working set back in: after every frame, ~660 faults and about 1 ms of CPU per
      // frame; after every full batch, 2.5x batch 1's time per crop for callers that submit a batch, await it and
      // submit the next; at a burst's end once a second, a server at 240 frames/s ran a batch of 6 in 33 ms
      // instead of 12 after each release, and those frames made its 99th percentile latency.
      largest_since_release_ = std::max(largest_since_release_, (int)n);
    }
    const Clock::time_point start = Clock::now();
    std::vector<std::vector<float>> outputs;
    std::string error, error_code, render_device = "cpu";
    bool all_render = true;
    for (const TensorJob& job : batch) all_render = all_render && job.render.has_value();
    bool done = false;
    if (all_render && device_ && device_->active()) {
      std::vector<BatchItem> items;
      items.reserve(batch.size());
      for (const TensorJob& job : batch) items.push_back(*job.render);
      try {
        done = device_->Run(items, &outputs);  // false: the canary rejected it, recompute below
        if (done) render_device = device_->device();
      } catch (const DeviceBatchError& e) {
        error = e.what();
        error_code = kDeviceBatchErrorCode;
        done = true;
      }
    }
    if (!done) {
      try {
        outputs = RunOnHost(batch);
      } catch (const std::exception& e) {
        error = e.what();
        error_code = "ERR_INFERENCE";
      }
    }
    const double inference_ms = MsBetween(start, Clock::now());
    for (size_t i = 0; i < batch.size(); ++i) {
      TensorResult result;
      result.error = error;
      result.error_code = error_code;
      if (batch[i].render) result.render_device = render_device;
      result.batch_size = (int)batch.size();
      result.inference_ms = inference_ms;
      result.wait_ms = MsBetween(batch[i].ready, start);
      if (error.empty()) {
        for (const std::vector<float>& output : outputs) {
          const size_t per_item = output.size() / batch.size();
          result.outputs.emplace_back(output.begin() + i * per_item, output.begin() + (i + 1) * per_item);
        }
      }
      batch[i].done(std::move(result));
      batch[i].keep_alive.reset();
    }
    // Kept for the next renders (ReleaseIdle gives them back).
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t item = (size_t)session_->input_item_size();
    for (TensorJob& job : batch) {
      if (job.tensor.size() == item && spare_tensors_.size() < kSpareTensors) spare_tensors_.push_back(std::move(job.tensor));
    }
  }
}

void InferenceBatcher::ReleaseIdle(std::unique_lock<std::mutex>& lock) {
  largest_since_release_ = 0;
  spare_tensors_.clear();
  ++stats_.arena_releases;
  lock.unlock();
  // ONNX Runtime shrinks its arena only at the end of a run: one item of zeros, its outputs unused. A failure
  // costs only the memory, which the next idle spell's release returns.
  try {
    std::vector<float> zeros((size_t)session_->input_item_size());
    session_->Run(zeros.data(), 1, true);
  } catch (const std::exception&) {
  }
  lock.lock();
}

std::vector<std::vector<float>> InferenceBatcher::RunOnHost(std::vector<TensorJob>& batch) {
  const size_t item = (size_t)session_->input_item_size();
  // One rendered tensor (a server's usual batch on CPU): run on it as it is, without copying it (768 KiB).
  if (batch.size() == 1 && !batch[0].render && batch[0].tensor.size() == item) {
    return session_->Run(batch[0].tensor.data(), 1, false);
  }
  input_.resize(item * batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].render) {
      RenderItemCpu(*batch[i].render, &input_[i * item]);
    } else {
      std::memcpy(&input_[i * item], batch[i].tensor.data(), std::min(item, batch[i].tensor.size()) * sizeof(float));
    }
  }
  return session_->Run(input_.data(), (int)batch.size(), false);
}

}  // namespace mg

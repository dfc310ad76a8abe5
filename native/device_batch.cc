#include "device_batch.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "preprocess.h"

namespace mg {

CanaryVerdict JudgeCanary(double device_p_real, double cpu_p_real, double tolerance) {
  CanaryVerdict v;
  v.difference = std::fabs(device_p_real - cpu_p_real);
  v.pass = v.difference <= tolerance;  // a NaN on either side fails
  std::ostringstream why;
  why << "startup canary: P(REAL) " << device_p_real << " on the device path, " << cpu_p_real << " on the CPU path"
      << " (|difference| " << v.difference << (v.pass ? " <= " : ", beyond ") << tolerance << ")";
  v.reason = why.str();
  return v;
}

DeviceBatchSwitch::DeviceBatchSwitch(std::string mode, std::string reason) {
  status_.mode = std::move(mode);
  status_.active = status_.mode != "off";
  status_.reason = std::move(reason);
  status_.canary = status_.active ? "pending" : "not run";
}

bool DeviceBatchSwitch::active() {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_.active;
}

bool DeviceBatchSwitch::gpu_turned_off() {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_.mode == "cuda" && !status_.active;
}

void DeviceBatchSwitch::TurnOff(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!status_.active) return;
    status_.active = false;
    status_.reason = reason + "; later frames use the CPU render path and host input";
  }
  std::fprintf(stderr, "mesoguard: device batches (%s) turned off: %s\n", status_.mode.c_str(), reason.c_str());
}

bool DeviceBatchSwitch::ClaimCanary() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (canary_claimed_ || !status_.active) return false;
  canary_claimed_ = true;
  return true;
}

void DeviceBatchSwitch::RecordCanary(const CanaryVerdict& verdict, double device_p, double cpu_p) {
  std::lock_guard<std::mutex> lock(mutex_);
  status_.canary = verdict.pass ? "passed" : "failed";
  status_.canary_device = device_p;
  status_.canary_cpu = cpu_p;
}

DeviceBatchStatus DeviceBatchSwitch::Status() {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

DeviceBatchRunner::DeviceBatchRunner(std::shared_ptr<ModelSession> session, std::unique_ptr<BatchMemory> memory,
                                     std::shared_ptr<DeviceBatchSwitch> on, bool canary)
    : session_(std::move(session)), memory_(std::move(memory)), on_(std::move(on)), canary_(canary) {
  const char* fault = std::getenv("MESOGUARD_TEST_DEVICE_BATCH_FAULT");
  fault_ = fault ? fault : "";
}

bool DeviceBatchRunner::Run(const std::vector<BatchItem>& items, std::vector<std::vector<float>>* outputs) {
  try {
    RunDevice(items, outputs);
  } catch (const std::exception& e) {
    const std::string why = std::string("a ") + memory_->device() + " device batch of " + std::to_string(items.size()) +
                            " failed: " + e.what();
    on_->TurnOff(why);
    throw DeviceBatchError(why);
  }
  if (canary_ && on_->ClaimCanary() && !CanaryAgrees(items[0], (*outputs)[0][0])) {
    outputs->clear();
    return false;
  }
  return true;
}

void DeviceBatchRunner::RunDevice(const std::vector<BatchItem>& items, std::vector<std::vector<float>>* outputs) {
  const std::string fault = fault_;
  if (fault == "render" || fault == "run") fault_.clear();  // once: the first device batch
  if (fault == "render") throw std::runtime_error("test fault (MESOGUARD_TEST_DEVICE_BATCH_FAULT=render)");
  const int batch = (int)items.size();
  float* input = memory_->Render(items, (size_t)session_->input_item_size());
  if (fault == "run") throw std::runtime_error("test fault (MESOGUARD_TEST_DEVICE_BATCH_FAULT=run)");
  const size_t count = session_->outputs().size();
  std::vector<float*> bound(count);
  for (size_t i = 0; i < count; ++i) {
    const int64_t per_item = session_->output_item_size(i);
    if (per_item < 0) throw std::runtime_error("output '" + session_->outputs()[i].name + "' has a symbolic non-batch dim");
    bound[i] = memory_->Output(i, (size_t)per_item * batch);
  }
  const Ort::MemoryInfo memory(memory_->ort_memory_name(), OrtDeviceAllocator, memory_->device_id(), OrtMemTypeDefault);
  session_->RunBound(memory, input, batch, bound);
  outputs->assign(count, {});
  for (size_t i = 0; i < count; ++i) {
    (*outputs)[i].resize((size_t)session_->output_item_size(i) * batch);
    memory_->CopyToHost(bound[i], (*outputs)[i].data(), (*outputs)[i].size());
  }
}

bool DeviceBatchRunner::CanaryAgrees(const BatchItem& item, float device_p) {
  std::vector<float> crop((size_t)session_->input_item_size());
  RenderItemCpu(item, crop.data());
  const float cpu_p = session_->Run(crop.data(), 1, false)[0][0];
  const double judged = fault_ == "canary" ? device_p + 0.01 : device_p;
  const CanaryVerdict verdict = JudgeCanary(judged, cpu_p, kCanaryTolerance);
  on_->RecordCanary(verdict, judged, cpu_p);
  if (verdict.pass) return true;
  on_->TurnOff(verdict.reason);
  return false;
}

}  // namespace mg

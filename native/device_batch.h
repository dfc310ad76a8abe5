// Device batches: a batch's items are rendered straight into its input tensor in the BatchMemory's memory
// (batch_memory.h) and the model runs on it through ONNX Runtime's IoBinding, outputs bound there too; instead
// of each crop being rendered on a crop thread into host memory and copied in by ORT.
//
// The switch that turns them off (one per scorer, shared by MesoNet's and the detector's runners) says why; it is
// turned off by the first failure of a device batch (that batch's frames fail with ERR_DEVICE_BATCH, later frames
// take the CPU render path and host input) or by the startup canary: the first device batch's first item is also
// rendered and scored on the CPU path, and a difference in P(REAL) beyond kCanaryTolerance turns them off (that
// batch is then recomputed on the CPU path).
//
// On a GPU provider with the cuda memory this is the GPU path of issue 14, which HAS NEVER RUN ON A GPU in this
// project; with the host memory (scorer option deviceBatches: "host") the same code runs on the CPU provider, and
// the tests check it gives the plain path's scores exactly.
#pragma once

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "batch_memory.h"
#include "model_session.h"

namespace mg {

constexpr double kCanaryTolerance = 1e-3;

// The canary's decision on the first device-batch item: P(REAL) on the device path vs on the CPU path.
struct CanaryVerdict {
  bool pass = false;
  double difference = 0;
  std::string reason;
};
CanaryVerdict JudgeCanary(double device_p_real, double cpu_p_real, double tolerance);

// A device batch failed (CUDA or ONNX Runtime): its frames fail with this code.
struct DeviceBatchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
constexpr const char* kDeviceBatchErrorCode = "ERR_DEVICE_BATCH";

struct DeviceBatchStatus {
  std::string mode;       // "cuda" | "host" | "off"
  bool active = false;    // device batches are used now
  std::string reason;     // why this mode, or why they were turned off
  std::string canary;     // "pending" | "passed" | "failed" | "not run" (off)
  double canary_device = -1, canary_cpu = -1;  // P(REAL) of the canary item on each path, once judged
};

// The scorer's one switch, shared by its runners; any thread may read it.
class DeviceBatchSwitch {
 public:
  DeviceBatchSwitch(std::string mode, std::string reason);
  bool active();
  // The GPU path was turned off (a failed cuda device batch, or the canary): the per-crop CUDA render stops too.
  bool gpu_turned_off();
  // Turns device batches off for good, keeping the first reason; logs it to stderr once.
  void TurnOff(const std::string& reason);
  // The canary's slot: true for the one caller that should run it.
  bool ClaimCanary();
  void RecordCanary(const CanaryVerdict& verdict, double device_p, double cpu_p);
  DeviceBatchStatus Status();

 private:
  std::mutex mutex_;
  DeviceBatchStatus status_;
  bool canary_claimed_ = false;
};

// One model's device batches; used by that model's batcher thread only.
class DeviceBatchRunner {
 public:
  // `canary`: this runner's model is the scorer (its output 0 is P(REAL)) and runs the startup canary.
  DeviceBatchRunner(std::shared_ptr<ModelSession> session, std::unique_ptr<BatchMemory> memory,
                    std::shared_ptr<DeviceBatchSwitch> on, bool canary);

  bool active() { return on_->active(); }
  const char* device() const { return memory_->device(); }

  // Renders `items` into the batch input and runs them; returns each output for the whole batch on the host, as
  // ModelSession::Run does. Returns false, leaving `outputs` empty, when the canary has just rejected the device
  // path (the caller recomputes the batch on the CPU path). Throws DeviceBatchError after turning the switch off.
  bool Run(const std::vector<BatchItem>& items, std::vector<std::vector<float>>* outputs);

 private:
  void RunDevice(const std::vector<BatchItem>& items, std::vector<std::vector<float>>* outputs);
  bool CanaryAgrees(const BatchItem& item, float device_p);

  std::shared_ptr<ModelSession> session_;
  std::unique_ptr<BatchMemory> memory_;
  std::shared_ptr<DeviceBatchSwitch> on_;
  bool canary_;
  // Test hook (README, Tests): MESOGUARD_TEST_DEVICE_BATCH_FAULT=render|run makes the first device batch fail at that
  // step as a CUDA or ORT error would; =canary skews the canary item's device P(REAL) by 0.01. Read once, here.
  std::string fault_;
};

}  // namespace mg

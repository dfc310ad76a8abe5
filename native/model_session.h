// One ONNX model loaded into an ORT session on the best execution provider that actually loads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ort_runtime.h"

namespace mg {

// Filled from the scorer's options (scorer_options.cc), whose defaults and ranges src/scoring/scorerOptions.ts owns.
struct SessionConfig {
  std::string model_path;
  std::string provider;            // auto (TensorRT -> CUDA -> CPU) | tensorrt | cuda | cpu
  std::string graph_optimization;  // disabled | basic | extended | all
  int device_id = 0;
  int intra_op_threads = 0;  // 0 = ORT's default (one per physical core)
  int max_batch = 0;         // TensorRT optimisation profile covers batch 1..max_batch
  std::string cache_dir;     // TensorRT engine and timing caches
  bool fp16 = false;         // TensorRT only
};

// What happened when one provider was tried: chosen, or why not.
struct ProviderAttempt {
  std::string provider;
  bool chosen = false;
  std::string reason;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // -1 for symbolic dimensions
};

class ModelSession {
 public:
  // Tries the providers in order and keeps the first whose session builds. Throws std::runtime_error with
  // every attempt's reason when none does (only possible when "cpu" was excluded or the model is bad).
  explicit ModelSession(const SessionConfig& config);
  ~ModelSession();
  ModelSession(const ModelSession&) = delete;
  ModelSession& operator=(const ModelSession&) = delete;

  const std::string& provider() const { return provider_; }
  const std::vector<ProviderAttempt>& attempts() const { return attempts_; }
  const TensorInfo& input() const { return input_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  const SessionConfig& config() const { return config_; }
  // Elements of one batch item of the input (C*H*W), from the model's static dims.
  int64_t input_item_size() const { return input_item_size_; }
  // Elements of one batch item of output i; -1 where a non-batch dim is symbolic (RunBound cannot bind it).
  int64_t output_item_size(size_t i) const { return output_item_sizes_[i]; }
  // The CUDA stream ONNX Runtime's CUDA/TensorRT provider was given as its user compute stream (a cudaStream_t), for
  // the cuda batch memory to render on; null on the CPU provider or where none could be made.
  void* compute_stream() const { return compute_stream_; }

  // Runs `batch` items laid out contiguously in `input`. Returns each output as a flat float vector
  // (batch * per-item elements). `release_memory`: hand the host memory arena's unused chunks back after this
  // run (the batcher's idle release), so a burst's peak is not kept for the life of the session.
  // Thread-compatible: call from one thread at a time.
  std::vector<std::vector<float>> Run(const float* input, int batch, bool release_memory);

  // The same run through IoBinding: `input` (batch items, already in the memory `memory` describes: CPU or CUDA)
  // is bound without a copy, and output i is bound to outputs[i] in that memory (output_item_size(i) * batch floats).
  // Waits until the outputs are written. Throws Ort::Exception / std::runtime_error. Thread-compatible, as Run.
  // Tested on CPU memory (the CPU provider); on CUDA memory it has never run (no GPU provider was at hand).
  void RunBound(const Ort::MemoryInfo& memory, float* input, int batch, const std::vector<float*>& outputs);

 private:
  void Build(const std::string& provider);

  SessionConfig config_;
  std::unique_ptr<Ort::Session> session_;
  std::string provider_;
  std::vector<ProviderAttempt> attempts_;
  TensorInfo input_;
  std::vector<TensorInfo> outputs_;
  int64_t input_item_size_ = 0;
  std::vector<int64_t> output_item_sizes_;
  void* compute_stream_ = nullptr;  // owned: destroyed after session_
};

}  // namespace mg

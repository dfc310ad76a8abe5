#include "model_session.h"

#include <filesystem>
#include <stdexcept>

#include "batch_memory.h"

namespace mg {

namespace {

GraphOptimizationLevel ParseOptimization(const std::string& level) {
  if (level == "disabled") return ORT_DISABLE_ALL;
  if (level == "basic") return ORT_ENABLE_BASIC;
  if (level == "extended") return ORT_ENABLE_EXTENDED;
  if (level == "all") return ORT_ENABLE_ALL;
  throw std::invalid_argument("graphOptimization must be disabled, basic, extended or all, got '" + level + "'");
}

std::vector<std::string> ProviderOrder(const std::string& requested) {
  if (requested == "auto") return {"tensorrt", "cuda", "cpu"};
  if (requested == "tensorrt" || requested == "cuda" || requested == "cpu") return {requested};
  throw std::invalid_argument("provider must be auto, tensorrt, cuda or cpu, got '" + requested + "'");
}

// `input_dims` are the model input's dims, batch first, e.g. {-1, 3, 256, 256}.
// `stream`: the user compute stream to share with the cuda batch memory (batch_memory.h), or null. Never run on a GPU.
void AppendTensorRt(Ort::SessionOptions& options, const SessionConfig& config, const std::string& input_name,
                    const std::vector<int64_t>& input_dims, void* stream) {
  const OrtApi& api = Ort::GetApi();
  OrtTensorRTProviderOptionsV2* trt = nullptr;
  Ort::ThrowOnError(api.CreateTensorRTProviderOptions(&trt));
  std::unique_ptr<OrtTensorRTProviderOptionsV2, void (*)(OrtTensorRTProviderOptionsV2*)> guard(
      trt, [](OrtTensorRTProviderOptionsV2* p) { Ort::GetApi().ReleaseTensorRTProviderOptions(p); });
  std::string shape_tail;
  for (size_t i = 1; i < input_dims.size(); ++i) shape_tail += "x" + std::to_string(input_dims[i]);
  const std::string min_shape = input_name + ":1" + shape_tail;
  const std::string opt_shape = input_name + ":" + std::to_string(config.max_batch > 8 ? 8 : config.max_batch) + shape_tail;
  const std::string max_shape = input_name + ":" + std::to_string(config.max_batch) + shape_tail;
  const std::string device = std::to_string(config.device_id);
  std::vector<const char*> keys = {"device_id", "trt_fp16_enable"};
  std::vector<const char*> values = {device.c_str(), config.fp16 ? "1" : "0"};
  if (!input_dims.empty() && input_dims[0] < 0) {
    // Dynamic batch: one optimisation profile covering 1..max_batch (static-batch models need none).
    keys.insert(keys.end(), {"trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes"});
    values.insert(values.end(), {min_shape.c_str(), opt_shape.c_str(), max_shape.c_str()});
  }
  if (!config.cache_dir.empty()) {
    // Engines take seconds to minutes to build: keep them (and the kernel timing cache) across restarts.
    std::filesystem::create_directories(config.cache_dir);
    for (const char* key : {"trt_engine_cache_enable", "trt_timing_cache_enable"}) {
      keys.push_back(key);
      values.push_back("1");
    }
    for (const char* key : {"trt_engine_cache_path", "trt_timing_cache_path"}) {
      keys.push_back(key);
      values.push_back(config.cache_dir.c_str());
    }
  }
  Ort::ThrowOnError(api.UpdateTensorRTProviderOptions(trt, keys.data(), values.data(), keys.size()));
  if (stream) Ort::ThrowOnError(api.UpdateTensorRTProviderOptionsWithValue(trt, "user_compute_stream", stream));
  options.AppendExecutionProvider_TensorRT_V2(*trt);
}

// `stream`: as for AppendTensorRt (never run on a GPU).
void AppendCuda(Ort::SessionOptions& options, const SessionConfig& config, void* stream) {
  const OrtApi& api = Ort::GetApi();
  OrtCUDAProviderOptionsV2* cuda = nullptr;
  Ort::ThrowOnError(api.CreateCUDAProviderOptions(&cuda));
  std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> guard(
      cuda, [](OrtCUDAProviderOptionsV2* p) { Ort::GetApi().ReleaseCUDAProviderOptions(p); });
  const std::string device = std::to_string(config.device_id);
  const char* keys[] = {"device_id", "cudnn_conv_algo_search"};
  const char* values[] = {device.c_str(), "HEURISTIC"};
  Ort::ThrowOnError(api.UpdateCUDAProviderOptions(cuda, keys, values, 2));
  if (stream) Ort::ThrowOnError(api.UpdateCUDAProviderOptionsWithValue(cuda, "user_compute_stream", stream));
  options.AppendExecutionProvider_CUDA_V2(*cuda);
}

std::vector<int64_t> ShapeOf(const Ort::TypeInfo& info) {
  return info.GetTensorTypeAndShapeInfo().GetShape();
}

}  // namespace

ModelSession::ModelSession(const SessionConfig& config) : config_(config) {
  InitOrtApi();
  // The environment registers ORT's default logger: it must exist before any provider options are made, or
  // a failing GPU provider reports "Attempt to use DefaultLogger" instead of its real reason.
  SharedOrtEnv();
  if (!std::filesystem::is_regular_file(config_.model_path)) {
    throw std::runtime_error("model file not found: " + config_.model_path +
                             " (build the models with `npm run models`, or reinstall with `npm ci`)");
  }
  ParseOptimization(config_.graph_optimization);  // reject a bad level before trying any provider
  const std::vector<std::string> order = ProviderOrder(config_.provider);
  std::string failures;
  for (const std::string& provider : order) {
    ProviderAttempt attempt{provider, false, ""};
    try {
      Build(provider);
      attempt.chosen = true;
      attempt.reason = config_.provider == "auto" ? "first provider in TensorRT > CUDA > CPU order that loaded"
                                                  : "requested explicitly";
      attempts_.push_back(attempt);
      provider_ = provider;
      if (provider_ == "cpu") {  // a GPU provider was tried and did not load: its stream has no use
        DestroyCudaStream(compute_stream_);
        compute_stream_ = nullptr;
      }
      return;
    } catch (const std::exception& e) {
      attempt.reason = e.what();
      if (attempt.reason.find("libonnxruntime_providers") != std::string::npos) {
        attempt.reason += " (onnxruntime-node's GPU provider libraries are not installed: on a CUDA host, install "
                          "online without ONNXRUNTIME_NODE_INSTALL=skip)";
      }
      attempts_.push_back(attempt);
      failures += "\n  " + provider + ": " + e.what();
    }
  }
  DestroyCudaStream(compute_stream_);  // no destructor runs for a constructor that throws
  compute_stream_ = nullptr;
  throw std::runtime_error("no execution provider could run " + config_.model_path + ":" + failures);
}

ModelSession::~ModelSession() {
  session_.reset();  // ORT may still hold the stream until its session is gone
  DestroyCudaStream(compute_stream_);
}

void ModelSession::Build(const std::string& provider) {
  Ort::SessionOptions options;
  options.SetGraphOptimizationLevel(ParseOptimization(config_.graph_optimization));
  options.SetIntraOpNumThreads(config_.intra_op_threads);
  options.SetInterOpNumThreads(1);
  // Idle ORT threads must not spin: the same cores decode frames and run the server's event loop.
  options.AddConfigEntry("session.intra_op.allow_spinning", "0");
  options.SetLogId(provider.c_str());
  if ((provider == "tensorrt" || provider == "cuda") && !compute_stream_) {
    // One stream for the provider and the cuda batch memory, so a batch's render and inference are ordered on the
    // GPU without a host wait. Null where no GPU answers (the provider then fails to load on its own). Never run
    // on a GPU in this project yet.
    compute_stream_ = CreateCudaStream(config_.device_id);
  }
  if (provider == "tensorrt") {
    // The input name is needed for the optimisation profile before the session exists; read it from a
    // throwaway CPU session (cheap for these small models).
    Ort::SessionOptions probe_options;
    Ort::Session probe(SharedOrtEnv(), config_.model_path.c_str(), probe_options);
    Ort::AllocatorWithDefaultOptions allocator;
    const std::vector<int64_t> dims = ShapeOf(probe.GetInputTypeInfo(0));
    AppendTensorRt(options, config_, probe.GetInputNameAllocated(0, allocator).get(), dims, compute_stream_);
    // CUDA behind TensorRT for any node TensorRT rejects.
    AppendCuda(options, config_, compute_stream_);
  } else if (provider == "cuda") {
    AppendCuda(options, config_, compute_stream_);
  }
  auto session = std::make_unique<Ort::Session>(SharedOrtEnv(), config_.model_path.c_str(), options);

  Ort::AllocatorWithDefaultOptions allocator;
  if (session->GetInputCount() != 1) throw std::runtime_error("model must have exactly one input");
  input_ = TensorInfo{session->GetInputNameAllocated(0, allocator).get(), ShapeOf(session->GetInputTypeInfo(0))};
  input_item_size_ = 1;
  for (size_t i = 1; i < input_.shape.size(); ++i) {
    if (input_.shape[i] <= 0) throw std::runtime_error("model input '" + input_.name + "' must have static non-batch dims");
    input_item_size_ *= input_.shape[i];
  }
  outputs_.clear();
  output_item_sizes_.clear();
  for (size_t i = 0; i < session->GetOutputCount(); ++i) {
    outputs_.push_back(TensorInfo{session->GetOutputNameAllocated(i, allocator).get(), ShapeOf(session->GetOutputTypeInfo(i))});
    int64_t size = 1;
    for (size_t d = 1; d < outputs_.back().shape.size(); ++d) {
      const int64_t dim = outputs_.back().shape[d];
      if (dim <= 0) {
        size = -1;
        break;
      }
      size *= dim;
    }
    output_item_sizes_.push_back(size);
  }
  session_ = std::move(session);
}

std::vector<std::vector<float>> ModelSession::Run(const float* input, int batch, bool release_memory) {
  std::vector<int64_t> shape = input_.shape;
  shape[0] = batch;
  Ort::MemoryInfo memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor = Ort::Value::CreateTensor<float>(memory, const_cast<float*>(input),
                                                      static_cast<size_t>(input_item_size_ * batch), shape.data(),
                                                      shape.size());
  const char* input_names[] = {input_.name.c_str()};
  std::vector<const char*> output_names;
  for (const TensorInfo& o : outputs_) output_names.push_back(o.name.c_str());
  Ort::RunOptions run_options;
  // The arena otherwise keeps a burst's peak of full batches for good (~150 MB for Meso4 at batch 8). Only after
  // the last run of a burst: shrinking after every run costs what the arena saves (malloc per run is 2x slower).
  if (release_memory) run_options.AddConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
  std::vector<Ort::Value> results =
      session_->Run(run_options, input_names, &tensor, 1, output_names.data(), output_names.size());
  std::vector<std::vector<float>> out;
  out.reserve(results.size());
  for (Ort::Value& value : results) {
    const size_t count = value.GetTensorTypeAndShapeInfo().GetElementCount();
    const float* data = value.GetTensorData<float>();
    out.emplace_back(data, data + count);
  }
  return out;
}

void ModelSession::RunBound(const Ort::MemoryInfo& memory, float* input, int batch, const std::vector<float*>& outputs) {
  std::vector<int64_t> shape = input_.shape;
  shape[0] = batch;
  Ort::Value input_tensor = Ort::Value::CreateTensor<float>(memory, input, static_cast<size_t>(input_item_size_ * batch),
                                                            shape.data(), shape.size());
  Ort::IoBinding binding(*session_);
  binding.BindInput(input_.name.c_str(), input_tensor);
  std::vector<Ort::Value> output_tensors;  // alive until the run is over
  output_tensors.reserve(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (output_item_sizes_[i] < 0) {
      throw std::runtime_error("output '" + outputs_[i].name + "' has a symbolic non-batch dim: it cannot be bound");
    }
    std::vector<int64_t> out_shape = outputs_[i].shape;
    if (!out_shape.empty()) out_shape[0] = batch;
    output_tensors.push_back(Ort::Value::CreateTensor<float>(memory, outputs[i], static_cast<size_t>(output_item_sizes_[i] * batch),
                                                             out_shape.data(), out_shape.size()));
    binding.BindOutput(outputs_[i].name.c_str(), output_tensors.back());
  }
  session_->Run(Ort::RunOptions{}, binding);
  binding.SynchronizeOutputs();
}

}  // namespace mg

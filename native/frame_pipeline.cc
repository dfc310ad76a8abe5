#include "frame_pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "preprocess.h"

namespace mg {

namespace {

double MsSince(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// Added to the detector thread's nice value: 19, the lowest priority short of SCHED_IDLE, which could starve the
// detector for good on a saturated host (a new face would never be found); at 19 it still gets ~1.5% of a busy core.
constexpr int kDetectorNice = 19;

// BlazeFace outputs are told apart by shape: [1,512,1] scores and [1,512,16] boxes for the 16x16 layer,
// [1,384,1] and [1,384,16] for the 8x8 layer.
void FindDetectorOutputs(const ModelSession& session, int indices[4]) {
  const std::vector<TensorInfo>& outputs = session.outputs();
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::vector<int64_t>& s = outputs[i].shape;
    if (s.size() != 3) continue;
    const int slot = (s[1] == 512 ? 0 : s[1] == 384 ? 2 : -1);
    if (slot < 0) continue;
    if (s[2] == 1) indices[slot] = (int)i;
    if (s[2] == 16) indices[slot + 1] = (int)i;
  }
  for (int k = 0; k < 4; ++k) {
    if (indices[k] < 0) {
      throw std::runtime_error("the detector model does not have BlazeFace's outputs ([1,512,1], [1,512,16], "
                               "[1,384,1], [1,384,16])");
    }
  }
}

}  // namespace

// One request on its way through the stages; shared by the callbacks that carry it.
struct FramePipeline::State {
  std::unique_ptr<Request> request;
  DecodedFrame frame;
  std::mutex mutex;
  int remaining = 0;  // detector regions or faces still out
  std::vector<FaceDetection> detections;
  Clock::time_point stage_start{};
};

FramePipeline::FramePipeline(std::shared_ptr<ModelSession> mesonet, std::shared_ptr<ModelSession> detector,
                             const PipelineConfig& config, Completion on_complete, std::function<void()> on_drained)
    : config_(config), on_complete_(std::move(on_complete)), on_drained_(std::move(on_drained)) {
  const std::vector<int64_t>& shape = mesonet->input().shape;
  if (shape.size() != 4 || shape[1] != 3) {
    throw std::runtime_error("the scoring model must take planar RGB (N,3,H,W); '" + mesonet->input().name +
                             "' has another shape");
  }
  mesonet_h_ = (int)shape[2];
  mesonet_w_ = (int)shape[3];
  if (detector) {
    const std::vector<int64_t>& d = detector->input().shape;
    if (d.size() == 4 && d[3] == 3 && d[1] == d[2]) {
      detector_layout_ = Layout::Interleaved;
      detector_size_ = (int)d[1];
    } else if (d.size() == 4 && d[1] == 3 && d[2] == d[3]) {
      detector_layout_ = Layout::Planar;
      detector_size_ = (int)d[2];
    } else {
      throw std::runtime_error("the detector model must take a square RGB image (NHWC or NCHW)");
    }
    FindDetectorOutputs(*detector, detector_outputs_);
  }

  const CudaProbe cuda = ProbeCuda();
  const bool gpu_session = mesonet->provider() != "cpu";
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

  std::unique_ptr<DeviceBatchRunner> mesonet_runner, detector_runner;
  SetUpDeviceBatches(mesonet, detector, &mesonet_runner, &detector_runner);
  mesonet_ = std::make_unique<InferenceBatcher>(std::move(mesonet), config_.max_batch, config_.max_wait_ms,
                                                std::move(mesonet_runner), "mg-mesonet");
  if (detector) {
    // The detector at the lowest CPU priority: on a busy host its runs (6-8 ms each for BlazeFace back on one CPU
    // core) take the time the scoring threads leave, and a stream's tracked faces are scored meanwhile
    // (FaceTrackerOptions.backgroundDetection). With 9 streams of 30 fps on 2 cores, detections in the background,
    // the server's p99 latency was 29-44 ms (4 runs) with this thread at nice 19 against 45-48 ms (2 runs) at the
    // process's priority. ONNX Runtime's own intra-op threads (intraOpThreads > 1) keep the process's priority.
    detector_ = std::make_unique<InferenceBatcher>(std::move(detector), 1, 0.0, std::move(detector_runner), "mg-detector",
                                                   kDetectorNice);
  }
  pool_ = std::make_unique<WorkPool>(config_.prep_threads, "mg-prep");
}

void FramePipeline::SetUpDeviceBatches(const std::shared_ptr<ModelSession>& mesonet,
                                       const std::shared_ptr<ModelSession>& detector,
                                       std::unique_ptr<DeviceBatchRunner>* mesonet_runner,
                                       std::unique_ptr<DeviceBatchRunner>* detector_runner) {
  std::string mode = "off", reason;
  std::unique_ptr<BatchMemory> mesonet_memory, detector_memory;
  if (config_.device_batches == "off") {
    reason = "turned off (deviceBatches: off)";
  } else if (config_.device_batches == "host") {
    mode = "host";
    reason = "requested explicitly: IoBinding on host memory, crops rendered on the inference thread";
    mesonet_memory = MakeHostBatchMemory();
    if (detector) detector_memory = MakeHostBatchMemory();
  } else if (config_.device_batches == "auto") {
    if (mesonet->provider() == "cpu") {
      reason = "MesoNet runs on the CPU provider: crops are rendered on the crop threads";
    } else if (preprocess_device_ != "cuda") {
      reason = "preprocess is cpu (" + preprocess_reason_ + ")";
    } else {
      // The GPU path: NEVER RUN ON A GPU in this project (no GPU with ONNX Runtime's GPU providers was at hand).
      try {
        mesonet_memory = MakeCudaBatchMemory(mesonet->config().device_id, mesonet->compute_stream());
        if (detector && detector->provider() != "cpu") {
          detector_memory = MakeCudaBatchMemory(detector->config().device_id, detector->compute_stream());
        }
        mode = "cuda";
        reason = "MesoNet runs on " + mesonet->provider() + " and preprocess is cuda";
      } catch (const std::exception& e) {
        mesonet_memory.reset();
        detector_memory.reset();
        reason = std::string("the CUDA batch memory could not be set up: ") + e.what();
      }
    }
  } else {
    throw std::invalid_argument("deviceBatches must be auto, host or off, got '" + config_.device_batches + "'");
  }
  device_switch_ = std::make_shared<DeviceBatchSwitch>(mode, reason);
  if (mesonet_memory) {
    *mesonet_runner = std::make_unique<DeviceBatchRunner>(mesonet, std::move(mesonet_memory), device_switch_, true);
  }
  if (detector_memory) {
    *detector_runner = std::make_unique<DeviceBatchRunner>(detector, std::move(detector_memory), device_switch_, false);
  }
}

FramePipeline::~FramePipeline() {
  Abort();
}

bool FramePipeline::Submit(std::unique_ptr<Request>& request, std::string* code, std::string* why) {
  if (request->mode == Request::Mode::Analyze && request->detect && !detector_) {
    *code = "ERR_INVALID_ARG";
    *why = "this scorer has no face detector: create it with a detector to analyze frames with detect: true";
    return false;
  }
  auto state = std::make_shared<State>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_ || aborted_) {
      *code = "ERR_CLOSED";
      *why = "the scorer is closed";
      return false;
    }
    if (pending_ >= config_.max_pending) {
      *code = "ERR_QUEUE_FULL";
      *why = "the work queue holds " + std::to_string(pending_) + " frames (maxPending); frame refused";
      return false;
    }
    if (!request->group.empty()) {
      Group& group = groups_[request->group];
      if (group.pending >= config_.max_pending_per_group) {
        *code = "ERR_QUEUE_FULL";
        *why = "group '" + request->group + "' already has " + std::to_string(group.pending) +
               " frames queued (maxPendingPerGroup); frame refused";
        return false;
      }
      ++group.pending;
    }
    request->serial = next_serial_++;
    ++pending_;
    ++stats_.submitted;
  }
  request->submitted = Clock::now();
  trimmer_.Busy();
  if (request->mode == Request::Mode::Crop) mesonet_->Announce(1);  // batches may wait for this one
  state->request = std::move(request);
  pool_->Post([this, state] { Start(state); });
  return true;
}

bool FramePipeline::Dropped(std::shared_ptr<State>& state, int announced) {
  const Request& r = *state->request;
  bool closed, cancelled = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed = cancel_unstarted_;
    if (!closed && !r.group.empty()) {
      auto it = groups_.find(r.group);
      cancelled = it != groups_.end() && r.serial < it->second.cancel_before;
    }
  }
  if (!closed && !cancelled) return false;
  if (announced > 0) mesonet_->Withdraw(announced);
  state->frame = DecodedFrame{};
  if (closed) {
    Fail(std::move(state->request), "ERR_CLOSED", "the scorer was closed before this frame ran");
  } else {
    Fail(std::move(state->request), "ERR_CANCELLED", "the frame's group '" + r.group + "' was cancelled");
  }
  return true;
}

int FramePipeline::Cancel(const std::string& group) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return 0;
  it->second.cancel_before = next_serial_;
  return it->second.pending;
}

RowRange FramePipeline::RowsToDecode(const Request& r) const {
  // Only a frame whose faces are given is read by nothing but their crops; a detector reads every row.
  if (r.mode != Request::Mode::Analyze || r.detect || r.faces.empty()) return RowRange{};
  RowRange rows{kMaxFrameSide, 0};
  for (const FaceInput& face : r.faces) {
    int begin = 0, end = 0;
    if (!SourceRowsRead(MakeFaceCrop(face.keypoints, config_.crop, mesonet_w_).spec, kMaxFrameSide, &begin, &end)) {
      return RowRange{};
    }
    rows.begin = std::min(rows.begin, begin);
    rows.end = std::max(rows.end, end);
  }
  // No row read at all (every crop lies outside the frame): decode one, the frame's size is still checked.
  if (rows.end <= rows.begin) return RowRange{0, 1};
  return rows;
}

void FramePipeline::Start(std::shared_ptr<State> state) {
  Request& r = *state->request;
  if (Dropped(state, r.mode == Request::Mode::Crop ? 1 : 0)) return;
  const Clock::time_point t = Clock::now();
  try {
    if (r.occlusion_source) {
      r.frame = *r.occlusion_source;
      r.occlusion_source.reset();
      OccludeRgb(r.frame, r.occlusion);
    }
    bool partial = false;
    state->frame = DecodeFrameRows(r.frame, RowsToDecode(r), &partial);
    if (partial) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.partial_decodes;
    }
  } catch (const FrameError& e) {
    if (r.mode == Request::Mode::Crop) mesonet_->Withdraw(1);
    Fail(std::move(state->request), e.code, e.what());
    return;
  } catch (const std::exception& e) {  // e.g. bad_alloc for a 64-megapixel frame: fail the frame, not the process
    if (r.mode == Request::Mode::Crop) mesonet_->Withdraw(1);
    Fail(std::move(state->request), "ERR_INVALID_INPUT", std::string("the frame could not be decoded: ") + e.what());
    return;
  }
  r.decode_ms = MsSince(t);
  r.frame_width = state->frame.view.width;
  r.frame_height = state->frame.view.height;
  if (Dropped(state, r.mode == Request::Mode::Crop ? 1 : 0)) return;  // cancelled while decoding
  if (r.mode == Request::Mode::Crop) {
    ScoreWholeFrame(state);
  } else if (r.detect) {
    RunDetector(state);
  } else {
    ScoreFaces(state, r.faces);
  }
}

void FramePipeline::Render(const SourceView& source, const RenderSpec& spec, bool detector_input, float* out,
                           std::string* device) {
  if (preprocess_device_ == "cuda" && !device_switch_->gpu_turned_off()) {
    try {
      RenderCuda(source, spec, out, mesonet_->session().config().device_id);
      *device = "cuda";
      return;
    } catch (const std::exception&) {
      // A GPU hiccup costs speed, never the frame: the CPU path computes the same pixels (a detector letterbox
      // within 1e-6).
    }
  }
  if (detector_input) {
    RenderDetectorCpu(source, spec, out);
  } else {
    RenderCpu(source, spec, out);
  }
  *device = "cpu";
}

void FramePipeline::ScoreWholeFrame(std::shared_ptr<State> state) {
  Request& r = *state->request;
  const Clock::time_point t = Clock::now();
  TensorJob job;
  const RenderSpec spec = whole_frame_spec(r.resize, mesonet_w_, mesonet_h_);
  if (mesonet_->device_batches()) {
    job.render = BatchItem{state->frame.view, spec};  // rendered into the batch, on its device
    job.keep_alive = state;
  } else {
    job.tensor = mesonet_->NewTensor();
    Render(state->frame.view, spec, false, job.tensor.data(), &r.preprocess_device);
    r.render_ms = MsSince(t);
    state->frame = DecodedFrame{};
    r.frame.bytes = std::vector<uint8_t>();  // the pixels are in the tensor now
  }
  job.done = [this, state](TensorResult&& result) {
    Request& req = *state->request;
    req.batch_size = result.batch_size;
    req.wait_ms = result.wait_ms;
    req.inference_ms = result.inference_ms;
    if (!result.render_device.empty()) req.preprocess_device = result.render_device;
    if (!result.error.empty()) {
      Fail(std::move(state->request), result.error_code, result.error);
      return;
    }
    req.outputs = std::move(result.outputs);
    Finish(std::move(state->request));
  };
  mesonet_->Submit(std::move(job));
}

void FramePipeline::RunDetector(std::shared_ptr<State> state) {
  Request& r = *state->request;
  std::vector<Box> regions = r.regions;
  const float w = (float)r.frame_width, h = (float)r.frame_height;
  if (regions.empty()) regions.push_back(Box{0, 0, w, h});
  for (Box& b : regions) {  // regions are clamped to the frame; an empty one is an error
    b = Box{std::max(0.f, b.x1), std::max(0.f, b.y1), std::min(w, b.x2), std::min(h, b.y2)};
    if (!(b.width() >= 1 && b.height() >= 1)) {
      Fail(std::move(state->request), "ERR_INVALID_ARG", "a detection region lies outside the frame or is empty");
      return;
    }
  }
  state->remaining = (int)regions.size();
  state->stage_start = Clock::now();
  r.detector_runs = (int)regions.size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.detector_runs += regions.size();
  }
  for (const Box& region : regions) {
    // BlazeFace takes RGB scaled to [-1, 1]. The letterbox's render counts in detect_ms (from stage_start), not in
    // render_ms, which is the face crops' alone: the stages do not overlap.
    const Letterbox lb = MakeLetterbox(region, detector_size_, config_.detector.mode, detector_layout_, 2.f, -1.f);
    TensorJob job;
    if (detector_->device_batches()) {
      job.render = BatchItem{state->frame.view, lb.spec, true};  // the letterbox rendered into the batch, on its device
      job.keep_alive = state;
    } else {
      job.tensor = detector_->NewTensor();
      std::string device;
      Render(state->frame.view, lb.spec, true, job.tensor.data(), &device);
    }
    job.done = [this, state, lb](TensorResult&& result) {
      std::vector<FaceDetection> found;
      if (result.error.empty()) {
        const std::vector<std::vector<float>>& o = result.outputs;
        found = DecodeBlazeFace(o[detector_outputs_[0]], o[detector_outputs_[1]], o[detector_outputs_[2]],
                                o[detector_outputs_[3]], detector_size_, lb, config_.detector.min_score);
      }
      bool last;
      {
        std::lock_guard<std::mutex> lock(state->mutex);
        if (!result.error.empty() && state->request->error_message.empty()) {
          state->request->error_message = result.error;
          state->request->error_code = result.error_code;
        }
        state->detections.insert(state->detections.end(), found.begin(), found.end());
        last = --state->remaining == 0;
      }
      if (!last) return;
      Request& req = *state->request;
      req.detect_ms = MsSince(state->stage_start);
      if (!req.error_message.empty()) {
        Fail(std::move(state->request), req.error_code, "face detector: " + req.error_message);
        return;
      }
      // NMS uncapped, then the cap: faces_found lets the caller say when max_faces cut faces.
      std::vector<FaceDetection> faces = WeightedNms(std::move(state->detections), config_.detector.nms_iou,
                                                     std::numeric_limits<int>::max());
      req.faces_found = (int)faces.size();
      if ((int)faces.size() > config_.detector.max_faces) faces.resize(config_.detector.max_faces);
      if (!req.score_faces) {  // detection only (a tracker folds it in later): the faces found are the result
        req.faces_out.resize(faces.size());
        for (size_t i = 0; i < faces.size(); ++i) {
          req.faces_out[i].box = faces[i].box;
          req.faces_out[i].keypoints = faces[i].keypoints;
          req.faces_out[i].detector_score = faces[i].score;
        }
        state->frame = DecodedFrame{};
        Finish(std::move(state->request));
        return;
      }
      std::vector<FaceInput> inputs;
      for (const FaceDetection& d : faces) inputs.push_back(FaceInput{d.box, d.keypoints, d.score});
      // Cropping is pixel work: back to the pool, off the detector's thread.
      pool_->Post([this, state, inputs]() mutable {
        if (!Dropped(state, 0)) ScoreFaces(state, inputs);
      });
    };
    detector_->Submit(std::move(job));
  }
}

void FramePipeline::ScoreFaces(std::shared_ptr<State> state, std::vector<FaceInput> faces) {
  Request& r = *state->request;
  if (faces.empty()) {
    state->frame = DecodedFrame{};
    Finish(std::move(state->request));
    return;
  }
  r.faces_out.resize(faces.size());
  state->remaining = (int)faces.size();
  state->stage_start = Clock::now();
  mesonet_->Announce((int)faces.size());
  std::vector<TensorJob> jobs(faces.size());
  // Returned crops are read back from the host tensor: those frames keep the crop-thread render.
  const bool device_batch = mesonet_->device_batches() && !r.return_crops;
  for (size_t i = 0; i < faces.size(); ++i) {
    const Clock::time_point t = Clock::now();
    const FaceCrop crop = MakeFaceCrop(faces[i].keypoints, config_.crop, mesonet_w_);
    FaceResult& out = r.faces_out[i];
    out.box = faces[i].box;
    out.keypoints = faces[i].keypoints;
    out.detector_score = faces[i].score;
    out.crop_center_x = crop.center_x;
    out.crop_center_y = crop.center_y;
    out.crop_side = crop.side;
    out.crop_angle = crop.angle;
    if (device_batch) {
      jobs[i].render = BatchItem{state->frame.view, crop.spec};  // rendered into the batch, on its device
      jobs[i].keep_alive = state;
      continue;
    }
    jobs[i].tensor = mesonet_->NewTensor();
    Render(state->frame.view, crop.spec, false, jobs[i].tensor.data(), &r.preprocess_device);
    if (r.return_crops) {
      const size_t plane = (size_t)mesonet_w_ * mesonet_h_;
      out.crop_rgb.resize(plane * 3);
      for (size_t p = 0; p < plane; ++p) {
        for (int c = 0; c < 3; ++c) {
          const float v = jobs[i].tensor[c * plane + p] * 255.f + 0.5f;
          out.crop_rgb[p * 3 + c] = (uint8_t)std::max(0.f, std::min(255.f, v));
        }
      }
    }
    r.render_ms += MsSince(t);
  }
  if (!device_batch) {
    state->frame = DecodedFrame{};  // every crop is rendered: the decoded frame is no longer needed
    r.frame.bytes = std::vector<uint8_t>();
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].done = [this, state, i](TensorResult&& result) {
      bool last;
      {
        std::lock_guard<std::mutex> lock(state->mutex);
        Request& req = *state->request;
        FaceResult& face = req.faces_out[i];
        if (result.error.empty()) {
          for (const std::vector<float>& o : result.outputs) face.outputs.push_back(o.empty() ? NAN : o[0]);
        } else if (req.error_message.empty()) {
          req.error_message = result.error;
          req.error_code = result.error_code;
        }
        if (!result.render_device.empty()) req.preprocess_device = result.render_device;
        face.batch_size = result.batch_size;
        face.wait_ms = result.wait_ms;
        face.inference_ms = result.inference_ms;
        req.batch_size = std::max(req.batch_size, result.batch_size);
        req.wait_ms = std::max(req.wait_ms, result.wait_ms);
        req.inference_ms = std::max(req.inference_ms, result.inference_ms);
        last = --state->remaining == 0;
      }
      if (!last) return;
      if (!state->request->error_message.empty()) {
        Fail(std::move(state->request), state->request->error_code, state->request->error_message);
        return;
      }
      Finish(std::move(state->request));
    };
    mesonet_->Submit(std::move(jobs[i]));
  }
}

void FramePipeline::Close(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closing_) return;
    closing_ = true;
    cancel_unstarted_ = !drain;
  }
  MaybeDrained();
}

void FramePipeline::Join() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (joined_) return;
    joined_ = true;
  }
  // Everything has completed: these stop at once.
  pool_->Stop(true);
  mesonet_->Stop(true);
  if (detector_) detector_->Stop(true);
}

void FramePipeline::Abort() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    aborted_ = true;
    closing_ = true;
    if (joined_) return;
    joined_ = true;
  }
  pool_->Stop(false);
  mesonet_->Stop(false);
  if (detector_) detector_->Stop(false);
}

PipelineStats FramePipeline::Stats() {
  PipelineStats s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s = stats_;
    s.pending = pending_;
  }
  s.memory_trims = trimmer_.trims();
  const BatcherStats b = mesonet_->Stats();
  s.batches = b.batches;
  s.batched_items = b.items;
  s.arena_releases = b.arena_releases;
  return s;
}

void FramePipeline::Fail(std::unique_ptr<Request> request, const std::string& code, const std::string& message) {
  request->error_code = code;
  request->error_message = message;
  Finish(std::move(request));
}

void FramePipeline::Finish(std::unique_ptr<Request> request) {
  request->total_ms = MsSince(request->submitted);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --pending_;
    if (!request->group.empty()) {
      auto it = groups_.find(request->group);
      // The last pending request of a group: nothing older is left to cancel.
      if (it != groups_.end() && --it->second.pending == 0) groups_.erase(it);
    }
    if (request->error_code == "ERR_CANCELLED") ++stats_.cancelled;
    // Not yet handed over: the request's own buffers are freed after, within the trimmer's delay.
    if (pending_ == 0) trimmer_.Idle();
    if (aborted_) return;  // process teardown: nobody is left to hand the result to
    if (request->error_code.empty()) {
      ++stats_.completed;
    } else {
      ++stats_.failed;
    }
    // Until on_complete_ has handed the result over, "drained" must wait: another thread finishing the last
    // pending request in between would otherwise signal it first, and close() would resolve (and the owner
    // release its thread-safe function) before this result was handed over.
    ++handing_over_;
  }
  on_complete_(std::move(request));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --handing_over_;
  }
  MaybeDrained();
}

void FramePipeline::MaybeDrained() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closing_ || aborted_ || pending_ != 0 || handing_over_ != 0 || drained_signalled_) return;
    drained_signalled_ = true;
  }
  on_drained_();
}

}  // namespace mg

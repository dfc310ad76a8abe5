// Frames in, scores out, on the addon's own threads: decode -> (detector -> weighted NMS) -> face crops ->
// MesoNet, each stage handing over to the next without ever blocking a thread on another.
//   - crop mode: the whole frame is the face crop (Keras-exact resize) -> MesoNet.
//   - analyze mode: BlazeFace on the letterboxed frame (or on regions of it), or faces given by the caller's
//     tracker; then every face is cropped as the MesoNet pipeline crops it and scored.
// Completed requests go to a callback on a worker thread, which hands them back to JS.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "device_batch.h"
#include "face_geometry.h"
#include "frame_decode.h"
#include "idle_trimmer.h"
#include "inference_batcher.h"
#include "model_session.h"
#include "work_pool.h"

namespace mg {

struct FaceInput {  // a face the caller already knows (tracked): crop and score it, no detector
  Box box;
  std::array<float, 2 * kKeypoints> keypoints{};
  float score = 0;
};

struct FaceResult {
  Box box;
  std::array<float, 2 * kKeypoints> keypoints{};
  float detector_score = 0;
  float crop_center_x = 0, crop_center_y = 0, crop_side = 0, crop_angle = 0;
  std::vector<float> outputs;      // MesoNet outputs for this face (session output order, one value each)
  std::vector<uint8_t> crop_rgb;   // the 256x256 crop, RGB interleaved, when asked for
  int batch_size = 0;
  double wait_ms = 0, inference_ms = 0;
};

struct Request {
  enum class Mode { Crop, Analyze };
  Mode mode = Mode::Crop;
  FrameInput frame;
  ResizeMode resize = ResizeMode::Nearest;  // crop mode
  bool detect = true;                       // analyze mode
  bool score_faces = true;                  // analyze mode; false (with detect) = the detections alone, no crops
  std::vector<Box> regions;                 // detector regions; empty = the whole frame
  std::vector<FaceInput> faces;             // when !detect
  bool return_crops = false;
  std::string group;                        // the caller's stream ("" = none): cancel(group) drops its queued work
  // Crop mode, occlusion sensitivity: `frame` is made on a worker as a copy of this shared rgb frame with
  // `occlusion` painted, so N variants of a crop cost the JS thread one copy.
  std::shared_ptr<const FrameInput> occlusion_source;
  OcclusionCell occlusion;
  void* user = nullptr;                     // the owner's completion handle (the JS promise)
  uint64_t serial = 0;                      // submission order (set by Submit)

  // Results.
  std::string error_code;  // empty on success
  std::string error_message;
  std::vector<std::vector<float>> outputs;  // crop mode
  int frame_width = 0, frame_height = 0;
  std::vector<FaceResult> faces_out;        // analyze mode
  int detector_runs = 0;
  int faces_found = 0;                      // faces the detector found, before max_faces
  std::string preprocess_device = "cpu";
  int batch_size = 0;
  Clock::time_point submitted{};
  double decode_ms = 0, detect_ms = 0, render_ms = 0, wait_ms = 0, inference_ms = 0, total_ms = 0;
};

// Filled from createScorer()'s options (scorer_options.cc); their defaults live in the JS facade.
struct DetectorConfig {
  float min_score = 0;
  float nms_iou = 0;
  int max_faces = 0;
  ResizeMode mode = ResizeMode::Area;
};

struct PipelineConfig {
  int max_batch = 0;
  double max_wait_ms = 0;
  int prep_threads = 0;
  int max_pending = 0;     // requests queued or in flight; beyond that new ones are refused
  int max_pending_per_group = 0;  // the same, per group: one stream cannot fill the shared queue
  int64_t max_frame_pixels = 0;   // larger declared frames are refused before their pixels are allocated
  std::string preprocess;  // auto | cpu | cuda
  std::string device_batches;  // auto (cuda where MesoNet runs on a GPU and preprocess is cuda) | host | off
  DetectorConfig detector;
  CropConfig crop;
};

struct PipelineStats {
  uint64_t submitted = 0, completed = 0, failed = 0;
  uint64_t cancelled = 0;  // failed with ERR_CANCELLED (counted in failed too)
  uint64_t memory_trims = 0;  // freed memory handed back to the system after a burst (idle_trimmer.h)
  uint64_t batches = 0, batched_items = 0;  // MesoNet
  uint64_t arena_releases = 0;              // MesoNet's arena given back after an idle spell (inference_batcher.h)
  uint64_t detector_runs = 0;
  uint64_t partial_decodes = 0;  // JPEG frames decoded only in the rows their face crops read
  int pending = 0;
};

class FramePipeline {
 public:
  using Completion = std::function<void(std::unique_ptr<Request>)>;

  // `detector` may be null (crop mode only). `on_complete` runs on a worker thread once per request;
  // `on_drained` once, after Close(), when the last request has completed.
  FramePipeline(std::shared_ptr<ModelSession> mesonet, std::shared_ptr<ModelSession> detector,
                const PipelineConfig& config, Completion on_complete, std::function<void()> on_drained);
  ~FramePipeline();

  // Returns false (leaving `request` with the caller) when closed or full; `code`/`why` say which.
  bool Submit(std::unique_ptr<Request>& request, std::string* code, std::string* why);
  // Stop accepting. drain = finish everything; otherwise requests not started yet fail with ERR_CLOSED.
  void Close(bool drain);
  // Joins the threads; call after on_drained fired.
  void Join();
  // Teardown: stop at once, drop queued work without completing it.
  void Abort();
  // Requests of `group` submitted so far fail with ERR_CANCELLED at their next stage (work already inside a
  // model run finishes). Returns how many of its requests are still pending.
  int Cancel(const std::string& group);

  PipelineStats Stats();
  bool has_detector() const { return detector_ != nullptr; }
  int detector_input_size() const { return detector_size_; }
  int mesonet_max_batch() const { return mesonet_->max_batch(); }
  const std::string& preprocess_device() const { return preprocess_device_; }
  const std::string& preprocess_reason() const { return preprocess_reason_; }
  DeviceBatchStatus device_batch_status() { return device_switch_->Status(); }

 private:
  struct State;
  void Start(std::shared_ptr<State> state);
  // The rows of the request's frame that its renders read (DecodeFrameRows): its face crops' rows when its faces are
  // given, else all.
  RowRange RowsToDecode(const Request& r) const;
  void ScoreWholeFrame(std::shared_ptr<State> state);
  void RunDetector(std::shared_ptr<State> state);
  void ScoreFaces(std::shared_ptr<State> state, std::vector<FaceInput> faces);
  // detector_input: a detector letterbox, which the CPU renders with RenderDetectorCpu.
  void Render(const SourceView& source, const RenderSpec& spec, bool detector_input, float* out, std::string* device);
  // Sets up device batches (device_batch.h) for the sessions, as config_.device_batches asks.
  void SetUpDeviceBatches(const std::shared_ptr<ModelSession>& mesonet, const std::shared_ptr<ModelSession>& detector,
                          std::unique_ptr<DeviceBatchRunner>* mesonet_runner,
                          std::unique_ptr<DeviceBatchRunner>* detector_runner);
  void Finish(std::unique_ptr<Request> request);
  void Fail(std::unique_ptr<Request> request, const std::string& code, const std::string& message);
  // True when the request was closed away (close({drain: false})) or cancelled; then it has been failed.
  bool Dropped(std::shared_ptr<State>& state, int announced);
  void MaybeDrained();

  PipelineConfig config_;
  Completion on_complete_;
  std::function<void()> on_drained_;
  int mesonet_w_ = 0, mesonet_h_ = 0;
  int detector_size_ = 0;
  Layout detector_layout_ = Layout::Interleaved;
  int detector_outputs_[4] = {-1, -1, -1, -1};  // scores16, boxes16, scores8, boxes8
  std::string preprocess_device_ = "cpu";
  std::string preprocess_reason_;
  std::shared_ptr<DeviceBatchSwitch> device_switch_;

  struct Group {
    int pending = 0;
    uint64_t cancel_before = 0;  // requests with a smaller serial are cancelled
  };

  std::mutex mutex_;
  int pending_ = 0;
  uint64_t next_serial_ = 1;
  std::unordered_map<std::string, Group> groups_;  // groups with pending requests
  int handing_over_ = 0;  // completed requests whose on_complete_ has not returned yet
  bool closing_ = false;
  bool cancel_unstarted_ = false;
  bool aborted_ = false;
  bool drained_signalled_ = false;
  bool joined_ = false;
  PipelineStats stats_;

  std::unique_ptr<InferenceBatcher> mesonet_;
  std::unique_ptr<InferenceBatcher> detector_;
  std::unique_ptr<WorkPool> pool_;
  // After half a second without frames, and every 10 s while frames never stop.
  IdleTrimmer trimmer_{std::chrono::milliseconds(500), std::chrono::seconds(10)};
};

}  // namespace mg

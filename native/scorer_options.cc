#include "scorer_options.h"

#include "js_convert.h"

namespace mg {

ScorerOptions ParseScorerOptions(const Napi::Object& o) {
  ScorerOptions out;
  SessionConfig& session = out.mesonet;
  PipelineConfig& pipeline = out.pipeline;
  session.model_path = RequireString(o, "modelPath");
  if (session.model_path.empty()) throw FrameError("ERR_INVALID_ARG", "modelPath must not be empty");
  session.provider = RequireString(o, "provider");
  session.graph_optimization = RequireString(o, "graphOptimization");
  session.device_id = RequireInt(o, "deviceId");
  session.intra_op_threads = RequireInt(o, "intraOpThreads");
  session.cache_dir = RequireString(o, "cacheDir");
  session.fp16 = RequireBool(o, "fp16");
  pipeline.max_batch = RequireInt(o, "maxBatch");
  session.max_batch = pipeline.max_batch;
  pipeline.max_wait_ms = RequireNumber(o, "maxWaitMs");
  pipeline.prep_threads = RequireInt(o, "prepThreads");
  pipeline.max_pending = RequireInt(o, "maxPending");
  pipeline.max_pending_per_group = RequireInt(o, "maxPendingPerGroup");
  pipeline.max_frame_pixels = RequireInt(o, "maxFramePixels");
  pipeline.preprocess = RequireString(o, "preprocess");
  pipeline.device_batches = RequireString(o, "deviceBatches");

  Napi::Value d = o.Get("detector");
  if (d.IsObject()) {
    Napi::Object dobj = d.As<Napi::Object>();
    SessionConfig dc = session;  // same provider, device and caches as MesoNet
    dc.model_path = RequireString(dobj, "modelPath");
    if (dc.model_path.empty()) throw FrameError("ERR_INVALID_ARG", "detector.modelPath must not be empty");
    dc.graph_optimization = RequireString(dobj, "graphOptimization");
    dc.max_batch = 1;
    pipeline.detector.min_score = (float)RequireNumber(dobj, "minScore");
    pipeline.detector.nms_iou = (float)RequireNumber(dobj, "nmsIou");
    pipeline.detector.max_faces = RequireInt(dobj, "maxFaces");
    pipeline.detector.mode = ParseResizeMode(RequireString(dobj, "resize"));
    out.detector = dc;
  } else if (!d.IsNull()) {
    throw FrameError("ERR_INVALID_ARG", "option 'detector' is required: an object {modelPath, ...} or null");
  }

  Napi::Object crop = RequireObject(o, "crop");
  pipeline.crop.factor = (float)RequireNumber(crop, "factor");
  pipeline.crop.margin = (float)RequireNumber(crop, "margin");
  pipeline.crop.mode = ParseResizeMode(RequireString(crop, "resize"));
  return out;
}

}  // namespace mg

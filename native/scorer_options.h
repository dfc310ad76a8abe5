// createScorer()'s options object -> the sessions' and the pipeline's configuration. Every field is required:
// the JS facade (src/scoring/scorerOptions.ts) owns the defaults and checks the ranges.
#pragma once

#include <napi.h>

#include <optional>

#include "frame_pipeline.h"
#include "model_session.h"

namespace mg {

struct ScorerOptions {
  SessionConfig mesonet;
  std::optional<SessionConfig> detector;  // null: no face detector
  PipelineConfig pipeline;
};

// Throws FrameError ERR_INVALID_ARG naming a missing or mistyped field.
ScorerOptions ParseScorerOptions(const Napi::Object& o);

}  // namespace mg

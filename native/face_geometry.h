// Faces: BlazeFace output decoding, weighted NMS, the letterbox that feeds the detector and the MesoNet crop.
#pragma once

#include <array>
#include <vector>

#include "pixel_math.h"

namespace mg {

// Frame-pixel box [x1, y1, x2, y2].
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
};

// BlazeFace keypoint order: right eye, left eye, nose tip, mouth centre, right ear, left ear; (x, y) pairs.
constexpr int kKeypoints = 6;
enum Keypoint { kRightEye = 0, kLeftEye = 1, kNoseTip = 2, kMouth = 3, kRightEar = 4, kLeftEar = 5 };

struct FaceDetection {
  Box box;
  std::array<float, 2 * kKeypoints> keypoints{};
  float score = 0;
};

// The letterbox of `region` (frame pixels) into a size x size detector input, keeping the aspect ratio and
// centring; outside the frame is black. Detector coordinates map back with ToFrame().
struct Letterbox {
  RenderSpec spec;
  float scale = 1;  // detector pixels per frame pixel
  float pad_x = 0, pad_y = 0;
  Box region;
  float ToFrameX(float detector_px) const { return region.x1 + (detector_px - pad_x) / scale; }
  float ToFrameY(float detector_px) const { return region.y1 + (detector_px - pad_y) / scale; }
};
Letterbox MakeLetterbox(const Box& region, int size, ResizeMode mode, Layout layout, float value_scale, float value_offset);

// Decodes BlazeFace's two anchor layers (16x16 cells x 2 anchors, 8x8 cells x 6 anchors; per anchor a score
// logit and 16 regressors: centre x, y, width, height, 6 keypoints, in input pixels relative to the anchor
// centre) into frame-pixel detections scoring at least min_score.
std::vector<FaceDetection> DecodeBlazeFace(const std::vector<float>& scores16, const std::vector<float>& boxes16,
                                           const std::vector<float>& scores8, const std::vector<float>& boxes8,
                                           int input_size, const Letterbox& letterbox, float min_score);

float IntersectionOverUnion(const Box& a, const Box& b);

// Weighted NMS: the best detection absorbs every detection overlapping it by more than iou_threshold, its
// geometry becoming their score-weighted mean. Sorted by score, at most max_faces.
std::vector<FaceDetection> WeightedNms(std::vector<FaceDetection> detections, float iou_threshold, int max_faces);

// The MesoNet crop: centre on the nose tip, side = max(|eye to eye|, |mid-eyes to mouth|) * factor * margin,
// rotated so the eyes-to-mouth line is vertical, resized to out x out, padded black outside the frame.
// Keypoints further than this (frame pixels) from the origin are refused: frames are at most 16384 pixels a side,
// and beyond float range (a finite JS number can be) the crop geometry would turn into inf/NaN.
constexpr float kMaxKeypointMagnitude = 1e6f;
// factor and margin come from JS, which owns their defaults and range (src/scoring/scorerOptions.ts).
struct CropConfig {
  float factor = 0;
  float margin = 0;
  ResizeMode mode = ResizeMode::Bilinear;
};
struct FaceCrop {
  RenderSpec spec;
  float center_x = 0, center_y = 0, side = 0;
  float angle = 0;  // radians: atan2(B.x - E.x, B.y - E.y), 0 for an upright face
};
FaceCrop MakeFaceCrop(const std::array<float, 2 * kKeypoints>& keypoints, const CropConfig& config, int out);

}  // namespace mg

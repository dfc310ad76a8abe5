#include "face_geometry.h"

#include <algorithm>
#include <cmath>

namespace mg {

Letterbox MakeLetterbox(const Box& region, int size, ResizeMode mode, Layout layout, float value_scale,
                        float value_offset) {
  Letterbox lb;
  lb.region = region;
  const float w = std::max(region.width(), 1.f), h = std::max(region.height(), 1.f);
  lb.scale = (float)size / std::max(w, h);
  lb.pad_x = ((float)size - w * lb.scale) * 0.5f;
  lb.pad_y = ((float)size - h * lb.scale) * 0.5f;
  RenderSpec& s = lb.spec;
  s.out_w = size;
  s.out_h = size;
  s.mode = mode;
  s.whole_frame = false;
  const float inv = 1.f / lb.scale;
  s.affine = Affine{inv, 0.f, region.x1 - lb.pad_x * inv, 0.f, inv, region.y1 - lb.pad_y * inv};
  s.layout = layout;
  s.scale = value_scale;
  s.offset = value_offset;
  s.pad = 0.f;
  return lb;
}

namespace {

float Sigmoid(float x) {
  x = std::max(-100.f, std::min(100.f, x));
  return 1.f / (1.f + std::exp(-x));
}

void DecodeLayer(const std::vector<float>& scores, const std::vector<float>& boxes, int cells, int anchors_per_cell,
                 int input_size, const Letterbox& lb, float min_score, std::vector<FaceDetection>* out) {
  const size_t count = (size_t)cells * cells * anchors_per_cell;
  if (scores.size() < count || boxes.size() < count * 16) return;
  for (int cy = 0; cy < cells; ++cy) {
    for (int cx = 0; cx < cells; ++cx) {
      // Anchor centre in detector pixels (fixed-size anchors: offsets are plain input pixels).
      const float ax = ((float)cx + 0.5f) / (float)cells * (float)input_size;
      const float ay = ((float)cy + 0.5f) / (float)cells * (float)input_size;
      for (int a = 0; a < anchors_per_cell; ++a) {
        const size_t i = ((size_t)cy * cells + cx) * anchors_per_cell + a;
        const float score = Sigmoid(scores[i]);
        if (score < min_score) continue;
        const float* r = &boxes[i * 16];
        const float x = ax + r[0], y = ay + r[1], w = r[2], h = r[3];
        FaceDetection d;
        d.score = score;
        d.box = Box{lb.ToFrameX(x - w * 0.5f), lb.ToFrameY(y - h * 0.5f), lb.ToFrameX(x + w * 0.5f),
                    lb.ToFrameY(y + h * 0.5f)};
        for (int k = 0; k < kKeypoints; ++k) {
          d.keypoints[2 * k] = lb.ToFrameX(ax + r[4 + 2 * k]);
          d.keypoints[2 * k + 1] = lb.ToFrameY(ay + r[5 + 2 * k]);
        }
        if (d.box.width() > 0 && d.box.height() > 0) out->push_back(d);
      }
    }
  }
}

}  // namespace

std::vector<FaceDetection> DecodeBlazeFace(const std::vector<float>& scores16, const std::vector<float>& boxes16,
                                           const std::vector<float>& scores8, const std::vector<float>& boxes8,
                                           int input_size, const Letterbox& letterbox, float min_score) {
  std::vector<FaceDetection> out;
  DecodeLayer(scores16, boxes16, 16, 2, input_size, letterbox, min_score, &out);
  DecodeLayer(scores8, boxes8, 8, 6, input_size, letterbox, min_score, &out);
  return out;
}

float IntersectionOverUnion(const Box& a, const Box& b) {
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0.f;
  const float inter = iw * ih;
  const float uni = a.width() * a.height() + b.width() * b.height() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

std::vector<FaceDetection> WeightedNms(std::vector<FaceDetection> detections, float iou_threshold, int max_faces) {
  std::stable_sort(detections.begin(), detections.end(),
                   [](const FaceDetection& a, const FaceDetection& b) { return a.score > b.score; });
  std::vector<FaceDetection> kept;
  std::vector<bool> used(detections.size(), false);
  for (size_t i = 0; i < detections.size() && (int)kept.size() < max_faces; ++i) {
    if (used[i]) continue;
    const FaceDetection& best = detections[i];
    FaceDetection merged = best;
    float total = 0;
    Box box{0, 0, 0, 0};
    std::array<float, 2 * kKeypoints> keypoints{};
    for (size_t j = i; j < detections.size(); ++j) {
      if (used[j] || IntersectionOverUnion(best.box, detections[j].box) <= iou_threshold) continue;
      used[j] = true;
      const FaceDetection& d = detections[j];
      total += d.score;
      box.x1 += d.box.x1 * d.score; box.y1 += d.box.y1 * d.score;
      box.x2 += d.box.x2 * d.score; box.y2 += d.box.y2 * d.score;
      for (int k = 0; k < 2 * kKeypoints; ++k) keypoints[k] += d.keypoints[k] * d.score;
    }
    if (total > 0) {
      merged.box = Box{box.x1 / total, box.y1 / total, box.x2 / total, box.y2 / total};
      for (int k = 0; k < 2 * kKeypoints; ++k) merged.keypoints[k] = keypoints[k] / total;
    }
    kept.push_back(merged);
  }
  return kept;
}

FaceCrop MakeFaceCrop(const std::array<float, 2 * kKeypoints>& kp, const CropConfig& config, int out) {
  const float rex = kp[2 * kRightEye], rey = kp[2 * kRightEye + 1];
  const float lex = kp[2 * kLeftEye], ley = kp[2 * kLeftEye + 1];
  const float ex = (rex + lex) * 0.5f, ey = (rey + ley) * 0.5f;  // E: between the eyes
  const float bx = kp[2 * kMouth], by = kp[2 * kMouth + 1];      // B: mouth
  const float eye_distance = std::hypot(lex - rex, ley - rey);
  const float eye_mouth = std::hypot(bx - ex, by - ey);
  FaceCrop crop;
  crop.center_x = kp[2 * kNoseTip];
  crop.center_y = kp[2 * kNoseTip + 1];
  crop.side = std::max(std::max(eye_distance, eye_mouth) * config.factor * config.margin, 1.f);
  // "down" runs from the eyes to the mouth; the crop's vertical axis follows it. For an upright face this is
  // angle = atan((B.x - E.x) / (B.y - E.y)) of the original pipeline; vectors also cope with B.y == E.y.
  float dx = bx - ex, dy = by - ey;
  const float len = std::hypot(dx, dy);
  if (len < 1e-3f) {
    dx = 0.f;
    dy = 1.f;
  } else {
    dx /= len;
    dy /= len;
  }
  crop.angle = std::atan2(dx, dy);
  const float rx = dy, ry = -dx;  // "right" axis of the crop
  const float k = crop.side / (float)out;
  RenderSpec& s = crop.spec;
  s.out_w = out;
  s.out_h = out;
  s.mode = config.mode;
  s.whole_frame = false;
  // source = C + (u*k - side/2) * right + (v*k - side/2) * down, with (u, v) the output pixel centre.
  const float half = crop.side * 0.5f;
  s.affine = Affine{rx * k, dx * k, crop.center_x - half * (rx + dx), ry * k, dy * k, crop.center_y - half * (ry + dy)};
  s.layout = Layout::Planar;
  s.scale = 1.f;
  s.offset = 0.f;
  s.pad = 0.f;
  return crop;
}

}  // namespace mg

// Geometry shared by the face detector, the crops and the tracker. Coordinates are frame pixels,
// x to the right, y down.

/** [x1, y1, x2, y2], x2 > x1, y2 > y1. */
export type Box = [number, number, number, number];

export interface Point {
  x: number;
  y: number;
}

/** BlazeFace's six keypoints, in its order (the subject's right eye is on the image's left for a frontal face). */
export interface FaceKeypoints {
  rightEye: Point;
  leftEye: Point;
  noseTip: Point;
  mouth: Point;
  rightEar: Point;
  leftEar: Point;
}

/** One face found by the detector in one frame. */
export interface Detection {
  box: Box;
  keypoints: FaceKeypoints;
  /** Detector confidence in [0,1]. */
  score: number;
}

/** A detection or carried-over face with the id the tracker gave it. */
export interface TrackedFace extends Detection {
  /** Stable across frames while the tracker follows the face. */
  id: number;
  /** True when this frame ran the detector and the face was (re)detected; false when carried over. */
  detected: boolean;
}

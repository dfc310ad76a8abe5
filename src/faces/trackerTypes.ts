// Options and per-frame plans of the FaceTracker. Pure data: the tracker decides, the native pipeline executes.
import type { Box, TrackedFace } from "./faceTypes.js";

export interface FaceTrackerOptions {
  /** k: run a full-frame detection every k frames (default 5); 1 = every frame. Positive integer. */
  detectEvery?: number;
  /**
   * Shifts that schedule: full detections on the frames f with (f + detectOffset) % detectEvery === 0 (default 0).
   * Streams given different offsets detect on different frames instead of all at once (the server gives each new
   * participant the next one). Integer >= 0. The first frame, and any frame without a visible track, detects anyway.
   */
  detectOffset?: number;
  /** Minimum IoU to associate a detection with a track (default 0.3), in (0, 1]. */
  iouThreshold?: number;
  /**
   * Consecutive detection frames ("full" or "regions") a track may go unmatched: it is dropped on the
   * maxMissed-th (default 1: dropped on its first miss). Until then it is not reported but is kept for
   * association, so a face the detector loses for a frame or two gets its id back. Positive integer.
   */
  maxMissed?: number;
  /** Margin around a track's box for region searches, as a fraction of the box's width/height on each side (default 0.2). */
  regionMargin?: number;
  /** On non-full frames, detect only in regions around tracks instead of carrying over blindly (default false). */
  regionSearch?: boolean;
  /**
   * Keep the detector off the frames' path while faces are tracked (default false): a frame due for a detection
   * ("full" or "regions") is planned "background" instead. Its tracked faces are scored at once, the detector runs
   * on the same frame beside them, and its detections are handed to land() when they arrive: they move the tracks
   * (and start new ones) from the next plan() on. One such detection at a time; one that falls due while another
   * is out runs right after it lands. A frame without a reported face, and the first frame after a size change,
   * still waits for its detector ("full").
   */
  backgroundDetection?: boolean;
}

/** What one frame needs from the native pipeline. */
export type FramePlan =
  /** Run the detector on the whole frame. */
  | { detect: "full" }
  /**
   * Run it only in these regions (frame pixels, clamped to the frame, overlapping ones merged; not rounded).
   * `carried` are the faces the last frame reported, `detected: false`, as a fallback.
   */
  | { detect: "regions"; regions: Box[]; carried: TrackedFace[] }
  /** No detector: crop and score these carried-over faces (last geometry, `detected: false`). */
  | { detect: "none"; carried: TrackedFace[] }
  /**
   * Crop and score these carried-over faces as for "none", and run the detector on this frame beside them: on the
   * whole frame, or only in `regions` when set. Give its detections to FaceTracker.land() (or abandon() when it
   * failed) before a later plan() is to use them.
   */
  | { detect: "background"; regions?: Box[]; carried: TrackedFace[] };

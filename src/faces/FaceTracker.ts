// Keeps face ids stable across the frames of one stream and decides, per frame, whether the detector runs
// (on the whole frame, only around the tracked faces, or not at all). Pure logic: no pixels, no I/O.
import type { Box, Detection, FaceKeypoints, Point, TrackedFace } from "./faceTypes.js";
import type { FaceTrackerOptions, FramePlan } from "./trackerTypes.js";

export type { FaceTrackerOptions, FramePlan } from "./trackerTypes.js";

interface Track {
  face: TrackedFace;
  /** Consecutive detection frames without a match; 0 while the face is reported. */
  missed: number;
}

interface PendingPlan {
  plan: FramePlan;
  detect: FramePlan["detect"];
}

/** FaceTrackerOptions' defaults (the server's detectEvery and regionSearch settings start from these). */
export const DEFAULT_TRACKER_OPTIONS: Readonly<Required<FaceTrackerOptions>> = Object.freeze({
  detectEvery: 5,
  detectOffset: 0,
  iouThreshold: 0.3,
  maxMissed: 1,
  regionMargin: 0.2,
  regionSearch: false,
  backgroundDetection: false,
});

const KEYPOINTS: readonly (keyof FaceKeypoints)[] = ["rightEye", "leftEye", "noseTip", "mouth", "rightEar", "leftEar"];

export class FaceTracker {
  readonly #detectEvery: number;
  readonly #detectOffset: number;
  readonly #iouThreshold: number;
  readonly #maxMissed: number;
  readonly #regionMargin: number;
  readonly #regionSearch: boolean;
  readonly #backgroundDetection: boolean;

  /** Live tracks, reported or not, by id ascending. */
  #tracks: Track[] = [];
  /** Frames seen by update(). */
  #frame = 0;
  /** Never reset: ids are not reused within one tracker, even across reset(). */
  #nextId = 1;
  #pending: PendingPlan | null = null;
  /** Frame size of the last plan(), to notice resolution changes. */
  #size: { width: number; height: number } | null = null;
  /** The "background" plan whose detections are still out (land() or abandon() ends it). */
  #background: FramePlan | null = null;
  /** A full detection fell due while a background one was out: the next plan after it lands detects. */
  #overdue = false;
  /** Every "background" plan issued, to tell a late landing (after reset or a size change) from a foreign plan. */
  readonly #issued = new WeakSet<FramePlan>();

  constructor(options: FaceTrackerOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("mesoguard: FaceTracker options must be an object");
    }
    const d = DEFAULT_TRACKER_OPTIONS;
    this.#detectEvery = checkInteger(options.detectEvery ?? d.detectEvery, "detectEvery", 1);
    this.#detectOffset = checkInteger(options.detectOffset ?? d.detectOffset, "detectOffset", 0);
    this.#maxMissed = checkInteger(options.maxMissed ?? d.maxMissed, "maxMissed", 1);
    const iou = options.iouThreshold ?? d.iouThreshold;
    if (typeof iou !== "number" || !(iou > 0 && iou <= 1)) {
      throw new RangeError(`mesoguard: FaceTracker iouThreshold must be a number in (0, 1], got ${String(iou)}`);
    }
    this.#iouThreshold = iou;
    const margin = options.regionMargin ?? d.regionMargin;
    if (typeof margin !== "number" || !Number.isFinite(margin) || margin < 0) {
      throw new RangeError(`mesoguard: FaceTracker regionMargin must be a finite number >= 0, got ${String(margin)}`);
    }
    this.#regionMargin = margin;
    const regionSearch = options.regionSearch ?? d.regionSearch;
    if (typeof regionSearch !== "boolean") {
      throw new TypeError(`mesoguard: FaceTracker regionSearch must be a boolean, got ${String(regionSearch)}`);
    }
    this.#regionSearch = regionSearch;
    const background = options.backgroundDetection ?? d.backgroundDetection;
    if (typeof background !== "boolean") {
      throw new TypeError(`mesoguard: FaceTracker backgroundDetection must be a boolean, got ${String(background)}`);
    }
    this.#backgroundDetection = background;
  }

  /**
   * What the next frame needs; width/height are the frame size (regions are clamped to it). Calling it again
   * before update() replaces the previous plan. When the frame size changes, the tracks are rescaled to the new
   * size and the frame is planned "full".
   */
  plan(width: number, height: number): FramePlan {
    checkDimension(width, "width");
    checkDimension(height, "height");
    let resized = false;
    if (this.#size && (this.#size.width !== width || this.#size.height !== height)) {
      const sx = width / this.#size.width;
      const sy = height / this.#size.height;
      for (const t of this.#tracks) t.face = scaleFace(t.face, sx, sy);
      resized = this.#tracks.length > 0;
    }
    this.#size = { width, height };

    const visible = this.#tracks.filter((t) => t.missed === 0);
    const due = (this.#frame + this.#detectOffset) % this.#detectEvery === 0;
    let plan: FramePlan;
    if (visible.length === 0 || resized) {
      // Nothing to score without the detector: this frame waits for it. A background detection still out was
      // planned for other tracks (or another size): its late landing is ignored.
      plan = { detect: "full" };
      this.#background = null;
      this.#overdue = false;
    } else if (!this.#backgroundDetection) {
      plan = due ? { detect: "full" } : this.#between(visible, width, height);
    } else if (this.#background) {
      this.#overdue ||= due;
      plan = { detect: "none", carried: visible.map((t) => copyFace(t.face, false)) };
    } else if (due || this.#overdue) {
      plan = { detect: "background", carried: visible.map((t) => copyFace(t.face, false)) };
      this.#overdue = false;
    } else {
      const between = this.#between(visible, width, height);
      plan = between.detect === "regions" ? { detect: "background", regions: between.regions, carried: between.carried } : between;
    }
    this.#pending = { plan, detect: plan.detect };
    return plan;
  }

  /** A frame between full detections: carry the visible faces, searching regions around the tracks if asked. */
  #between(visible: Track[], width: number, height: number): FramePlan {
    const carried = visible.map((t) => copyFace(t.face, false));
    if (!this.#regionSearch) return { detect: "none", carried };
    // Every live track gets a region, unreported ones too: the region frame counts as a detection frame for them.
    const regions: Box[] = [];
    for (const t of this.#tracks) {
      const r = this.#region(t.face.box, width, height);
      if (r) regions.push(r);
    }
    return { detect: "regions", regions: mergeOverlapping(regions), carried };
  }

  /**
   * Feed the frame's result: the detections when the plan detected ("full" or "regions"; an empty array when
   * nothing was found), or nothing for "none". Returns the frame's tracked faces, by id ascending.
   */
  update(plan: FramePlan, detections?: Detection[]): TrackedFace[] {
    const pending = this.#pending;
    if (!pending || plan !== pending.plan) {
      throw new Error(
        pending
          ? "mesoguard: FaceTracker.update() got a plan that is not the last one plan() returned"
          : "mesoguard: FaceTracker.update() called without a pending plan: call plan() before each update(), a plan is used once",
      );
    }
    const carries = pending.detect === "none" || pending.detect === "background";
    if (carries) {
      if (detections !== undefined && !(Array.isArray(detections) && detections.length === 0)) {
        throw new Error(
          pending.detect === "none"
            ? 'mesoguard: FaceTracker.update(): the plan was "none" (no detector run), pass no detections'
            : 'mesoguard: FaceTracker.update(): the plan was "background": pass no detections here, give them to land()',
        );
      }
    } else {
      if (!Array.isArray(detections)) {
        throw new TypeError(
          `mesoguard: FaceTracker.update(): the plan was "${pending.detect}", pass the detector's detections (an array, empty when none)`,
        );
      }
      detections.forEach((det, i) => checkDetection(det, i));
    }
    this.#pending = null;
    this.#frame++;
    if (pending.detect === "background") {
      this.#background = plan;
      this.#issued.add(plan);
    }

    if (carries) {
      for (const t of this.#tracks) if (t.missed === 0) t.face = copyFace(t.face, false);
    } else {
      this.#associate(detections!);
    }
    return this.#reported();
  }

  /**
   * The detections of a "background" plan's frame: associated with the tracks as a "full" (or "regions") frame's
   * would have been, they take effect from the next plan(). Returns false, changing nothing, when they arrive too late
   * to apply (a reset(), a size change or a frame without faces came in between).
   */
  land(plan: FramePlan, detections: Detection[]): boolean {
    if (!this.#issued.has(plan)) {
      throw new Error('mesoguard: FaceTracker.land() got a plan that is not a "background" plan this tracker issued and update() took');
    }
    if (!Array.isArray(detections)) {
      throw new TypeError("mesoguard: FaceTracker.land(): pass the detector's detections (an array, empty when none)");
    }
    detections.forEach((det, i) => checkDetection(det, i, "land"));
    if (plan !== this.#background) return false;
    this.#background = null;
    this.#associate(detections);
    return true;
  }

  /** A "background" plan's detector failed: nothing changes, and the next detection runs when the schedule says. */
  abandon(plan: FramePlan): void {
    if (!this.#issued.has(plan)) {
      throw new Error('mesoguard: FaceTracker.abandon() got a plan that is not a "background" plan this tracker issued and update() took');
    }
    if (plan === this.#background) this.#background = null;
  }

  /**
   * Faces currently tracked: those the last frame reported, as it reported them. Tracks kept for association
   * after missing recent detections are left out.
   */
  get tracks(): readonly TrackedFace[] {
    return this.#reported();
  }

  #reported(): TrackedFace[] {
    return this.#tracks.filter((t) => t.missed === 0).map((t) => copyFace(t.face, t.face.detected));
  }

  /** Forgets every track and restarts the detection schedule. Ids keep increasing: none is ever reused. */
  reset(): void {
    this.#tracks = [];
    this.#frame = 0;
    this.#pending = null;
    this.#size = null;
    this.#background = null;
    this.#overdue = false;
  }

  #region(box: Box, width: number, height: number): Box | null {
    const mx = (box[2] - box[0]) * this.#regionMargin;
    const my = (box[3] - box[1]) * this.#regionMargin;
    const r: Box = [
      Math.max(0, box[0] - mx),
      Math.max(0, box[1] - my),
      Math.min(width, box[2] + mx),
      Math.min(height, box[3] + my),
    ];
    return r[2] > r[0] && r[3] > r[1] ? r : null; // a track wholly outside the frame has nothing to search
  }

  #associate(detections: readonly Detection[]): void {
    const tracks = this.#tracks;
    const trackTaken = new Array<boolean>(tracks.length).fill(false);
    const detTaken = new Array<boolean>(detections.length).fill(false);
    const match = new Map<number, number>(); // track index -> detection index

    // 1. Greedy by descending IoU; ties go to the older track, then the earlier detection.
    const pairs: { t: number; d: number; v: number }[] = [];
    tracks.forEach((track, t) => {
      detections.forEach((det, d) => {
        const v = iou(track.face.box, det.box);
        if (v >= this.#iouThreshold) pairs.push({ t, d, v });
      });
    });
    pairs.sort((a, b) => b.v - a.v || a.t - b.t || a.d - b.d);
    for (const p of pairs) {
      if (trackTaken[p.t] || detTaken[p.d]) continue;
      trackTaken[p.t] = detTaken[p.d] = true;
      match.set(p.t, p.d);
    }

    // 2. Fast motion: a leftover detection whose nose tip lies in a leftover track's box, nearest nose first.
    const fallback: { t: number; d: number; v: number }[] = [];
    tracks.forEach((track, t) => {
      if (trackTaken[t]) return;
      detections.forEach((det, d) => {
        if (detTaken[d] || !contains(track.face.box, det.keypoints.noseTip)) return;
        fallback.push({ t, d, v: distance(track.face.keypoints.noseTip, det.keypoints.noseTip) });
      });
    });
    fallback.sort((a, b) => a.v - b.v || a.t - b.t || a.d - b.d);
    for (const p of fallback) {
      if (trackTaken[p.t] || detTaken[p.d]) continue;
      trackTaken[p.t] = detTaken[p.d] = true;
      match.set(p.t, p.d);
    }

    // 3. Update matched tracks, age the others, start tracks for the leftover detections.
    const next: Track[] = [];
    tracks.forEach((track, t) => {
      const d = match.get(t);
      if (d !== undefined) {
        next.push({ face: { ...copyDetection(detections[d]!), id: track.face.id, detected: true }, missed: 0 });
      } else if (track.missed + 1 < this.#maxMissed) {
        next.push({ face: track.face, missed: track.missed + 1 });
      }
    });
    detections.forEach((det, d) => {
      if (!detTaken[d]) next.push({ face: { ...copyDetection(det), id: this.#nextId++, detected: true }, missed: 0 });
    });
    this.#tracks = next; // already by id ascending: old tracks keep their order, new ids are larger
  }
}

function checkInteger(value: unknown, name: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`mesoguard: FaceTracker ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

function checkDimension(value: unknown, name: string): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`mesoguard: FaceTracker.plan(): frame ${name} must be a positive integer, got ${String(value)}`);
  }
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function checkDetection(det: Detection, i: number, method: "update" | "land" = "update"): void {
  const where = `mesoguard: FaceTracker.${method}(): detection ${i}`;
  if (!det || typeof det !== "object") throw new TypeError(`${where} is not an object`);
  const b = det.box;
  if (!Array.isArray(b) || b.length !== 4 || !b.every(isFiniteNumber) || !(b[2] > b[0] && b[3] > b[1])) {
    throw new RangeError(`${where}: box must be [x1, y1, x2, y2] of finite numbers with x2 > x1 and y2 > y1`);
  }
  if (!isFiniteNumber(det.score) || det.score < 0 || det.score > 1) {
    throw new RangeError(`${where}: score must be a number in [0, 1], got ${String(det.score)}`);
  }
  if (!det.keypoints || typeof det.keypoints !== "object") throw new TypeError(`${where}: keypoints are missing`);
  for (const k of KEYPOINTS) {
    const p = det.keypoints[k];
    if (!p || !isFiniteNumber(p.x) || !isFiniteNumber(p.y)) {
      throw new RangeError(`${where}: keypoint ${k} must be a point with finite x and y`);
    }
  }
}

function copyDetection(det: Detection): Detection {
  const kp = det.keypoints;
  return {
    box: [det.box[0], det.box[1], det.box[2], det.box[3]],
    keypoints: {
      rightEye: { x: kp.rightEye.x, y: kp.rightEye.y },
      leftEye: { x: kp.leftEye.x, y: kp.leftEye.y },
      noseTip: { x: kp.noseTip.x, y: kp.noseTip.y },
      mouth: { x: kp.mouth.x, y: kp.mouth.y },
      rightEar: { x: kp.rightEar.x, y: kp.rightEar.y },
      leftEar: { x: kp.leftEar.x, y: kp.leftEar.y },
    },
    score: det.score,
  };
}

function copyFace(face: TrackedFace, detected: boolean): TrackedFace {
  return { ...copyDetection(face), id: face.id, detected };
}

function scaleFace(face: TrackedFace, sx: number, sy: number): TrackedFace {
  const p = (q: Point): Point => ({ x: q.x * sx, y: q.y * sy });
  const kp = face.keypoints;
  return {
    box: [face.box[0] * sx, face.box[1] * sy, face.box[2] * sx, face.box[3] * sy],
    keypoints: {
      rightEye: p(kp.rightEye),
      leftEye: p(kp.leftEye),
      noseTip: p(kp.noseTip),
      mouth: p(kp.mouth),
      rightEar: p(kp.rightEar),
      leftEar: p(kp.leftEar),
    },
    score: face.score,
    id: face.id,
    detected: face.detected,
  };
}

function iou(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

function contains(box: Box, p: Point): boolean {
  return p.x >= box[0] && p.x <= box[2] && p.y >= box[1] && p.y <= box[3];
}

function distance(a: Point, b: Point): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

/** Replaces overlapping regions by their bounding box until none overlap; keeps the order of first appearance. */
function mergeOverlapping(regions: Box[]): Box[] {
  const out = regions.map((r): Box => [r[0], r[1], r[2], r[3]]);
  for (let merged = true; merged; ) {
    merged = false;
    outer: for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        const a = out[i]!;
        const b = out[j]!;
        if (Math.min(a[2], b[2]) > Math.max(a[0], b[0]) && Math.min(a[3], b[3]) > Math.max(a[1], b[1])) {
          out[i] = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
          out.splice(j, 1);
          merged = true;
          break outer;
        }
      }
    }
  }
  return out;
}

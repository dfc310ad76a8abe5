// One video stream's faces over time: the tracker decides per frame whether the detector runs (whole frame,
// around known faces, beside the scoring of the tracked faces, or not at all); the scorer crops and scores every
// face; ids stay stable across frames.
import { FaceTracker, type FaceTrackerOptions, type FramePlan } from "../faces/FaceTracker.js";
import { frameSize } from "../faces/frameSize.js";
import type { MesoNetScorer } from "./MesoNetScorer.js";
import type { FrameAnalysis, FrameDetections, FrameInput, TrackedFaceScore } from "./scoringTypes.js";

/** A detection that ran beside an earlier frame's scoring (plan "background") and was folded into the tracks. */
export interface LandedDetection {
  /** How many frames after the one it ran on it was folded in (1: right before the next frame). */
  framesLate: number;
  /** False when it came too late to apply (a size change or a frame without faces in between) or failed. */
  applied: boolean;
  detectorRuns: number;
  facesCut: number;
  timings: FrameDetections["timings"];
  /** Why it failed (e.g. ERR_JPEG_DECODE for damage below the tracked faces' rows): the tracks stay as they were. */
  error?: { code: string; message: string };
}

interface BackgroundRun {
  plan: FramePlan;
  /** Frames analyzed when it started. */
  startedAt: number;
  outcome: { detections: FrameDetections } | { error: NodeJS.ErrnoException } | null;
}

export interface StreamFrameResult {
  width: number;
  height: number;
  /** Every face of the frame, by id. */
  faces: TrackedFaceScore[];
  /** What the detector did on this frame. */
  detect: FramePlan["detect"];
  /** Detector runs this frame waited for (0 for "background": those are counted when they land). */
  detectorRuns: number;
  /** Faces the detector found beyond maxFaces (not scored): this frame's detection's, or the one landed before it. */
  facesCut: number;
  /** The background detection folded into the tracks right before this frame, if one was. */
  landed?: LandedDetection;
  /** The addon's per-stage times for this frame. */
  timings: FrameAnalysis["timings"];
}

function frameError(message: string): Error {
  return Object.assign(new Error(message), { code: "ERR_INVALID_INPUT" });
}

export class StreamAnalyzer {
  readonly #scorer: MesoNetScorer;
  readonly #tracker: FaceTracker;
  readonly #returnCrops: boolean;
  #busy = false;
  #frames = 0;
  #background: BackgroundRun | null = null;

  constructor(scorer: MesoNetScorer, options: FaceTrackerOptions & { returnCrops?: boolean } = {}) {
    if (!scorer.detectorName) throw new Error("mesoguard: StreamAnalyzer needs a scorer with a face detector");
    this.#scorer = scorer;
    const { returnCrops, ...trackerOptions } = options;
    this.#tracker = new FaceTracker({ maxMissed: 2, ...trackerOptions });
    this.#returnCrops = returnCrops ?? false;
  }

  /**
   * Analyzes the stream's next frame. One frame at a time: the tracker needs each result before the next plan.
   * `returnCrops` overrides the constructor's for this frame (the server asks for crops only when it keeps one).
   */
  async analyze(frame: FrameInput, options: { returnCrops?: boolean } = {}): Promise<StreamFrameResult> {
    const returnCrops = options.returnCrops ?? this.#returnCrops;
    if (this.#busy) throw new Error("mesoguard: StreamAnalyzer.analyze() called while the previous frame is in flight");
    const size = frameSize(frame);
    if (!size) throw frameError(`mesoguard: the ${frame.kind} frame has no readable size (corrupt or truncated header)`);
    this.#busy = true;
    try {
      // Folded in between frames, never while one is in flight: a frame's faces are the tracks of its own plan.
      const landed = this.#land();
      const plan = this.#tracker.plan(size.width, size.height);
      this.#frames++;
      if (plan.detect === "none" || plan.detect === "background") {
        const background = plan.detect === "background" ? this.#startBackground(frame, plan) : null;
        const result = await this.#scorer.analyze(frame, {
          detect: false,
          faces: plan.carried,
          returnCrops,
        });
        const tracked = this.#tracker.update(plan);
        // Kept only once the tracker took the frame: a frame that failed to score leaves its detection unused.
        this.#background = background ?? this.#background;
        // The scorer returns the carried faces in the order given; the tracker reports them by id, the same set.
        const byId = new Map(plan.carried.map((face, i) => [face.id, result.faces[i]!]));
        return {
          width: result.width,
          height: result.height,
          faces: tracked.map((face) => ({ ...byId.get(face.id)!, ...face })),
          detect: plan.detect,
          detectorRuns: 0,
          facesCut: landed?.facesCut ?? 0,
          ...(landed && { landed }),
          timings: result.timings,
        };
      }
      const result = await this.#scorer.analyze(frame, {
        detect: true,
        regions: plan.detect === "regions" ? plan.regions : undefined,
        returnCrops,
      });
      const tracked = this.#tracker.update(plan, result.faces);
      // A tracked face detected in this frame carries that detection's box exactly: join the scores by box.
      const byBox = new Map(result.faces.map((face) => [face.box.join(","), face]));
      return {
        width: result.width,
        height: result.height,
        faces: tracked.map((face) => ({ ...byBox.get(face.box.join(","))!, ...face })),
        detect: plan.detect,
        detectorRuns: result.detectorRuns,
        facesCut: result.facesCut,
        ...(landed && { landed }),
        timings: result.timings,
      };
    } finally {
      this.#busy = false;
    }
  }

  /** Runs the detector on a "background" frame beside its scoring; its outcome waits until a later analyze() folds it in. */
  #startBackground(frame: FrameInput, plan: FramePlan & { detect: "background" }): BackgroundRun {
    const run: BackgroundRun = { plan, startedAt: this.#frames, outcome: null };
    void this.#scorer.detect(frame, { regions: plan.regions }).then(
      (detections) => {
        run.outcome = { detections };
      },
      (error: NodeJS.ErrnoException) => {
        run.outcome = { error };
      },
    );
    return run;
  }

  /** Folds a finished background detection into the tracker; undefined when none has finished. */
  #land(): LandedDetection | undefined {
    const run = this.#background;
    if (!run?.outcome) return undefined;
    this.#background = null;
    const framesLate = this.#frames - run.startedAt + 1;
    if ("error" in run.outcome) {
      const { error } = run.outcome;
      this.#tracker.abandon(run.plan);
      return {
        framesLate,
        applied: false,
        detectorRuns: 0,
        facesCut: 0,
        timings: { decodeMs: 0, detectMs: 0 },
        error: { code: error.code ?? "ERR_DETECTOR", message: error.message },
      };
    }
    const { detections } = run.outcome;
    const applied = this.#tracker.land(run.plan, detections.faces);
    return { framesLate, applied, detectorRuns: detections.detectorRuns, facesCut: detections.facesCut, timings: detections.timings };
  }

  /** Forget the faces (e.g. the participant switched cameras); a background detection still out is dropped. */
  reset(): void {
    this.#tracker.reset();
    this.#background = null;
  }
}

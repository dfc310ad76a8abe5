// One video stream's faces over time: the tracker decides per frame whether the detector runs (whole frame,
// around known faces, or not at all); the scorer crops and scores every face; ids stay stable across frames.
import { FaceTracker, type FaceTrackerOptions, type FramePlan } from "../faces/FaceTracker.js";
import { frameSize } from "../faces/frameSize.js";
import type { MesoNetScorer } from "./MesoNetScorer.js";
import type { FrameAnalysis, FrameInput, TrackedFaceScore } from "./scoringTypes.js";

export interface StreamFrameResult {
  width: number;
  height: number;
  /** Every face of the frame, by id. */
  faces: TrackedFaceScore[];
  /** What the detector did on this frame. */
  detect: FramePlan["detect"];
  detectorRuns: number;
  /** Faces the detector found beyond maxFaces (not scored). */
  facesCut: number;
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
      const plan = this.#tracker.plan(size.width, size.height);
      if (plan.detect === "none") {
        const result = await this.#scorer.analyze(frame, {
          detect: false,
          faces: plan.carried,
          returnCrops,
        });
        const tracked = this.#tracker.update(plan);
        // The scorer returns the carried faces in the order given; the tracker reports them by id, the same set.
        const byId = new Map(plan.carried.map((face, i) => [face.id, result.faces[i]!]));
        return {
          width: result.width,
          height: result.height,
          faces: tracked.map((face) => ({ ...byId.get(face.id)!, ...face })),
          detect: plan.detect,
          detectorRuns: 0,
          facesCut: 0,
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
        timings: result.timings,
      };
    } finally {
      this.#busy = false;
    }
  }

  /** Forget the faces (e.g. the participant switched cameras). */
  reset(): void {
    this.#tracker.reset();
  }
}

// Public types of MesoNet scoring (the typed facade over the native Scorer).
import type { DetectorName } from "../faces/detectorModels.js";
import type { Detection, TrackedFace } from "../faces/faceTypes.js";
import type { ModelEntry } from "../models/manifest.js";
import type {
  FrameInput,
  NativeAnalyzeResult,
  NativeScorerOptions,
  NativeScorerInfo,
  NativeScorerStats,
  ResizeMode,
} from "../native/addonTypes.js";

export type { FrameInput, ResizeMode };

/**
 * The native scorer's session and queue options (documented in addonTypes.ts: provider, graphOptimization, deviceId,
 * intraOpThreads, cacheDir, fp16, maxBatch, maxWaitMs, prepThreads, maxPending, preprocess, deviceBatches), plus the facade's own.
 * Their defaults and ranges: SCORER_DEFAULTS and SCORER_LIMITS (scorerOptions.ts); graphOptimization defaults
 * per architecture (DEFAULT_GRAPH_OPTIMIZATION).
 */
export interface MesoNetScorerOptions extends Partial<Omit<NativeScorerOptions, "modelPath" | "detector" | "crop">> {
  /**
   * Model name: meso4-df (default), meso4-f2f, mesoinception4-df, mesoinception4-f2f or a user model; "a,b" scores
   * every face with each model and averages their fake scores.
   */
  model?: string;
  /** An .onnx file to load instead of models/generated/<model>.onnx (must follow the same contract). */
  modelPath?: string;
  /** Resize to 256x256: nearest (default, exactly as Keras load_img), bilinear or area. */
  resize?: ResizeMode;
  /** Load this addon file instead of the default build. */
  addonPath?: string;
  /** Face detector for analyze(): blazeface-back (default, finds small faces too), blazeface-front, or false. */
  detector?: DetectorName | false;
  /** Minimum detector confidence. */
  detectorMinScore?: number;
  /** Weighted-NMS overlap threshold. */
  detectorNmsIou?: number;
  /** Most faces scored per frame, most confident first. */
  maxFaces?: number;
  /** The MesoNet crop around a face (defaults: a user model's manifest crop, else the original pipeline's). */
  crop?: { factor?: number; margin?: number; resize?: ResizeMode };
}

/** Where the crop that MesoNet scored lies in the frame. */
export interface CropGeometry {
  center: [number, number];
  /** Side of the square crop, frame pixels. */
  side: number;
  /** Rotation (radians) that made the eyes-to-mouth line vertical. */
  angle: number;
  /** The 256x256 crop as RGB bytes, when asked for. */
  rgb?: Buffer;
}

/** One face of a frame with MesoNet's verdict on its crop. */
export interface FaceScore extends Detection {
  real: number;
  fake: number;
  logit: number;
  /** With several models: each model's fake score (`fake` is their mean). */
  models?: Record<string, number>;
  crop: CropGeometry;
}

export interface TrackedFaceScore extends FaceScore, TrackedFace {}

export interface FrameAnalysis {
  width: number;
  height: number;
  faces: FaceScore[];
  detectorRuns: number;
  /** Faces the detector found beyond maxFaces: not cropped, not scored. */
  facesCut: number;
  timings: NativeAnalyzeResult["timings"];
}

/** A frame's faces as the detector found them, without crops or scores (MesoNetScorer.detect). */
export interface FrameDetections {
  width: number;
  height: number;
  /** At most maxFaces, by detector score descending. */
  faces: Detection[];
  detectorRuns: number;
  /** Faces the detector found beyond maxFaces. */
  facesCut: number;
  /** The frame's decode and the detector (its letterboxes included). */
  timings: { decodeMs: number; detectMs: number };
}

export interface DetectOptions {
  /** Run it only in these regions (frame pixels), each letterboxed on its own. */
  regions?: Array<[number, number, number, number]>;
  /** The stream this frame belongs to (default: the scorer view's, see MesoNetScorer.forGroup). */
  group?: string;
}

export interface AnalyzeOptions {
  /** Run the detector (default true). */
  detect?: boolean;
  /** Run it only in these regions (frame pixels), each letterboxed on its own. */
  regions?: Array<[number, number, number, number]>;
  /** With detect: false, the faces to crop and score (e.g. carried over by a tracker). */
  faces?: Detection[];
  returnCrops?: boolean;
  /** The stream this frame belongs to (default: the scorer view's, see MesoNetScorer.forGroup). */
  group?: string;
}

/** MesoNet's verdict on one face crop. */
export interface MesoNetScore {
  /** The model's sigmoid output, P(REAL). */
  real: number;
  /** 1 - real: near 1 means the model thinks the face is a deepfake. */
  fake: number;
  /** The pre-sigmoid value (real = sigmoid(logit)). */
  logit: number;
  /** With several models: each model's fake score (`fake` is their mean). */
  models?: Record<string, number>;
  model: string;
  timings: {
    preprocessMs: number;
    waitMs: number;
    inferenceMs: number;
    batchSize: number;
    preprocessDevice: "cpu" | "cuda";
  };
}

/** The model(s) a scorer scores with. */
export interface ScorerModel {
  /** The model name, or the names joined by "," for an ensemble. */
  name: string;
  entries: ModelEntry[];
}

export interface MesoNetScorerInfo extends NativeScorerInfo {
  model: string;
  detectorName: DetectorName | null;
  architecture: string;
  resize: ResizeMode;
}

export type MesoNetScorerStats = NativeScorerStats;

/**
 * One frame of a participant's video, from any source (a WebSocket message, a decoded RTP picture): the scorer's
 * input with the source's sequence number and capture time (ms since epoch).
 */
export interface StreamFrame {
  seq: number;
  capturedAt: number;
  input: FrameInput;
}

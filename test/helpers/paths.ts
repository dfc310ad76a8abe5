// Locations the native tests use: the two addon builds, the generated models and the shared data
// (../shared, read-only: the tests read it in place and never copy it into the repository).
import { readFileSync } from "node:fs";
import path from "node:path";

import { packageRoot } from "../../src/models/paths.js";

export const ROOT = packageRoot();
export const SHARED = path.resolve(ROOT, "../shared");
export const MESONET = path.join(SHARED, "mesonet");
export const REFERENCE_DIR = path.join(MESONET, "reference");
export const TEST_IMAGES_DIR = path.join(MESONET, "test_images");

/**
 * The cmake-js build (CUDA kernels compiled in where nvcc was found); MESOGUARD_TEST_CMAKE_ADDON replaces it
 * (npm run test:sanitize points it at the ASan/UBSan build, fuzz/sanitize.ts).
 */
export const CMAKE_ADDON = process.env.MESOGUARD_TEST_CMAKE_ADDON ?? path.join(ROOT, "build-cmake", "Release", "mesoguard.node");
/** The node-gyp build (CPU only). */
export const GYP_ADDON = path.join(ROOT, "build", "Release", "mesoguard.node");

/** Per-test timeout: the CI machine may have only 2 cores. */
export const TEST_TIMEOUT = 60_000;

/** MESOGUARD_EXPECT_GPU=1 says "this machine has a working CUDA device": GPU assertions flip on it. */
export const EXPECT_GPU = process.env.MESOGUARD_EXPECT_GPU === "1";

export const MODEL_NAMES = ["meso4-df", "meso4-f2f", "mesoinception4-df", "mesoinception4-f2f"] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** The official weight file each generated model was converted from (keys of expected_scores.json). */
export const WEIGHTS_FILE: Record<ModelName, string> = {
  "meso4-df": "Meso4_DF.h5",
  "meso4-f2f": "Meso4_F2F.h5",
  "mesoinception4-df": "MesoInception_DF.h5",
  "mesoinception4-f2f": "MesoInception_F2F.h5",
};

export function modelPath(name: ModelName): string {
  return path.join(ROOT, "models", "generated", `${name}.onnx`);
}

/** The two exact 256x256 RGB reference inputs, and the JPEG crop each one was made from. */
export const REFERENCE_IMAGES = [
  { png: "df_df00204.png", jpeg: "df/df00204.jpg", label: "df" },
  { png: "real_real00240.png", jpeg: "real/real00240.jpg", label: "real" },
] as const;

export function referencePng(name: string): string {
  return path.join(REFERENCE_DIR, name);
}

export interface ExpectedScores {
  scores: Record<string, Record<string, number>>;
  logits: Record<string, Record<string, number>>;
}

export function loadExpectedScores(): ExpectedScores {
  return JSON.parse(readFileSync(path.join(REFERENCE_DIR, "expected_scores.json"), "utf8")) as ExpectedScores;
}

/** The four shared face crops: two deepfakes, two real faces (various sizes, none 256x256 but one). */
export const TEST_JPEGS = [
  { file: "df/df00204.jpg", label: "df" },
  { file: "df/df01254.jpg", label: "df" },
  { file: "real/real00240.jpg", label: "real" },
  { file: "real/real00772.jpg", label: "real" },
] as const;

export function readTestJpeg(file: string): Buffer {
  return readFileSync(path.join(TEST_IMAGES_DIR, file));
}

// Typed access to models/manifest.json: which MesoNet weight files exist, where they come from,
// and their pinned sha256. The JSON is read at runtime from the package root (tsc does not copy it
// into dist/), so this works the same from source and from dist/src/models/manifest.js.
import { readFileSync } from "node:fs";
import path from "node:path";
import { modelsDir } from "./paths.js";
import { readUserModel, userModelNames, userModelsDir, type UserModelEntry } from "./userModels.js";

export type Architecture = "meso4" | "mesoinception4";

export interface ModelManifestEntry {
  /** Official MesoNet weights (set at load: the JSON does not say it); user models are kind "onnx". */
  kind: "mesonet";
  /** Model name used everywhere else (CLI, addon, generated/<name>.onnx). */
  name: string;
  /** True for the one model used when none is named. */
  default?: boolean;
  architecture: Architecture;
  /** Local file name of the Keras weights, e.g. "Meso4_DF.h5". */
  weightsFile: string;
  /** Raw download URL pinned to a commit of DariusAf/MesoNet. */
  sourceUrl: string;
  /** Lower-case hex sha256 of the .h5 file; every file used is checked against it. */
  sha256: string;
  license: string;
  trainedOn: "Deepfake" | "Face2Face";
  /** Set on an int8 variant (`<name>-int8`): the official model it was quantised from. */
  int8Of?: string;
}

export const DEFAULT_MODEL = "meso4-df";

const ARCHITECTURES: readonly string[] = ["meso4", "mesoinception4"];

/** Absolute path of manifest.json. */
export function manifestPath(): string {
  return path.join(modelsDir(), "manifest.json");
}

let cached: ModelManifestEntry[] | undefined;

/** Reads and validates models/manifest.json (cached after the first call). */
export function loadManifest(): ModelManifestEntry[] {
  if (cached) return cached;
  const file = manifestPath();
  const raw: unknown = JSON.parse(readFileSync(file, "utf8"));
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new Error(`${file}: expected a non-empty array of model entries`);
  }
  cached = raw.map((e, i) => validateEntry(e, `${file}[${i}]`));
  return cached;
}

function validateEntry(e: unknown, where: string): ModelManifestEntry {
  if (typeof e !== "object" || e === null) throw new Error(`${where}: not an object`);
  const o = e as Record<string, unknown>;
  for (const key of ["name", "architecture", "weightsFile", "sourceUrl", "sha256", "license", "trainedOn"]) {
    if (typeof o[key] !== "string" || o[key] === "") throw new Error(`${where}: missing string field "${key}"`);
  }
  if (!ARCHITECTURES.includes(o.architecture as string)) {
    throw new Error(`${where}: architecture "${String(o.architecture)}" is not one of ${ARCHITECTURES.join(", ")}`);
  }
  if (!/^[0-9a-f]{64}$/.test(o.sha256 as string)) throw new Error(`${where}: sha256 must be 64 lower-case hex digits`);
  return { ...(o as unknown as ModelManifestEntry), kind: "mesonet" };
}

/** An official model or a user model (src/models/userModels.ts). */
export type ModelEntry = ModelManifestEntry | UserModelEntry;

/** Names of the official models in manifest order. */
export function officialModelNames(): string[] {
  return loadManifest().map((e) => e.name);
}

/**
 * An int8 variant (`<official name>-int8`, models/quantize.ts) is offered only if, on the shared face crops and the
 * faces in the shared photos, every P(REAL) stays within this of its float32 model's and no verdict level changes
 * (test/int8.test.ts checks exactly this against OFFERED_INT8).
 */
export const INT8_MAX_REAL_ERROR = 0.02;

/** The int8 variants that met that criterion: usable by name beside the official models. */
const OFFERED_INT8: readonly string[] = ["meso4-df-int8"];

export function offeredInt8Variants(): string[] {
  return [...OFFERED_INT8];
}

/** An offered int8 variant's entry: its float32 model's, under its own name (generated/<name>.onnx). */
export function findInt8Variant(name: string): ModelManifestEntry | undefined {
  if (!OFFERED_INT8.includes(name)) return undefined;
  const of = name.slice(0, -"-int8".length);
  return { ...findOfficialModel(of), name, default: false, int8Of: of };
}

/** Names a user model may not take: the official models' and the offered int8 variants'. */
export function reservedModelNames(): string[] {
  return [...officialModelNames(), ...OFFERED_INT8];
}

/** Names of all models: the official ones in manifest order, the offered int8 variants, then the user models' (sorted). */
export function modelNames(): string[] {
  const reserved = reservedModelNames();
  return [...reserved, ...userModelNames().filter((n) => !reserved.includes(n))];
}

/** The official entry for `name`; throws an Error listing the official names when there is none. */
export function findOfficialModel(name: string = DEFAULT_MODEL): ModelManifestEntry {
  const entry = loadManifest().find((e) => e.name === name);
  if (!entry) throw new Error(`"${name}" is not an official model. Official models: ${officialModelNames().join(", ")}`);
  return entry;
}

/**
 * The entry for `name`: an official model, else a user model from the user model folder (its manifest checked;
 * an Error naming the file and field when it is wrong). Throws an Error listing the valid names when there is none.
 */
export function findModel(name: string = DEFAULT_MODEL): ModelEntry {
  const entry = loadManifest().find((e) => e.name === name) ?? findInt8Variant(name) ?? readUserModel(name, reservedModelNames());
  if (!entry) {
    throw new Error(
      `Unknown model "${name}". Valid model names: ${modelNames().join(", ")} (default: ${DEFAULT_MODEL}; ` +
        `user models are folders in ${userModelsDir()})`,
    );
  }
  return entry;
}

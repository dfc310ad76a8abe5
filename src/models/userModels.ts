// The user model folder (bring your own ONNX face classifier): where it is, what a model's manifest.json holds,
// and the one check of a manifest's fields. The check against the ONNX file itself (sha256, input and output
// names, shapes) lives with the adapter that reads that file (onnxAdapter.ts).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import { checkCropOptions } from "../scoring/scorerOptions.js";
import { packageRoot } from "./paths.js";

/** Model names: lower case, digits, ".", "_", "-", 1-64 characters, starting with a letter or digit. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const USER_MANIFEST_FILE = "manifest.json";
export const USER_MODEL_FILE = "model.onnx";
export const USER_MODEL_CARD_FILE = "MODEL_CARD.md";

export type InputLayout = "nchw" | "nhwc";
export type ChannelOrder = "rgb" | "bgr";
export type OutputMeaning = "p-real" | "p-fake" | "logit-real" | "logit-fake";

export const LAYOUTS: readonly InputLayout[] = ["nchw", "nhwc"];
export const CHANNEL_ORDERS: readonly ChannelOrder[] = ["rgb", "bgr"];
export const OUTPUT_MEANINGS: readonly OutputMeaning[] = ["p-real", "p-fake", "logit-real", "logit-fake"];
export const INPUT_SCALES: readonly number[] = [1, 255];

/** What the model's input tensor holds: ((pixel01 * scale) - mean) / std per channel, in `channels` order. */
export interface UserModelInput {
  name: string;
  width: number;
  height: number;
  layout: InputLayout;
  channels: ChannelOrder;
  scale: 1 | 255;
  /** Per channel, always listed as [r, g, b] whatever `channels` says. */
  mean: [number, number, number];
  std: [number, number, number];
}

export interface UserModelOutput {
  /** The graph output that holds the score. */
  name: string;
  /** Which element of each item's output (flattened) is the score. */
  index: number;
  meaning: OutputMeaning;
}

/** The manifest.json of one user model (kind "onnx"). */
export interface UserModelManifest {
  name: string;
  kind: "onnx";
  /** Always "model.onnx", beside manifest.json. */
  file: string;
  /** Lower-case hex sha256 of model.onnx. */
  sha256: string;
  input: UserModelInput;
  output: UserModelOutput;
  /** The face crop this model expects (the scorer's crop options; each field left out keeps the scorer's default). */
  crop?: { factor?: number; margin?: number };
  license: string;
  source: string;
  parent?: string;
  trainedOn?: string;
  data?: unknown;
  metrics?: unknown;
}

/** A user model as found in the folder: its manifest and where its files are. */
export interface UserModelEntry extends UserModelManifest {
  /** The model's folder, <user model folder>/<name>. */
  dir: string;
  manifestPath: string;
  modelPath: string;
}

/** The user model folder: $MESOGUARD_MODELS_DIR, else <package root>/models/local. */
export function userModelsDir(): string {
  return process.env.MESOGUARD_MODELS_DIR ? path.resolve(process.env.MESOGUARD_MODELS_DIR) : path.join(packageRoot(), "models", "local");
}

/** Names of the user models (sub-folders holding a manifest.json), sorted; none when the folder does not exist. */
export function userModelNames(): string[] {
  const dir = userModelsDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && MODEL_NAME_PATTERN.test(d.name) && existsSync(path.join(dir, d.name, USER_MANIFEST_FILE)))
    .map((d) => d.name)
    .sort();
}

/**
 * Reads and checks <user model folder>/<name>/manifest.json; undefined when there is no such model. Throws an Error
 * naming the file and the field for a manifest that is wrong. `officialNames` may not be shadowed.
 */
export function readUserModel(name: string, officialNames: readonly string[]): UserModelEntry | undefined {
  const dir = path.join(userModelsDir(), name);
  const manifestPath = path.join(dir, USER_MANIFEST_FILE);
  if (!MODEL_NAME_PATTERN.test(name) || !existsSync(manifestPath)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch (error) {
    throw new Error(`${manifestPath}: not valid JSON (${(error as Error).message})`);
  }
  const manifest = validateUserManifest(raw, manifestPath, officialNames);
  if (manifest.name !== name) throw new Error(`${manifestPath}: "name" is "${manifest.name}" but the folder is named "${name}"`);
  return { ...manifest, dir, manifestPath, modelPath: path.join(dir, USER_MODEL_FILE) };
}

/** Checks every field of a user manifest; `where` names it in errors (a file path, or "manifest"). */
export function validateUserManifest(raw: unknown, where: string, officialNames: readonly string[]): UserModelManifest {
  const fail = (field: string, message: string): never => {
    throw new Error(`${where}: "${field}" ${message}`);
  };
  const o = object(raw, "", fail);
  const name = string(o, "name", fail);
  if (!MODEL_NAME_PATTERN.test(name)) fail("name", `"${name}" must match ${MODEL_NAME_PATTERN} (lower case, digits, . _ -)`);
  if (officialNames.includes(name)) fail("name", `"${name}" is an official model's name: choose another`);
  if (o.kind !== "onnx") fail("kind", `must be "onnx", got ${JSON.stringify(o.kind)}`);
  if (o.file !== USER_MODEL_FILE) fail("file", `must be "${USER_MODEL_FILE}" (the file beside manifest.json), got ${JSON.stringify(o.file)}`);
  const sha256 = string(o, "sha256", fail);
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail("sha256", "must be 64 lower-case hex digits (the sha256 of model.onnx)");

  const i = object(o.input, "input", fail);
  const input: UserModelInput = {
    name: string(i, "input.name", fail),
    width: size(i.width, "input.width", fail),
    height: size(i.height, "input.height", fail),
    layout: oneOf(i.layout, LAYOUTS, "input.layout", fail),
    channels: oneOf(i.channels, CHANNEL_ORDERS, "input.channels", fail),
    scale: oneOf(i.scale, INPUT_SCALES, "input.scale", fail) as 1 | 255,
    mean: triple(i.mean, "input.mean", fail),
    std: triple(i.std, "input.std", fail),
  };
  if (input.height !== input.width) fail("input.height", `must equal input.width (${input.width}): face crops are square`);
  if (input.std.some((s) => s === 0)) fail("input.std", "must not contain 0 (the input is divided by it)");

  const out = object(o.output, "output", fail);
  const output: UserModelOutput = {
    name: string(out, "output.name", fail),
    index: typeof out.index === "number" && Number.isInteger(out.index) && out.index >= 0 ? out.index : fail("output.index", `must be an integer >= 0, got ${JSON.stringify(out.index)}`),
    meaning: oneOf(out.meaning, OUTPUT_MEANINGS, "output.meaning", fail),
  };

  const manifest: UserModelManifest = {
    ...(o as object),
    name,
    kind: "onnx",
    file: USER_MODEL_FILE,
    sha256,
    input,
    output,
    license: string(o, "license", fail),
    source: string(o, "source", fail),
  };
  if (o.crop !== undefined) {
    const c = object(o.crop, "crop", fail);
    for (const key of ["factor", "margin"] as const) {
      if (c[key] !== undefined && typeof c[key] !== "number") fail(`crop.${key}`, `must be a number, got ${JSON.stringify(c[key])}`);
    }
    manifest.crop = { factor: c.factor as number | undefined, margin: c.margin as number | undefined };
    try {
      checkCropOptions(manifest.crop); // the scorer's own ranges
    } catch (error) {
      fail("crop", (error as Error).message.replace(/^mesoguard: /, ""));
    }
  }
  for (const key of ["parent", "trainedOn"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "string") fail(key, "must be a string when given");
  }
  return manifest;
}

type Fail = (field: string, message: string) => never;

function object(v: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(field || "(top level)", "must be a JSON object");
  return v as Record<string, unknown>;
}

function string(o: Record<string, unknown>, field: string, fail: Fail): string {
  const v = o[field.split(".").pop()!];
  if (typeof v !== "string" || v === "") fail(field, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v as string;
}

function size(v: unknown, field: string, fail: Fail): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 4096) fail(field, `must be an integer 1..4096, got ${JSON.stringify(v)}`);
  return v as number;
}

function oneOf<T>(v: unknown, allowed: readonly T[], field: string, fail: Fail): T {
  if (!allowed.includes(v as T)) fail(field, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(v)}`);
  return v as T;
}

function triple(v: unknown, field: string, fail: Fail): [number, number, number] {
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    fail(field, `must be 3 numbers [r, g, b], got ${JSON.stringify(v)}`);
  }
  return v as [number, number, number];
}

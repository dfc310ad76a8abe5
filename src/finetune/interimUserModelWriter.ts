// INTERIM: writes a user model in the user model folder's layout (issue 11's shared decision), until the registry's
// own writer (src/models/userModelStore.ts writeUserModel, with the same signature) is on main; merging is an
// import change. Layout: <$MESOGUARD_MODELS_DIR or <package root>/models/local>/<name>/{manifest.json, model.onnx,
// MODEL_CARD.md}, written into a temporary folder renamed into place, so a reader never sees half a model.
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import { modelNames } from "../models/manifest.js";
import { packageRoot } from "../models/paths.js";

export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function userModelsDir(): string {
  return process.env.MESOGUARD_MODELS_DIR ? path.resolve(process.env.MESOGUARD_MODELS_DIR) : path.join(packageRoot(), "models", "local");
}

/** Throws unless `name` may name a new user model: the pattern, no official name, no existing model. */
export function checkNewModelName(name: string, replace = false): void {
  // A bad name is a usage error (RangeError); a taken one is the folder's state.
  if (!MODEL_NAME_PATTERN.test(name)) throw new RangeError(`model name "${name}" must match ${MODEL_NAME_PATTERN} (lower case, digits, . _ -)`);
  if (modelNames().includes(name)) throw new RangeError(`"${name}" is an official model's name: choose another`);
  const dir = path.join(userModelsDir(), name);
  if (existsSync(dir) && !replace) throw new Error(`a user model named "${name}" exists already (${dir})`);
}

export interface NewUserModel {
  manifest: Record<string, unknown> & { name: string };
  onnxBytes: Uint8Array;
  modelCard?: string;
  replace?: boolean;
}

export async function writeUserModel(model: NewUserModel): Promise<{ dir: string; manifestPath: string; modelPath: string }> {
  const { name } = model.manifest;
  checkNewModelName(name, model.replace);
  const sha256 = createHash("sha256").update(model.onnxBytes).digest("hex");
  const manifest = { kind: "onnx", file: "model.onnx", ...model.manifest, sha256 };
  const root = userModelsDir();
  const dir = path.join(root, name);
  await mkdir(root, { recursive: true });
  const temp = path.join(root, `.tmp-${name}-${randomBytes(6).toString("hex")}`);
  try {
    await mkdir(temp);
    await writeFile(path.join(temp, "model.onnx"), model.onnxBytes);
    if (model.modelCard !== undefined) await writeFile(path.join(temp, "MODEL_CARD.md"), model.modelCard);
    await writeFile(path.join(temp, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    if (existsSync(dir)) await rm(dir, { recursive: true });
    await rename(temp, dir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  return { dir, manifestPath: path.join(dir, "manifest.json"), modelPath: path.join(dir, "model.onnx") };
}

// Registers a user model: checks its manifest and ONNX file, then writes <user model folder>/<name>/ atomically
// (a temporary folder renamed into place), so a reader never sees half a model. `mesoguard models add` and
// `mesoguard finetune` write models through writeUserModel().
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import { reservedModelNames } from "./manifest.js";
import { inspectUserModel, sha256Hex } from "./onnxAdapter.js";
import {
  USER_MANIFEST_FILE,
  USER_MODEL_CARD_FILE,
  USER_MODEL_FILE,
  userModelsDir,
  validateUserManifest,
  type UserModelEntry,
} from "./userModels.js";

export interface NewUserModel {
  /**
   * The manifest.json fields (userModels.ts, UserModelManifest). "kind", "file" and "sha256" may be left out: they
   * are filled in ("onnx", "model.onnx", the sha256 of onnxBytes); a sha256 that is given must match.
   */
  manifest: Record<string, unknown>;
  /** The ONNX model's bytes (weights inside, not in external data files). */
  onnxBytes: Uint8Array;
  /** MODEL_CARD.md's text. */
  modelCard?: string;
  /** Replace a user model of the same name (default false: that is an error). */
  replace?: boolean;
}

/**
 * Checks a new user model (manifest fields, and the ONNX file against them: input name and shape, output name and
 * index, no external data) and writes <user model folder>/<name>/{manifest.json, model.onnx, MODEL_CARD.md}.
 * Throws an Error naming the field at fault and writes nothing then. Returns the entry findModel(name) now gives.
 */
export async function writeUserModel(model: NewUserModel): Promise<UserModelEntry> {
  const sha256 = sha256Hex(model.onnxBytes);
  if (model.manifest.sha256 !== undefined && model.manifest.sha256 !== sha256) {
    throw new Error(`manifest: "sha256" is ${String(model.manifest.sha256)} but the ONNX model's sha256 is ${sha256}`);
  }
  const manifest = validateUserManifest({ kind: "onnx", file: USER_MODEL_FILE, ...model.manifest, sha256 }, "manifest", reservedModelNames());
  inspectUserModel(model.onnxBytes, manifest, `model ${manifest.name}`);

  const root = userModelsDir();
  const dir = path.join(root, manifest.name);
  if (existsSync(dir) && !model.replace) throw new Error(`a user model named "${manifest.name}" exists already (${dir})`);
  await mkdir(root, { recursive: true });
  const temp = path.join(root, `.tmp-${manifest.name}-${randomBytes(6).toString("hex")}`);
  try {
    await mkdir(temp);
    await writeFile(path.join(temp, USER_MODEL_FILE), model.onnxBytes);
    if (model.modelCard !== undefined) await writeFile(path.join(temp, USER_MODEL_CARD_FILE), model.modelCard);
    await writeFile(path.join(temp, USER_MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    if (existsSync(dir)) {
      const old = `${temp}.old`;
      await rename(dir, old);
      await rename(temp, dir);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(temp, dir);
    }
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  return { ...manifest, dir, manifestPath: path.join(dir, USER_MANIFEST_FILE), modelPath: path.join(dir, USER_MODEL_FILE) };
}

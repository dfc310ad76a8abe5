// Finds the Keras .h5 file for a manifest entry and proves it is the pinned one (sha256).
//
// Order: (a) a folder the user names (option or MESOGUARD_WEIGHTS_DIR), (b) ../shared/mesonet/weights
// next to the package root, (c) the download cache models/cache/, then a download of sourceUrl.
// A folder the user named is the only place looked at: when it is missing or lacks the file that is an error,
// never a silent fall back to the others. A file that is found but has the wrong sha256 is an error too.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ModelManifestEntry } from "../src/models/manifest.js";
import { defaultCacheDir, defaultSharedWeightsDir } from "../src/models/paths.js";

export const WEIGHTS_DIR_ENV = "MESOGUARD_WEIGHTS_DIR";

export type WeightsSourceKind = "user-dir" | "shared" | "cache" | "download";

export interface ResolvedWeights {
  /** Absolute path of the verified .h5 file. */
  path: string;
  sha256: string;
  source: WeightsSourceKind;
}

export interface ResolveWeightsOptions {
  /** Folder holding the .h5 files; defaults to $MESOGUARD_WEIGHTS_DIR. */
  weightsDir?: string;
  /** Shared weights folder; defaults to <package root>/../shared/mesonet/weights. null skips it. */
  sharedDir?: string | null;
  /** Download cache; defaults to <package root>/models/cache. */
  cacheDir?: string;
  /** Set false to never download. Default true. */
  allowDownload?: boolean;
  /** fetch implementation (tests); defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Environment to read MESOGUARD_WEIGHTS_DIR from; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** Lower-case hex sha256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export function sha256Bytes(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Throws unless `file` hashes to the entry's pinned sha256. */
export async function verifyWeightsFile(entry: ModelManifestEntry, file: string): Promise<string> {
  const actual = await sha256File(file);
  if (actual !== entry.sha256) {
    throw new Error(
      `${file}: sha256 ${actual} does not match the pinned sha256 ${entry.sha256} of ${entry.weightsFile} ` +
        `(model ${entry.name}); the file is not the official MesoNet weights. Replace it with the one from ${entry.sourceUrl}`,
    );
  }
  return actual;
}

/** The weights folder the user named (`weightsDir`, else $MESOGUARD_WEIGHTS_DIR), or undefined. */
export function userWeightsDir(opts: ResolveWeightsOptions): string | undefined {
  return opts.weightsDir ?? ((opts.env ?? process.env)[WEIGHTS_DIR_ENV] || undefined);
}

/** Throws unless the folder the user named (if any) is an existing folder: a typo must not go unnoticed. */
export function checkUserWeightsDir(opts: ResolveWeightsOptions): void {
  const dir = userWeightsDir(opts);
  if (dir === undefined) return;
  const named = opts.weightsDir !== undefined ? `--weights ${dir}` : `${WEIGHTS_DIR_ENV}=${dir}`;
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${named}: no such folder (${path.resolve(dir)}); name the folder that holds the MesoNet .h5 weights`);
  }
}

/** Resolves and verifies the weights file of `entry` (see the order at the top of this file). */
export async function resolveWeights(entry: ModelManifestEntry, opts: ResolveWeightsOptions = {}): Promise<ResolvedWeights> {
  const userDir = userWeightsDir(opts);
  if (userDir !== undefined) {
    checkUserWeightsDir(opts);
    const file = path.resolve(userDir, entry.weightsFile);
    if (!existsSync(file)) {
      throw new Error(`Weights ${entry.weightsFile} for model ${entry.name} are not in the folder named (${file} is missing)`);
    }
    return { path: file, sha256: await verifyWeightsFile(entry, file), source: "user-dir" };
  }
  const sharedDir = opts.sharedDir === undefined ? defaultSharedWeightsDir() : opts.sharedDir;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const looked: string[] = [];

  const local: Array<[WeightsSourceKind, string | null | undefined]> = [
    ["shared", sharedDir],
    ["cache", cacheDir],
  ];
  for (const [source, dir] of local) {
    if (!dir) continue;
    const file = path.resolve(dir, entry.weightsFile);
    looked.push(file);
    if (!existsSync(file)) continue;
    if (source === "cache") {
      // A bad cached file is just a broken download: drop it and fetch again below.
      if ((await sha256File(file)) === entry.sha256) return { path: file, sha256: entry.sha256, source };
      await rm(file, { force: true });
      continue;
    }
    return { path: file, sha256: await verifyWeightsFile(entry, file), source };
  }

  const howToFix =
    `Set ${WEIGHTS_DIR_ENV} to a folder holding the MesoNet .h5 files (${entry.weightsFile} among them) ` +
    `or pass --weights DIR, or go online so ${entry.sourceUrl} can be downloaded.`;
  if (opts.allowDownload === false) {
    throw new Error(`Weights ${entry.weightsFile} for model ${entry.name} not found (looked at ${looked.join(", ")}). ${howToFix}`);
  }

  let bytes: Uint8Array;
  try {
    bytes = await download(entry.sourceUrl, opts.fetch ?? globalThis.fetch);
  } catch (err) {
    throw new Error(
      `Weights ${entry.weightsFile} for model ${entry.name} not found (looked at ${looked.join(", ")}) ` +
        `and the download failed (${describeError(err)}). ${howToFix}`,
    );
  }
  const actual = sha256Bytes(bytes);
  if (actual !== entry.sha256) {
    throw new Error(
      `Downloaded ${entry.sourceUrl} has sha256 ${actual}, expected ${entry.sha256} (model ${entry.name}); ` +
        `refusing to use it. ${howToFix}`,
    );
  }
  // Write via a temp name so an interrupted run never leaves a truncated file under the real name.
  await mkdir(cacheDir, { recursive: true });
  const file = path.resolve(cacheDir, entry.weightsFile);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
  return { path: file, sha256: actual, source: "download" };
}

async function download(url: string, fetchImpl: typeof fetch | undefined): Promise<Uint8Array> {
  if (!fetchImpl) throw new Error("no fetch available in this Node.js");
  const res = await fetchImpl(url, { redirect: "follow" });
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText} from ${url}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** "fetch failed" alone says little; undici puts the real reason (ENOTFOUND, ECONNREFUSED...) in cause. */
function describeError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

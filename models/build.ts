// Converts the official MesoNet Keras weights into ONNX models.
//
//   node dist/models/build.js [--weights DIR] [--out DIR] [--force] [names...]
//
// Writes <out>/<name>.onnx (default out: models/generated), skips models whose existing .onnx already
// carries the pinned weights sha256 (unless --force), and copies MesoNet's LICENSE and NOTICE beside
// them (Apache-2.0 requires shipping them with derived files). The CLI also writes the BlazeFace back detector's
// blocked copy (models/detectorLayout.ts) there first, with the BlazeFace package's LICENSE.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readKerasWeights } from "./kerasWeights.js";
import { type Architecture, findOfficialModel, loadManifest, type ModelManifestEntry } from "../src/models/manifest.js";
import {
  buildMesoNetModel,
  encodeModel,
  META_ARCHITECTURE,
  META_MODEL,
  META_WEIGHTS_SHA256,
  META_CONVERTER,
  CONVERTER_VERSION,
  readModelMetadata,
} from "./mesonetGraph.js";
import { defaultGeneratedDir, defaultSharedWeightsDir } from "../src/models/paths.js";
import { buildInt8Model, calibrationFiles, defaultCalibrationDir, INT8_MODELS, INT8_SUFFIX } from "./quantize.js";
import { buildDetectorModels } from "./detectorLayout.js";
import {
  checkUserWeightsDir,
  resolveWeights,
  type ResolveWeightsOptions,
  userWeightsDir,
  type WeightsSourceKind,
} from "./weightsSource.js";

export interface BuildOptions extends ResolveWeightsOptions {
  /** Models to build (manifest names); default all. */
  names?: string[];
  /** Output folder; default <package root>/models/generated. */
  outDir?: string;
  /** Rebuild even when an existing .onnx has the right weights sha256. */
  force?: boolean;
  /** Where progress lines go; default console.log. */
  log?: (line: string) => void;
}

export interface BuiltModel {
  name: string;
  architecture: Architecture;
  /** Absolute path of the .onnx file. */
  file: string;
  status: "built" | "up-to-date";
  weightsSha256: string;
  /** Weights file used; absent when the model was up to date. */
  weightsPath?: string;
  weightsSource?: WeightsSourceKind;
}

const LICENSE_FILES = ["LICENSE", "NOTICE"];

/** Converts the named (or all) models. Resolves to one entry per model, in the order asked. */
export async function buildModels(opts: BuildOptions = {}): Promise<BuiltModel[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const entries: ModelManifestEntry[] = opts.names?.length ? opts.names.map((n) => findOfficialModel(n)) : loadManifest();
  checkUserWeightsDir(opts); // also when every model is up to date and no weights are read
  const outDir = path.resolve(opts.outDir ?? defaultGeneratedDir());
  await mkdir(outDir, { recursive: true });

  const results: BuiltModel[] = [];
  for (const entry of entries) {
    const file = path.join(outDir, `${entry.name}.onnx`);
    if (!opts.force && isUpToDate(file, entry)) {
      results.push({ name: entry.name, architecture: entry.architecture, file, status: "up-to-date", weightsSha256: entry.sha256 });
      log(`${entry.name}: up to date ${file} (weights sha256 ${entry.sha256.slice(0, 12)}…)`);
      continue;
    }
    const weights = await resolveWeights(entry, opts);
    const model = buildMesoNetModel(await readKerasWeights(weights.path), {
      name: entry.name,
      architecture: entry.architecture,
      weightsSha256: weights.sha256,
    });
    // Temp name + rename: a reader never sees a half-written model.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, encodeModel(model));
    await rename(tmp, file);
    results.push({
      name: entry.name,
      architecture: entry.architecture,
      file,
      status: "built",
      weightsSha256: weights.sha256,
      weightsPath: weights.path,
      weightsSource: weights.source,
    });
    log(`${entry.name}: built ${file} from ${weights.path} (${weights.source}, sha256 ${weights.sha256.slice(0, 12)}…)`);
  }

  copyLicenseFiles(outDir, licenseCandidates(results, opts), log);
  return results;
}

/** True when `file` exists and its metadata names this model and its pinned weights. */
function isUpToDate(file: string, entry: ModelManifestEntry): boolean {
  if (!existsSync(file)) return false;
  try {
    const meta = readModelMetadata(readFileSync(file));
    return (
      meta[META_WEIGHTS_SHA256] === entry.sha256 &&
      meta[META_MODEL] === entry.name &&
      meta[META_ARCHITECTURE] === entry.architecture &&
      meta[META_CONVERTER] === CONVERTER_VERSION
    );
  } catch {
    return false; // unreadable or not ONNX: rebuild it
  }
}

/** Folders that may hold MesoNet's LICENSE/NOTICE: each weights file's folder and its parent. */
function licenseCandidates(results: BuiltModel[], opts: BuildOptions): string[] {
  const dirs: string[] = [];
  const add = (weightsDir: string | null | undefined) => {
    if (!weightsDir) return;
    dirs.push(path.resolve(weightsDir), path.resolve(weightsDir, ".."));
  };
  for (const r of results) if (r.weightsPath) add(path.dirname(r.weightsPath));
  add(userWeightsDir(opts));
  add(opts.sharedDir === undefined ? defaultSharedWeightsDir() : opts.sharedDir);
  return [...new Set(dirs)];
}

function copyLicenseFiles(outDir: string, candidates: string[], log: (line: string) => void): void {
  const from = candidates.find((d) => existsSync(path.join(d, "LICENSE")));
  if (from) {
    for (const name of LICENSE_FILES) {
      const src = path.join(from, name);
      if (!existsSync(src)) continue;
      // The sources may be read-only (copying would keep that mode and block the next copy): write a fresh file.
      const dst = path.join(outDir, name);
      rmSync(dst, { force: true });
      writeFileSync(dst, readFileSync(src), { mode: 0o644 });
    }
  } else if (!existsSync(path.join(outDir, "LICENSE"))) {
    log(
      `warning: MesoNet LICENSE/NOTICE not found beside the weights; Apache-2.0 requires shipping them with ` +
        `the models in ${outDir} (get them from https://github.com/DariusAf/MesoNet)`,
    );
  }
}

/**
 * Builds the int8 variants (models/quantize.ts: INT8_MODELS, each `<name>-int8.onnx` beside its float32 model,
 * which must be built) calibrated on the crops in `calibrationDir` (default: the shared MesoNet test crops). Without
 * that folder no variant is built (a log line says so): they are optional.
 */
export async function buildInt8Models(opts: { outDir?: string; calibrationDir?: string; log?: (line: string) => void } = {}): Promise<string[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const outDir = path.resolve(opts.outDir ?? defaultGeneratedDir());
  const dir = opts.calibrationDir ?? defaultCalibrationDir();
  if (!existsSync(dir)) {
    log(`int8 variants: not built (no calibration crops in ${dir})`);
    return [];
  }
  const crops = calibrationFiles(dir);
  const files: string[] = [];
  for (const name of INT8_MODELS) {
    const fp32 = path.join(outDir, `${name}.onnx`);
    if (!existsSync(fp32)) {
      log(`${name}${INT8_SUFFIX}: not built (${fp32}, its float32 model, is not built)`);
      continue;
    }
    const model = await buildInt8Model(readFileSync(fp32), name, crops);
    const file = path.join(outDir, `${name}${INT8_SUFFIX}.onnx`);
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, encodeModel(model));
    await rename(tmp, file);
    files.push(file);
    log(`${name}${INT8_SUFFIX}: built ${file} (calibrated on ${crops.length} crops in ${dir})`);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = "usage: node dist/models/build.js [--weights DIR] [--out DIR] [--force] [names...]";

/** Parses the CLI arguments (exported for tests). */
export function parseBuildArgs(argv: string[]): BuildOptions & { help?: boolean } {
  const opts: BuildOptions & { help?: boolean } = { names: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${arg} needs a folder argument\n${USAGE}`);
      return v;
    };
    if (arg === "--weights") opts.weightsDir = value();
    else if (arg === "--out") opts.outDir = value();
    else if (arg === "--force") opts.force = true;
    else if (arg === "--help" || arg === "-h") opts.help = true;
    else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else opts.names!.push(arg);
  }
  return opts;
}

async function main(): Promise<void> {
  try {
    const opts = parseBuildArgs(process.argv.slice(2));
    if (opts.help) {
      console.log(USAGE);
      return;
    }
    await buildDetectorModels({ outDir: opts.outDir });
    await buildModels(opts);
    await buildInt8Models({ outDir: opts.outDir });
  } catch (err) {
    console.error(`mesoguard models: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}

// `mesoguard finetune`: transfer learning on the user's labelled faces. Crops come from the project's own pipeline,
// the parent's frozen convolution features from the addon (cropFeatures.ts), the dense head is trained in a worker
// (headTraining.ts), and the result is the parent's ONNX model with the new head, written with a manifest and a
// model card into the user model folder. Nothing is written unless every step succeeded.
import { existsSync, mkdtempSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { DEFAULT_MODEL, findOfficialModel, reservedModelNames, type ModelManifestEntry } from "../models/manifest.js";
import { defaultGeneratedDir } from "../models/paths.js";
import type { ProviderRequest } from "../native/addonTypes.js";
import { DEFAULT_GRAPH_OPTIMIZATION, modelFile } from "../scoring/MesoNetScorer.js";
import { SCORER_DEFAULTS } from "../scoring/scorerOptions.js";
import { INPUT_NAME, INPUT_SIZE, OUTPUT_REAL } from "../../models/mesonetGraph.js";
import { featuresModel, readHead, withHead } from "../../models/mesonetHead.js";
import { AUGMENT_COPIES, CropFeatureExtractor, type CropFeatureOptions, type FileSamples } from "./cropFeatures.js";
import { HEAD_TRAINING, type EpochProgress, type HeadTrainingInput } from "./headTraining.js";
import { heldOutMetrics, type HeldOutMetrics } from "./heldOutMetrics.js";
import { MODEL_NAME_PATTERN, userModelsDir } from "../models/userModels.js";
import { writeUserModel } from "../models/userModelStore.js";
import { modelCard } from "./modelCard.js";
import { seededRandom } from "./seededRandom.js";
import { DatasetError, type Label, type LabelledFile } from "../evaluate/dataset.js";
import { MIN_FILES_PER_SPLIT, splitTrainingData, type DataSplit } from "./trainingData.js";
import { trainHeadInWorker } from "./workerThreads.js";

export const FINETUNE_DEFAULTS = { base: DEFAULT_MODEL, epochs: 10, seed: 1, holdout: 0.2, augment: false, detect: true } as const;
export const FINETUNE_LIMITS = { epochs: { min: 1, max: 1000 }, seed: { min: 0, max: 2 ** 32 - 1 } } as const;
/** Files cropped and scored at once (their faces queue in the one scorer). */
const CONCURRENCY = 4;

export interface FinetuneOptions {
  real: string;
  fake: string;
  /** The new model's name in the user model folder. */
  name: string;
  /** The official model whose convolutions are kept and whose head is trained. */
  base?: string;
  epochs?: number;
  seed?: number;
  /** Fraction of each class's files held out. */
  holdout?: number;
  augment?: boolean;
  /** Find faces (default); false: each image is a face crop. */
  detect?: boolean;
  provider?: ProviderRequest;
  onProgress?: (p: FinetuneProgress) => void;
}

export type FinetuneProgress = { stage: "crops"; filesDone: number; filesTotal: number } | ({ stage: "train" } & EpochProgress);

export interface ClassCounts {
  trainFiles: number;
  heldOutFiles: number;
  trainFaces: number;
  heldOutFaces: number;
  /** Features of augmented copies trained on. */
  augmented: number;
  filesWithoutFace: number;
}

export interface FinetuneData extends Record<Label, ClassCounts> {
  skippedVideos: number;
  augmentCopies: number;
  featureCount: number;
}

export interface FinetuneSettings {
  base: string;
  epochs: number;
  seed: number;
  holdout: number;
  augment: boolean;
  detect: boolean;
  learningRate: number;
  batchSize: number;
  dropout: number;
}

export interface FinetuneResult {
  name: string;
  dir: string;
  settings: FinetuneSettings;
  data: FinetuneData;
  history: EpochProgress[];
  metrics: { heldOut: { before: HeldOutMetrics; after: HeldOutMetrics } };
}

/**
 * Fails fast, before any work, on a name writeUserModel() would refuse at the end (it checks again): a bad name or an
 * official one is a usage error (RangeError), a taken one the folder's state.
 */
function checkNewModelName(name: string): void {
  if (!MODEL_NAME_PATTERN.test(name)) throw new RangeError(`--out "${name}" must match ${MODEL_NAME_PATTERN} (lower case, digits, . _ -)`);
  if (reservedModelNames().includes(name)) throw new RangeError(`--out "${name}" is an official model's name: choose another`);
  const dir = path.join(userModelsDir(), name);
  if (existsSync(dir)) throw new Error(`a user model named "${name}" exists already (${dir})`);
}

function checkInteger(option: keyof typeof FINETUNE_LIMITS, value: number): void {
  const { min, max } = FINETUNE_LIMITS[option];
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`--${option} must be an integer ${min}-${max}, got ${value}`);
}

function settingsOf(options: FinetuneOptions): FinetuneSettings {
  const s = { ...FINETUNE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as typeof FINETUNE_DEFAULTS & FinetuneOptions;
  checkInteger("epochs", s.epochs);
  checkInteger("seed", s.seed);
  const { learningRate, batchSize, dropout } = HEAD_TRAINING;
  return { base: s.base, epochs: s.epochs, seed: s.seed, holdout: s.holdout, augment: s.augment, detect: s.detect, learningRate, batchSize, dropout };
}

/** Calls `fn` on every item, `limit` at a time; results in the items' order. After a failure no item is started. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        next = items.length;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return results;
}

/** A file's error names the file; the addon's code (ERR_JPEG_DECODE, ...) stays on it. */
function fileError(file: string, error: unknown): Error {
  const e = error as NodeJS.ErrnoException;
  return Object.assign(new Error(`${file}: ${e.message}`), { code: e.code });
}

export async function finetune(options: FinetuneOptions): Promise<FinetuneResult> {
  const settings = settingsOf(options);
  checkNewModelName(options.name);
  const parent: ModelManifestEntry = findOfficialModel(settings.base);
  const parentBytes = await readFile(modelFile(parent));
  const split = await splitTrainingData({ real: options.real, fake: options.fake }, settings.holdout, settings.seed);
  const temp = mkdtempSync(path.join(tmpdir(), "mesoguard-finetune-"));
  try {
    const featuresPath = path.join(temp, "features.onnx");
    await writeFile(featuresPath, featuresModel(parentBytes));
    const graphOptimization = DEFAULT_GRAPH_OPTIMIZATION[parent.architecture];
    const extractorOptions = { graphOptimization, detect: settings.detect, provider: options.provider };

    // Crops and features. Each training file's augmentations come from its own generator, made in file order.
    const files = [...split.train, ...split.heldOut];
    const augmentSeeds = seededRandom(settings.seed ^ 0x5bd1e995);
    const randoms = files.map((_, i) => (settings.augment && i < split.train.length ? seededRandom(Math.floor(augmentSeeds() * 2 ** 32)) : null));
    let filesDone = 0;
    const extractor = await CropFeatureExtractor.create({ ...extractorOptions, modelPath: featuresPath });
    let samples: FileSamples[];
    try {
      samples = await mapLimited(files, CONCURRENCY, async (file, i) => {
        const s = await extractor.file(file.path, randoms[i]!).catch((error: unknown) => {
          throw fileError(file.path, error);
        });
        options.onProgress?.({ stage: "crops", filesDone: ++filesDone, filesTotal: files.length });
        return s;
      });
    } finally {
      await extractor.close();
    }
    const heldOutSamples = samples.slice(split.train.length);
    const data = countData(split.train, samples.slice(0, split.train.length), split.heldOut, heldOutSamples, split.skippedVideos, settings);

    // The head, trained in a worker.
    const trained = await trainHeadInWorker(headTrainingInput(split, samples, data.featureCount, parentBytes, settings), (p) =>
      options.onProgress?.({ stage: "train", ...p }),
    );

    // The written model, run by the addon on the same held-out crops: its scores are the "after" metrics.
    const onnxBytes = withHead(parentBytes, trained.head, options.name, { "mesoguard.parent": parent.name, "mesoguard.source": "finetune" });
    const modelPath = path.join(temp, "model.onnx");
    await writeFile(modelPath, onnxBytes);
    const afterReals = await heldOutReals(split.heldOut, { ...extractorOptions, modelPath });
    checkAgreement(afterReals.flat(), trained.heldOutReal);
    const before = heldOutMetrics(split.heldOut.map((f, i) => ({ label: f.label, reals: heldOutSamples[i]!.crops.map((c) => c.real) })), settings.seed);
    const after = heldOutMetrics(split.heldOut.map((f, i) => ({ label: f.label, reals: afterReals[i]! })), settings.seed);

    const dirs = { real: path.resolve(options.real), fake: path.resolve(options.fake) };
    const metrics = { heldOut: { before, after } };
    const notice = path.join(defaultGeneratedDir(), "NOTICE");
    const card = modelCard({
      name: options.name,
      parent,
      notice: existsSync(notice) ? await readFile(notice, "utf8") : null,
      dirs,
      data,
      settings,
      history: trained.history,
      before,
      after,
      created: new Date().toISOString().slice(0, 10),
    });
    const written = await writeUserModel({
      manifest: {
        name: options.name,
        input: { name: INPUT_NAME, width: INPUT_SIZE, height: INPUT_SIZE, layout: "nchw", channels: "rgb", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
        output: { name: OUTPUT_REAL, index: 0, meaning: "p-real" },
        crop: { factor: SCORER_DEFAULTS.crop.factor, margin: SCORER_DEFAULTS.crop.margin },
        license: parent.license,
        source: "finetune",
        parent: parent.name,
        architecture: parent.architecture,
        trainedOn: `${parent.trainedOn} (parent ${parent.name}), head fine-tuned on ${dirs.real} (real) and ${dirs.fake} (fake)`,
        data,
        metrics,
        training: { ...settings, history: trained.history },
      },
      onnxBytes,
      modelCard: card,
    });
    return { name: options.name, dir: written.dir, settings, data, history: trained.history, metrics };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** The head's training data: every training face and its augmented copies, and the held-out faces, as rows. */
function headTrainingInput(split: DataSplit, samples: FileSamples[], dims: number, parentBytes: Uint8Array, settings: FinetuneSettings): HeadTrainingInput {
  const train = samples.slice(0, split.train.length);
  const heldOut = samples.slice(split.train.length);
  const rows = (list: FileSamples[], withAugmented: boolean) => {
    const vectors = list.flatMap((s) => [...s.crops.map((c) => c.features), ...(withAugmented ? s.augmented : [])]);
    const out = new Float32Array(vectors.length * dims);
    vectors.forEach((v, i) => out.set(v, i * dims));
    return out;
  };
  const labels = (files: LabelledFile[], list: FileSamples[], withAugmented: boolean) =>
    Uint8Array.from(list.flatMap((s, i) => new Array<number>(s.crops.length + (withAugmented ? s.augmented.length : 0)).fill(files[i]!.label === "real" ? 1 : 0)));
  return {
    features: rows(train, true),
    labels: labels(split.train, train, true),
    heldOutFeatures: rows(heldOut, false),
    heldOutLabels: labels(split.heldOut, heldOut, false),
    dims,
    head: readHead(parentBytes),
    epochs: settings.epochs,
    seed: settings.seed,
  };
}

/** P(real) of each held-out file's faces by the model at `options.modelPath`, cut again by the same pipeline. */
async function heldOutReals(heldOut: LabelledFile[], options: CropFeatureOptions): Promise<number[][]> {
  const evaluator = await CropFeatureExtractor.create(options);
  try {
    return await mapLimited(heldOut, CONCURRENCY, async (file) => Promise.all((await evaluator.crops(file.path)).map((c) => evaluator.real(c))));
  } finally {
    await evaluator.close();
  }
}

/** The written model must give what the trained head gave (the same crops, float32 both ways). */
function checkAgreement(modelReals: number[], headReals: Float32Array): void {
  const worst = modelReals.reduce((m, r, i) => Math.max(m, Math.abs(r - headReals[i]!)), modelReals.length === headReals.length ? 0 : Infinity);
  if (!(worst < 1e-4)) throw new Error(`the written model disagrees with the trained head (max |difference| ${worst}); nothing was written`);
}

function countData(
  train: LabelledFile[],
  trainSamples: FileSamples[],
  heldOut: LabelledFile[],
  heldOutSamples: FileSamples[],
  skippedVideos: number,
  settings: FinetuneSettings,
): FinetuneData {
  const counts = (label: Label): ClassCounts => {
    const of = (files: LabelledFile[], samples: FileSamples[]) => samples.filter((_, i) => files[i]!.label === label);
    const [t, h] = [of(train, trainSamples), of(heldOut, heldOutSamples)];
    const faces = (list: FileSamples[]) => list.reduce((a, s) => a + s.crops.length, 0);
    const withFace = (list: FileSamples[]) => list.filter((s) => s.crops.length > 0).length;
    for (const [side, list] of [["training", t], ["held-out", h]] as const) {
      if (withFace(list) < MIN_FILES_PER_SPLIT) {
        throw new DatasetError(
          `${label} ${side} files: faces were found in ${withFace(list)} of ${list.length}; each class needs faces in at least ` +
            `${MIN_FILES_PER_SPLIT} files on each side of the split${settings.detect ? " (--no-detect if the images are face crops already)" : ""}`,
        );
      }
    }
    return {
      trainFiles: t.length,
      heldOutFiles: h.length,
      trainFaces: faces(t),
      heldOutFaces: faces(h),
      augmented: t.reduce((a, s) => a + s.augmented.length, 0),
      filesWithoutFace: t.length + h.length - withFace(t) - withFace(h),
    };
  };
  const featureCount = trainSamples.find((s) => s.crops.length > 0)!.crops[0]!.features.length;
  return { real: counts("real"), fake: counts("fake"), skippedVideos, augmentCopies: settings.augment ? AUGMENT_COPIES : 0, featureCount };
}

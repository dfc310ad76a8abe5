// MesoNet on a face crop, through the native addon's session and batching queue.
import { existsSync } from "node:fs";
import path from "node:path";

import { findModel, type Architecture, type ModelManifestEntry } from "../../models/manifest.js";
import { defaultGeneratedDir, packageRoot } from "../../models/paths.js";
import type { GraphOptimization, NativeScorer } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import type {
  FrameInput,
  MesoNetScore,
  MesoNetScorerInfo,
  MesoNetScorerOptions,
  MesoNetScorerStats,
  ResizeMode,
} from "./scoringTypes.js";

/**
 * Graph optimisation level per architecture, measured on a 2-core x86 CPU: MesoInception4 runs 1.3-1.5x faster
 * at "extended" than at "all", Meso4 the other way round.
 */
export const DEFAULT_GRAPH_OPTIMIZATION: Record<Architecture, GraphOptimization> = {
  meso4: "all",
  mesoinception4: "extended",
};

export function defaultTensorRtCacheDir(): string {
  return process.env.MESOGUARD_CACHE_DIR
    ? path.join(process.env.MESOGUARD_CACHE_DIR, "tensorrt")
    : path.join(packageRoot(), ".mesoguard-cache", "tensorrt");
}

/** Path of a converted model, or an Error that says how to build it. */
export function modelFile(entry: ModelManifestEntry): string {
  const file = path.join(defaultGeneratedDir(), `${entry.name}.onnx`);
  if (!existsSync(file)) {
    throw new Error(
      `mesoguard: model ${entry.name} is not built (${file} is missing). Build it with \`npm run models\`; ` +
        `it needs the official weights ${entry.weightsFile}: set MESOGUARD_WEIGHTS_DIR to a folder holding them, ` +
        `or run it online to download them from ${entry.sourceUrl}`,
    );
  }
  return file;
}

export class MesoNetScorer {
  private constructor(
    private readonly native: NativeScorer,
    readonly model: ModelManifestEntry,
    readonly resize: ResizeMode,
  ) {}

  /** Loads the model (off the event loop) and starts its work queue. */
  static async create(options: MesoNetScorerOptions = {}): Promise<MesoNetScorer> {
    const entry = findModel(options.model);
    const modelPath = options.modelPath ?? modelFile(entry);
    const addon = loadAddon(options.addonPath);
    const native = await addon.createScorer({
      modelPath,
      provider: options.provider ?? "auto",
      graphOptimization: options.graphOptimization ?? DEFAULT_GRAPH_OPTIMIZATION[entry.architecture],
      deviceId: options.deviceId ?? 0,
      intraOpThreads: options.intraOpThreads ?? 0,
      cacheDir: options.cacheDir ?? defaultTensorRtCacheDir(),
      fp16: options.fp16 ?? true,
      maxBatch: options.maxBatch ?? 8,
      maxWaitMs: options.maxWaitMs ?? 2,
      prepThreads: options.prepThreads ?? 1,
      maxPending: options.maxPending ?? 1024,
      preprocess: options.preprocess ?? "auto",
    });
    return new MesoNetScorer(native, entry, options.resize ?? "nearest");
  }

  /** Scores one face crop (any size: it is resized to 256x256). Rejects with error.code on bad input. */
  async score(frame: FrameInput): Promise<MesoNetScore> {
    const result = await this.native.score(frame, { resize: this.resize });
    const real = result.outputs.real[0];
    return {
      real,
      fake: 1 - real,
      logit: result.outputs.logit[0],
      model: this.model.name,
      timings: {
        preprocessMs: result.preprocessMs,
        waitMs: result.waitMs,
        inferenceMs: result.inferenceMs,
        batchSize: result.batchSize,
        preprocessDevice: result.preprocessDevice,
      },
    };
  }

  info(): MesoNetScorerInfo {
    return { ...this.native.info(), model: this.model.name, architecture: this.model.architecture, resize: this.resize };
  }

  stats(): MesoNetScorerStats {
    return this.native.stats();
  }

  /** Stops accepting frames; drain (default) finishes queued ones, otherwise they reject with ERR_CLOSED. */
  close(options: { drain?: boolean } = {}): Promise<void> {
    return this.native.close(options);
  }
}

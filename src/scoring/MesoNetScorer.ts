// MesoNet on a face crop, through the native addon's session and batching queue.
import { existsSync } from "node:fs";
import path from "node:path";

import { findModel, type Architecture, type ModelManifestEntry } from "../models/manifest.js";
import { DEFAULT_DETECTOR, detectorModelPath, type DetectorName } from "../faces/detectorModels.js";
import { keypointsFromArray, keypointsToArray } from "../faces/keypoints.js";
import { defaultGeneratedDir } from "../models/paths.js";
import type { GraphOptimization, NativeBox, NativeScorer, NativeScoreResult } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import { resolveScorerOptions } from "./scorerOptions.js";
import type {
  AnalyzeOptions,
  FaceScore,
  FrameAnalysis,
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
    readonly detectorName: DetectorName | null,
    /** The stream this view's frames belong to (forGroup), or undefined. */
    readonly group?: string,
  ) {}

  /** Loads MesoNet and the face detector (off the event loop) and starts their work queue. */
  static async create(options: MesoNetScorerOptions = {}): Promise<MesoNetScorer> {
    const entry = findModel(options.model);
    const modelPath = options.modelPath ?? modelFile(entry);
    const addon = loadAddon(options.addonPath);
    const detectorName = options.detector === false ? null : (options.detector ?? DEFAULT_DETECTOR);
    const native = await addon.createScorer(
      resolveScorerOptions({
        modelPath,
        provider: options.provider,
        graphOptimization: options.graphOptimization ?? DEFAULT_GRAPH_OPTIMIZATION[entry.architecture],
        deviceId: options.deviceId,
        intraOpThreads: options.intraOpThreads,
        cacheDir: options.cacheDir,
        fp16: options.fp16,
        maxBatch: options.maxBatch,
        maxWaitMs: options.maxWaitMs,
        prepThreads: options.prepThreads,
        maxPending: options.maxPending,
        maxPendingPerGroup: options.maxPendingPerGroup,
        maxFramePixels: options.maxFramePixels,
        preprocess: options.preprocess,
        detector: detectorName
          ? {
              modelPath: detectorModelPath(detectorName),
              minScore: options.detectorMinScore,
              nmsIou: options.detectorNmsIou,
              maxFaces: options.maxFaces,
            }
          : null,
        crop: options.crop,
      }),
    );
    return new MesoNetScorer(native, entry, options.resize ?? "nearest", detectorName);
  }

  /** Scores one face crop (any size: it is resized to 256x256). Rejects with error.code on bad input. */
  async score(frame: FrameInput): Promise<MesoNetScore> {
    return this.toScore(await this.native.score(frame, { resize: this.resize, group: this.group }));
  }

  /**
   * Scores an RGB face crop once per cell ([x1, y1, x2, y2], whole pixels), with that cell painted `value` (0..255)
   * in every channel: the painting runs on the addon's workers, and the variants share the one queue (no group:
   * they are one request, not a stream's frames). Throws ERR_INVALID_ARG for a cell outside the crop.
   */
  scoreOccluded(crop: FrameInput & { kind: "rgb" }, cells: NativeBox[], value: number): Promise<MesoNetScore>[] {
    return this.native.scoreOccluded(crop, { cells, value, resize: this.resize }).map((p) => p.then((r) => this.toScore(r)));
  }

  private toScore(result: NativeScoreResult): MesoNetScore {
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

  /**
   * Finds the faces in a frame (or takes `faces`), crops each as the MesoNet pipeline does and scores it.
   * A frame without faces resolves with an empty list.
   */
  async analyze(frame: FrameInput, options: AnalyzeOptions = {}): Promise<FrameAnalysis> {
    const result = await this.native.analyze(frame, {
      detect: options.detect ?? true,
      regions: options.regions as NativeBox[] | undefined,
      faces: options.faces?.map((f) => ({ box: f.box, keypoints: keypointsToArray(f.keypoints), score: f.score })),
      returnCrops: options.returnCrops ?? false,
      group: options.group ?? this.group,
    });
    const faces: FaceScore[] = result.faces.map((f) => ({
      box: f.box,
      keypoints: keypointsFromArray(f.keypoints),
      score: f.detectorScore,
      real: f.outputs.real!,
      fake: 1 - f.outputs.real!,
      logit: f.outputs.logit!,
      crop: f.crop,
    }));
    const facesCut = Math.max(0, result.facesFound - faces.length);
    return { width: result.width, height: result.height, faces, detectorRuns: result.detectorRuns, facesCut, timings: result.timings };
  }

  info(): MesoNetScorerInfo {
    return {
      ...this.native.info(),
      model: this.model.name,
      architecture: this.model.architecture,
      resize: this.resize,
      detectorName: this.detectorName,
    };
  }

  /**
   * The same scorer for one stream (e.g. a participant): its frames carry `group`, at most maxPendingPerGroup of
   * them are queued at once, and cancel() drops those not yet scored. close() still closes the whole scorer.
   */
  forGroup(group: string): MesoNetScorer {
    return new MesoNetScorer(this.native, this.model, this.resize, this.detectorName, group);
  }

  /**
   * The group's queued frames (default: this view's) reject with ERR_CANCELLED, skipping their remaining stages;
   * frames sent later are scored as usual. Returns how many were pending.
   */
  cancel(group = this.group): number {
    if (group === undefined) throw new TypeError("mesoguard: cancel() needs a group (or a scorer from forGroup())");
    return this.native.cancel(group);
  }

  stats(): MesoNetScorerStats {
    return this.native.stats();
  }

  /** Stops accepting frames; drain (default) finishes queued ones, otherwise they reject with ERR_CLOSED. */
  close(options: { drain?: boolean } = {}): Promise<void> {
    return this.native.close(options);
  }
}

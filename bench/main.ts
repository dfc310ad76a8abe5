// `npm run bench` (node dist/bench/main.js): mesoguard's latency and throughput, stage by stage and end to end,
// beside a plain-JS baseline. Writes bench/results/<timestamp>.json, latest.json and latency-vs-load.svg and
// prints a table. --quick finishes in under a minute.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

import { packageRoot } from "../src/models/paths.js";
import { loadAddon } from "../src/native/loadAddon.js";
import { SCAN_DEFAULTS } from "../src/scan/scanOptions.js";
import { probeProviders } from "../src/scoring/providerProbe.js";
import { runBaseline } from "./baseline.js";
import { runStageComparison } from "./stageComparison.js";
import { clusterPlan, runCluster } from "./cluster.js";
import { endToEndPlan, runEndToEnd } from "./endToEnd.js";
import { defaultPhoto, makeFrames } from "./frames.js";
import { compare, evaluateTargets, formatReport, KNEE_BOUND_MS, writeResults, type BenchOptions, type BenchResult, type MachineInfo } from "./report.js";
import { GPU_BATCH_SIZES, runGpu, usableGpuProviders } from "./gpu.js";
import { runScanMemory } from "./scanMemory.js";
import { DETECTORS, MESONET_MODELS, BATCH_SIZES, faceCrop, runStages, stageIterations } from "./stages.js";
import { runMesoNetSettings, SETTINGS_MODELS } from "./mesonetSettings.js";
import { nowMs, round } from "./stats.js";
import { FFMPEG_TOOL, provisionTools, REDIS_TOOL } from "./tools.js";

const USAGE = `Usage: node dist/bench/main.js [--quick] [--out DIR] [--duration SECONDS] [--bound-ms MS] [--detect-every K]

  --quick           fewer iterations and two load points (under a minute)
  --out DIR         where to write <timestamp>.json, latest.json, latency-vs-load.svg [bench/results]
  --duration S      seconds per end-to-end load point and per baseline frame size [10; quick 3]
  --bound-ms MS     the p99 latency bound that defines the knee of the load sweep [${KNEE_BOUND_MS}]
  --detect-every K  the server's --detect-every (face detector every K frames) [5, the server default]
  --photo FILE      the photo the test frames are made from [../shared/photos/grace_hopper.jpg]`;

function parseArgs(argv: string[]): BenchOptions | null {
  const options: BenchOptions = {
    quick: false,
    outDir: path.join(packageRoot(), "bench", "results"),
    durationSeconds: NaN,
    boundMs: KNEE_BOUND_MS,
    detectEvery: 5,
    photo: defaultPhoto(),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${arg} needs a value\n${USAGE}`);
      return v;
    };
    const number = () => {
      const v = Number(value());
      if (!(v > 0)) throw new Error(`bench: ${arg} needs a positive number\n${USAGE}`);
      return v;
    };
    if (arg === "--help" || arg === "-h") return null;
    else if (arg === "--quick") options.quick = true;
    else if (arg === "--out") options.outDir = path.resolve(value());
    else if (arg === "--duration") options.durationSeconds = number();
    else if (arg === "--bound-ms") options.boundMs = number();
    else if (arg === "--detect-every") options.detectEvery = Math.round(number());
    else if (arg === "--photo") options.photo = path.resolve(value());
    else throw new Error(`bench: unknown option ${arg}\n${USAGE}`);
  }
  if (Number.isNaN(options.durationSeconds)) options.durationSeconds = endToEndPlan(options.quick).secondsPerPoint;
  return options;
}

const INTERESTING_FLAGS = [
  "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
  "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "neon", "asimd",
];

function machineInfo(provider: string, sharpVersion: string): MachineInfo {
  let flags: string[] = [];
  let cpuId: MachineInfo["cpuId"] = null;
  try {
    const lines = readFileSync("/proc/cpuinfo", "utf8").split("\n");
    // The first processor's fields ("key<tabs>: value").
    const field = (key: string) => lines.find((l) => l.split(":")[0]!.trim() === key)?.split(":")[1]?.trim();
    const present = new Set(field("flags")?.split(/\s+/) ?? field("Features")?.split(/\s+/) ?? []);
    flags = INTERESTING_FLAGS.filter((f) => present.has(f));
    const [vendor, family, model, stepping] = ["vendor_id", "cpu family", "model", "stepping"].map(field);
    if (vendor && family && model && stepping) {
      cpuId = { vendor, family: Number(family), model: Number(model), stepping: Number(stepping) };
    }
  } catch {
    // not Linux
  }
  const git = (...args: string[]) => {
    try {
      return execFileSync("git", args, { cwd: packageRoot(), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return "";
    }
  };
  const require = createRequire(import.meta.url);
  const version = (pkg: string) => {
    try {
      return (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      return "unknown";
    }
  };
  const runtime = loadAddon().runtimeInfo();
  return {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cpuId,
    cores: os.cpus().length,
    flags,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    nodeVersion: process.version,
    ortVersion: runtime.ortVersion,
    onnxruntimeNodeVersion: version("onnxruntime-node"),
    sharpVersion,
    addonBuild: runtime.buildSystem,
    provider,
    gitCommit: git("rev-parse", "HEAD") || "unknown",
    gitDirty: git("status", "--porcelain", "--untracked-files=no") !== "",
  };
}

/** A progress bar on stderr (one line per step when stderr is not a terminal). */
class Progress {
  #done = 0;
  readonly #start = nowMs();
  constructor(private total: number) {}

  step(label: string): void {
    this.#done = Math.min(this.#done + 1, this.total);
    const fraction = this.#done / this.total;
    const seconds = Math.round((nowMs() - this.#start) / 1000);
    if (process.stderr.isTTY) {
      const width = 28;
      const filled = Math.round(fraction * width);
      const bar = "#".repeat(filled) + ".".repeat(width - filled);
      process.stderr.write(`\r\x1b[K[${bar}] ${Math.round(fraction * 100)}% ${seconds}s ${label}`);
    } else {
      process.stderr.write(`[bench ${Math.round(fraction * 100)}% ${seconds}s] ${label}\n`);
    }
  }

  /** Steps planned but skipped (the sweep stopped early). */
  skip(count: number): void {
    this.total = Math.max(this.#done, this.total - count);
  }

  end(): void {
    if (process.stderr.isTTY) process.stderr.write("\n");
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseArgs(argv);
  if (!options) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const startedAt = new Date();
  const started = nowMs();
  const addon = loadAddon();
  const plan = endToEndPlan(options.quick);

  // After `npm ci` alone (the tests install the same on their first run): without them the cluster run and the
  // recorded hour are skipped, each saying why, rather than the bench failing minutes in.
  provisionTools([FFMPEG_TOOL, REDIS_TOOL], "mesoguard bench", "the cluster run and the recorded hour's scan will be skipped", (line) =>
    process.stderr.write(line + "\n"),
  );
  const probes = await probeProviders(addon);
  const usable = probes.filter((p) => p.usable);
  if (usable.length === 0) throw new Error(`bench: no ONNX Runtime provider loads: ${JSON.stringify(probes)}`);
  const steps =
    2 + // frames, providers
    2 + // decode, per frame size
    1 + // render, fast and reference
    SETTINGS_MODELS.length + // ONNX Runtime settings per model
    usable.length * (DETECTORS.length * 2 + MESONET_MODELS.length * BATCH_SIZES.length + 1) +
    usableGpuProviders(probes).length * 2 * (GPU_BATCH_SIZES.length + 1) + // GPU rows: device-bound and host input
    3 + // baseline: per frame size, then 640x480 on mesoguard's graphs
    1 + // stage comparison: mesoguard and the baseline alternated
    1 + plan.sweep.length + plan.extra.length +
    2 + // cluster: 1 node, 2 nodes
    1 + // scan memory
    1; // report
  const progress = new Progress(steps);
  progress.step(`providers: ${usable.map((p) => p.provider).join(", ")}`);
  progress.step("frames: 640x480 and 1280x720 JPEGs");
  const frames = await makeFrames(addon, options.photo);

  const stages = await runStages(addon, frames, probes, options.quick, (label) => progress.step(label));
  const crop = (await faceCrop(frames[0]!)).rgb;
  const mesonetSettings = await runMesoNetSettings(crop, stageIterations(options.quick), (label) => progress.step(label));
  const gpu = await runGpu(probes, frames, crop, stageIterations(options.quick), (label) => progress.step(label));
  // The baseline's frame sizes and the stage comparison each run this long.
  const comparisonSeconds = Math.min(options.quick ? 2 : 8, options.durationSeconds);
  const baseline = await runBaseline(
    frames,
    { seconds: comparisonSeconds, warmup: options.quick ? 5 : 10 },
    (label) => progress.step(label),
  );
  const stageComparison = await runStageComparison(
    frames[0]!,
    { seconds: comparisonSeconds, minBlocks: options.quick ? 2 : 5 },
    (label) => progress.step(label),
  );
  let sweepSteps = 0;
  const endToEnd = await runEndToEnd(
    frames,
    {
      boundMs: options.boundMs,
      secondsPerPoint: options.durationSeconds,
      warmupSeconds: plan.warmupSeconds,
      detectEvery: options.detectEvery,
      sweep: plan.sweep,
      extra: plan.extra,
      cpuLoad: plan.cpuLoad,
    },
    (label) => {
      if (label.startsWith("end to end: 640x480")) sweepSteps++;
      progress.step(label);
    },
  );
  progress.skip(plan.sweep.length - sweepSteps);
  const cluster = await runCluster(
    frames,
    { ...clusterPlan(options.quick), detectEvery: options.detectEvery, boundMs: options.boundMs },
    (label) => progress.step(label),
  );
  progress.step(`scan memory: 1 h of 720p at ${SCAN_DEFAULTS.fps} frames/s${options.quick ? " (skipped: --quick)" : ""}`);
  // Several minutes on 2 cores: not in --quick (test/scanMemory.test.ts checks the same at a lower rate).
  const scanMemory = options.quick
    ? { skipped: "--quick (test/scanMemory.test.ts runs it at 0.25 frames/s)" }
    : runScanMemory(options.photo, SCAN_DEFAULTS.fps);
  progress.step("report");
  progress.end();

  const partial = {
    schema: 1 as const,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds: round((nowMs() - started) / 1000, 1),
    machine: machineInfo(usable[0]!.provider!, baseline.sharpVersion),
    options,
    stages,
    mesonetSettings,
    gpu,
    endToEnd,
    cluster,
    baseline,
    stageComparison,
    scanMemory,
    comparison: compare(stageComparison, endToEnd, baseline),
  };
  const result: BenchResult = { ...partial, targets: evaluateTargets(partial) };
  const written = writeResults(result, options.outDir);
  process.stdout.write(formatReport(result) + "\n\n");
  process.stdout.write(`wrote ${written.json}\n      ${written.latest}\n      ${written.svg}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);

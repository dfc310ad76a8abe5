// `npm run bench -- --quick` works: it runs as a user runs it (the compiled bench in a child process) and writes
// JSON with every section filled with positive, consistent numbers, and the SVG. No speed is asserted: this
// machine is shared and slow, and the bench records speed, it does not judge it.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ClusterRun } from "../bench/cluster.js";
import type { StageMedians } from "../bench/stageComparison.js";
import { GOALS, type BenchResult, type Target } from "../bench/report.js";
import type { Summary } from "../bench/stats.js";
import { packageRoot } from "../src/models/paths.js";
import { EXPECT_GPU } from "./helpers/paths.js";
import { REDIS_TOOL } from "./helpers/tools.js";

const root = packageRoot();
const out = mkdtempSync(path.join(tmpdir(), "mesoguard-bench-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

let run: { stdout: string; stderr: string };
let result: BenchResult;

beforeAll(async () => {
  run = await promisify(execFile)(process.execPath, [path.join(root, "dist/bench/main.js"), "--quick", "--out", out], {
    cwd: root,
    timeout: 240_000,
    maxBuffer: 16 << 20,
  });
  result = JSON.parse(readFileSync(path.join(out, "latest.json"), "utf8")) as BenchResult;
}, 300_000);

/** A latency summary with samples, positive, and ordered. */
function expectSummary(s: Summary): void {
  expect(s.n).toBeGreaterThan(0);
  expect(s.min).toBeGreaterThan(0);
  expect(s.p50).toBeGreaterThanOrEqual(s.min);
  expect(s.p95).toBeGreaterThanOrEqual(s.p50);
  expect(s.p99).toBeGreaterThanOrEqual(s.p95);
  expect(s.max).toBeGreaterThanOrEqual(s.p99);
}

describe("npm run bench -- --quick", () => {
  it("writes the timestamped JSON, latest.json and the SVG, and prints the table", () => {
    const files = readdirSync(out);
    expect(files).toContain("latest.json");
    expect(files).toContain("latency-vs-load.svg");
    expect(files.filter((f) => /^\d{4}-\d\d-\d\dT.*\.json$/.test(f))).toHaveLength(1);
    const svg = readFileSync(path.join(out, "latency-vs-load.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("<polyline");
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    for (const heading of ["Stages", "MesoNet", "End to end", "Cluster", "Baseline", "Scan memory", "Targets"]) expect(run.stdout).toContain(heading);
    // The recorded hour takes minutes: only the full bench scans it (test/scanMemory.test.ts checks it at a lower rate).
    expect(result.scanMemory).toEqual({ skipped: expect.stringContaining("--quick") });
    expect(run.stderr).toContain("100%"); // the progress bar reached the end
  });

  it("records the machine, the versions and the options", () => {
    const { machine, options } = result;
    expect(machine.cores).toBeGreaterThan(0);
    expect(machine.cpuModel.length).toBeGreaterThan(0);
    expect(Array.isArray(machine.flags)).toBe(true);
    // The CPU's generation, which the model name in a VM does not give: x86 Linux has it in /proc/cpuinfo.
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
    if (vendor) {
      const family = Number(/^cpu family\s*:\s*(\d+)/m.exec(cpuinfo)![1]);
      expect(machine.cpuId).toEqual({ vendor, family, model: expect.any(Number), stepping: expect.any(Number) });
      expect(run.stdout).toContain(`(${vendor} family ${family} model ${machine.cpuId!.model} stepping ${machine.cpuId!.stepping})`);
    } else {
      expect(machine.cpuId).toBeNull();
    }
    expect(machine.nodeVersion).toBe(process.version);
    expect(machine.ortVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(machine.gitCommit).toMatch(/^[0-9a-f]{40}$|^unknown$/);
    expect(options.quick).toBe(true);
    expect(options.boundMs).toBe(GOALS.kneeBoundMs);
    expect(options.outDir).toBe(out);
  });

  it("measures every stage on every provider that loads, and says why the others were skipped", () => {
    const { stages } = result;
    const usable = stages.providers.filter((p) => p.usable).map((p) => p.provider);
    expect(usable).toContain("cpu");
    for (const p of stages.providers.filter((p) => !p.usable)) expect(p.reason.length).toBeGreaterThan(0);
    // Without a GPU, skipped GPU providers also get the cause in plain words, in the JSON and the printed table.
    const skippedGpu = stages.providers.filter((p) => !p.usable && (p.provider === "tensorrt" || p.provider === "cuda"));
    for (const p of EXPECT_GPU ? [] : skippedGpu) {
      expect(p.hint, p.provider!).toMatch(/GPU provider libraries are not installed|no usable CUDA device/);
      expect(run.stdout).toContain(`    why: ${p.hint}`);
    }

    expect(stages.decode.map((d) => d.frame)).toEqual(["640x480", "1280x720"]);
    for (const d of stages.decode) {
      expectSummary(d.addonDecodeMs);
      expectSummary(d.addonTrackedDecodeMs);
      expectSummary(d.addonPreprocessMs);
      expectSummary(d.sharpDecodeMs);
    }
    // The render rows: the fast path and the per-pixel definition, same run, for the crop and both letterboxes,
    // from RGB (JPEG's decode) and I420 (the RTP ingest's).
    expect(stages.render.frame).toBe("640x480");
    expectSummary(stages.render.overheadMs);
    expectSummary(stages.render.pipelineCropMs); // the pipeline's own crop stage, one given face
    expect(run.stdout).toContain("face crop in the pipeline");
    expect(stages.render.rows.map((r) => `${r.geometry} ${r.pixels}`)).toEqual([
      "face crop 256, bilinear rgb",
      "face crop 256, bilinear i420",
      "letterbox 256 (back detector), area rgb",
      "letterbox 256 (back detector), area i420",
      "letterbox 128 (front detector), area rgb",
    ]);
    for (const r of stages.render.rows) {
      expectSummary(r.fastMs);
      expectSummary(r.referenceMs);
      // The CPU detector's render beside the letterboxes only.
      if (r.geometry.startsWith("letterbox")) expectSummary(r.detectorMs!);
      else expect(r.detectorMs).toBeUndefined();
      expect(run.stdout).toContain(r.geometry);
    }
    expect(stages.detector).toHaveLength(usable.length * 4);
    for (const d of stages.detector) {
      expect(d.faces).toBe(1); // the test frames hold one face
      expectSummary(d.detectMs);
      expectSummary(d.renderMs);
      expectSummary(d.wallMs);
    }
    expect(stages.mesonet).toHaveLength(usable.length * 6);
    for (const m of [...stages.mesonet, ...stages.mesonetOneThread]) {
      expectSummary(m.batchLatencyMs);
      expectSummary(m.inferenceMs);
      expect(m.cropsPerSec).toBeGreaterThan(0);
      expect(m.meanBatchSize).toBeGreaterThan(0);
      expect(m.meanBatchSize).toBeLessThanOrEqual(m.batch);
      // A crop's process CPU covers at least its own inference on one thread (a tenth of it, to stay clear of timer
      // granularity on a loaded machine) and is not absurd.
      expect(m.cpuMsPerCrop).toBeGreaterThan(0.1 * m.inferenceMs.p50 / m.batch);
      expect(m.cpuMsPerCrop).toBeLessThan(1000);
    }
    expect(stages.mesonetOneThread[0]!.intraOpThreads).toBe(1);
  });

  it("measures ONNX Runtime's settings per MesoNet model, every variant as often as its model's default", () => {
    const { rows } = result.mesonetSettings;
    for (const model of ["meso4-df", "mesoinception4-df"]) {
      const mine = rows.filter((r) => r.model === model);
      expect(mine.map((r) => [r.label, r.batch])).toContainEqual(["default (1 thread)", 1]);
      expect(mine.length).toBeGreaterThan(4);
      const runs = mine[0]!.wallMsPerCrop.n;
      expect(runs).toBeGreaterThan(0);
      for (const r of mine) {
        expect(r.wallMsPerCrop.n).toBe(runs);
        expectSummary(r.wallMsPerCrop);
        expect(r.cpuMsPerCrop.n).toBe(runs);
        expect(r.cpuMsPerCrop.p50).toBeGreaterThan(0);
        expect(r.cropsPerSec).toBeGreaterThan(0);
      }
    }
    expect(run.stdout).toContain("ONNX Runtime settings");
  });

  it("has GPU rows where a GPU provider loads, and otherwise says plainly why not, in the JSON and the table", () => {
    const { gpu, stages } = result;
    const gpuLoads = stages.providers.some((p) => p.usable && (p.provider === "tensorrt" || p.provider === "cuda"));
    expect(gpu.present).toBe(gpuLoads);
    if (EXPECT_GPU) expect(gpu.present).toBe(true);
    if (!gpu.present) {
      expect(gpu.mesonet).toEqual([]);
      expect(gpu.endToEnd).toEqual([]);
      expect(gpu.absentBecause.length).toBeGreaterThan(0);
      for (const reason of gpu.absentBecause) {
        expect(reason).toMatch(/^(tensorrt|cuda): .*(GPU provider libraries are not installed|no usable CUDA device)/);
      }
      expect(run.stdout).toContain("GPU: no rows, because no GPU provider loads here");
      for (const reason of gpu.absentBecause) expect(run.stdout).toContain(`  - ${reason}`);
      return;
    }
    // Both inputs at every batch size, per GPU provider; device-bound rows really ran device batches.
    expect(gpu.mesonet.map((m) => m.batch)).toEqual(expect.arrayContaining([1, 8, 32, 128, 256, 1024]));
    for (const m of gpu.mesonet) {
      expect(m.cropsPerSec).toBeGreaterThan(0);
      expect(m.deviceBatches.mode).toBe(m.input === "device-bound" ? "cuda" : "off");
      if (m.input === "device-bound") expect(m.deviceBatches).toMatchObject({ active: true, canary: { state: "passed" } });
    }
    for (const e of gpu.endToEnd) expect(e.framesPerSec).toBeGreaterThan(0);
  });

  it("runs participants end to end against a real server and reads its metrics", () => {
    const { endToEnd } = result;
    expect(endToEnd.serverArgs).toEqual(expect.arrayContaining(["--max-fps", "1000", "--score-rate-hz", "1000"]));
    expect(endToEnd.sweep.length).toBeGreaterThanOrEqual(1);
    expect(endToEnd.extra.map((p) => p.frame)).toContain("1280x720");
    for (const p of [...endToEnd.sweep, ...endToEnd.extra]) {
      expect(p.framesSent).toBeGreaterThan(0);
      expect(p.framesScored).toBeGreaterThan(0);
      expect(p.framesMatched).toBeGreaterThan(0);
      expect(p.framesMatched).toBeLessThanOrEqual(p.framesSent);
      expect(p.sustainedFps).toBeGreaterThan(0);
      expect(p.facesPerSec).toBeGreaterThan(0);
      expectSummary(p.latencyMs);
      expect(p.drops.total).toBeGreaterThanOrEqual(0);
      expect(p.server.metricsPolls).toBeGreaterThan(0);
      expect(p.server.eventLoopDelayMaxMs).toBeGreaterThan(0);
      expect(p.server.eventLoopStallMaxMs).toBeGreaterThanOrEqual(0);
      expect(p.server.rssMaxMiB).toBeGreaterThan(0);
      // The server's CPU over the window, per frame it scored: user + system, and busy cores within the machine's.
      expect(p.server.cpuMsPerFrame).toBeGreaterThan(0);
      expect(p.server.cpuMsPerFrame).toBeCloseTo(p.server.cpuUserMsPerFrame + p.server.cpuSystemMsPerFrame, 2);
      expect(p.server.cpuCores).toBeGreaterThan(0);
      expect(p.server.cpuCores).toBeLessThanOrEqual(result.machine.cores + 0.1);
      expect(p.p99WithinBound).toBe(p.latencyMs.p99 <= endToEnd.boundMs);
      // The participants' own event loop, sampled every 1 ms over the window: its delays are in the latencies too.
      expect(p.participantsLoop.delayP99Ms).toBeGreaterThanOrEqual(1);
      expect(p.participantsLoop.stallMaxMs).toBeGreaterThanOrEqual(p.participantsLoop.delayP99Ms - 1 - 0.01);
      // Each participant sends on its own fixed clock, evenly staggered: one frame every 1000 / offeredFps ms.
      expect(p.sendGapMs.n).toBe(p.framesSent - 1);
      if (p.participants > 1) {
        expect(p.sendGapMs.p50).toBeGreaterThan((0.65 * 1000) / p.offeredFps);
        expect(p.sendGapMs.p50).toBeLessThan((1.35 * 1000) / p.offeredFps);
        expect(p.sendsBunched).toBeLessThan(0.1);
      }
    }
    // CPU per frame at the fixed load (4 x 30 fps): the sweep's point at that load.
    expect(endToEnd.cpuAtFixedLoad).toMatchObject({ frame: "640x480", participants: 4, fpsPerParticipant: 30 });
    expect(endToEnd.sweep).toContainEqual(endToEnd.cpuAtFixedLoad);
    expect(run.stdout).toContain(`Server CPU per scored frame at 4 x 30 fps (process.cpuUsage() over the window / frames scored): ${endToEnd.cpuAtFixedLoad.server.cpuMsPerFrame} ms`);
    if (endToEnd.knee) {
      expect(endToEnd.knee.p99WithinBound).toBe(true);
      for (const p of endToEnd.sweep.filter((q) => q.p99WithinBound)) expect(endToEnd.knee.sustainedFps).toBeGreaterThanOrEqual(p.sustainedFps);
    }
  });

  it("runs 1 node, then 2 nodes on a real redis-server at the same load, and times a score crossing nodes", () => {
    const { cluster } = result;
    expect(cluster.present).toBe(REDIS_TOOL.present());
    if (!cluster.present) {
      expect(cluster.absentBecause).toContain("redis-server is not installed");
      expect(run.stdout).toContain(`Cluster: no rows, because ${cluster.absentBecause}`);
      return;
    }
    expect(cluster.serverArgs).toEqual(expect.arrayContaining(["--redis-url", "--score-rate-hz", "1000"]));
    expect(cluster.runs.map((r) => r.nodes)).toEqual([1, 2]);
    const [one, two] = cluster.runs as [ClusterRun, ClusterRun];
    expect(two.offeredFps).toBe(one.offeredFps); // the same offered load, split over the nodes
    for (const r of cluster.runs) {
      expect(r.perNode).toHaveLength(r.nodes);
      expect(r.perNode.reduce((s, n) => s + n.participants, 0)).toBe(r.participants);
      for (const n of r.perNode) {
        expect(n.framesScored).toBeGreaterThan(0);
        expect(n.framesMatched).toBeGreaterThan(0);
        expectSummary(n.latencyMs);
      }
      expect(r.sustainedFps).toBeCloseTo(r.perNode.reduce((s, n) => s + n.sustainedFps, 0), 0);
      expect(r.latencyP99Ms).toBeGreaterThanOrEqual(r.latencyP50Ms);
    }
    expect(cluster.scaling).toBeCloseTo(two.sustainedFps / one.sustainedFps, 1);
    // Both observers saw scores of the other node's participants; the relay through Redis takes time.
    const delay = cluster.crossNodeDelayMs;
    expect(delay.n).toBeGreaterThan(0);
    expect(delay.p50).toBeGreaterThan(0);
    expect(delay.p95).toBeGreaterThanOrEqual(delay.p50);
    expect(run.stdout).toMatch(/cross-node delay of a score .*median [\d.]+ ms, p95 [\d.]+ ms/);
    expect(run.stdout).toContain("cannot reach 2x here");
  });

  it("runs the plain-JS baseline on the same frames and compares", () => {
    const { baseline, comparison, targets } = result;
    expect(baseline.results.map((b) => b.frame)).toEqual(["640x480", "1280x720"]);
    for (const b of baseline.results) {
      expect(b.framesPerSec).toBeGreaterThan(0);
      expect(b.facesFound).toBe(b.frames); // the JS decode finds the face in every frame
      expectSummary(b.latencyMs);
      expectSummary(b.stages.mesonetMs);
      expect(b.lastFake).toBeGreaterThanOrEqual(0);
      expect(b.lastFake).toBeLessThanOrEqual(1);
    }
    expect(comparison.baselineFps).toBe(baseline.results[0]!.framesPerSec);
    expect(comparison.stageRatio).toBeGreaterThan(0);
    expect(comparison.stageMs.mesoguard.sum).toBeGreaterThan(0);
    expect(comparison.stageMs.baseline.sum).toBeGreaterThan(0);
    if (comparison.endToEndRatio !== null) expect(comparison.endToEndRatio).toBeGreaterThan(0);
    expect(comparison.stageRatio).toBeCloseTo(comparison.stageMs.baseline.sum / comparison.stageMs.mesoguard.sum, 1);
    // The published graphs for the goal row; the same pipeline on mesoguard's graphs beside it, 640x480.
    expect(baseline.graphs).toBe("published");
    const same = baseline.withMesoguardGraphs;
    expect(same.frame).toBe("640x480");
    expect(same.facesFound).toBe(same.frames);
    // The goal row's stage medians: mesoguard and both baselines alternated in blocks over the same seconds, each
    // pipeline the same number of frames, the face found in every one.
    const { stageComparison } = result;
    expect(stageComparison.frame).toBe("640x480");
    expect(stageComparison.blocks).toBeGreaterThanOrEqual(2);
    const perPipeline = stageComparison.blocks * stageComparison.blockFrames;
    const medians = (m: StageMedians) => ({ decode: m.decodeMs.p50, detect: m.detectMs.p50, crop: m.cropMs.p50, mesonet: m.mesonetMs.p50 });
    for (const m of [stageComparison.mesoguard, stageComparison.baseline, stageComparison.baselineOnMesoguardGraphs]) {
      expect(m.facesFound).toBe(perPipeline);
      for (const summary of [m.decodeMs, m.detectMs, m.cropMs, m.mesonetMs]) {
        expect(summary.n).toBe(perPipeline);
        expectSummary(summary);
      }
    }
    expect(comparison.stageMs.mesoguard).toMatchObject(medians(stageComparison.mesoguard));
    expect(comparison.stageMs.baseline).toMatchObject(medians(stageComparison.baseline));
    const s = medians(stageComparison.baselineOnMesoguardGraphs);
    const sum = s.decode + s.detect + s.crop + s.mesonet;
    expect(comparison.withMesoguardGraphs.baselineSum).toBeCloseTo(sum, 2);
    expect(comparison.withMesoguardGraphs.stageRatio).toBeCloseTo(sum / comparison.stageMs.mesoguard.sum, 1);
    expect(run.stdout).toContain(`alternated in blocks of ${stageComparison.blockFrames} frames, ${stageComparison.blocks} blocks each`);
    // Both pipelines score the same face alike: the plain conversion and mesoguard's graph are the same model.
    expect(Math.abs(same.lastFake! - baseline.results[0]!.lastFake!)).toBeLessThan(1e-3);
  });

  it("evaluates issue 15's goal rows from the measurements", () => {
    const { targets, stages, endToEnd, comparison } = result;
    expect(targets.map((t) => t.name)).toEqual([
      "MesoNet meso4, batch 1, one ONNX Runtime thread",
      "face crop render, one 256x256 bilinear crop",
      `end to end, 640x480 JPEG, one face, p99 <= ${GOALS.kneeBoundMs} ms`,
      "stage medians, decode + detect + crop + MesoNet, baseline over mesoguard",
      endToEnd.knee ? "server event-loop stall, loads up to the knee" : "server event-loop stall, lightest load",
      "end-to-end frames/s (at the knee) over the baseline's",
    ]);
    const [mesonet, crop, knee, stageRatio, stall, ratio] = targets as [Target, Target, Target, Target, Target, Target];
    const isMet = (t: Target, atLeast: boolean, goal: number) => t.measured !== null && (atLeast ? t.measured >= goal : t.measured <= goal);

    expect(mesonet.measured).toBe(stages.mesonetOneThread[0]!.cropsPerSec);
    expect(mesonet.note).toContain(`process CPU ${stages.mesonetOneThread[0]!.cpuMsPerCrop} ms per crop`);
    expect(mesonet.met).toBe(isMet(mesonet, true, GOALS.mesonetCropsPerSec));

    const cropRow = stages.render.rows.find((r) => r.geometry === "face crop 256, bilinear")!;
    expect(crop.measured).toBeCloseTo(stages.render.pipelineCropMs.p50, 3);
    expect(crop.met).toBe(isMet(crop, false, GOALS.cropRenderMs));
    // The preprocess() round trip less its call overhead stays in the note.
    expect(crop.note).toContain(`${Math.round(Math.max(0, cropRow.fastMs.p50 - stages.render.overheadMs.p50) * 1000) / 1000} ms`);

    expect(knee.measured).toBe(endToEnd.knee?.sustainedFps ?? null);
    expect(knee.met).toBe(isMet(knee, true, GOALS.kneeFps));

    expect(stageRatio.measured).toBe(comparison.stageRatio);
    expect(stageRatio.met).toBe(isMet(stageRatio, true, GOALS.stageRatio));

    const carried = endToEnd.knee ? endToEnd.sweep.filter((p) => p.offeredFps <= endToEnd.knee!.offeredFps) : endToEnd.sweep.slice(0, 1);
    expect(stall.measured).toBe(Math.max(...carried.map((p) => p.server.eventLoopStallMaxMs)));
    expect(stall.met).toBe(isMet(stall, false, GOALS.eventLoopStallMs));

    expect(ratio.measured).toBe(comparison.endToEndRatio);
    expect(ratio.met).toBe(isMet(ratio, true, GOALS.endToEndRatio));

    for (const t of targets) expect(run.stdout).toContain(t.name);
  });

  it("keeps bench/results/ out of git except .gitkeep", () => {
    expect(existsSync(path.join(root, "bench/results/.gitkeep"))).toBe(true);
    const ignore = readFileSync(path.join(root, ".gitignore"), "utf8");
    expect(ignore).toContain("bench/results/*");
    expect(ignore).toContain("!bench/results/.gitkeep");
  });
});

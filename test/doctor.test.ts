// `mesoguard doctor`, run as a user runs it (the compiled bin in a child process, the real addon and models). Here
// there is no GPU and onnxruntime-node was installed with ONNXRUNTIME_NODE_INSTALL=skip: the doctor must say so.
// With MESOGUARD_EXPECT_GPU=1 (a GPU host with the providers installed) the GPU assertions flip.
import { spawnSync } from "node:child_process";
import path from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../src/models/paths.js";
import type { DoctorReport } from "../src/cli/doctorCommand.js";
import { nvccVersion } from "../src/install/systemPackages.js";
import { defaultTensorRtCacheDir } from "../src/scoring/scorerOptions.js";
import { EXPECT_GPU } from "./helpers/paths.js";

const root = packageRoot();
const bin = path.join(root, "dist/src/cli/main.js");

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: root, timeout: 120_000 });
}

let run: ReturnType<typeof mesoguard>;
let report: DoctorReport;

beforeAll(() => {
  run = mesoguard("doctor", "--json", "--seconds", "1");
  report = JSON.parse(run.stdout) as DoctorReport;
}, 150_000);

describe("mesoguard doctor --json", () => {
  it("prints one JSON object and exits 0", () => {
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim().split("\n")).toHaveLength(1);
    expect(report.node.version).toBe(process.version);
    expect(report.addon.buildSystem).toBe("cmake-js");
    expect(report.addon.cudaBuilt).toBe(nvccVersion() !== undefined);
    expect(report.addon.ortVersion).toBe("1.30.0");
  });

  it("lists the providers: CPU loads; TensorRT and CUDA load only on a GPU host, else each with ONNX Runtime's reason", () => {
    const byName = new Map(report.providers.map((p) => [p.provider, p]));
    expect(byName.get("cpu")?.usable).toBe(true);
    for (const name of ["tensorrt", "cuda"] as const) {
      const probe = byName.get(name);
      expect(probe, name).toBeDefined();
      expect(probe!.usable).toBe(EXPECT_GPU);
      if (!EXPECT_GPU) expect(probe!.reason.length).toBeGreaterThan(0);
    }
  });

  it("says plainly why the GPU is absent: missing provider libraries (the skip install), no driver, no CUDA device", () => {
    expect(report.gpu.usable).toBe(EXPECT_GPU);
    if (EXPECT_GPU) {
      expect(report.gpu.providers.length).toBeGreaterThan(0);
      return;
    }
    expect(report.gpu.reasons.length).toBeGreaterThan(0);
    const reasons = report.gpu.reasons.join("\n");
    // What is really missing on this machine is named, with the cause and the fix.
    for (const lib of report.addon.missingGpuProviderLibraries) expect(reasons).toContain(lib);
    if (report.addon.missingGpuProviderLibraries.length > 0) expect(reasons).toContain("ONNXRUNTIME_NODE_INSTALL=skip");
    if (!report.cuda.available) expect(reasons).toContain(report.cuda.reason);
    if (report.driver.nvidiaSmi === null) expect(reasons).toContain(report.driver.reason);
    // The same words reach each unusable GPU provider (the bench prints them too).
    for (const p of report.providers.filter((p) => p.provider === "tensorrt" || p.provider === "cuda")) {
      if (report.addon.missingGpuProviderLibraries.length > 0) expect(p.hint).toContain("ONNXRUNTIME_NODE_INSTALL=skip");
    }
  });

  it("reports the TensorRT engine cache folder and what it holds", () => {
    const cache = report.tensorrtCache;
    expect(cache.dir).toBe(defaultTensorRtCacheDir());
    expect(cache.totalBytes).toBe(cache.files.reduce((sum, f) => sum + f.bytes, 0));
  });

  it("runs the render parity check where the cmake build made it (where nvcc is)", () => {
    const { parity } = report;
    expect(parity.built).toBe(nvccVersion() !== undefined);
    if (!parity.built) {
      expect(parity.error).toContain("not built");
      return;
    }
    expect(parity.exitCode).toBe(0);
    expect(parity.report!.cases).toBeGreaterThan(0);
    expect(parity.report!.gpu.available).toBe(EXPECT_GPU);
    expect(parity.report!.verdict).toBe(EXPECT_GPU ? "agree" : "no-gpu");
  });

  it("measures MesoNet's throughput at batch 1 and 8 on every provider that loads", () => {
    const usable = report.providers.filter((p) => p.usable).map((p) => p.provider);
    expect(report.throughput.map((t) => `${t.provider}/${t.batch}`)).toEqual(usable.flatMap((p) => [`${p}/1`, `${p}/8`]));
    for (const t of report.throughput) {
      expect(t.crops).toBeGreaterThan(0);
      expect(t.cropsPerSec).toBeGreaterThan(0);
      expect(t.meanBatchSize).toBeGreaterThanOrEqual(1);
      expect(t.meanBatchSize).toBeLessThanOrEqual(t.batch);
      expect(t.seconds).toBeGreaterThanOrEqual(0.5);
      // Device batches: on a GPU provider they run and the canary passes; on the CPU they are off, and why.
      if (t.provider === "cpu") {
        expect(t.deviceBatches).toMatchObject({ mode: "off", active: false, reason: expect.stringMatching(/CPU provider/) });
      } else {
        expect(t.deviceBatches).toMatchObject({ mode: "cuda", active: true, canary: { state: "passed" } });
      }
    }
  });
});

describe("mesoguard doctor", () => {
  it("prints a readable report with the verdict last", () => {
    const human = mesoguard("doctor", "--seconds", "0");
    expect(human.status, human.stderr).toBe(0);
    for (const heading of ["ONNX Runtime providers", "TensorRT engine cache", "render parity", "driver", "CUDA"]) {
      expect(human.stdout).toContain(heading);
    }
    expect(human.stdout).not.toContain("MesoNet throughput"); // --seconds 0 skips the probe
    const last = human.stdout.trim().split("\n").filter((l) => !l.startsWith("  - "));
    expect(last[last.length - 1]).toBe(EXPECT_GPU ? expect.stringMatching(/^GPU: usable/) : "GPU: not usable here, because:");
  }, 120_000);

  it.runIf(!EXPECT_GPU && nvccVersion() !== undefined)("exits 1 when the parity check fails: no GPU under MESOGUARD_EXPECT_GPU=1", () => {
    const expecting = spawnSync(process.execPath, [bin, "doctor", "--json", "--seconds", "0"], {
      encoding: "utf8",
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, MESOGUARD_EXPECT_GPU: "1" },
    });
    expect(expecting.status).toBe(1);
    const failed = JSON.parse(expecting.stdout) as DoctorReport;
    expect(failed.parity.exitCode).toBe(2);
    expect(failed.parity.report!.expectGpu).toBe(true);
  }, 120_000);

  it("refuses a bad --seconds", () => {
    const bad = mesoguard("doctor", "--seconds", "soon");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--seconds");
  });
});

// `mesoguard doctor [--json] [--seconds N]`: what this machine runs mesoguard on, and in plain words why not the GPU.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { promisify } from "node:util";

import type { NativeDeviceBatchStatus, ProviderName, RuntimeInfo } from "../native/addonTypes.js";
import { loadAddon, resolveAddonPath } from "../native/loadAddon.js";
import { renderParityPath, runRenderParity, type RenderParityReport } from "../native/renderParity.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { defaultTensorRtCacheDir } from "../scoring/scorerOptions.js";
import {
  gpuAbsenceReasons,
  missingGpuProviderLibraries,
  probeProviders,
  shortOrtReason,
  type ProviderProbe,
} from "../scoring/providerProbe.js";

export const DOCTOR_USAGE = `Usage: mesoguard doctor [--json] [--seconds N]

Reports what this machine runs mesoguard on: Node and the addon build, the NVIDIA driver and CUDA devices, which
ONNX Runtime providers load (and why the others do not), the TensorRT engine cache, the CPU-vs-GPU render parity
check, and MesoNet's throughput on each provider that loads (crops/s at batch 1 and 8, and whether device batches
ran there and passed the startup canary, or why they are off).

Options:
  --json         one JSON object
  --seconds N    length of the throughput probe per provider, split between batch 1 and 8 (default 5; 0 skips it)
  -h, --help     this text

Exit status 1 when the parity check fails (the GPU renders differently, a CUDA error, or no GPU while
MESOGUARD_EXPECT_GPU=1) or no provider loads.`;

const PROBE_BATCHES = [1, 8] as const;

export interface ThroughputRow {
  provider: ProviderName;
  batch: number;
  seconds: number;
  crops: number;
  cropsPerSec: number;
  /** Mean batch ONNX Runtime really ran (the queue forms it). */
  meanBatchSize: number;
  /** Whether the probe ran device batches (on a GPU provider) and the startup canary's outcome, or why not. */
  deviceBatches: NativeDeviceBatchStatus;
}

export interface DoctorReport {
  node: { version: string; platform: string; arch: string };
  addon: {
    path: string;
    buildSystem: RuntimeInfo["buildSystem"];
    cudaBuilt: boolean;
    ortVersion: string;
    ortLibraryPath: string;
    availableProviders: string[];
    /** onnxruntime-node's GPU provider libraries missing beside libonnxruntime.so.1. */
    missingGpuProviderLibraries: string[];
  };
  driver: { nvidiaSmi: string[] | null; reason: string };
  cuda: RuntimeInfo["cuda"];
  providers: ProviderProbe[];
  tensorrtCache: { dir: string; exists: boolean; files: Array<{ name: string; bytes: number }>; totalBytes: number };
  parity: { path: string; built: boolean; exitCode: number | null; report: RenderParityReport | null; error: string | null };
  throughput: ThroughputRow[];
  /** The verdict in one line: whether mesoguard can use a GPU here and, if not, every reason found. */
  gpu: { usable: boolean; providers: ProviderName[]; reasons: string[] };
}

export async function runDoctorCommand(argv: string[], out: (line: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean", default: false },
      seconds: { type: "string", default: "5" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    out(DOCTOR_USAGE);
    return 0;
  }
  const seconds = Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds < 0) {
    process.stderr.write(`mesoguard doctor: --seconds must be a number >= 0\n\n${DOCTOR_USAGE}\n`);
    return 2;
  }
  const report = await diagnose(seconds);
  out(values.json ? JSON.stringify(report) : formatDoctorReport(report));
  const parityFailed = report.parity.exitCode !== null && report.parity.exitCode !== 0;
  return parityFailed || !report.providers.some((p) => p.usable) ? 1 : 0;
}

export async function diagnose(seconds: number): Promise<DoctorReport> {
  const addon = loadAddon();
  const info = addon.runtimeInfo();
  const providers = await probeProviders(addon);
  const usable = providers.filter((p) => p.usable).map((p) => p.provider!);
  const throughput: ThroughputRow[] = [];
  if (seconds > 0) {
    for (const provider of usable) {
      for (const batch of PROBE_BATCHES) throughput.push(await measureThroughput(provider, batch, seconds / PROBE_BATCHES.length));
    }
  }
  const driver = await nvidiaDriver();
  const parity = await renderParity();
  const gpuProviders = usable.filter((p) => p !== "cpu");
  const reasons: string[] = [];
  if (gpuProviders.length === 0) {
    reasons.push(...gpuAbsenceReasons(info));
    if (!info.cuda.built) reasons.push(`CUDA: ${info.cuda.reason}`);
    if (!driver.nvidiaSmi) reasons.push(`driver: ${driver.reason}`);
    // ONNX Runtime's own words where nothing above explains the failure.
    if (reasons.length === 0) {
      for (const p of providers.filter((p) => !p.usable && p.provider && p.provider !== "cpu")) {
        reasons.push(`${p.provider}: ${shortOrtReason(p.reason)}`);
      }
    }
  }
  return {
    node: { version: process.version, platform: process.platform, arch: process.arch },
    addon: {
      path: resolveAddonPath()!,
      buildSystem: info.buildSystem,
      cudaBuilt: info.cuda.built,
      ortVersion: info.ortVersion,
      ortLibraryPath: path.resolve(info.ortLibraryPath),
      availableProviders: info.availableProviders,
      missingGpuProviderLibraries: missingGpuProviderLibraries(info),
    },
    driver,
    cuda: info.cuda,
    providers,
    tensorrtCache: tensorRtCache(),
    parity,
    throughput,
    gpu: { usable: gpuProviders.length > 0, providers: gpuProviders, reasons },
  };
}

/** nvidia-smi's one line per GPU, or why there is none. */
async function nvidiaDriver(): Promise<DoctorReport["driver"]> {
  try {
    const { stdout } = await promisify(execFile)(
      "nvidia-smi",
      ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
      { timeout: 15_000 },
    );
    const lines = stdout.trim().split("\n").filter(Boolean);
    return { nvidiaSmi: lines, reason: `${lines.length} GPU(s)` };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const reason =
      e.code === "ENOENT"
        ? "nvidia-smi not found: no NVIDIA driver is installed"
        : `nvidia-smi failed: ${(e.stderr || e.message).trim()}`;
    return { nvidiaSmi: null, reason };
  }
}

function tensorRtCache(): DoctorReport["tensorrtCache"] {
  const dir = defaultTensorRtCacheDir();
  if (!existsSync(dir)) return { dir, exists: false, files: [], totalBytes: 0 };
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => ({ name: e.name, bytes: statSync(path.join(dir, e.name)).size }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return { dir, exists: true, files, totalBytes: files.reduce((sum, f) => sum + f.bytes, 0) };
}

async function renderParity(): Promise<DoctorReport["parity"]> {
  const file = renderParityPath();
  if (!existsSync(file)) {
    return { path: file, built: false, exitCode: null, report: null, error: "not built: the cmake build makes it where nvcc is on PATH" };
  }
  try {
    const run = await runRenderParity({ file });
    return { path: file, built: true, exitCode: run.exitCode, report: run.report, error: null };
  } catch (error) {
    return { path: file, built: true, exitCode: null, report: null, error: (error as Error).message };
  }
}

/** A 256x256 RGB face-crop-sized frame: MesoNet's own input size, so nothing but inference is measured. */
function probeCrop(): Uint8Array {
  const data = new Uint8Array(256 * 256 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 8) * 11) & 0xff;
  return data;
}

/** `batch` crops submitted at once, again and again for `seconds`, to a scorer that batches up to `batch`. */
async function measureThroughput(provider: ProviderName, batch: number, seconds: number): Promise<ThroughputRow> {
  const scorer = await MesoNetScorer.create({ model: "meso4-df", provider, detector: false, maxBatch: batch, maxWaitMs: 50 });
  const input = { kind: "rgb" as const, data: probeCrop(), width: 256, height: 256 };
  const round = () => Promise.all(Array.from({ length: batch }, () => scorer.score(input)));
  try {
    for (let i = 0; i < 3; i++) await round(); // warm-up: first runs allocate (and TensorRT may build its engine)
    let crops = 0;
    let batchSum = 0;
    const started = performance.now();
    let elapsed = 0;
    while (elapsed < seconds * 1000) {
      const results = await round();
      crops += results.length;
      for (const r of results) batchSum += r.timings.batchSize;
      elapsed = performance.now() - started;
    }
    return {
      provider,
      batch,
      seconds: Math.round(elapsed) / 1000,
      crops,
      cropsPerSec: Math.round((crops * 10_000) / elapsed) / 10,
      meanBatchSize: Math.round((batchSum / crops) * 100) / 100,
      deviceBatches: scorer.info().deviceBatches!,
    };
  } finally {
    await scorer.close();
  }
}

function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [];
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  lines.push("mesoguard doctor", "");
  lines.push(`node      ${r.node.version} ${r.node.platform}/${r.node.arch}`);
  lines.push(`addon     ${r.addon.path}`);
  lines.push(`          built by ${r.addon.buildSystem}, CUDA kernels ${r.addon.cudaBuilt ? "built in" : "not built"}`);
  lines.push(`ORT       ${r.addon.ortVersion} (${r.addon.ortLibraryPath})`);
  lines.push(`          lists ${r.addon.availableProviders.join(", ")}`);
  if (r.addon.missingGpuProviderLibraries.length > 0) {
    lines.push(`          GPU provider libraries missing: ${r.addon.missingGpuProviderLibraries.join(", ")}`);
  }
  lines.push(`driver    ${r.driver.nvidiaSmi ? r.driver.nvidiaSmi.join("; ") : r.driver.reason}`);
  lines.push(
    `CUDA      ${r.cuda.available ? `${r.cuda.deviceCount} device(s)` : "unavailable"}: ${r.cuda.reason}`,
    "",
  );
  lines.push("ONNX Runtime providers");
  lines.push(
    ...table(
      ["provider", "loads", "why"],
      r.providers.map((p) => [p.provider ?? p.ortName, p.usable ? "yes" : "no", shortOrtReason(p.reason)]),
    ),
    "",
  );
  const cache = r.tensorrtCache;
  lines.push(
    `TensorRT engine cache  ${cache.dir}: ` +
      (cache.exists ? `${cache.files.length} file(s), ${kb(cache.totalBytes)}` : "not created yet (made by the first TensorRT session)"),
  );
  for (const f of cache.files.slice(0, 20)) lines.push(`  ${f.name}  ${kb(f.bytes)}`);
  lines.push("");
  const p = r.parity;
  if (!p.built || !p.report) {
    lines.push(`render parity  ${p.error}`);
  } else {
    const rep = p.report;
    const gpu = rep.gpu.available
      ? `${rep.gpu.name} (compute capability ${rep.gpu.computeCapability}), driver ${rep.gpu.driverVersion}`
      : `no GPU: ${rep.gpu.reason}`;
    lines.push(`render parity  ${gpu}`);
    lines.push(
      rep.compared
        ? `               ${rep.cases} cases, ${rep.differing} differing, max |d| ${rep.maxAbsDiff}; ` +
            `CPU ${rep.cpuMsMedian} ms, GPU ${rep.gpuMsMedian} ms per render (median): ${rep.verdict.toUpperCase()}`
        : `               ${rep.cases} cases rendered on the CPU only, nothing compared (exit ${p.exitCode})`,
    );
  }
  lines.push("");
  if (r.throughput.length > 0) {
    lines.push("MesoNet throughput (meso4-df, one 256x256 crop per item)");
    lines.push(
      ...table(
        ["provider", "batch", "crops/s", "mean batch", "seconds", "device batches"],
        r.throughput.map((t) => [
          t.provider,
          String(t.batch),
          t.cropsPerSec.toFixed(1),
          t.meanBatchSize.toFixed(2),
          t.seconds.toFixed(1),
          t.deviceBatches.active ? `${t.deviceBatches.mode}, canary ${t.deviceBatches.canary.state}` : `off: ${t.deviceBatches.reason}`,
        ]),
      ),
      "",
    );
  }
  if (r.gpu.usable) {
    lines.push(`GPU: usable (${r.gpu.providers.join(", ")})`);
  } else {
    lines.push("GPU: not usable here, because:");
    for (const reason of r.gpu.reasons) lines.push(`  - ${reason}`);
  }
  return lines.join("\n");
}

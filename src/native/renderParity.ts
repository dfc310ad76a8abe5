// The CPU-vs-CUDA render parity check (native/cuda/render_parity.cc), built by the cmake build where nvcc exists.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

import { packageRoot } from "../models/paths.js";

/** Where the cmake build puts it (beside build-cmake/Release/mesoguard.node). */
export function renderParityPath(): string {
  return path.join(packageRoot(), "build-cmake", "Release", "mesoguard-render-parity");
}

/** Its `--json` summary. */
export interface RenderParityReport {
  tool: "mesoguard-render-parity";
  /** True only for the -fmad probe build, which is expected to differ. */
  fmadContraction: boolean;
  gpu: {
    available: boolean;
    reason: string;
    device: number;
    deviceCount: number;
    name: string | null;
    computeCapability: string | null;
    /** "none" where no NVIDIA driver is installed. */
    driverVersion: string;
    runtimeVersion: string;
  };
  expectGpu: boolean;
  /** False where there is no GPU: the CPU side ran, nothing was compared. */
  compared: boolean;
  cases: number;
  differing: number;
  /** null where a value was NaN on one side only. */
  maxAbsDiff: number | null;
  reps: number;
  cpuMsMedian: number | null;
  gpuMsMedian: number | null;
  groups: Array<{
    geometry: string;
    mode: string;
    cases: number;
    differing: number;
    maxAbsDiff: number | null;
    cpuMs: number | null;
    gpuMs: number | null;
  }>;
  differences: Array<{ case: string; maxAbsDiff: number | null; values: number }>;
  cudaError: string | null;
  verdict: "agree" | "differ" | "no-gpu" | "cuda-error";
  exitCode: number;
}

export interface RenderParityRun {
  exitCode: number;
  report: RenderParityReport;
  /** The human-readable report (the tool writes it to stderr under --json). */
  text: string;
}

/** Runs the check with --json. Rejects when it is missing or prints no JSON. */
export function runRenderParity(
  options: { file?: string; env?: NodeJS.ProcessEnv; args?: string[]; timeoutMs?: number } = {},
): Promise<RenderParityRun> {
  const file = options.file ?? renderParityPath();
  if (!existsSync(file)) return Promise.reject(new Error(`${file} is not built (the cmake build makes it where nvcc is on PATH)`));
  return new Promise((resolve, reject) => {
    execFile(
      file,
      ["--json", ...(options.args ?? [])],
      { env: options.env ?? process.env, timeout: options.timeoutMs ?? 300_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        try {
          resolve({ exitCode, report: JSON.parse(stdout) as RenderParityReport, text: stderr });
        } catch {
          reject(new Error(`${file} exited ${exitCode} without a JSON report: ${(error?.message ?? "") + stderr}`));
        }
      },
    );
  });
}

// The CUDA kernel and the CPU path run the same pixel math (native/pixel_math.h); they agree exactly only if neither
// compiler contracts a*b + c into FMAs. These tests read the flags the builds really used, show on this machine's
// compilers that the flags are what stops the contraction, and run mesoguard-render-parity, the CPU-vs-GPU check
// (it reports "no GPU" and exits 0 here; with MESOGUARD_EXPECT_GPU=1 on a GPU host it must find every case equal).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { nvccVersion } from "../../src/install/systemPackages.js";
import { renderParityPath, runRenderParity } from "../../src/native/renderParity.js";
import { EXPECT_GPU, ROOT, TEST_TIMEOUT } from "../helpers/paths.js";

interface CompileCommand {
  directory: string;
  command: string;
  file: string;
}

const HAS_NVCC = nvccVersion() !== undefined;
const PARITY = renderParityPath();
const tmp = mkdtempSync(path.join(tmpdir(), "mesoguard-parity-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cmakeCompileCommands(): CompileCommand[] {
  return JSON.parse(readFileSync(path.join(ROOT, "build-cmake", "compile_commands.json"), "utf8")) as CompileCommand[];
}

function commandFor(suffix: string): CompileCommand {
  const found = cmakeCompileCommands().find((c) => c.file.endsWith(suffix));
  if (!found) throw new Error(`no compile command for ${suffix} in build-cmake/compile_commands.json`);
  return found;
}

/** The recorded command's arguments without its output (-c, -o FILE) and without `drop`. */
function argsOf(command: CompileCommand, drop: (arg: string) => boolean): string[] {
  const args = command.command.split(/\s+/).filter(Boolean);
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-o") i++;
    else if (args[i] !== "-c" && !drop(args[i]!)) kept.push(args[i]!);
  }
  return kept;
}

/** x86-64 FMA instructions in g++'s assembly of the recorded preprocess.cc command, built for an FMA-capable CPU. */
function hostFmaCount(keepContractOff: boolean): number {
  const command = commandFor("native/preprocess.cc");
  const [compiler, ...args] = argsOf(command, (a) => !keepContractOff && a === "-ffp-contract=off");
  const asm = execFileSync(compiler!, [...args, "-march=haswell", "-S", "-o", "-"], {
    cwd: command.directory,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return (asm.match(/\bvf(n?m)(add|sub)\w*/g) ?? []).length;
}

/** The CUDA sources, each with a render kernel: one crop per launch, and a device batch per launch. */
const CUDA_SOURCES = ["native/cuda/batch_memory_cuda.cu", "native/cuda/preprocess_cuda.cu"];

/** fma.rn.f32 in the PTX nvcc makes of the recorded command of `source` (a render kernel). */
function deviceFmaCount(source: string, keepFmadFalse: boolean): number {
  const command = commandFor(source);
  const [nvcc, ...args] = argsOf(
    command,
    (a) => a.startsWith("--generate-code") || (!keepFmadFalse && a === "-fmad=false"),
  );
  const out = path.join(tmp, `${path.basename(source)}-${keepFmadFalse}.ptx`);
  execFileSync(nvcc!, [...args, "-arch=compute_90", "-ptx", "-o", out], { cwd: command.directory });
  return (readFileSync(out, "utf8").match(/\bfma\.rn\.f32\b/g) ?? []).length;
}

describe("no FMA contraction in the shared pixel math", { timeout: TEST_TIMEOUT }, () => {
  it("the cmake build compiles every C++ source with -ffp-contract=off and every CUDA source with -fmad=false", () => {
    const commands = cmakeCompileCommands();
    const cxx = commands.filter((c) => c.file.endsWith(".cc"));
    const cuda = commands.filter((c) => c.file.endsWith(".cu"));
    expect(cxx.map((c) => path.relative(ROOT, c.file))).toEqual(
      expect.arrayContaining(["native/preprocess.cc", "native/face_geometry.cc", "native/addon.cc"]),
    );
    for (const c of cxx) expect(c.command.split(/\s+/), c.file).toContain("-ffp-contract=off");
    // CUDA sources exactly where nvcc is on PATH (as builds.test.ts checks for the addon).
    expect(cuda.map((c) => path.relative(ROOT, c.file)).sort()).toEqual(HAS_NVCC ? CUDA_SOURCES : []);
    for (const c of cuda) expect(c.command.split(/\s+/), c.file).toContain("-fmad=false");
  });

  it("the node-gyp build compiles with -ffp-contract=off", () => {
    const makefile = readFileSync(path.join(ROOT, "build", "mesoguard.target.mk"), "utf8");
    const release = makefile.match(/CFLAGS_CC_Release :=((?:.*\\\n)*.*)/);
    expect(release, "CFLAGS_CC_Release in build/mesoguard.target.mk").not.toBeNull();
    expect(release![1]!.split(/[\s\\]+/)).toContain("-ffp-contract=off");
  });

  it.runIf(process.arch === "x64")("g++ contracts nothing in the render code even for an FMA CPU, and would without the flag", () => {
    expect(hostFmaCount(true)).toBe(0);
    expect(hostFmaCount(false)).toBeGreaterThan(0);
  });

  it.runIf(HAS_NVCC).each(CUDA_SOURCES)("nvcc's render kernel in %s has no fma.rn.f32, and would have without -fmad=false", (source) => {
    expect(deviceFmaCount(source, true)).toBe(0);
    expect(deviceFmaCount(source, false)).toBeGreaterThan(0);
  });
});

describe("mesoguard-render-parity", { timeout: TEST_TIMEOUT }, () => {
  it("is built exactly where nvcc is, standalone: no libcudart.so, libstdc++ or ONNX Runtime needed", () => {
    expect(existsSync(PARITY)).toBe(HAS_NVCC);
    if (!HAS_NVCC) return;
    const needed = execFileSync("ldd", [PARITY], { encoding: "utf8" });
    expect(needed).not.toMatch(/libcudart|libstdc\+\+|libonnxruntime|libturbojpeg|libav/);
  });

  it.runIf(HAS_NVCC)("renders every format x resize mode x geometry; compares them where a GPU exists, else says why not", async () => {
    const { exitCode, report, text } = await runRenderParity();
    expect(exitCode).toBe(0);
    expect(report.fmadContraction).toBe(false);
    expect(new Set(report.groups.map((g) => g.mode))).toEqual(new Set(["nearest", "bilinear", "area"]));
    const geometries = new Set(report.groups.map((g) => g.geometry));
    for (const g of ["resize", "letterbox", "crop-rotated", "crop-edge", "crop-half-outside", "crop-larger-than-frame"]) {
      expect(geometries).toContain(g);
    }
    // 4 pixel formats x 4 frame sizes per geometry and mode.
    for (const g of report.groups) expect(g.cases).toBe(16);
    expect(report.cases).toBe(report.groups.length * 16);
    expect(report.cpuMsMedian).toBeGreaterThan(0);
    if (EXPECT_GPU) {
      expect(geometries).toContain("device-batch"); // the 256x256 geometries of each frame and mode as one launch
      expect(report.gpu.available).toBe(true);
      expect(report.compared).toBe(true);
      expect(report.differing).toBe(0);
      expect(report.maxAbsDiff).toBe(0);
      expect(report.verdict).toBe("agree");
    } else {
      expect(report.gpu.available).toBe(false);
      expect(report.compared).toBe(false);
      expect(report.verdict).toBe("no-gpu");
      expect(report.gpu.reason.length).toBeGreaterThan(0);
      expect(text).toContain(`no GPU: ${report.gpu.reason}`);
      expect(report.gpu.runtimeVersion).toMatch(/^\d+\.\d+$/);
    }
  });

  it.runIf(HAS_NVCC && !EXPECT_GPU)("fails with MESOGUARD_EXPECT_GPU=1 where there is no GPU", async () => {
    const { exitCode, report, text } = await runRenderParity({ env: { ...process.env, MESOGUARD_EXPECT_GPU: "1" } });
    expect(exitCode).toBe(2);
    expect(report.expectGpu).toBe(true);
    expect(report.verdict).toBe("no-gpu");
    expect(text).toContain("MESOGUARD_EXPECT_GPU=1 but no usable GPU");
    expect(text.trim().endsWith("FAIL")).toBe(true);
  });

  it.runIf(HAS_NVCC)("refuses unknown arguments with its usage", () => {
    const run = spawnSync(PARITY, ["--frobnicate"], { encoding: "utf8" });
    expect(run.status).toBe(64);
    expect(run.stderr).toContain("Usage: mesoguard-render-parity");
  });
});

// Both addon builds (cmake-js with CUDA kernels, node-gyp CPU-only) loaded into one process next to
// onnxruntime-node: one ONNX Runtime, the same scores, honest CUDA/provider reporting.
// On a machine with a working CUDA device set MESOGUARD_EXPECT_GPU=1: the GPU assertions flip.
import { realpathSync, readFileSync } from "node:fs";
import path from "node:path";

import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { nvccVersion } from "../../src/install/systemPackages.js";
import type { FrameInput, NativeAddon, NativeScorer } from "../../src/native/addonTypes.js";
import { resolvePreprocessOptions } from "../../src/scoring/scorerOptions.js";
import { closeAll, cpuScorerOptions, loadCmakeAddon, loadGypAddon, openScorer, realOf, rejectionOf } from "../helpers/addon.js";
import { blockImage, floatMismatch, readPngRgb, toI420, toNv12, toPlanar01 } from "../helpers/images.js";
import {
  EXPECT_GPU,
  modelPath,
  REFERENCE_IMAGES,
  referencePng,
  ROOT,
  TEST_JPEGS,
  TEST_TIMEOUT,
  readTestJpeg,
} from "../helpers/paths.js";

const ORT_NODE_DIR = path.join(ROOT, "node_modules", "onnxruntime-node");

let cmake: NativeAddon;
let gyp: NativeAddon;
const scorers: NativeScorer[] = [];

beforeAll(() => {
  cmake = loadCmakeAddon();
  gyp = loadGypAddon();
});

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

function referenceFrame(png: string): FrameInput {
  const image = readPngRgb(referencePng(png));
  return { kind: "rgb", data: image.data, width: image.width, height: image.height };
}

describe("both builds load side by side", { timeout: TEST_TIMEOUT }, () => {
  it("loads each file explicitly and exposes the same API", () => {
    for (const addon of [cmake, gyp]) {
      expect(typeof addon.createScorer).toBe("function");
      expect(typeof addon.preprocess).toBe("function");
      expect(typeof addon.runtimeInfo).toBe("function");
    }
    // Two different shared objects, not one cached module under two names.
    expect(cmake).not.toBe(gyp);
  });

  it("reports which build system produced it", () => {
    expect(cmake.runtimeInfo().buildSystem).toBe("cmake-js");
    expect(gyp.runtimeInfo().buildSystem).toBe("node-gyp");
  });

  it("runs on onnxruntime-node's ONNX Runtime 1.30.0", () => {
    const pinned = JSON.parse(readFileSync(path.join(ORT_NODE_DIR, "package.json"), "utf8")).version;
    expect(pinned).toBe("1.30.0");
    for (const addon of [cmake, gyp]) {
      const info = addon.runtimeInfo();
      expect(info.ortVersion).toBe("1.30.0");
      expect(info.ortApiVersion).toBeGreaterThan(0);
      expect(info.availableProviders).toContain("CPUExecutionProvider");
      const lib = realpathSync(info.ortLibraryPath);
      expect(path.basename(lib)).toMatch(/^libonnxruntime\.so/);
      expect(lib.startsWith(realpathSync(ORT_NODE_DIR) + path.sep)).toBe(true);
    }
    // Both addons resolved the one library, not two copies.
    expect(realpathSync(cmake.runtimeInfo().ortLibraryPath)).toBe(realpathSync(gyp.runtimeInfo().ortLibraryPath));
  });

  it("reports CUDA as built into the cmake build exactly where nvcc is on PATH, never into the gyp build", () => {
    const c = cmake.runtimeInfo().cuda;
    const g = gyp.runtimeInfo().cuda;
    // The cmake build compiles the CUDA kernels when it finds nvcc (this project's machines and CI have it);
    // a machine without a CUDA toolkit gets the CPU-only build.
    expect(c.built).toBe(nvccVersion() !== undefined);
    expect(g.built).toBe(false);
    // The CPU build can never use CUDA, whatever the machine has.
    expect(g.available).toBe(false);
    expect(g.deviceCount).toBe(0);
    expect(g.reason).toMatch(/without CUDA/);
    for (const cuda of [c, g]) {
      expect(typeof cuda.reason).toBe("string");
      expect(cuda.reason.length).toBeGreaterThan(0);
    }
    if (EXPECT_GPU) {
      expect(c.available).toBe(true);
      expect(c.deviceCount).toBeGreaterThanOrEqual(1);
    } else {
      expect(c.available).toBe(false);
      expect(c.deviceCount).toBe(0);
    }
  });
});

describe("one ONNX Runtime shared with onnxruntime-node", { timeout: TEST_TIMEOUT }, () => {
  it("an ort.InferenceSession in the same process agrees with both addons", async () => {
    const file = modelPath("meso4-df");
    const session = await ort.InferenceSession.create(file);
    try {
      for (const ref of REFERENCE_IMAGES) {
        const image = readPngRgb(referencePng(ref.png));
        const input = new ort.Tensor("float32", toPlanar01(image), [1, 3, image.height, image.width]);
        const out = await session.run({ input });
        const ortReal = (out.real.data as Float32Array)[0];
        for (const addon of [cmake, gyp]) {
          const scorer = await openScorer(addon, "meso4-df", scorers);
          const result = await scorer.score(referenceFrame(ref.png));
          expect(Math.abs(realOf(result) - ortReal)).toBeLessThanOrEqual(1e-6);
        }
      }
    } finally {
      await session.release();
    }
    // Still exactly one libonnxruntime mapped into this process.
    if (process.platform === "linux") {
      const maps = readFileSync("/proc/self/maps", "utf8");
      const libs = new Set(
        maps
          .split("\n")
          .map((line) => line.trim().split(/\s+/).slice(5).join(" "))
          .filter((p) => /\/libonnxruntime\.so/.test(p))
          .map((p) => realpathSync(p)),
      );
      expect([...libs]).toEqual([realpathSync(cmake.runtimeInfo().ortLibraryPath)]);
    }
  });
});

describe("the two builds compute the same thing", { timeout: TEST_TIMEOUT }, () => {
  it("gives identical scores for the same frames", async () => {
    const a = await openScorer(cmake, "meso4-df", scorers);
    const b = await openScorer(gyp, "meso4-df", scorers);
    const frames: FrameInput[] = [
      ...REFERENCE_IMAGES.map((r) => referenceFrame(r.png)),
      ...TEST_JPEGS.map((j) => ({ kind: "jpeg" as const, data: readTestJpeg(j.file) })),
    ];
    for (const frame of frames) {
      const [ra, rb] = await Promise.all([a.score(frame), b.score(frame)]);
      expect(ra.outputs.real).toEqual(rb.outputs.real);
      expect(ra.outputs.logit).toEqual(rb.outputs.logit);
    }
  });

  it("preprocesses identically (JPEG, I420, NV12; every resize mode)", async () => {
    const image = blockImage(301, 199, 5);
    const frames: FrameInput[] = [
      { kind: "jpeg", data: readTestJpeg(TEST_JPEGS[1].file) },
      toI420(image),
      toNv12(image),
    ];
    for (const frame of frames) {
      for (const resize of ["nearest", "bilinear", "area"] as const) {
        const [pa, pb] = await Promise.all([cmake.preprocess(frame, resolvePreprocessOptions({ resize })), gyp.preprocess(frame, resolvePreprocessOptions({ resize }))]);
        expect(pa.length).toBe(3 * 256 * 256);
        expect(floatMismatch(pa, pb), `${frame.kind} ${resize}`).toBe("");
      }
    }
  });
});

describe("execution providers and CUDA fallback", { timeout: TEST_TIMEOUT }, () => {
  for (const which of ["cmake", "gyp"] as const) {
    it(`${which}: provider "auto" reports every attempt`, async () => {
      const addon = which === "cmake" ? cmake : gyp;
      const scorer = await openScorer(addon, "meso4-df", scorers, { provider: "auto" });
      const info = scorer.info();
      expect(info.requestedProvider).toBe("auto");
      expect(info.attempts.map((a) => a.provider)).toEqual(
        info.provider === "cpu" ? ["tensorrt", "cuda", "cpu"] : expect.arrayContaining([info.provider]),
      );
      const chosen = info.attempts.filter((a) => a.chosen);
      expect(chosen).toHaveLength(1);
      expect(chosen[0].provider).toBe(info.provider);
      for (const attempt of info.attempts) {
        expect(typeof attempt.reason).toBe("string");
        expect(attempt.reason.length).toBeGreaterThan(0);
      }
      if (EXPECT_GPU) {
        expect(info.provider).not.toBe("cpu");
      } else {
        expect(info.provider).toBe("cpu");
        for (const name of ["tensorrt", "cuda"]) {
          const attempt = info.attempts.find((a) => a.provider === name);
          expect(attempt, name).toBeDefined();
          expect(attempt!.chosen).toBe(false);
          expect(attempt!.reason.trim().length).toBeGreaterThan(0);
        }
        expect(info.preprocess).toBe("cpu");
      }
      // The fallback really works: it scores.
      const result = await scorer.score(referenceFrame(REFERENCE_IMAGES[1].png));
      expect(realOf(result)).toBeGreaterThan(0.9);
      expect(result.preprocessDevice).toBe(info.preprocess);
    });

    it(`${which}: provider "cuda" is not silently replaced by CPU`, async () => {
      const addon = which === "cmake" ? cmake : gyp;
      const request = addon.createScorer(cpuScorerOptions(modelPath("meso4-df"), { provider: "cuda" }));
      if (EXPECT_GPU) {
        const scorer = await request;
        scorers.push(scorer);
        expect(scorer.info().provider).toBe("cuda");
        expect(scorer.info().attempts).toEqual([expect.objectContaining({ provider: "cuda", chosen: true })]);
      } else {
        const error = await rejectionOf(request);
        expect(error.code).toBe("ERR_MODEL_LOAD");
        expect(error.message).toMatch(/cuda/i);
        expect(error.message).toContain("meso4-df.onnx");
      }
    });
  }

  it("preprocess on device 'cuda' matches the CPU path, or rejects where there is no GPU", async () => {
    const image = blockImage(300, 200, 3);
    const frame = toNv12(image);
    const cpu = await cmake.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", device: "cpu" }));
    // The CPU build never has CUDA.
    const gypError = await rejectionOf(gyp.preprocess(frame, resolvePreprocessOptions({ device: "cuda" })));
    expect(gypError.code).toBe("ERR_PREPROCESS");
    expect(gypError.message).toMatch(/CUDA/);
    if (EXPECT_GPU) {
      const gpu = await cmake.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", device: "cuda" }));
      expect(gpu.length).toBe(cpu.length);
      let max = 0;
      for (let i = 0; i < cpu.length; i++) max = Math.max(max, Math.abs(cpu[i] - gpu[i]));
      expect(max).toBeLessThanOrEqual(1e-5);
    } else {
      const error = await rejectionOf(cmake.preprocess(frame, resolvePreprocessOptions({ device: "cuda" })));
      expect(error.code).toBe("ERR_PREPROCESS");
      expect(error.message.length).toBeGreaterThan(0);
    }
  });

  it("a scorer asking for CUDA preprocessing is refused where CUDA is unavailable", async () => {
    const request = cmake.createScorer(cpuScorerOptions(modelPath("meso4-df"), { preprocess: "cuda" }));
    if (EXPECT_GPU) {
      const scorer = await request;
      scorers.push(scorer);
      expect(scorer.info().preprocess).toBe("cuda");
      const result = await scorer.score(referenceFrame(REFERENCE_IMAGES[0].png));
      expect(result.preprocessDevice).toBe("cuda");
    } else {
      const error = await rejectionOf(request);
      expect(error.code).toBe("ERR_SCORER_CONFIG");
      expect(error.message).toMatch(/cuda/i);
    }
    const gypError = await rejectionOf(
      gyp.createScorer(cpuScorerOptions(modelPath("meso4-df"), { preprocess: "cuda" })),
    );
    expect(gypError.code).toBe("ERR_SCORER_CONFIG");
  });
});

// Device batches (native/device_batch.h) on the CPU: deviceBatches "host" runs the batch assembly and IoBinding code
// of the GPU path on host memory, so here it must give the plain path's scores exactly, fall back when a batch fails,
// and run the startup canary with both outcomes. The cuda memory itself has never run on a GPU (README, GPU).
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { detectorModelPath } from "../../src/faces/detectorModels.js";
import type { FrameInput, NativeAddon, NativeAnalyzeResult, NativeScorer } from "../../src/native/addonTypes.js";
import type { ScorerOptionsInput } from "../../src/scoring/scorerOptions.js";
import { closeAll, loadCmakeAddon, logitOf, openScorer, realOf, rejectionOf } from "../helpers/addon.js";
import { photoFrame, type PhotoName } from "../helpers/faces.js";
import { TEST_JPEGS, TEST_TIMEOUT, readTestJpeg } from "../helpers/paths.js";

const FAULT = "MESOGUARD_TEST_DEVICE_BATCH_FAULT";
const PHOTOS: PhotoName[] = ["grace_hopper.jpg", "astronaut.png", "messi5.jpg", "example.jpg"];

let addon: NativeAddon;
const scorers: NativeScorer[] = [];
// Eight crops, so that one score() burst is one batch of 8 on both paths (batch size changes CPU rounding).
const crops: FrameInput[] = [...TEST_JPEGS, ...TEST_JPEGS].map((j) => ({ kind: "jpeg", data: readTestJpeg(j.file) }));

beforeAll(() => {
  addon = loadCmakeAddon();
});

afterEach(() => {
  delete process.env[FAULT];
});

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

/** A CPU scorer of meso4-df with BlazeFace (back); `fault` sets the test hook for this scorer only. */
async function scorer(deviceBatches: "off" | "host" | "auto", fault?: string, options: Partial<ScorerOptionsInput> = {}) {
  if (fault) process.env[FAULT] = fault;
  try {
    return await openScorer(addon, "meso4-df", scorers, {
      deviceBatches,
      maxBatch: 8,
      maxWaitMs: 2000, // a burst of 8 waits for all 8: the same batches on both paths
      detector: { modelPath: detectorModelPath("blazeface-back") },
      ...options,
    });
  } finally {
    delete process.env[FAULT];
  }
}

function facesOf(result: NativeAnalyzeResult) {
  return result.faces.map((f) => ({ box: f.box, keypoints: f.keypoints, outputs: f.outputs }));
}

describe("device batches on host memory (deviceBatches: host)", { timeout: TEST_TIMEOUT }, () => {
  it("score(): the same P(REAL) and logit as the plain path, bit for bit, in the same batches", async () => {
    const plain = await scorer("off");
    const bound = await scorer("host");
    // Batches form by timing (the first crop can leave alone): score both ways until the batches match (bit-equal
    // outputs are only promised for the same batches), at most 5 tries.
    let want, got;
    let tries = 0;
    do {
      want = await Promise.all(crops.map((c) => plain.score(c)));
      got = await Promise.all(crops.map((c) => bound.score(c)));
    } while (++tries < 5 && got.map((r) => r.batchSize).join() !== want.map((r) => r.batchSize).join());
    expect(new Set(want.map(realOf)).size).toBe(4); // the crops differ: a mixed-up batch would show
    expect(got.map((r) => r.batchSize)).toEqual(want.map((r) => r.batchSize));
    expect(got.map(realOf)).toEqual(want.map(realOf));
    expect(got.map(logitOf)).toEqual(want.map(logitOf));
    expect(got.every((r) => r.preprocessDevice === "cpu")).toBe(true);
    expect(bound.stats().failed).toBe(0);
    // They ran bound (the canary would have sent a wrong batch back to the plain path and turned them off).
    expect(bound.info().deviceBatches).toMatchObject({ active: true, canary: { state: "passed" } });
  });

  it("analyze(): detector letterboxes and face crops from several frames in one batch give the plain path's faces", async () => {
    const plain = await scorer("off");
    const bound = await scorer("host");
    const frames = PHOTOS.map(photoFrame);
    const want = await Promise.all(frames.map((f) => plain.analyze(f)));
    const got = await Promise.all(frames.map((f) => bound.analyze(f)));
    expect(want.reduce((n, r) => n + r.faces.length, 0)).toBeGreaterThanOrEqual(3);
    expect(got.map(facesOf)).toEqual(want.map(facesOf));
    expect(bound.info().deviceBatches).toMatchObject({ active: true, canary: { state: "passed" } }); // they ran bound

    // Known faces, no detector: every face of every photo submitted at once, so batches mix frames.
    const known = want.map((r) => r.faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.detectorScore })));
    const wantKnown = await Promise.all(frames.map((f, i) => plain.analyze(f, { detect: false, faces: known[i] })));
    const gotKnown = await Promise.all(frames.map((f, i) => bound.analyze(f, { detect: false, faces: known[i] })));
    expect(gotKnown.map(facesOf)).toEqual(wantKnown.map(facesOf));
    expect(Math.max(...gotKnown.flatMap((r) => r.faces.map((f) => f.batchSize)))).toBeGreaterThan(1);
  });

  it("runs the startup canary once, which passes, and says so in info()", async () => {
    const bound = await scorer("host");
    const before = bound.info().deviceBatches;
    expect(before).toMatchObject({ mode: "host", active: true, canary: { state: "pending", tolerance: 1e-3 } });
    await Promise.all(crops.map((c) => bound.score(c)));
    const after = bound.info().deviceBatches!;
    expect(after.active).toBe(true);
    expect(after.canary.state).toBe("passed");
    expect(Math.abs(after.canary.deviceRealProbability! - after.canary.cpuRealProbability!)).toBeLessThanOrEqual(1e-3);
  });

  it("returnCrops frames keep the crop-thread render (their crops are read from host tensors) and agree", async () => {
    const plain = await scorer("off");
    const bound = await scorer("host");
    const frame = photoFrame("grace_hopper.jpg");
    const want = await plain.analyze(frame, { returnCrops: true });
    const got = await bound.analyze(frame, { returnCrops: true });
    expect(got.faces.length).toBe(1);
    expect(got.faces[0].crop.rgb!.equals(want.faces[0].crop.rgb!)).toBe(true);
    expect(got.faces[0].outputs).toEqual(want.faces[0].outputs);
  });
});

describe("a failing device batch fails its frames with ERR_DEVICE_BATCH and falls back", { timeout: TEST_TIMEOUT }, () => {
  it("an ORT failure (fault 'run'): that batch's frames fail, device batches turn off, later frames score right", async () => {
    const plain = await scorer("off");
    const faulty = await scorer("host", "run");
    const failed = await Promise.all(crops.map((c) => rejectionOf(faulty.score(c))));
    expect(failed.map((e) => e.code)).toEqual(crops.map(() => "ERR_DEVICE_BATCH"));
    expect(failed[0].message).toMatch(/cpu device batch of 8 failed: test fault/);
    const status = faulty.info().deviceBatches!;
    expect(status.active).toBe(false);
    expect(status.reason).toMatch(/test fault .*later frames use the CPU render path and host input/);
    expect(status.canary.state).toBe("pending"); // never reached

    const want = await Promise.all(crops.map((c) => plain.score(c)));
    const got = await Promise.all(crops.map((c) => faulty.score(c)));
    expect(got.map(realOf)).toEqual(want.map(realOf));
    expect(faulty.stats()).toMatchObject({ failed: 8, completed: 8 });
  });

  it("a render failure in the detector's batch (fault 'render'): that frame fails, the next is analyzed", async () => {
    const plain = await scorer("off");
    const faulty = await scorer("host", "render");
    const frame = photoFrame("grace_hopper.jpg");
    const error = await rejectionOf(faulty.analyze(frame));
    expect(error.code).toBe("ERR_DEVICE_BATCH");
    expect(error.message).toMatch(/^face detector: a cpu device batch of 1 failed: test fault/);
    expect(faulty.info().deviceBatches!.active).toBe(false);
    expect(facesOf(await faulty.analyze(frame))).toEqual(facesOf(await plain.analyze(frame)));
  });
});

describe("the startup canary", { timeout: TEST_TIMEOUT }, () => {
  it("a device P(REAL) 0.01 off the CPU path's (fault 'canary') turns device batches off; that batch is recomputed", async () => {
    const plain = await scorer("off");
    const skewed = await scorer("host", "canary");
    const want = await Promise.all(crops.map((c) => plain.score(c)));
    const got = await Promise.all(crops.map((c) => skewed.score(c)));
    expect(got.map(realOf)).toEqual(want.map(realOf)); // recomputed on the CPU path, not the skewed result
    const status = skewed.info().deviceBatches!;
    expect(status.active).toBe(false);
    expect(status.canary.state).toBe("failed");
    expect(status.canary.deviceRealProbability! - status.canary.cpuRealProbability!).toBeCloseTo(0.01, 6);
    expect(status.reason).toMatch(/startup canary: P\(REAL\) .* beyond 0\.001\).*later frames use the CPU render path/);
    expect(skewed.stats().failed).toBe(0);
    // Later frames: the plain path, same scores.
    expect(realOf(await skewed.score(crops[0]))).toBe(realOf(want[0]));
  });
});

describe("deviceBatches option", { timeout: TEST_TIMEOUT }, () => {
  it("auto on the CPU provider: off, and why", async () => {
    const auto = await scorer("auto");
    expect(auto.info().deviceBatches).toMatchObject({
      mode: "off",
      active: false,
      reason: "MesoNet runs on the CPU provider: crops are rendered on the crop threads",
      canary: { state: "not run", deviceRealProbability: null, cpuRealProbability: null },
    });
  });

  it("an unknown value is refused by name", async () => {
    const error = await rejectionOf(scorer("gpu" as "auto"));
    expect(error.message).toMatch(/deviceBatches must be auto, host or off, got 'gpu'/);
  });
});

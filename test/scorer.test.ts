// The typed facade: model lookup, per-architecture defaults, clear errors.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { packageRoot } from "../src/models/paths.js";
import { DEFAULT_GRAPH_OPTIMIZATION, MesoNetScorer } from "../src/scoring/MesoNetScorer.js";

const crop = readFileSync(path.resolve(packageRoot(), "../shared/mesonet/test_images/df/df00204.jpg"));
const open: MesoNetScorer[] = [];
afterAll(async () => {
  await Promise.all(open.map((s) => s.close()));
});

describe("MesoNetScorer", () => {
  it("defaults to meso4-df on the best provider, with Keras nearest resizing", async () => {
    const scorer = await MesoNetScorer.create();
    open.push(scorer);
    const info = scorer.info();
    expect(info.model).toBe("meso4-df");
    expect(info.resize).toBe("nearest");
    expect(info.requestedProvider).toBe("auto");
    expect(info.attempts.at(-1)).toMatchObject({ provider: info.provider, chosen: true });
    expect(info.graphOptimization).toBe(DEFAULT_GRAPH_OPTIMIZATION.meso4);
    const score = await scorer.score({ kind: "jpeg", data: crop });
    expect(score.model).toBe("meso4-df");
    expect(score.real).toBeCloseTo(0.0414118, 5);
    expect(score.fake).toBeCloseTo(1 - score.real, 12);
    expect(1 / (1 + Math.exp(-score.logit))).toBeCloseTo(score.real, 6);
    expect(score.timings.batchSize).toBeGreaterThanOrEqual(1);
  });

  it("analyze() times each stage once: the letterbox in detectMs, only the face crops in renderMs", async () => {
    const scorer = await MesoNetScorer.create({ provider: "cpu" });
    open.push(scorer);
    const blank = { kind: "rgb" as const, data: new Uint8Array(640 * 480 * 3).fill(128), width: 640, height: 480 };
    const empty = await scorer.analyze(blank);
    expect(empty.faces).toEqual([]);
    expect(empty.timings.detectMs).toBeGreaterThan(0);
    expect(empty.timings.renderMs).toBe(0); // no face, no crop: the letterbox was rendered, but counts in detectMs
    const photo = readFileSync(path.resolve(packageRoot(), "../shared/photos/grace_hopper.jpg"));
    const found = await scorer.analyze({ kind: "jpeg", data: photo });
    expect(found.faces).toHaveLength(1);
    expect(found.timings.renderMs).toBeGreaterThan(0);
  });

  it("uses the extended graph level for MesoInception4", async () => {
    const scorer = await MesoNetScorer.create({ model: "mesoinception4-f2f" });
    open.push(scorer);
    expect(scorer.info().graphOptimization).toBe("extended");
    expect(scorer.info().architecture).toBe("mesoinception4");
  });

  it("rejects an unknown model with the valid names", async () => {
    await expect(MesoNetScorer.create({ model: "nope" })).rejects.toThrow(/meso4-df.*mesoinception4-f2f/s);
  });

  it("rejects a model file that does not exist, naming it", async () => {
    const missing = path.join(packageRoot(), "models/generated/missing.onnx");
    await expect(MesoNetScorer.create({ modelPath: missing })).rejects.toMatchObject({
      code: "ERR_MODEL_LOAD",
      message: expect.stringContaining(missing),
    });
  });

  it("rejects a file that is not an ONNX model", async () => {
    await expect(MesoNetScorer.create({ modelPath: path.join(packageRoot(), "package.json") })).rejects.toMatchObject({
      code: "ERR_MODEL_LOAD",
    });
  });
});

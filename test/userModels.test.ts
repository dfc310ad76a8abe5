// Bring your own model: user manifests, the ONNX adapter into the scorer's contract, ensembles. The models are
// small ONNX classifiers written here (test/helpers/onnxClassifiers.ts) whose score is a known function of the
// pixels, so every manifest field is checked against a score computed in JS.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { findModel, modelNames } from "../src/models/manifest.js";
import { writeUserModel } from "../src/models/userModelStore.js";
import { userModelsDir } from "../src/models/userModels.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { randomBytes } from "./helpers/images.js";
import { photoFrame } from "./helpers/faces.js";
import { IMAGENET, channelMeanClassifier, expectedChannelMean, sigmoid, type ClassifierSpec } from "./helpers/onnxClassifiers.js";

const modelsDir = mkdtempSync(path.join(tmpdir(), "mesoguard-user-models-"));
beforeAll(() => {
  process.env.MESOGUARD_MODELS_DIR = modelsDir;
});
afterAll(() => {
  delete process.env.MESOGUARD_MODELS_DIR;
  rmSync(modelsDir, { recursive: true, force: true });
});

/** 224x224 NHWC, BGR, ImageNet mean/std, P(fake) at index 1 of a 2-vector: the model reads its channel 0 (blue). */
const NHWC_SPEC: ClassifierSpec = { inputName: "input_1", layout: "nhwc", size: { width: 224, height: 224 }, channel: 0, head: "probs" };
const baseManifest = () => ({
  name: "byo-nhwc",
  input: { name: "input_1", width: 224, height: 224, layout: "nhwc", channels: "bgr", scale: 1, mean: [...IMAGENET.mean], std: [...IMAGENET.std] },
  output: { name: "probs", index: 1, meaning: "p-fake" },
  license: "MIT",
  source: "written by test/userModels.test.ts",
});
type Manifest = ReturnType<typeof baseManifest>;

async function scoreWith(manifest: Record<string, unknown>, onnx: Uint8Array, rgb: Uint8Array, size: number): Promise<number> {
  await writeUserModel({ manifest, onnxBytes: onnx, replace: true });
  const scorer = await MesoNetScorer.create({ model: manifest.name as string, detector: false, provider: "cpu" });
  try {
    return (await scorer.score({ kind: "rgb", data: Buffer.from(rgb), width: size, height: size })).fake;
  } finally {
    await scorer.close();
  }
}

describe("user models: every manifest field is honoured", () => {
  const rgb = randomBytes(224 * 224 * 3, 11);
  const onnx = channelMeanClassifier(NHWC_SPEC);
  const expectFake = (m: Manifest, channel: number, transform: (x: number) => number) =>
    transform(expectedChannelMean(rgb, m.input as Parameters<typeof expectedChannelMean>[1], channel));

  const variants: Array<[string, (m: Manifest) => void, (m: Manifest) => number]> = [
    ["NHWC, BGR, ImageNet mean/std, P(fake) at index 1", () => {}, (m) => expectFake(m, 0, sigmoid)],
    ["channels rgb (the model's channel 0 is then red)", (m) => (m.input.channels = "rgb"), (m) => expectFake(m, 0, sigmoid)],
    ["mean", (m) => (m.input.mean = [0.1, 0.2, 0.9]), (m) => expectFake(m, 0, sigmoid)],
    ["std", (m) => (m.input.std = [0.5, 0.5, 2]), (m) => expectFake(m, 0, sigmoid)],
    ["scale 255", (m) => Object.assign(m.input, { scale: 255, mean: [123.7, 116.3, 103.5], std: [58.4, 57.1, 57.4] }), (m) => expectFake(m, 0, sigmoid)],
    ["output index 0 as P(real)", (m) => Object.assign(m.output, { index: 0, meaning: "p-real" }), (m) => expectFake(m, 0, sigmoid)],
    ["output index 0 as P(fake)", (m) => (m.output.index = 0), (m) => expectFake(m, 0, (x) => 1 - sigmoid(x))],
    ["meaning p-real at index 1", (m) => (m.output.meaning = "p-real"), (m) => expectFake(m, 0, (x) => 1 - sigmoid(x))],
  ];
  for (const [what, change, expected] of variants) {
    it(what, async () => {
      const m = baseManifest();
      change(m);
      expect(await scoreWith(m, onnx, rgb, 224)).toBeCloseTo(expected(m), 5);
    });
  }

  it("a logit output (logit-fake, logit-real) in NCHW with symbolic H and W, at the manifest's size", async () => {
    const logitOnnx = channelMeanClassifier({ inputName: "x", layout: "nchw", channel: 1, head: "logit" });
    const small = randomBytes(96 * 96 * 3, 12);
    const m = {
      ...baseManifest(),
      name: "byo-logit",
      input: { name: "x", width: 96, height: 96, layout: "nchw", channels: "rgb", scale: 1, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      output: { name: "score", index: 0, meaning: "logit-fake" },
    };
    const mean = expectedChannelMean(small, m.input as Parameters<typeof expectedChannelMean>[1], 1);
    expect(await scoreWith(m, logitOnnx, small, 96)).toBeCloseTo(sigmoid(mean), 5);
    m.output.meaning = "logit-real";
    expect(await scoreWith(m, logitOnnx, small, 96)).toBeCloseTo(1 - sigmoid(mean), 5);
    const scorer = await MesoNetScorer.create({ model: "byo-logit", detector: false, provider: "cpu" });
    expect(scorer.info().input.shape.slice(1)).toEqual([3, 96, 96]);
    await scorer.close();
  });

  it("crop factor and margin go into the scorer's crop", async () => {
    await writeUserModel({ manifest: baseManifest(), onnxBytes: onnx, replace: true });
    const sides: number[] = [];
    for (const crop of [undefined, { factor: 1.5 }, { factor: 1.5, margin: 2 }]) {
      await writeUserModel({ manifest: { ...baseManifest(), ...(crop && { crop }) }, onnxBytes: onnx, replace: true });
      const scorer = await MesoNetScorer.create({ model: "byo-nhwc", provider: "cpu" });
      const analysis = await scorer.analyze(photoFrame("example.jpg"), { returnCrops: true });
      await scorer.close();
      const face = analysis.faces[0];
      // The score is the model's function of the very crop it saw (the returned crop is its input, rounded to bytes).
      expect(face.fake).toBeCloseTo(sigmoid(expectedChannelMean(face.crop.rgb!, baseManifest().input as Parameters<typeof expectedChannelMean>[1], 0)), 2);
      sides.push(face.crop.side);
    }
    // side = face size * factor * margin; the defaults are 2.2 and 1.3.
    expect(sides[1] / sides[0]).toBeCloseTo(1.5 / 2.2, 4);
    expect(sides[2] / sides[1]).toBeCloseTo(2 / 1.3, 4);
  });
});

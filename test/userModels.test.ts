// Bring your own model: user manifests, the ONNX adapter into the scorer's contract, ensembles. The models are
// small ONNX classifiers written here (test/helpers/onnxClassifiers.ts) whose score is a known function of the
// pixels, so every manifest field is checked against a score computed in JS.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import onnxProto from "onnx-proto";

import { findModel, modelNames } from "../src/models/manifest.js";
import { packageRoot } from "../src/models/paths.js";
import { writeUserModel } from "../src/models/userModelStore.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { photoFrame, photoPath } from "./helpers/faces.js";
import { pngBytes, randomBytes } from "./helpers/images.js";
import { closeAllClients, joinClient, startServer, stopAllServers } from "./helpers/server.js";
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
    // Subgraphs (If, Loop, Scan) read outer names: they are renamed with the rest of the user's graph.
    const withIf = channelMeanClassifier({ inputName: "x", layout: "nchw", channel: 1, head: "logit", throughIf: true });
    expect(await scoreWith({ ...m, name: "byo-if" }, withIf, small, 96)).toBeCloseTo(1 - sigmoid(mean), 5);
  });

  it("the user's opset is kept: the adapter works from opset 8 on, older models are refused", async () => {
    const m = { ...baseManifest(), name: "opset8" };
    expect(await scoreWith(m, channelMeanClassifier({ ...NHWC_SPEC, opset: 8 }), rgb, 224)).toBeCloseTo(expectFake(m, 0, sigmoid), 5);
    await expect(writeUserModel({ manifest: { ...m, name: "opset7" }, onnxBytes: channelMeanClassifier({ ...NHWC_SPEC, opset: 7 }) })).rejects.toThrow(
      /model opset7: opset 7 is older than 8, the oldest the adapter supports/,
    );
  });

  it("the adapted model is rebuilt when manifest.json is edited in place, and reused while it is not", async () => {
    const entry = await writeUserModel({ manifest: { ...baseManifest(), name: "edited" }, onnxBytes: onnx });
    const fake = async () => {
      const scorer = await MesoNetScorer.create({ model: "edited", detector: false, provider: "cpu" });
      const score = await scorer.score({ kind: "rgb", data: Buffer.from(rgb), width: 224, height: 224 });
      await scorer.close();
      return { fake: score.fake, adapted: readdirSync(entry.dir).filter((f) => f.startsWith("adapted-")) };
    };
    const first = await fake();
    expect(first.fake).toBeCloseTo(expectFake(baseManifest(), 0, sigmoid), 5);
    expect((await fake()).adapted).toEqual(first.adapted);
    const edited = { ...JSON.parse(readFileSync(entry.manifestPath, "utf8")), output: { name: "probs", index: 0, meaning: "p-fake" } };
    writeFileSync(entry.manifestPath, JSON.stringify(edited));
    const second = await fake();
    expect(second.fake).toBeCloseTo(1 - first.fake, 5);
    expect(second.adapted).toHaveLength(1);
    expect(second.adapted).not.toEqual(first.adapted);
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

describe("user models: bad manifests and models get clear errors and nothing is written", () => {
  const onnx = channelMeanClassifier(NHWC_SPEC);
  const cases: Array<[string, (m: any) => void, RegExp, Uint8Array?]> = [
    ["unknown layout", (m) => (m.input.layout = "nwhc"), /manifest: "input.layout" must be one of "nchw", "nhwc", got "nwhc"/],
    ["mean not 3 numbers", (m) => (m.input.mean = [0.5, 0.5]), /manifest: "input.mean" must be 3 numbers \[r, g, b\], got \[0.5,0.5\]/],
    ["std with a 0", (m) => (m.input.std = [0.2, 0, 0.2]), /manifest: "input.std" must not contain 0/],
    ["unknown meaning", (m) => (m.output.meaning = "prob"), /manifest: "output.meaning" must be one of "p-real", "p-fake", "logit-real", "logit-fake", got "prob"/],
    ["scale neither 1 nor 255", (m) => (m.input.scale = 2), /manifest: "input.scale" must be one of 1, 255, got 2/],
    ["a crop factor out of the scorer's range", (m) => (m.crop = { factor: 0 }), /manifest: "crop" crop.factor must be a number above 0, at most 100, got 0/],
    ["a crop margin that is not a number", (m) => (m.crop = { margin: "1.3" }), /manifest: "crop.margin" must be a number, got "1.3"/],
    ["a bad name", (m) => (m.name = "My Model"), /manifest: "name" "My Model" must match/],
    ["an official name", (m) => (m.name = "meso4-df"), /manifest: "name" "meso4-df" is an official model's name: choose another/],
    ["an offered int8 variant's name", (m) => (m.name = "meso4-df-int8"), /manifest: "name" "meso4-df-int8" is an official model's name: choose another/],
    ["no licence", (m) => delete m.license, /manifest: "license" must be a non-empty string, got undefined/],
    ["a sha256 of another file", (m) => (m.sha256 = "0".repeat(64)), /manifest: "sha256" is 0{64} but the ONNX model's sha256 is [0-9a-f]{64}/],
    ["an input name not in the model", (m) => (m.input.name = "img"), /model rejected: input.name "img" is not an input of the model \(its inputs: input_1\)/],
    ["an output name not in the model", (m) => (m.output.name = "logits"), /output.name "logits" is not an output of the model \(its outputs: probs\)/],
    ["an output index out of range", (m) => (m.output.index = 2), /output.index 2 is out of range: output "probs" has 2 value\(s\) per item/],
    ["a width the static input contradicts", (m) => Object.assign(m.input, { width: 200, height: 200 }), /input.width is 200 but input "input_1" \[\?,\?,224,3\] is 224 wide/,
      channelMeanClassifier({ ...NHWC_SPEC, size: { width: 224 } })],
    ["a height the static input contradicts", (m) => Object.assign(m.input, { width: 256, height: 256 }), /input.height is 256 but input "input_1" \[\?,224,\?,3\] is 224 high/,
      channelMeanClassifier({ ...NHWC_SPEC, size: { height: 224 } })],
    ["a crop that is not square", (m) => (m.input.height = 200), /manifest: "input.height" must equal input.width \(224\): face crops are square/],
    ["a layout the input contradicts", (m) => (m.input.layout = "nchw"), /input.layout "nchw" puts the channels where input "input_1" \[\?,224,224,3\] has 224/],
  ];
  for (const [what, change, error, model] of cases) {
    it(what, async () => {
      const m: any = { ...baseManifest(), name: "rejected" };
      change(m);
      await expect(writeUserModel({ manifest: m, onnxBytes: model ?? onnx })).rejects.toThrow(error);
      expect(readdirSync(modelsDir).filter((f) => f.startsWith(".tmp") || f === m.name)).toEqual([]);
    });
  }

  it("a model with external data is refused", async () => {
    const model = onnxProto.onnx.ModelProto.decode(onnx);
    const t = model.graph!.initializer![0]!;
    Object.assign(t, { int64Data: [], dataLocation: onnxProto.onnx.TensorProto.DataLocation.EXTERNAL, externalData: [{ key: "location", value: "weights.bin" }] });
    const bytes = onnxProto.onnx.ModelProto.encode(model).finish();
    await expect(writeUserModel({ manifest: { ...baseManifest(), name: "external" }, onnxBytes: bytes })).rejects.toThrow(
      /tensor "channel" is stored in an external data file; mesoguard needs the weights inside model.onnx/,
    );
  });

  it("a manifest in the folder is checked when the model is looked up, naming its file and field", () => {
    const dir = path.join(modelsDir, "hand-made");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, "manifest.json");
    writeFileSync(file, "{ not json");
    expect(() => findModel("hand-made")).toThrow(`${file}: not valid JSON`);
    writeFileSync(file, JSON.stringify({ ...baseManifest(), name: "hand-made", kind: "onnx", file: "model.onnx", sha256: "a".repeat(64), input: { ...baseManifest().input, std: [1, 1, 0] } }));
    expect(() => findModel("hand-made")).toThrow(`${file}: "input.std" must not contain 0`);
    expect(modelNames()).toContain("hand-made");
    rmSync(dir, { recursive: true });
    expect(() => findModel("no-such-model")).toThrow(/Unknown model "no-such-model"\. Valid model names: meso4-df, .*user models are folders in/);
  });

  it("a model.onnx changed after it was added fails its sha256 check at load", async () => {
    const entry = await writeUserModel({ manifest: { ...baseManifest(), name: "tampered" }, onnxBytes: onnx, modelCard: "# card\n" });
    expect(readdirSync(entry.dir).sort()).toEqual(["MODEL_CARD.md", "manifest.json", "model.onnx"]);
    writeFileSync(entry.modelPath, channelMeanClassifier({ ...NHWC_SPEC, channel: 2 }));
    await expect(MesoNetScorer.create({ model: "tampered", detector: false, provider: "cpu" })).rejects.toThrow(
      new RegExp(`${entry.manifestPath}: "sha256" is ${entry.sha256} but ${entry.modelPath} has sha256 [0-9a-f]{64}`),
    );
  });

  it("a model of the same name is replaced only when asked", async () => {
    await writeUserModel({ manifest: { ...baseManifest(), name: "twice" }, onnxBytes: onnx });
    await expect(writeUserModel({ manifest: { ...baseManifest(), name: "twice" }, onnxBytes: onnx })).rejects.toThrow(/a user model named "twice" exists already/);
  });
});

describe("ensembles (--model a,b)", () => {
  it("each face's fake is the mean of the models' own, with each model's score; the detector runs once", async () => {
    const frame = photoFrame("example.jpg");
    const single: Record<string, number[]> = {};
    for (const name of ["meso4-df", "meso4-f2f"]) {
      const scorer = await MesoNetScorer.create({ model: name, provider: "cpu" });
      single[name] = (await scorer.analyze(frame)).faces.map((f) => f.fake);
      await scorer.close();
    }
    const both = await MesoNetScorer.create({ model: "meso4-df,meso4-f2f", provider: "cpu" });
    const analysis = await both.analyze(frame);
    // Faces carried over (a tracker's frames without detection): every model scores them at once, the same way.
    const carried = await both.analyze(frame, { detect: false, faces: analysis.faces });
    const crop = await both.score({ kind: "jpeg", data: readTestCrop() });
    await both.close();
    expect(analysis.detectorRuns).toBe(1);
    expect(analysis.faces.length).toBeGreaterThan(0);
    analysis.faces.forEach((f, i) => {
      expect(f.models).toEqual({ "meso4-df": expect.closeTo(single["meso4-df"][i], 6), "meso4-f2f": expect.closeTo(single["meso4-f2f"][i], 6) });
      expect(f.fake).toBeCloseTo((single["meso4-df"][i] + single["meso4-f2f"][i]) / 2, 6);
      expect(f.real).toBeCloseTo(1 - f.fake, 12);
    });
    expect(carried.detectorRuns).toBe(0);
    expect(carried.faces.map((f) => f.models)).toEqual(analysis.faces.map((f) => f.models));
    expect(crop.model).toBe("meso4-df,meso4-f2f");
    expect(crop.fake).toBeCloseTo((crop.models!["meso4-df"] + crop.models!["meso4-f2f"]) / 2, 12);
  });

  it("`score --model meso4-df,meso4-f2f` prints the mean of the two single-model fake scores", () => {
    const run = (model: string) => cliJson("score", "--json", "--model", model, photoPath("example.jpg"))[0];
    const [df, f2f, both] = [run("meso4-df"), run("meso4-f2f"), run("meso4-df,meso4-f2f")];
    expect(both.model).toBe("meso4-df,meso4-f2f");
    expect(both.faces.length).toBe(df.faces.length);
    both.faces.forEach((f: any, i: number) => {
      expect(f.fake).toBeCloseTo((df.faces[i].fake + f2f.faces[i].fake) / 2, 6);
      expect(f.models).toEqual({ "meso4-df": expect.closeTo(df.faces[i].fake, 6), "meso4-f2f": expect.closeTo(f2f.faces[i].fake, 6) });
    });
  });
});

describe("evaluate with an ensemble", () => {
  it("`evaluate --model meso4-df,meso4-f2f` scores each file with the mean of the two models' scores", () => {
    const images = path.resolve(packageRoot(), "../shared/mesonet/test_images");
    const crops = ["real/real00240.jpg", "real/real00772.jpg", "df/df00204.jpg", "df/df01254.jpg"].map((f) => path.join(images, f));
    const single = (model: string) => cliJson("score", "--json", "--no-detect", "--model", model, ...crops).map((l) => l.fake as number);
    const [df, f2f] = [single("meso4-df"), single("meso4-f2f")];
    const [evaluation] = cliJson("evaluate", "--json", "--no-detect", "--model", "meso4-df,meso4-f2f", "--real", path.join(images, "real"), "--fake", path.join(images, "df"));
    expect(evaluation.model).toBe("meso4-df,meso4-f2f");
    const byFile = new Map(evaluation.files.map((f: any) => [path.resolve(f.file), f.score as number]));
    crops.forEach((file, i) => expect(byFile.get(file)).toBeCloseTo((df[i] + f2f[i]) / 2, 6));
  });
});

describe("a bring-your-own model end to end", () => {
  const size = 224;
  const rgb = randomBytes(size * size * 3, 21);
  const expected = sigmoid(expectedChannelMean(rgb, baseManifest().input as Parameters<typeof expectedChannelMean>[1], 0));
  const rows = Array.from({ length: size }, (_, y) => Buffer.concat([Buffer.from([0]), Buffer.from(rgb.subarray(y * size * 3, (y + 1) * size * 3))]));
  const png = path.join(modelsDir, "face-crop.png");
  beforeAll(() => writeFileSync(png, pngBytes(size, size, 2, Buffer.concat(rows))));
  afterAll(async () => {
    closeAllClients();
    await stopAllServers();
  });

  it("`models add`, `models list` and `models check` through the CLI", () => {
    const onnxFile = path.join(modelsDir, "classifier.onnx");
    writeFileSync(onnxFile, channelMeanClassifier(NHWC_SPEC));
    const { name: _name, ...manifest } = baseManifest();
    const add = cli("models", "add", "byo-cli", "--onnx", onnxFile, "--manifest", JSON.stringify(manifest));
    expect(add.stderr).toBe("");
    expect(add.stdout).toMatch(/^added byo-cli \(sha256 [0-9a-f]{64}\) in /);
    mkdirSync(path.join(modelsDir, "broken"), { recursive: true });
    writeFileSync(path.join(modelsDir, "broken", "manifest.json"), JSON.stringify({ name: "broken", kind: "onnx" }));
    const list = cli("models", "list", "--json").stdout.trim().split("\n").map((l) => JSON.parse(l));
    // A broken user model is listed with what is wrong, and the others still are.
    expect(list.find((r) => r.name === "broken").error).toMatch(/broken\/manifest.json: "file" must be "model.onnx"/);
    rmSync(path.join(modelsDir, "broken"), { recursive: true });
    expect(list.find((r) => r.name === "meso4-df")).toMatchObject({ kind: expect.stringMatching(/^mesonet/), license: "Apache-2.0" });
    expect(list.find((r) => r.name === "byo-cli")).toEqual({ name: "byo-cli", kind: "onnx", input: "224x224 nhwc bgr", source: manifest.source, license: "MIT" });
    const check = cli("models", "check", "byo-cli", "--image", png);
    expect(check.status).toBe(0);
    expect(check.stdout).toContain(`fake=${expected.toFixed(6)}`);
    const bad = cli("models", "add", "byo-bad", "--onnx", onnxFile, "--manifest", JSON.stringify({ ...manifest, output: { ...manifest.output, index: 5 } }));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/output.index 5 is out of range/);
  });

  it("score and scan", async () => {
    await writeUserModel({ manifest: { ...baseManifest(), name: "byo-e2e" }, onnxBytes: channelMeanClassifier(NHWC_SPEC), replace: true });
    const [scored] = cliJson("score", "--json", "--no-detect", "--model", "byo-e2e", png);
    expect(scored).toMatchObject({ model: "byo-e2e", fake: expect.closeTo(expected, 5) });
    const [detected] = cliJson("score", "--json", "--model", "byo-e2e", photoPath("example.jpg"));
    expect(detected.faces.length).toBeGreaterThan(0);
    const [scan] = cliJson("scan", "--json", "--no-detect", "--model", "byo-e2e", png);
    expect(scan.model).toBe("byo-e2e");
    expect(scan.timeline[0].faces[0].fake).toBeCloseTo(expected, 5);
    // The model's 224x224 crops in the occlusion map and the report.
    const report = path.join(modelsDir, "report");
    const [explained] = cliJson("scan", "--json", "--explain", "--report", report, "--model", "byo-e2e", photoPath("example.jpg"));
    expect(explained.explanation.drops).toHaveLength(64);
    expect(readFileSync(path.join(report, "index.html"), "utf8")).toContain("byo-e2e");
  });

  it("serve: a participant's frame over a real WebSocket is scored by the user model, alone and in an ensemble (as an observer sees it)", async () => {
    await writeUserModel({ manifest: { ...baseManifest(), name: "byo-serve" }, onnxBytes: channelMeanClassifier(NHWC_SPEC), replace: true });
    const meso = await MesoNetScorer.create({ model: "meso4-df", detector: false, provider: "cpu" });
    const mesoFake = (await meso.score({ kind: "rgb", data: Buffer.from(rgb), width: size, height: size })).fake;
    await meso.close();
    for (const [model, want] of [["byo-serve", expected], ["byo-serve,meso4-df", (expected + mesoFake) / 2]] as const) {
      const server = await startServer(["--model", model, "--provider", "cpu"], { MESOGUARD_MODELS_DIR: modelsDir });
      const observer = await joinClient(server.url, { room: "byo", role: "observer" });
      const p = await joinClient(server.url, { room: "byo", role: "participant", participantId: "crop", frameContent: "face-crop" });
      expect(p.client.welcome?.model.name).toBe(model);
      const seq = p.client.sendFrame({ kind: "rgb", data: rgb, width: size, height: size });
      const score = await observer.client.next("score", (s) => s.participantId === "crop" && s.lastFrame?.seq === seq, 30_000);
      expect(score.participant.latest).toBeCloseTo(want, 5);
      // Each model's own score, with several.
      if (model.includes(",")) expect(score.faces[0].models).toEqual({ "byo-serve": expect.closeTo(expected, 5), "meso4-df": expect.closeTo(mesoFake, 5) });
      else expect(score.faces[0].models).toBeUndefined();
      // A whole frame: the detector finds the face, every model scores it.
      const camera = await joinClient(server.url, { room: "byo", role: "participant", participantId: "camera" });
      const frameSeq = camera.client.sendFrame({ kind: "jpeg", data: readFileSync(photoPath("example.jpg")) });
      const scored = await observer.client.next("score", (s) => s.participantId === "camera" && s.lastFrame?.seq === frameSeq, 30_000);
      expect(scored.lastFrame!.faces).toBeGreaterThan(0);
      if (model.includes(",")) expect(Object.keys(scored.faces[0].models!)).toEqual(["byo-serve", "meso4-df"]);
      closeAllClients();
      await stopAllServers();
    }
  });
});

function readTestCrop(): Buffer {
  return readFileSync(path.resolve(packageRoot(), "../shared/mesonet/test_images/df/df00204.jpg"));
}

function cli(...args: string[]) {
  return spawnSync(process.execPath, [path.join(packageRoot(), "dist/src/cli/main.js"), ...args], {
    encoding: "utf8",
    cwd: packageRoot(),
    timeout: 60_000,
    env: { ...process.env, MESOGUARD_MODELS_DIR: modelsDir },
  });
}

function cliJson(...args: string[]): any[] {
  const run = cli(...args);
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  return run.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

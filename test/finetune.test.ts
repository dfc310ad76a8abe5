// `mesoguard finetune` as a user runs it (the compiled bin in a child process, the real addon) on a small labelled
// set made here: the data set's deepfake crops (fake) and its real crops plus the faces of the shared photos (real),
// each in a few variants (mirrored, recompressed, cropped) made with sharp. Few epochs: the point is the pipeline,
// the files it writes, that the model loads and scores, and that the seed decides the weights.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { INPUT_SIZE } from "../models/mesonetGraph.js";
import { featuresModel, readHead, withHead } from "../models/mesonetHead.js";
import { CropFeatureExtractor } from "../src/finetune/cropFeatures.js";
import { transformCrop } from "../src/finetune/cropPixels.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { photoPath, type PhotoName } from "./helpers/faces.js";
import { modelPath, ROOT, TEST_IMAGES_DIR, TEST_TIMEOUT } from "./helpers/paths.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-finetune-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const modelsDir = path.join(dir, "models");
function mesoguard(args: string[], models = modelsDir) {
  return spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    cwd: dir,
    timeout: 180_000,
    env: { ...process.env, MESOGUARD_MODELS_DIR: models },
  });
}

/** Variants of one face image: as it is, mirrored, recompressed at quality 40, and its centre 88% scaled back. */
async function writeVariants(source: Buffer, outDir: string, stem: string): Promise<void> {
  const image = sharp(source).resize(INPUT_SIZE, INPUT_SIZE);
  const side = Math.round(INPUT_SIZE * 0.88);
  const offset = Math.round((INPUT_SIZE - side) / 2);
  await image.clone().png().toFile(path.join(outDir, `${stem}.png`));
  await image.clone().flop().jpeg({ quality: 90 }).toFile(path.join(outDir, `${stem}-flip.jpg`));
  await image.clone().jpeg({ quality: 40 }).toFile(path.join(outDir, `${stem}-q40.jpg`));
  await sharp(await image.clone().png().toBuffer())
    .extract({ left: offset, top: offset, width: side, height: side })
    .resize(INPUT_SIZE, INPUT_SIZE)
    .jpeg({ quality: 85 })
    .toFile(path.join(outDir, `${stem}-crop.jpg`));
}

const realDir = path.join(dir, "data", "real");
const fakeDir = path.join(dir, "data", "fake");
beforeAll(async () => {
  mkdirSync(realDir, { recursive: true });
  mkdirSync(fakeDir, { recursive: true });
  for (const f of ["df00204.jpg", "df01254.jpg"]) await writeVariants(readFileSync(path.join(TEST_IMAGES_DIR, "df", f)), fakeDir, f.slice(0, -4));
  for (const f of ["real00240.jpg", "real00772.jpg"]) await writeVariants(readFileSync(path.join(TEST_IMAGES_DIR, "real", f)), realDir, f.slice(0, -4));
  // The shared photos' faces, cut by the project's own pipeline.
  const scorer = await MesoNetScorer.create({ model: "meso4-df", provider: "cpu" });
  try {
    for (const photo of ["grace_hopper.jpg", "astronaut.png"] as PhotoName[]) {
      const { faces } = await scorer.analyze({ kind: photo.endsWith(".png") ? "png" : "jpeg", data: readFileSync(photoPath(photo)) }, { returnCrops: true });
      const png = await sharp(faces[0]!.crop.rgb!, { raw: { width: INPUT_SIZE, height: INPUT_SIZE, channels: 3 } }).png().toBuffer();
      await writeVariants(png, realDir, photo.replace(/\..*$/, ""));
    }
  } finally {
    await scorer.close();
  }
}, TEST_TIMEOUT);

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const baseArgs = () => ["finetune", "--real", realDir, "--fake", fakeDir, "--no-detect", "--epochs", "3"];

describe("mesoguard finetune", () => {
  let run: ReturnType<typeof mesoguard>;
  let result: any;
  const modelDir = path.join(modelsDir, "my-ft");
  beforeAll(() => {
    run = mesoguard([...baseArgs(), "--augment", "--seed", "7", "--out", "my-ft", "--json"]);
    result = JSON.parse(run.stdout);
  }, TEST_TIMEOUT * 3);

  it("writes the model, its manifest and its card into the user model folder", () => {
    expect(run.stderr).toBe(""); // --json and no TTY: no progress bar
    expect(run.status).toBe(0);
    expect(readdirSync(modelsDir)).toEqual(["my-ft"]); // no temporary folder left
    expect(readdirSync(modelDir).sort()).toEqual(["MODEL_CARD.md", "manifest.json", "model.onnx"]);
    const manifest = JSON.parse(readFileSync(path.join(modelDir, "manifest.json"), "utf8"));
    expect(manifest).toMatchObject({
      name: "my-ft",
      kind: "onnx",
      file: "model.onnx",
      sha256: sha256(path.join(modelDir, "model.onnx")),
      input: { name: "input", width: 256, height: 256, layout: "nchw", channels: "rgb", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
      output: { name: "real", index: 0, meaning: "p-real" },
      license: "Apache-2.0",
      source: "finetune",
      parent: "meso4-df",
      training: { seed: 7, epochs: 3, augment: true, detect: false, holdout: 0.2 },
    });
    // 16 real and 8 fake images at --holdout 0.2: 3 and 2 held out; 3 augmented copies of each training image.
    expect(manifest.data.real).toEqual({ trainFiles: 13, heldOutFiles: 3, trainFaces: 13, heldOutFaces: 3, augmented: 39, filesWithoutFace: 0 });
    expect(manifest.data.fake).toEqual({ trainFiles: 6, heldOutFiles: 2, trainFaces: 6, heldOutFaces: 2, augmented: 18, filesWithoutFace: 0 });
    expect(manifest.training.history).toHaveLength(3);
    expect(result.metrics).toEqual(manifest.metrics);
    for (const m of [manifest.metrics.heldOut.before, manifest.metrics.heldOut.after]) {
      expect(m.faces).toEqual({ real: 3, fake: 2 });
      expect(m.auc).toBeGreaterThanOrEqual(0);
      expect(m.auc).toBeLessThanOrEqual(1);
      expect(m.aucInterval.low).toBeLessThanOrEqual(m.auc);
      expect(m.aucInterval.high).toBeGreaterThanOrEqual(m.auc);
      expect(Object.keys(m.tprAtFpr)).toEqual(["0.01", "0.05", "0.1"]);
    }
  });

  it("keeps the parent's convolutions and changes only the dense head", () => {
    const parent = readFileSync(modelPath("meso4-df"));
    const tuned = readFileSync(path.join(modelDir, "model.onnx"));
    const [before, after] = [readHead(parent), readHead(tuned)];
    expect(after.w1).not.toEqual(before.w1);
    // Putting the parent's head back gives the parent's graph, weights and all, byte for byte (but the name).
    const restored = withHead(tuned, before, "meso4-df", { "mesoguard.parent": "", "mesoguard.source": "" });
    expect(withHead(parent, before, "meso4-df", { "mesoguard.parent": "", "mesoguard.source": "" })).toEqual(restored);
  });

  it("loads by name in score and scan, and scores as the model file does (the native contract)", async () => {
    const score = mesoguard(["score", "--json", "--no-detect", "--model", "my-ft", ...readdirSync(fakeDir).map((f) => path.join(fakeDir, f))]);
    expect(score.stderr).toBe("");
    expect(score.status).toBe(0);
    const lines = score.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(8);
    for (const line of lines) {
      expect(line.model).toBe("my-ft");
      expect(line.real).toBeGreaterThanOrEqual(0);
      expect(line.real).toBeLessThanOrEqual(1);
    }
    const scan = mesoguard(["scan", "--json", "--no-detect", "--model", "my-ft", path.join(fakeDir, "df00204.png")]);
    expect(scan.status).toBe(0);
    expect(JSON.parse(scan.stdout).model).toBe("my-ft");
    // The same file through the model file directly (the native contract: planar RGB [0,1] in, P(real) out).
    const scorer = await MesoNetScorer.create({ model: "meso4-df", modelPath: path.join(modelDir, "model.onnx"), detector: false, provider: "cpu" });
    try {
      const first = lines[0]!;
      const direct = await scorer.score({ kind: first.file.endsWith(".png") ? "png" : "jpeg", data: readFileSync(first.file) });
      expect(direct.real).toBeCloseTo(first.real, 6);
    } finally {
      await scorer.close();
    }
  }, TEST_TIMEOUT);

  it("writes a model card with the data, the settings and the held-out metrics before and after", () => {
    const card = readFileSync(path.join(modelDir, "MODEL_CARD.md"), "utf8");
    const manifest = JSON.parse(readFileSync(path.join(modelDir, "manifest.json"), "utf8"));
    expect(card).toContain("# Model card: my-ft");
    expect(card).toContain("Licence: Apache-2.0");
    expect(card).toContain("Copyright 2018, Darius Afchar"); // the parent's NOTICE
    expect(card).toMatch(/\| real \| 13 \| 3 \| 13 \| 3 \| 39 \| 0 \|/);
    expect(card).toMatch(/\| fake \| 6 \| 2 \| 6 \| 2 \| 18 \| 0 \|/);
    expect(card).toContain("seed 7");
    const { before, after } = manifest.metrics.heldOut;
    const auc = (m: any) => `${m.auc.toFixed(3)} [${m.aucInterval.low.toFixed(3)}, ${m.aucInterval.high.toFixed(3)}]`;
    expect(card).toContain(`| ROC AUC [95% bootstrap interval] | ${auc(before)} | ${auc(after)} |`);
    const pct = (x: number) => `${Number((x * 100).toFixed(1))}%`;
    expect(card).toContain(`| EER | ${pct(before.eer)} | ${pct(after.eer)} |`);
    expect(card).toContain(`| TPR at FPR <= 5% | ${pct(before.tprAtFpr["0.05"])} | ${pct(after.tprAtFpr["0.05"])} |`);
    expect(card).toContain("## Known limits");
  });

  it("is deterministic: the same seed and data give the same model, another seed another", () => {
    const again = path.join(dir, "models-again");
    const same = mesoguard([...baseArgs(), "--augment", "--seed", "7", "--out", "my-ft", "--json"], again);
    expect(same.status).toBe(0);
    expect(sha256(path.join(again, "my-ft", "model.onnx"))).toBe(sha256(path.join(modelDir, "model.onnx")));
    // Through script(1), stderr is a terminal: the progress bar and the text summary.
    const command = [process.execPath, bin, ...baseArgs(), "--augment", "--seed", "8", "--out", "other-seed"].join(" ");
    const other = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", cwd: dir, timeout: 180_000, env: { ...process.env, MESOGUARD_MODELS_DIR: modelsDir } });
    expect(other.status).toBe(0);
    expect(other.stdout).toMatch(/crops +\[#{24}\] 24\/24 files/);
    expect(other.stdout).toMatch(/training \[#{24}\] epoch 3\/3, loss \d\.\d{4}, held-out AUC \d\.\d{3}/);
    expect(other.stdout).toMatch(/wrote other-seed to .*other-seed \(parent meso4-df, 3 epochs, seed 8\)/);
    expect(other.stdout).toMatch(/held-out, other-seed: AUC \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\], EER/);
    expect(readHead(readFileSync(path.join(modelsDir, "other-seed", "model.onnx"))).w1).not.toEqual(readHead(readFileSync(path.join(modelDir, "model.onnx"))).w1);
  }, TEST_TIMEOUT * 3);
});

describe("mesoguard finetune with face detection", () => {
  it("trains on the faces BlazeFace finds and counts the files without one", async () => {
    const withBlank = path.join(dir, "detect-real");
    mkdirSync(withBlank, { recursive: true });
    for (const f of readdirSync(realDir)) writeFileSync(path.join(withBlank, f), readFileSync(path.join(realDir, f)));
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toFile(path.join(withBlank, "blank.png"));
    const models = path.join(dir, "detect-models");
    const run = mesoguard(["finetune", "--real", withBlank, "--fake", fakeDir, "--epochs", "1", "--out", "detected", "--json"], models);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(models, "detected", "manifest.json"), "utf8"));
    expect(manifest.training.detect).toBe(true);
    expect(manifest.data.real.filesWithoutFace).toBe(1); // the blank image
    // A face at least in each of the 16 face images (crops of faces, found again by the detector).
    expect(manifest.data.real.trainFaces + manifest.data.real.heldOutFaces).toBeGreaterThanOrEqual(16);
    expect(manifest.data.fake.filesWithoutFace).toBe(0);
    expect(manifest.metrics.heldOut.after.faces.real).toBe(manifest.data.real.heldOutFaces);
  }, TEST_TIMEOUT);
});

describe("mesoguard finetune on bad data", () => {
  const badModels = path.join(dir, "bad-models");
  const expectRefused = (args: string[], message: RegExp, status = 1) => {
    const run = mesoguard(["finetune", "--no-detect", "--epochs", "1", "--out", "bad", ...args], badModels);
    expect(run.stderr).toMatch(message);
    expect(run.status).toBe(status);
    expect(existsSync(badModels) ? readdirSync(badModels) : []).toEqual([]); // nothing written, not even half
  };

  it("refuses an empty folder, a missing folder, a single class and too few files for a held-out split", () => {
    const empty = path.join(dir, "empty");
    mkdirSync(empty, { recursive: true });
    expectRefused(["--real", realDir, "--fake", empty], /--fake .*empty: no videos or images/);
    expectRefused(["--real", path.join(dir, "nope"), "--fake", fakeDir], /--real .*nope: no such folder/);
    expectRefused(["--real", fakeDir, "--fake", fakeDir], /file\(s\) are under both --real and --fake/);
    const few = path.join(dir, "few");
    mkdirSync(few, { recursive: true });
    for (const f of readdirSync(fakeDir).slice(0, 4)) writeFileSync(path.join(few, f), readFileSync(path.join(fakeDir, f)));
    expectRefused(["--real", realDir, "--fake", few], /--fake .*few: 4 image\(s\) give 1 held-out and 3 training file\(s\) at --holdout 0.2; each class needs at least 2/);
  });

  it("refuses an unreadable image naming it, bad options, and a name taken by an official model", () => {
    const broken = path.join(dir, "broken");
    mkdirSync(broken, { recursive: true });
    for (const f of readdirSync(fakeDir)) writeFileSync(path.join(broken, f), readFileSync(path.join(fakeDir, f)));
    writeFileSync(path.join(broken, "zz-broken.jpg"), "not a jpeg");
    expectRefused(["--real", realDir, "--fake", broken], /zz-broken\.jpg: .*/);
    expectRefused(["--real", realDir, "--fake", fakeDir, "--holdout", "1"], /--holdout must be between 0 and 1/, 2);
    expectRefused(["--real", realDir, "--fake", fakeDir, "--epochs", "0"], /--epochs must be an integer 1-1000/, 2);
    const official = mesoguard(["finetune", "--real", realDir, "--fake", fakeDir, "--out", "meso4-df"], badModels);
    expect(official.stderr).toMatch(/"meso4-df" is an official model's name/);
    expect(official.status).toBe(2);
  }, TEST_TIMEOUT);
});

describe("features model", () => {
  it("gives the parent's P(real) and the flattened convolution features its dense head reads", async () => {
    const parent = readFileSync(modelPath("meso4-df"));
    const file = path.join(dir, "features.onnx");
    writeFileSync(file, featuresModel(parent));
    const extractor = await CropFeatureExtractor.create({ modelPath: file, graphOptimization: "all", detect: false });
    const official = await MesoNetScorer.create({ model: "meso4-df", detector: false, provider: "cpu" });
    try {
      const jpeg = path.join(TEST_IMAGES_DIR, "df", "df00204.jpg");
      const [crop] = await extractor.crops(jpeg);
      const sample = await extractor.sample(crop!);
      // As `score --no-detect` scores the file.
      expect(sample.real).toBe((await official.score({ kind: "jpeg", data: readFileSync(jpeg) })).real);
      // The parent's head on the features gives the parent's output.
      const head = readHead(parent);
      const hidden = Array.from({ length: 16 }, (_, j) => {
        let sum = head.b1[j]!;
        sample.features.forEach((f, i) => (sum += f * head.w1[i * 16 + j]!));
        return sum > 0 ? sum : 0.1 * sum;
      });
      const logit = hidden.reduce((a, h, j) => a + h * head.w2[j]!, head.b2[0]!);
      expect(sample.features).toHaveLength(1024);
      expect(1 / (1 + Math.exp(-logit))).toBeCloseTo(sample.real, 5);
    } finally {
      await Promise.all([extractor.close(), official.close()]);
    }
  });
});

describe("augmentation", () => {
  it("mirrors and cuts crops exactly, and each augmentation changes the features", async () => {
    // A 4x4 crop whose bytes name their pixel: mirrored, pixel (x, y) comes from (side - 1 - x, y) of the region.
    const pattern = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => i);
    const region = transformCrop(pattern, 4, { flip: true, x: 1, y: 1, side: 2 });
    const pixel = (x: number, y: number) => [...pattern.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3)];
    expect([...region]).toEqual([...pixel(2, 1), ...pixel(1, 1), ...pixel(2, 2), ...pixel(1, 2)]);
    expect(() => transformCrop(pattern, 4, { flip: false, x: 3, y: 0, side: 2 })).toThrow(/outside the 4x4 crop/);

    const file = path.join(dir, "features-aug.onnx");
    writeFileSync(file, featuresModel(readFileSync(modelPath("meso4-df"))));
    const extractor = await CropFeatureExtractor.create({ modelPath: file, graphOptimization: "all", detect: false });
    try {
      const [crop] = await extractor.crops(path.join(TEST_IMAGES_DIR, "real", "real00240.jpg"));
      const plain = (await extractor.sample(crop!)).features;
      const whole = { flip: false, x: 0, y: 0, side: INPUT_SIZE };
      // The whole crop, not recompressed: the same features; mirrored, cut or recompressed: others.
      expect(await extractor.augmented(crop!, { transform: whole, jpegQuality: null })).toEqual(plain);
      for (const a of [
        { transform: { ...whole, flip: true }, jpegQuality: null },
        { transform: { flip: false, x: 10, y: 20, side: 230 }, jpegQuality: null },
        { transform: whole, jpegQuality: 30 },
      ]) {
        expect(await extractor.augmented(crop!, a)).not.toEqual(plain);
      }
    } finally {
      await extractor.close();
    }
  });
});

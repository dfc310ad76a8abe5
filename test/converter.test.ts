// Converter tests: Keras .h5 -> ONNX for all four official MesoNet weight files, checked with
// onnxruntime-node against the reference scores in ../shared/mesonet/reference.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildModels, parseBuildArgs, type BuiltModel } from "../models/build.js";
import { readKerasWeights, type KerasWeights } from "../models/kerasWeights.js";
import { DEFAULT_MODEL, findModel, findOfficialModel, loadManifest } from "../src/models/manifest.js";
import {
  buildMesoNetModel,
  decodeModel,
  encodeModel,
  META_ARCHITECTURE,
  META_MODEL,
  META_OUTPUT,
  META_WEIGHTS_SHA256,
  META_CONVERTER,
  CONVERTER_VERSION,
} from "../models/mesonetGraph.js";
import { resolveWeights, sha256File, WEIGHTS_DIR_ENV } from "../models/weightsSource.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const shared = path.resolve(repoRoot, "../shared");
const weightsDir = path.join(shared, "mesonet/weights");
const referenceDir = path.join(shared, "mesonet/reference");

interface Expected {
  scores: Record<string, Record<string, number>>;
  logits: Record<string, Record<string, number>>;
}
const expected: Expected = JSON.parse(readFileSync(path.join(referenceDir, "expected_scores.json"), "utf8"));
const IMAGES = ["df_df00204.png", "real_real00240.png"];

/** The reference PNGs as one NCHW float32 batch of RGB/255 (the model's input contract). */
function loadReferenceBatch(): Float32Array {
  const size = 256;
  const batch = new Float32Array(IMAGES.length * 3 * size * size);
  IMAGES.forEach((file, n) => {
    const png = PNG.sync.read(readFileSync(path.join(referenceDir, file)));
    expect([png.width, png.height]).toEqual([size, size]);
    // pngjs always decodes to RGBA, 4 bytes per pixel.
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++)
        for (let c = 0; c < 3; c++) batch[((n * 3 + c) * size + y) * size + x] = png.data[(y * size + x) * 4 + c] / 255;
  });
  return batch;
}

let tmpRoot: string;
beforeAll(async () => {
  tmpRoot = await mkdtemp(path.join(os.tmpdir(), "mesoguard-converter-"));
});
afterAll(async () => {
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
});

describe("manifest", () => {
  it("lists the four official weight files with the shared files' sha256", async () => {
    const manifest = loadManifest();
    expect(manifest.map((e) => e.name)).toEqual(["meso4-df", "meso4-f2f", "mesoinception4-df", "mesoinception4-f2f"]);
    expect(DEFAULT_MODEL).toBe("meso4-df");
    expect(manifest.filter((e) => e.default).map((e) => e.name)).toEqual([DEFAULT_MODEL]);
    for (const entry of manifest) {
      expect(entry.sha256).toBe(await sha256File(path.join(weightsDir, entry.weightsFile)));
      expect(entry.sourceUrl).toMatch(/^https:\/\/raw\.githubusercontent\.com\/DariusAf\/MesoNet\/[0-9a-f]{40}\/weights\//);
      expect(entry.license).toBe("Apache-2.0");
    }
  });

  it("findModel names the valid models when asked for an unknown one", () => {
    expect(findOfficialModel("mesoinception4-f2f").weightsFile).toBe("MesoInception_F2F.h5");
    expect(() => findModel("meso5")).toThrow(
      /Unknown model "meso5"\. Valid model names: meso4-df, meso4-f2f, mesoinception4-df, mesoinception4-f2f/,
    );
  });
});

describe("conversion of all four weight files", () => {
  let outDir: string;
  let built: BuiltModel[];
  const batch = loadReferenceBatch();

  beforeAll(async () => {
    outDir = path.join(tmpRoot, "generated");
    built = await buildModels({
      weightsDir,
      outDir,
      allowDownload: false,
      cacheDir: path.join(tmpRoot, "cache"),
      log: () => {},
    });
  }, 60_000);

  it("builds every model and ships MesoNet's LICENSE and NOTICE beside them", async () => {
    expect(built.map((b) => [b.name, b.status, b.weightsSource])).toEqual([
      ["meso4-df", "built", "user-dir"],
      ["meso4-f2f", "built", "user-dir"],
      ["mesoinception4-df", "built", "user-dir"],
      ["mesoinception4-f2f", "built", "user-dir"],
    ]);
    expect((await readdir(outDir)).sort()).toEqual([
      "LICENSE",
      "NOTICE",
      "meso4-df.onnx",
      "meso4-f2f.onnx",
      "mesoinception4-df.onnx",
      "mesoinception4-f2f.onnx",
    ]);
    expect(await readFile(path.join(outDir, "NOTICE"), "utf8")).toContain("Darius Afchar");
  });

  it("keeps the ONNX contract the addon relies on", async () => {
    for (const b of built) {
      const entry = findOfficialModel(b.name);
      const model = decodeModel(await readFile(b.file));
      expect(Number(model.irVersion)).toBe(8);
      expect(model.opsetImport.map((o) => [o.domain ?? "", Number(o.version)])).toEqual([["", 17]]);
      expect(model.producerName).toBe("mesoguard");
      const graph = model.graph!;
      const dims = (v: onnxProto.onnx.IValueInfoProto) =>
        v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
      expect(graph.input!.map((i) => [i.name, dims(i)])).toEqual([["input", ["N", 3, 256, 256]]]);
      expect(graph.output!.map((o) => [o.name, dims(o)])).toEqual([
        ["real", ["N", 1]],
        ["logit", ["N", 1]],
      ]);
      const meta = Object.fromEntries(model.metadataProps.map((p) => [p.key, p.value]));
      expect(meta).toEqual({
        [META_MODEL]: entry.name,
        [META_WEIGHTS_SHA256]: entry.sha256,
        [META_ARCHITECTURE]: entry.architecture,
        [META_OUTPUT]: "real = P(REAL), fake = 1 - real",
        [META_CONVERTER]: CONVERTER_VERSION,
      });
    }
  });

  for (const name of ["meso4-df", "meso4-f2f", "mesoinception4-df", "mesoinception4-f2f"]) {
    it(`${name} matches the Keras reference scores (|real - expected| <= 1e-5)`, async () => {
      const entry = findOfficialModel(name);
      const session = await ort.InferenceSession.create(path.join(outDir, `${name}.onnx`));
      try {
        const result = await session.run({ input: new ort.Tensor("float32", batch, [IMAGES.length, 3, 256, 256]) });
        expect(result.real.dims).toEqual([IMAGES.length, 1]);
        expect(result.logit.dims).toEqual([IMAGES.length, 1]);
        IMAGES.forEach((image, n) => {
          const real = (result.real.data as Float32Array)[n];
          const logit = (result.logit.data as Float32Array)[n];
          const wantReal = expected.scores[entry.weightsFile][image];
          const wantLogit = expected.logits[entry.weightsFile][image];
          expect(Math.abs(real - wantReal), `${name} ${image} real=${real} expected ${wantReal}`).toBeLessThanOrEqual(1e-5);
          expect(Math.abs(logit - wantLogit), `${name} ${image} logit=${logit} expected ${wantLogit}`).toBeLessThanOrEqual(
            1e-4 * Math.abs(wantLogit),
          );
        });
      } finally {
        await session.release();
      }
    });
  }

  it("skips models whose .onnx already carries the pinned weights sha256, rebuilds with force", async () => {
    const lines: string[] = [];
    const again = await buildModels({ weightsDir, outDir, allowDownload: false, log: (l) => lines.push(l) });
    expect(again.map((b) => b.status)).toEqual(["up-to-date", "up-to-date", "up-to-date", "up-to-date"]);
    expect(lines).toHaveLength(4);
    const forced = await buildModels({ weightsDir, outDir, force: true, names: ["meso4-df"], log: () => {} });
    expect(forced.map((b) => [b.name, b.status])).toEqual([["meso4-df", "built"]]);
  }, 60_000);

  it("rebuilds a model an older converter built (same weights, another converter version)", async () => {
    const file = path.join(outDir, "meso4-f2f.onnx");
    const model = decodeModel(readFileSync(file));
    const entry = model.metadataProps.find((p) => p.key === META_CONVERTER)!;
    entry.value = "1";
    writeFileSync(file, encodeModel(model));
    const again = await buildModels({ weightsDir, outDir, allowDownload: false, names: ["meso4-f2f", "meso4-df"], log: () => {} });
    expect(again.map((b) => [b.name, b.status])).toEqual([["meso4-f2f", "built"], ["meso4-df", "up-to-date"]]);
  }, 60_000);
});

describe("role mapping and shape checks", () => {
  let meso4: KerasWeights;
  let inception: KerasWeights;
  const meso4Info = { name: "meso4-df", architecture: "meso4" as const, weightsSha256: "x" };
  const inceptionInfo = { name: "mesoinception4-df", architecture: "mesoinception4" as const, weightsSha256: "x" };

  beforeAll(async () => {
    meso4 = await readKerasWeights(path.join(weightsDir, "Meso4_DF.h5"));
    inception = await readKerasWeights(path.join(weightsDir, "MesoInception_DF.h5"));
  }, 30_000);

  it("reads the Keras layers with their Keras shapes", () => {
    expect([...meso4.keys()].sort()).toEqual(
      ["batch_normalization_5", "batch_normalization_6", "batch_normalization_7", "batch_normalization_8"]
        .concat(["conv2d_5", "conv2d_6", "conv2d_7", "conv2d_8", "dense_3", "dense_4"]),
    );
    expect(meso4.get("conv2d_6")!.kernel!.shape).toEqual([5, 5, 8, 8]);
    expect(meso4.get("dense_3")!.kernel!.shape).toEqual([1024, 16]);
    expect(inception.get("conv2d_1")!.kernel!.shape).toEqual([1, 1, 3, 1]);
  });

  it("maps layers by name index, not by their order in the file", () => {
    // Same layers, inserted in reverse order: the graph must not change by a single byte.
    const reversed: KerasWeights = new Map([...inception.entries()].reverse());
    expect(Buffer.from(encodeModel(buildMesoNetModel(reversed, inceptionInfo)))).toEqual(
      Buffer.from(encodeModel(buildMesoNetModel(inception, inceptionInfo))),
    );
  });

  it("folds every BatchNorm (scale into the conv, shift after the pool) and scores as the unfolded graph does", async () => {
    const batch = loadReferenceBatch();
    const run = async (model: onnxProto.onnx.ModelProto) => {
      const session = await ort.InferenceSession.create(encodeModel(model));
      try {
        const r = await session.run({ input: new ort.Tensor("float32", batch, [IMAGES.length, 3, 256, 256]) });
        return { real: r.real.data as Float32Array, logit: r.logit.data as Float32Array };
      } finally {
        await session.release();
      }
    };
    const ops = (model: onnxProto.onnx.ModelProto) => model.graph!.node!.map((n) => n.opType);
    // One gamma negated: that layer cannot fold (s * relu(z) != relu(s * z) for s < 0) and keeps its node.
    const flipped: KerasWeights = new Map(meso4);
    const bn = meso4.get("batch_normalization_6")!;
    flipped.set("batch_normalization_6", { ...bn, gamma: { ...bn.gamma!, data: bn.gamma!.data.map((g, i) => (i === 3 ? -g : g)) } });
    for (const [weights, info, keptNodes] of [
      [meso4, meso4Info, 0],
      [inception, inceptionInfo, 0],
      [flipped, meso4Info, 1],
    ] as const) {
      const folded = buildMesoNetModel(weights, info);
      const unfolded = buildMesoNetModel(weights, info, { foldBatchNorm: false });
      expect(ops(unfolded).filter((op) => op === "BatchNormalization")).toHaveLength(4);
      expect(ops(folded).filter((op) => op === "BatchNormalization")).toHaveLength(keptNodes);
      expect(ops(folded).filter((op) => op === "Add")).toHaveLength(4 - keptNodes);
      const [a, b] = [await run(folded), await run(unfolded)];
      for (let n = 0; n < IMAGES.length; n++) {
        expect(Math.abs(a.real[n]! - b.real[n]!), `${info.name} ${IMAGES[n]}`).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(a.logit[n]! - b.logit[n]!), `${info.name} ${IMAGES[n]} logit`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b.logit[n]!)));
      }
    }
  });

  it("lays Meso4's 8-channel blocks out for NCHWc kernels and scores as the plain layout does", async () => {
    // The two reference crops, then uniform noise (every pixel and border tap matters) and a flat grey image.
    let seed = 7;
    const noise = Float32Array.from({ length: 3 * 256 * 256 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 1000) / 999);
    const batch = new Float32Array(4 * 3 * 256 * 256);
    batch.set(loadReferenceBatch());
    batch.set(noise, 2 * noise.length);
    batch.fill(0.5, 3 * noise.length);
    const run = async (model: onnxProto.onnx.ModelProto) => {
      const session = await ort.InferenceSession.create(encodeModel(model));
      try {
        const r = await session.run({ input: new ort.Tensor("float32", batch, [4, 3, 256, 256]) });
        return { real: r.real.data as Float32Array, logit: r.logit.data as Float32Array };
      } finally {
        await session.release();
      }
    };
    const f2f = await readKerasWeights(path.join(weightsDir, "Meso4_F2F.h5"));
    for (const weights of [meso4, f2f]) {
      const blocked = buildMesoNetModel(weights, meso4Info);
      const plain = buildMesoNetModel(weights, meso4Info, { blockedLayout: false });
      const nodes = blocked.graph!.node!;
      const weightDims = (conv: string) => blocked.graph!.initializer!.find((t) => t.name === nodes.find((n) => n.name === conv)!.input![1])!.dims!.map(Number);
      // Block 1: 16 filters (8 zero), pooled, then sliced to 8; block 2: a 3x3 conv over the 32-channel space-to-depth.
      expect(weightDims("conv2d_5")).toEqual([16, 3, 3, 3]);
      expect(nodes.filter((n) => n.opType === "Slice")).toHaveLength(1);
      expect(weightDims("conv2d_6")).toEqual([32, 32, 3, 3]);
      expect(nodes.filter((n) => n.opType === "SpaceToDepth").map((n) => n.input![0])).toEqual(["batch_normalization_5.out"]);
      expect(plain.graph!.node!.filter((n) => ["SpaceToDepth", "Slice", "Split"].includes(n.opType!))).toHaveLength(0);
      const [a, b] = [await run(blocked), await run(plain)];
      for (let n = 0; n < 4; n++) {
        expect(Math.abs(a.real[n]! - b.real[n]!), `image ${n}`).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(a.logit[n]! - b.logit[n]!), `image ${n} logit`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b.logit[n]!)));
      }
      // The noise and grey images score apart from the crops: a layout that lost the input would score them alike.
      expect(new Set(Array.from(b.logit, (v) => v.toFixed(3))).size).toBe(4);
    }
  });

  it("rejects a kernel whose shape does not fit its role", () => {
    const swapped: KerasWeights = new Map(meso4);
    swapped.set("conv2d_6", { ...meso4.get("conv2d_6"), kernel: meso4.get("conv2d_7")!.kernel });
    expect(() => buildMesoNetModel(swapped, meso4Info)).toThrow(
      /meso4: layer conv2d_6 \(block2 conv 5x5\) kernel has shape \[5,5,8,16\], expected \[5,5,8,8\]/,
    );
  });

  it("rejects weights of the other architecture", () => {
    expect(() => buildMesoNetModel(meso4, inceptionInfo)).toThrow(
      /mesoinception4: expected 16 conv2d_N layers, found 4 \(conv2d_5, conv2d_6, conv2d_7, conv2d_8\)/,
    );
    expect(() => buildMesoNetModel(inception, meso4Info)).toThrow(/meso4: expected 4 conv2d_N layers, found 16/);
  });

  it("rejects a missing layer or a missing weight", () => {
    const noBn: KerasWeights = new Map(meso4);
    noBn.delete("batch_normalization_7");
    expect(() => buildMesoNetModel(noBn, meso4Info)).toThrow(
      /meso4: expected 4 batch_normalization_N layers, found 3 \(batch_normalization_5, batch_normalization_6, batch_normalization_8\)/,
    );
    const noBias: KerasWeights = new Map(meso4);
    noBias.set("dense_4", { kernel: meso4.get("dense_4")!.kernel });
    expect(() => buildMesoNetModel(noBias, meso4Info)).toThrow(/meso4: layer dense_4 \(Dense 1\) has no "bias" weight/);
  });

  it("rejects a file that is not HDF5", async () => {
    const bogus = path.join(tmpRoot, "not-hdf5.h5");
    await writeFile(bogus, "hello");
    await expect(readKerasWeights(bogus)).rejects.toThrow(/not-hdf5\.h5: cannot open as HDF5/);
    await expect(readKerasWeights(path.join(tmpRoot, "absent.h5"))).rejects.toThrow(/absent\.h5: cannot read/);
  });
});

describe("weights source", () => {
  const entry = () => findOfficialModel("meso4-df");
  const offline: typeof fetch = async () => {
    throw new Error("getaddrinfo ENOTFOUND raw.githubusercontent.com");
  };
  const serving = (bytes: Uint8Array): typeof fetch =>
    (async () => new Response(Buffer.from(bytes), { status: 200 })) as typeof fetch;

  it("rejects a weights file whose sha256 differs from the manifest", async () => {
    const badDir = path.join(tmpRoot, "bad-weights");
    await rm(badDir, { recursive: true, force: true });
    await mkdir(badDir, { recursive: true });
    const bytes = await readFile(path.join(weightsDir, "Meso4_DF.h5"));
    bytes[bytes.length - 1] ^= 0xff; // flip one byte
    await writeFile(path.join(badDir, "Meso4_DF.h5"), bytes);
    await expect(resolveWeights(entry(), { weightsDir: badDir, sharedDir: null, fetch: offline })).rejects.toThrow(
      /sha256 [0-9a-f]{64} does not match the pinned sha256 036ed30d/,
    );
    await expect(
      buildModels({ weightsDir: badDir, outDir: path.join(tmpRoot, "bad-out"), names: ["meso4-df"], log: () => {} }),
    ).rejects.toThrow(/does not match the pinned sha256/);
  });

  it("uses MESOGUARD_WEIGHTS_DIR, then the shared folder", async () => {
    const fromEnv = await resolveWeights(entry(), { env: { [WEIGHTS_DIR_ENV]: weightsDir }, sharedDir: null });
    expect(fromEnv).toEqual({ path: path.join(weightsDir, "Meso4_DF.h5"), sha256: entry().sha256, source: "user-dir" });
    const fromShared = await resolveWeights(entry(), { env: {} });
    expect(fromShared.source).toBe("shared");
    expect(fromShared.path).toBe(path.join(weightsDir, "Meso4_DF.h5"));
  });

  it("a weights folder the user named must exist and hold the file: no silent fall back to the shared folder", async () => {
    const missing = path.join(tmpRoot, "no-such-weights");
    // The shared folder holds the file, so a fall back would succeed: each of these must fail instead.
    await expect(resolveWeights(entry(), { weightsDir: missing })).rejects.toThrow(/--weights .*no-such-weights: no such folder/);
    await expect(resolveWeights(entry(), { env: { [WEIGHTS_DIR_ENV]: missing } })).rejects.toThrow(
      /MESOGUARD_WEIGHTS_DIR=.*no-such-weights: no such folder/,
    );
    const empty = path.join(tmpRoot, "empty-weights");
    await mkdir(empty, { recursive: true });
    await expect(resolveWeights(entry(), { weightsDir: empty })).rejects.toThrow(/Meso4_DF\.h5 .* not in the folder named/);

    // The command (`npm run models -- --weights DIR`) fails even when the models are already up to date.
    const outDir = path.join(tmpRoot, "weights-cli-out");
    await buildModels({ weightsDir, outDir, names: ["meso4-df"], log: () => {} });
    const run = spawnSync(process.execPath, [path.join(repoRoot, "dist/models/build.js"), "--weights", missing, "--out", outDir, "meso4-df"], {
      encoding: "utf8",
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/mesoguard models: --weights .*no-such-weights: no such folder/);
  });

  it("downloads into the cache, verifying the sha256", async () => {
    const cacheDir = path.join(tmpRoot, "download-cache");
    const good = await readFile(path.join(weightsDir, "Meso4_DF.h5"));
    const opts = { env: {}, sharedDir: null, cacheDir };

    const wrong = Uint8Array.from(good);
    wrong[100] ^= 1;
    await expect(resolveWeights(entry(), { ...opts, fetch: serving(wrong) })).rejects.toThrow(
      /Downloaded https:\/\/raw\.githubusercontent\.com\/DariusAf\/MesoNet\/.* has sha256 [0-9a-f]{64}, expected 036ed30d.*refusing/,
    );
    expect(existsSync(path.join(cacheDir, "Meso4_DF.h5"))).toBe(false);

    const got = await resolveWeights(entry(), { ...opts, fetch: serving(good) });
    expect(got).toEqual({ path: path.join(cacheDir, "Meso4_DF.h5"), sha256: entry().sha256, source: "download" });
    // Next time the cache answers without a network.
    expect((await resolveWeights(entry(), { ...opts, fetch: offline })).source).toBe("cache");
    // A corrupted cache entry is dropped and downloaded again.
    await writeFile(path.join(cacheDir, "Meso4_DF.h5"), "truncated");
    expect((await resolveWeights(entry(), { ...opts, fetch: serving(good) })).source).toBe("download");
  });

  it("offline with no local weights, says exactly what to do", async () => {
    const opts = { env: {}, sharedDir: null, cacheDir: path.join(tmpRoot, "empty-cache"), fetch: offline };
    const err = await resolveWeights(entry(), opts).then(
      () => new Error("resolved"),
      (e: Error) => e,
    );
    expect(err.message).toMatch(/Weights Meso4_DF\.h5 for model meso4-df not found/);
    expect(err.message).toMatch(/download failed \(getaddrinfo ENOTFOUND/);
    expect(err.message).toMatch(/Set MESOGUARD_WEIGHTS_DIR to a folder holding the MesoNet \.h5 files/);
    expect(err.message).toMatch(/or go online/);
  });
});

describe("build CLI arguments", () => {
  it("parses --weights, --out, --force and names", () => {
    expect(parseBuildArgs(["--weights", "/w", "--out", "/o", "--force", "meso4-df"])).toEqual({
      weightsDir: "/w",
      outDir: "/o",
      force: true,
      names: ["meso4-df"],
    });
    expect(() => parseBuildArgs(["--out"])).toThrow(/--out needs a folder argument/);
    expect(() => parseBuildArgs(["--bogus"])).toThrow(/unknown option --bogus/);
  });
});

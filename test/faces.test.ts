// Faces end to end on real photos through the real addon: BlazeFace finds the faces, each is cropped as the
// MesoNet pipeline crops it and scored; the score is exactly MesoNet on that crop. Every frame kind finds the
// same face; bad input rejects with a code and never disturbs the frames beside it.
import * as ort from "onnxruntime-node";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { detectorModelPath } from "../src/faces/detectorModels.js";
import { keypointsToArray } from "../src/faces/keypoints.js";
import type { FrameInput, NativeAddon, NativeScorer } from "../src/native/addonTypes.js";
import { loadAddon } from "../src/native/loadAddon.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { resolvePreprocessOptions } from "../src/scoring/scorerOptions.js";
import type { FaceScore, FrameAnalysis } from "../src/scoring/scoringTypes.js";
import { closeAll, openScorer, rejectionOf } from "./helpers/addon.js";
import { boxIou, decodeWithAddon, photoFrame, type PhotoName } from "./helpers/faces.js";
import { constantImage, randomBytes, shuffled, toI420, toNv12, toRgba, type RgbImage } from "./helpers/images.js";
import { modelPath, TEST_TIMEOUT } from "./helpers/paths.js";

type Box4 = [number, number, number, number];

/** Where the faces are (back model, measured once and checked by eye). */
const REFERENCE: Record<PhotoName, Box4[]> = {
  "grace_hopper.jpg": [[171, 140, 367, 336]],
  "astronaut.png": [[173, 74, 277, 178]],
  "messi5.jpg": [[222, 97, 258, 133]],
  "example.jpg": [
    [29, 221, 352, 543],
    [422, 215, 735, 528],
    [805, 239, 1119, 552],
  ],
};

let addon: NativeAddon;
let back: MesoNetScorer;
let front: MesoNetScorer;
let noDetector: MesoNetScorer;
const scorers: MesoNetScorer[] = [];
const nativeScorers: NativeScorer[] = [];
let noiseJpeg: Buffer;

beforeAll(async () => {
  addon = loadAddon();
  // CPU: the scores are compared with onnxruntime-node on CPU to 1e-5.
  back = await MesoNetScorer.create({ provider: "cpu" });
  front = await MesoNetScorer.create({ provider: "cpu", detector: "blazeface-front" });
  noDetector = await MesoNetScorer.create({ provider: "cpu", detector: false });
  scorers.push(back, front, noDetector);
  noiseJpeg = await addon.encodeJpeg(randomBytes(320 * 240 * 3, 1234), 320, 240, 90);
}, TEST_TIMEOUT);

afterAll(async () => {
  await Promise.allSettled(scorers.map((s) => s.close()));
  await closeAll(nativeScorers);
}, TEST_TIMEOUT);

function rawRgb(image: RgbImage): FrameInput {
  return { kind: "rgb", data: image.data, width: image.width, height: image.height };
}

/** A face the detector reports must be laid out like a face: keypoints inside the box, in face order. */
function expectFaceShaped(face: FaceScore, label: string): void {
  const [x1, y1, x2, y2] = face.box;
  const k = face.keypoints;
  for (const name of ["rightEye", "leftEye", "noseTip", "mouth"] as const) {
    const p = k[name];
    expect(p.x >= x1 && p.x <= x2 && p.y >= y1 && p.y <= y2, `${label}: ${name} (${p.x}, ${p.y}) inside [${face.box}]`).toBe(true);
  }
  const eyesY = Math.max(k.rightEye.y, k.leftEye.y);
  expect(eyesY, `${label}: eyes above the nose`).toBeLessThan(k.noseTip.y);
  expect(k.noseTip.y, `${label}: nose above the mouth`).toBeLessThan(k.mouth.y);
  // The subject's right eye is on the image's left.
  expect(k.rightEye.x, `${label}: right eye left of the left eye`).toBeLessThan(k.leftEye.x);
  expect(face.score).toBeGreaterThanOrEqual(0.5);
  expect(face.score).toBeLessThanOrEqual(1);
  expect(face.real).toBeGreaterThanOrEqual(0);
  expect(face.real).toBeLessThanOrEqual(1);
  expect(face.fake).toBeCloseTo(1 - face.real, 12);
  expect(1 / (1 + Math.exp(-face.logit))).toBeCloseTo(face.real, 5);
  // The crop is centred on the nose tip.
  expect(face.crop.center[0]).toBeCloseTo(k.noseTip.x, 3);
  expect(face.crop.center[1]).toBeCloseTo(k.noseTip.y, 3);
  expect(face.crop.rgb).toBeUndefined();
}

/** Matches each reference box with its best-overlapping face; returns the IoUs in reference order. */
function matchIous(faces: FaceScore[], reference: Box4[]): number[] {
  return reference.map((ref) => Math.max(0, ...faces.map((f) => boxIou(f.box, ref))));
}

describe("BlazeFace finds the faces", { timeout: TEST_TIMEOUT }, () => {
  for (const photo of ["grace_hopper.jpg", "astronaut.png"] as const) {
    it(`one face on ${photo}, the box on it and the keypoints in face order`, async () => {
      const result = await back.analyze(photoFrame(photo));
      expect(result.faces).toHaveLength(1);
      expect(result.detectorRuns).toBe(1);
      const [ref] = REFERENCE[photo];
      expect(boxIou(result.faces[0].box, ref), `box ${result.faces[0].box}`).toBeGreaterThanOrEqual(0.6);
      expectFaceShaped(result.faces[0], photo);
    });
  }

  it("the frame size comes back with the faces", async () => {
    const [grace, astronaut, example] = await Promise.all(
      (["grace_hopper.jpg", "astronaut.png", "example.jpg"] as const).map((p) => back.analyze(photoFrame(p))),
    );
    expect([grace.width, grace.height]).toEqual([512, 600]);
    expect([astronaut.width, astronaut.height]).toEqual([512, 512]);
    expect([example.width, example.height]).toEqual([1162, 580]);
  });

  it("the small face in messi5.jpg: the back model (the default) finds it, the front model does not", async () => {
    expect(back.detectorName).toBe("blazeface-back");
    const withBack = await back.analyze(photoFrame("messi5.jpg"));
    expect(withBack.faces).toHaveLength(1);
    expect(boxIou(withBack.faces[0].box, REFERENCE["messi5.jpg"][0])).toBeGreaterThanOrEqual(0.6);
    expectFaceShaped(withBack.faces[0], "messi5.jpg");
    const withFront = await front.analyze(photoFrame("messi5.jpg"));
    expect(withFront.faces).toEqual([]);
    expect(withFront.detectorRuns).toBe(1);
    // The front model is not broken: it finds the close-up face.
    expect((await front.analyze(photoFrame("grace_hopper.jpg"))).faces).toHaveLength(1);
  });

  it("three faces in example.jpg, one in each third", async () => {
    const result = await back.analyze(photoFrame("example.jpg"));
    expect(result.faces).toHaveLength(3);
    const third = result.width / 3;
    const thirds = result.faces.map((f) => Math.floor((f.box[0] + f.box[2]) / 2 / third)).sort();
    expect(thirds).toEqual([0, 1, 2]);
    for (const face of result.faces) {
      const t = Math.floor((face.box[0] + face.box[2]) / 2 / third);
      // Wholly inside its third: no face straddles two webcam frames.
      expect(face.box[0]).toBeGreaterThanOrEqual(t * third - 1);
      expect(face.box[2]).toBeLessThanOrEqual((t + 1) * third + 1);
      expectFaceShaped(face, `example.jpg third ${t}`);
    }
    for (const v of matchIous(result.faces, REFERENCE["example.jpg"])) expect(v).toBeGreaterThanOrEqual(0.6);
  });

  it("no face is an empty list, not an error: JPEG noise and a flat grey raw frame", async () => {
    const noise = await back.analyze({ kind: "jpeg", data: noiseJpeg });
    expect(noise.faces).toEqual([]);
    expect([noise.width, noise.height]).toEqual([320, 240]);
    expect(noise.detectorRuns).toBe(1);
    const grey = await back.analyze(rawRgb(constantImage(640, 480, [128, 128, 128])));
    expect(grey.faces).toEqual([]);
    expect([grey.width, grey.height]).toEqual([640, 480]);
    expect((await front.analyze(rawRgb(constantImage(64, 48, [128, 128, 128])))).faces).toEqual([]);
  });
});

describe("each face's score is MesoNet on its crop", { timeout: TEST_TIMEOUT }, () => {
  it("the returned crop equals preprocess(frame, {keypoints, bilinear}), and its score equals onnxruntime-node on that crop", async () => {
    const session = await ort.InferenceSession.create(modelPath("meso4-df"));
    try {
      let checked = 0;
      for (const photo of ["grace_hopper.jpg", "example.jpg", "messi5.jpg"] as const) {
        const frame = photoFrame(photo);
        const result = await back.analyze(frame, { returnCrops: true });
        expect(result.faces.length).toBe(REFERENCE[photo].length);
        for (const face of result.faces) {
          const crop = await addon.preprocess(frame, resolvePreprocessOptions({ width: 256, height: 256, resize: "bilinear", keypoints: keypointsToArray(face.keypoints) }));
          const rgb = face.crop.rgb!;
          expect(rgb).toBeInstanceOf(Buffer);
          expect(rgb.length).toBe(256 * 256 * 3);
          let worst = 0;
          for (let p = 0; p < 256 * 256; p++) {
            for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(rgb[3 * p + c] / 255 - crop[c * 65536 + p]));
          }
          expect(worst, `${photo} crop vs preprocess`).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
          const out = await session.run({ input: new ort.Tensor("float32", crop, [1, 3, 256, 256]) });
          const real = (out.real.data as Float32Array)[0];
          const logit = (out.logit.data as Float32Array)[0];
          expect(Math.abs(face.real - real), `${photo} real`).toBeLessThanOrEqual(1e-5);
          expect(Math.abs(face.logit - logit), `${photo} logit`).toBeLessThanOrEqual(1e-4);
          checked++;
        }
      }
      expect(checked).toBe(5);
    } finally {
      await session.release();
    }
  });

  it("returnCrops does not change the scores; different faces get different scores", async () => {
    const frame = photoFrame("example.jpg");
    const [plain, withCrops] = await Promise.all([back.analyze(frame), back.analyze(frame, { returnCrops: true })]);
    expect(withCrops.faces.map((f) => f.box)).toEqual(plain.faces.map((f) => f.box));
    for (const [i, f] of plain.faces.entries()) expect(Math.abs(f.real - withCrops.faces[i].real)).toBeLessThanOrEqual(1e-6);
    expect(new Set(plain.faces.map((f) => f.logit)).size).toBe(3);
  });
});

describe("every frame kind finds the same face", { timeout: TEST_TIMEOUT }, () => {
  it("jpeg, png, rgb, rgba, i420 and nv12 made from the same decoded photo", async () => {
    const original = photoFrame("grace_hopper.jpg");
    const image = await decodeWithAddon(addon, original, 512, 600);
    const png = new PNG({ width: image.width, height: image.height });
    png.data = Buffer.from(toRgba(image));
    for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
    // Raw RGB with padded rows: each row followed by 13 garbage bytes.
    const stride = image.width * 3 + 13;
    const strided = randomBytes(stride * image.height, 5);
    for (let y = 0; y < image.height; y++) strided.set(image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3), y * stride);
    const frames: Record<string, FrameInput> = {
      jpeg: { kind: "jpeg", data: await addon.encodeJpeg(image.data, image.width, image.height, 95) },
      png: { kind: "png", data: PNG.sync.write(png) },
      rgb: rawRgb(image),
      rgba: { kind: "rgba", data: toRgba(image), width: image.width, height: image.height },
      i420: toI420(image),
      nv12: toNv12(image),
      "rgb, padded stride": { kind: "rgb", data: strided, width: image.width, height: image.height, stride },
    };

    const reference = (await back.analyze(original)).faces;
    expect(reference).toHaveLength(1);
    const results = await Promise.all(Object.values(frames).map((f) => back.analyze(f)));
    for (const [i, kind] of Object.keys(frames).entries()) {
      const r = results[i];
      expect([r.width, r.height], kind).toEqual([512, 600]);
      expect(r.faces, kind).toHaveLength(1);
      const d = r.faces[0].box.map((v, j) => Math.abs(v - reference[0].box[j]));
      // Measured: under 0.3 px for the lossy kinds (JPEG re-encode, 4:2:0 chroma).
      expect(Math.max(...d), `${kind}: box ${r.faces[0].box} vs ${reference[0].box}`).toBeLessThanOrEqual(2);
      const kd = keypointsToArray(r.faces[0].keypoints).map((v, j) => Math.abs(v - keypointsToArray(reference[0].keypoints)[j]));
      expect(Math.max(...kd), `${kind}: keypoints`).toBeLessThanOrEqual(2);
    }
    // The lossless kinds hold the very pixels the JPEG decoded to: exactly the same face.
    for (const kind of ["png", "rgb", "rgba", "rgb, padded stride"]) {
      const r = results[Object.keys(frames).indexOf(kind)];
      expect(r.faces[0].box, kind).toEqual(reference[0].box);
      expect(r.faces[0].real, kind).toBe(reference[0].real);
    }
  });
});

describe("bad input", { timeout: TEST_TIMEOUT }, () => {
  it("a corrupt or truncated JPEG rejects with ERR_JPEG_DECODE while concurrent good frames succeed", async () => {
    const good = photoFrame("grace_hopper.jpg");
    const bytes = good.data as Buffer;
    const truncated: FrameInput = { kind: "jpeg", data: bytes.subarray(0, bytes.length >> 1) };
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.from(randomBytes(4000, 3))]);
    const corrupt: FrameInput = { kind: "jpeg", data: garbage };
    const settled = await Promise.allSettled([
      back.analyze(truncated),
      back.analyze(good),
      back.analyze(corrupt),
      back.analyze(photoFrame("example.jpg")),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["rejected", "fulfilled", "rejected", "fulfilled"]);
    for (const i of [0, 2]) {
      const reason = (settled[i] as PromiseRejectedResult).reason as { code?: string; message: string };
      expect(reason).toBeInstanceOf(Error);
      expect(reason.code).toBe("ERR_JPEG_DECODE");
    }
    expect((settled[1] as PromiseFulfilledResult<FrameAnalysis>).value.faces).toHaveLength(1);
    expect((settled[3] as PromiseFulfilledResult<FrameAnalysis>).value.faces).toHaveLength(3);
    // And the scorer keeps working afterwards.
    expect((await back.analyze(good)).faces).toHaveLength(1);
  });

  it("detect: true on a scorer without a detector rejects with ERR_INVALID_ARG; detect: false with faces works", async () => {
    const frame = photoFrame("grace_hopper.jpg");
    expect(noDetector.detectorName).toBeNull();
    const e = await rejectionOf(noDetector.analyze(frame));
    expect(e.code).toBe("ERR_INVALID_ARG");
    expect(e.message).toMatch(/detector/);
    expect((await rejectionOf(noDetector.analyze(frame, { detect: true }))).code).toBe("ERR_INVALID_ARG");
    // The faces another scorer found can be scored here: the same crop, the same score.
    const found = (await back.analyze(frame)).faces;
    const scored = await noDetector.analyze(frame, { detect: false, faces: found });
    expect(scored.detectorRuns).toBe(0);
    expect(scored.faces).toHaveLength(1);
    expect(scored.faces[0].box).toEqual(found[0].box);
    expect(Math.abs(scored.faces[0].real - found[0].real)).toBeLessThanOrEqual(1e-6);
  });

  it("faces with 11 keypoints, NaN keypoints or a bad box reject with ERR_INVALID_ARG", async () => {
    const native = await openScorer(addon, "meso4-df", nativeScorers, { detector: { modelPath: detectorModelPath("blazeface-back") } });
    const frame = photoFrame("grace_hopper.jpg");
    const box: Box4 = [171, 140, 367, 336];
    const twelve = [226, 195, 311, 192, 271, 241, 273, 281, 183, 215, 356, 208];
    const analyze = (faces: unknown) => native.analyze(frame, { detect: false, faces: faces as never });
    expect((await rejectionOf(analyze([{ box, keypoints: twelve.slice(0, 11) }]))).code).toBe("ERR_INVALID_ARG");
    expect((await rejectionOf(analyze([{ box, keypoints: [...twelve, 1] }]))).code).toBe("ERR_INVALID_ARG");
    const withNaN = twelve.slice();
    withNaN[4] = Number.NaN;
    expect((await rejectionOf(analyze([{ box, keypoints: withNaN }]))).code).toBe("ERR_INVALID_ARG");
    const withInfinity = twelve.slice();
    withInfinity[7] = Number.POSITIVE_INFINITY;
    expect((await rejectionOf(analyze([{ box, keypoints: withInfinity }]))).code).toBe("ERR_INVALID_ARG");
    expect((await rejectionOf(analyze([{ box: [10, 10, 5, 20], keypoints: twelve }]))).code).toBe("ERR_INVALID_ARG");
    expect((await rejectionOf(analyze([{ box, keypoints: twelve }, 42]))).code).toBe("ERR_INVALID_ARG");
    // The typed facade: a NaN keypoint gets the same code.
    const face = (await back.analyze(frame)).faces[0];
    const bad = { ...face, keypoints: { ...face.keypoints, mouth: { x: Number.NaN, y: 281 } } };
    expect((await rejectionOf(back.analyze(frame, { detect: false, faces: [bad] }))).code).toBe("ERR_INVALID_ARG");
    // Faces only with detect: false.
    expect((await rejectionOf(back.analyze(frame, { faces: [face] }))).code).toBe("ERR_INVALID_ARG");
    // The well-formed twelve are accepted.
    expect((await analyze([{ box, keypoints: twelve }])).faces).toHaveLength(1);
  });

  it("a detection region entirely outside the frame rejects with ERR_INVALID_ARG; one partly outside is clamped", async () => {
    const frame = photoFrame("grace_hopper.jpg"); // 512 x 600
    for (const region of [
      [1000, 1000, 1100, 1100],
      [-300, 0, -10, 600],
      [0, 600, 512, 700],
    ] as Box4[]) {
      const e = await rejectionOf(back.analyze(frame, { regions: [region] }));
      expect(e.code, `region ${region}`).toBe("ERR_INVALID_ARG");
    }
    // One bad region among good ones still rejects the frame.
    expect((await rejectionOf(back.analyze(frame, { regions: [[100, 100, 400, 400], [2000, 0, 2100, 50]] }))).code).toBe("ERR_INVALID_ARG");
    const partly = await back.analyze(frame, { regions: [[100, 50, 700, 450]] });
    expect(partly.detectorRuns).toBe(1);
    expect(partly.faces).toHaveLength(1);
    expect(boxIou(partly.faces[0].box, REFERENCE["grace_hopper.jpg"][0])).toBeGreaterThanOrEqual(0.6);
  });
});

describe("load", { timeout: 120_000 }, () => {
  it("100 concurrent analyze() calls on mixed photos each get their own faces", async () => {
    const kinds = ["grace_hopper.jpg", "astronaut.png", "messi5.jpg", "example.jpg", "noise"] as const;
    const frameOf = (k: (typeof kinds)[number]): FrameInput => (k === "noise" ? { kind: "jpeg", data: noiseJpeg } : photoFrame(k));
    // Serial reference, one frame at a time.
    const serial = new Map<string, FrameAnalysis>();
    for (const k of kinds) serial.set(k, await back.analyze(frameOf(k)));
    const order = shuffled(
      Array.from({ length: 100 }, (_, i) => kinds[i % kinds.length]),
      42,
    );
    const results = await Promise.all(order.map((k) => back.analyze(frameOf(k))));
    const counts = { "grace_hopper.jpg": 1, "astronaut.png": 1, "messi5.jpg": 1, "example.jpg": 3, noise: 0 };
    for (const [i, k] of order.entries()) {
      const got = results[i];
      const want = serial.get(k)!;
      expect(got.faces.length, `#${i} ${k}`).toBe(counts[k]);
      expect(got.width, `#${i} ${k}`).toBe(want.width);
      // The detector runs one frame at a time: the same boxes exactly; MesoNet may batch: scores to 1e-5.
      expect(got.faces.map((f) => f.box), `#${i} ${k}`).toEqual(want.faces.map((f) => f.box));
      for (const [j, f] of got.faces.entries()) expect(Math.abs(f.real - want.faces[j].real), `#${i} ${k}`).toBeLessThanOrEqual(1e-5);
    }
    const stats = back.stats();
    expect(stats.pending).toBe(0);
  });
});

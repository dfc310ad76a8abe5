// Numerical fidelity of the addon: the four models against the independent Keras reference, and the
// pixel pipeline (decode, colour conversion, resize) against expectations computed here in TypeScript.
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameInput, NativeAddon, NativeScorer, ResizeMode } from "../../src/native/addonTypes.js";
import { loadAddon } from "../../src/native/loadAddon.js";
import { resolvePreprocessOptions } from "../../src/scoring/scorerOptions.js";
import { closeAll, logitOf, openScorer, realOf } from "../helpers/addon.js";
import {
  blockImage,
  checkerImage,
  constantImage,
  coordinateImage,
  decodeCoordinate,
  floatMismatch,
  maxAbsDiff,
  nearestIndex,
  padRows,
  randomBytes,
  readPngRgb,
  toI420,
  toNv12,
  toPlanar01,
  toRgba,
  yuv601ToRgb01,
  type RgbImage,
} from "../helpers/images.js";
import {
  loadExpectedScores,
  MODEL_NAMES,
  modelPath,
  readTestJpeg,
  REFERENCE_IMAGES,
  referencePng,
  TEST_JPEGS,
  TEST_TIMEOUT,
  WEIGHTS_FILE,
} from "../helpers/paths.js";

const MODES: ResizeMode[] = ["nearest", "bilinear", "area"];
const expected = loadExpectedScores();

let addon: NativeAddon;
const scorers: NativeScorer[] = [];

beforeAll(() => {
  addon = loadAddon(); // the default candidate order, as the package uses it
});

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

function rgb(image: RgbImage): FrameInput {
  return { kind: "rgb", data: image.data, width: image.width, height: image.height };
}

/** Output pixel (x, y) of a planar W x H tensor as [r, g, b]. */
function pixelAt(t: Float32Array, width: number, height: number, x: number, y: number): [number, number, number] {
  const plane = width * height;
  const i = y * width + x;
  return [t[i], t[plane + i], t[2 * plane + i]];
}

describe("scores match the Keras reference", { timeout: TEST_TIMEOUT }, () => {
  for (const model of MODEL_NAMES) {
    it(`${model}: reference PNGs as raw RGB frames`, async () => {
      const scorer = await openScorer(addon, model, scorers);
      expect(scorer.info().input).toEqual({ name: "input", shape: [-1, 3, 256, 256] });
      expect(scorer.info().outputs).toEqual(expect.arrayContaining(["real", "logit"]));
      for (const ref of REFERENCE_IMAGES) {
        const image = readPngRgb(referencePng(ref.png));
        expect([image.width, image.height]).toEqual([256, 256]);
        const result = await scorer.score(rgb(image));
        const want = expected.scores[WEIGHTS_FILE[model]][ref.png];
        const wantLogit = expected.logits[WEIGHTS_FILE[model]][ref.png];
        expect(Math.abs(realOf(result) - want), `${model} ${ref.png}`).toBeLessThanOrEqual(1e-5);
        expect(Math.abs(logitOf(result) - wantLogit), `${model} ${ref.png} logit`).toBeLessThanOrEqual(1e-4);
        expect(result.batchSize).toBe(1);
        expect(result.preprocessDevice).toBe("cpu");
      }
    });

    it(`${model}: the JPEG crops the references came from give the reference scores`, async () => {
      const scorer = await openScorer(addon, model, scorers);
      for (const ref of REFERENCE_IMAGES) {
        const result = await scorer.score({ kind: "jpeg", data: readTestJpeg(ref.jpeg) });
        const want = expected.scores[WEIGHTS_FILE[model]][ref.png];
        expect(Math.abs(realOf(result) - want), `${model} ${ref.jpeg}`).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it("JPEG decode + nearest resize reproduces the reference input exactly (as Keras load_img)", async () => {
    for (const ref of REFERENCE_IMAGES) {
      const tensor = await addon.preprocess({ kind: "jpeg", data: readTestJpeg(ref.jpeg) }, resolvePreprocessOptions());
      expect(floatMismatch(tensor, toPlanar01(readPngRgb(referencePng(ref.png)))), ref.jpeg).toBe("");
    }
  });

  it("meso4-df classifies the shared face crops", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers);
    for (const jpeg of TEST_JPEGS) {
      const real = realOf(await scorer.score({ kind: "jpeg", data: readTestJpeg(jpeg.file) }));
      expect(real).toBeGreaterThanOrEqual(0);
      expect(real).toBeLessThanOrEqual(1);
      if (jpeg.label === "df") expect(real, jpeg.file).toBeLessThan(0.5);
      else expect(real, jpeg.file).toBeGreaterThan(0.5);
    }
  });

  it("score(frame, {resize}) feeds the model exactly what preprocess(frame, {resize}) returns", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers);
    const session = await ort.InferenceSession.create(modelPath("meso4-df"));
    try {
      const frames: FrameInput[] = [rgb(checkerImage(512, 512)), { kind: "jpeg", data: readTestJpeg(TEST_JPEGS[0].file) }];
      for (const frame of frames) {
        const byMode: number[] = [];
        for (const resize of MODES) {
          const tensor = await addon.preprocess(frame, resolvePreprocessOptions({ resize }));
          const out = await session.run({ input: new ort.Tensor("float32", tensor, [1, 3, 256, 256]) });
          const real = realOf(await scorer.score(frame, { resize }));
          expect(Math.abs(real - (out.real.data as Float32Array)[0]), resize).toBeLessThanOrEqual(1e-6);
          byMode.push(real);
        }
        if (frame.kind === "rgb") {
          // On the checkerboard nearest sees one flat colour and area sees grey: the option must matter.
          expect(byMode[0]).not.toBe(byMode[2]);
        }
      }
    } finally {
      await session.release();
    }
  });
});

describe("preprocess: nearest resize", { timeout: TEST_TIMEOUT }, () => {
  it("256 -> 256 is the identity x/255, exactly, for every byte value", async () => {
    const image: RgbImage = { width: 256, height: 256, data: randomBytes(256 * 256 * 3, 1) };
    for (let v = 0; v < 256; v++) image.data[v] = v; // every value appears at least once
    const tensor = await addon.preprocess(rgb(image), resolvePreprocessOptions({ resize: "nearest" }));
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(floatMismatch(tensor, toPlanar01(image))).toBe("");
  });

  it("picks source index floor((i + 0.5) * in / out) on non-square frames", async () => {
    const cases = [
      { src: [300, 200], out: [256, 256] },
      { src: [300, 200], out: [128, 96] },
      { src: [97, 41], out: [256, 256] }, // upscale
      { src: [1000, 257], out: [256, 256] },
      { src: [1, 1], out: [256, 256] },
    ];
    for (const { src, out } of cases) {
      const [w, h] = src;
      const [ow, oh] = out;
      const image = coordinateImage(w, h);
      const tensor = await addon.preprocess(rgb(image), resolvePreprocessOptions({ width: ow, height: oh, resize: "nearest" }));
      expect(tensor.length).toBe(3 * ow * oh);
      let wrong = 0;
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const sx = nearestIndex(ox, w, ow);
          const sy = nearestIndex(oy, h, oh);
          // The integer form used here agrees with the float definition for these sizes.
          if (sx !== Math.floor(((ox + 0.5) * w) / ow) || sy !== Math.floor(((oy + 0.5) * h) / oh)) wrong++;
          const [r, g, b] = pixelAt(tensor, ow, oh, ox, oy).map((v) => Math.round(v * 255));
          const got = decodeCoordinate(r, g, b);
          if (got.x !== sx || got.y !== sy) wrong++;
        }
      }
      expect(wrong, `${w}x${h} -> ${ow}x${oh}`).toBe(0);
      const want = new Float32Array(3 * ow * oh);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const s = 3 * (nearestIndex(oy, h, oh) * w + nearestIndex(ox, w, ow));
          for (let c = 0; c < 3; c++) want[c * ow * oh + oy * ow + ox] = image.data[s + c] / 255;
        }
      }
      expect(floatMismatch(tensor, want), `${w}x${h} -> ${ow}x${oh}`).toBe("");
    }
  });
});

describe("preprocess: pixel formats and strides", { timeout: TEST_TIMEOUT }, () => {
  const image = coordinateImage(300, 200);

  it("RGBA equals RGB (alpha ignored)", async () => {
    const want = await addon.preprocess(rgb(image), resolvePreprocessOptions());
    const got = await addon.preprocess({ kind: "rgba", data: toRgba(image), width: 300, height: 200 }, resolvePreprocessOptions());
    expect(floatMismatch(got, want)).toBe("");
  });

  it("RGB and RGBA with padded strides (garbage in the padding) equal tight packing", async () => {
    for (const mode of MODES) {
      const want = await addon.preprocess(rgb(image), resolvePreprocessOptions({ resize: mode }));
      for (const [stride, trim] of [
        [300 * 3 + 1, false],
        [300 * 3 + 64, false],
        [300 * 3 + 7, true],
      ] as const) {
        const data = padRows(image.data, 900, 200, stride, stride, trim);
        const got = await addon.preprocess({ kind: "rgb", data, width: 300, height: 200, stride }, resolvePreprocessOptions({ resize: mode }));
        expect(floatMismatch(got, want), `rgb stride ${stride} ${mode}`).toBe("");
      }
      const rgba = toRgba(image);
      const strideA = 300 * 4 + 12;
      const got = await addon.preprocess(
        { kind: "rgba", data: padRows(rgba, 1200, 200, strideA, 3), width: 300, height: 200, stride: strideA },
        resolvePreprocessOptions({ resize: mode }),
      );
      expect(floatMismatch(got, want), `rgba stride ${strideA} ${mode}`).toBe("");
    }
  });

  it("reads a view at a byte offset into a larger buffer, and a bare ArrayBuffer", async () => {
    const want = await addon.preprocess(rgb(image), resolvePreprocessOptions());
    const big = randomBytes(image.data.length + 1000, 77);
    big.set(image.data, 333);
    const view = big.subarray(333, 333 + image.data.length);
    expect(floatMismatch(await addon.preprocess({ kind: "rgb", data: view, width: 300, height: 200 }, resolvePreprocessOptions()), want)).toBe("");
    const own = image.data.slice().buffer;
    expect(floatMismatch(await addon.preprocess({ kind: "rgb", data: own, width: 300, height: 200 }, resolvePreprocessOptions()), want)).toBe("");
  });

  for (const [w, h] of [
    [300, 200],
    [301, 199],
  ] as const) {
    it(`I420 and NV12 (${w}x${h}) decode with BT.601 limited range and agree with the RGB original`, async () => {
      const blocks = blockImage(w, h, w * 31 + h);
      const i420 = toI420(blocks);
      const nv12 = toNv12(blocks);
      const cw = Math.ceil(w / 2);
      const fromRgb = await addon.preprocess(rgb(blocks), resolvePreprocessOptions({ resize: "nearest" }));
      for (const frame of [i420, nv12]) {
        const got = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "nearest" }));
        // Close to the RGB the YUV was made from: only 8-bit rounding of Y/U/V separates them.
        expect(maxAbsDiff(got, fromRgb), frame.kind).toBeLessThanOrEqual(2 / 255 + 1e-6);
        // And exactly the BT.601 limited-range decode of the bytes we wrote.
        const want = new Float32Array(3 * 256 * 256);
        for (let oy = 0; oy < 256; oy++) {
          for (let ox = 0; ox < 256; ox++) {
            const sx = nearestIndex(ox, w, 256);
            const sy = nearestIndex(oy, h, 256);
            const Y = frame.data[sy * w + sx];
            const c = w * h;
            let U: number;
            let V: number;
            if (frame.kind === "i420") {
              U = frame.data[c + (sy >> 1) * cw + (sx >> 1)];
              V = frame.data[c + cw * Math.ceil(h / 2) + (sy >> 1) * cw + (sx >> 1)];
            } else {
              U = frame.data[c + (sy >> 1) * 2 * cw + 2 * (sx >> 1)];
              V = frame.data[c + (sy >> 1) * 2 * cw + 2 * (sx >> 1) + 1];
            }
            const px = yuv601ToRgb01(Y, U, V);
            for (let k = 0; k < 3; k++) want[k * 65536 + oy * 256 + ox] = px[k];
          }
        }
        expect(maxAbsDiff(got, want), `${frame.kind} exact decode`).toBeLessThanOrEqual(1e-5);
      }
    });

    it(`I420 and NV12 (${w}x${h}) with custom strides equal tight packing`, async () => {
      const blocks = blockImage(w, h, 4242 + w);
      const cw = Math.ceil(w / 2);
      for (const mode of MODES) {
        const tightI420 = await addon.preprocess(toI420(blocks), resolvePreprocessOptions({ resize: mode }));
        const paddedI420 = await addon.preprocess(toI420(blocks, { strideY: w + 5, strideU: cw + 3, strideV: cw + 17 }), resolvePreprocessOptions({
          resize: mode,
        }));
        expect(floatMismatch(paddedI420, tightI420), `i420 ${mode}`).toBe("");
        const tightNv12 = await addon.preprocess(toNv12(blocks), resolvePreprocessOptions({ resize: mode }));
        const paddedNv12 = await addon.preprocess(toNv12(blocks, { strideY: w + 32, strideUV: 2 * cw + 9 }), resolvePreprocessOptions({ resize: mode }));
        expect(floatMismatch(paddedNv12, tightNv12), `nv12 ${mode}`).toBe("");
        // The same 4:2:0 content in both layouts.
        expect(floatMismatch(tightNv12, tightI420), `i420 vs nv12 ${mode}`).toBe("");
      }
    });
  }
});

describe("preprocess: bilinear and area", { timeout: TEST_TIMEOUT }, () => {
  it("stay within [0, 1] on arbitrary content", async () => {
    const noisy: RgbImage = { width: 333, height: 222, data: randomBytes(333 * 222 * 3, 9) };
    const frames: FrameInput[] = [rgb(noisy), toI420(noisy), toNv12(noisy)];
    for (const frame of frames) {
      for (const mode of ["bilinear", "area"] as const) {
        for (const size of [64, 256, 700]) {
          const t = await addon.preprocess(frame, resolvePreprocessOptions({ resize: mode, width: size, height: size }));
          expect(t.length).toBe(3 * size * size);
          let bad = 0;
          for (const v of t) if (!(v >= 0 && v <= 1)) bad++;
          expect(bad, `${frame.kind} ${mode} ${size}`).toBe(0);
        }
      }
    }
  });

  it("equal nearest on a constant-colour image, down and up", async () => {
    const colour = [200, 17, 99] as const;
    for (const [w, h] of [
      [300, 200],
      [64, 48],
      [1, 1],
    ] as const) {
      const frame = rgb(constantImage(w, h, colour));
      const nearest = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "nearest" }));
      expect(nearest.subarray(0, 3)).toEqual(new Float32Array([200 / 255, 200 / 255, 200 / 255]));
      expect(nearest[65536]).toBe(Math.fround(17 / 255));
      expect(nearest[2 * 65536]).toBe(Math.fround(99 / 255));
      for (const mode of ["bilinear", "area"] as const) {
        const t = await addon.preprocess(frame, resolvePreprocessOptions({ resize: mode }));
        expect(maxAbsDiff(t, nearest), `${w}x${h} ${mode}`).toBeLessThanOrEqual(1e-6);
      }
    }
  });

  it("are the identity at 256 -> 256", async () => {
    const image: RgbImage = { width: 256, height: 256, data: randomBytes(256 * 256 * 3, 2) };
    const want = toPlanar01(image);
    for (const mode of ["bilinear", "area"] as const) {
      expect(maxAbsDiff(await addon.preprocess(rgb(image), resolvePreprocessOptions({ resize: mode })), want), mode).toBeLessThanOrEqual(1e-6);
    }
  });

  it("area (and bilinear) halve a 512x512 one-pixel checkerboard to 0.5 grey; nearest sees one colour", async () => {
    const frame = rgb(checkerImage(512, 512));
    const area = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "area" }));
    expect(maxAbsDiff(area, new Float32Array(area.length).fill(0.5))).toBeLessThanOrEqual(1e-6);
    const bilinear = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear" }));
    expect(maxAbsDiff(bilinear, new Float32Array(bilinear.length).fill(0.5))).toBeLessThanOrEqual(1e-6);
    const nearest = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "nearest" }));
    // floor((2i + 1) * 512 / 512) = 2i + 1: always an odd/odd pixel, i.e. always black.
    expect(floatMismatch(nearest, new Float32Array(nearest.length))).toBe("");
  });

  it("area of a 2:1 downscale is the mean of each 2x2 block", async () => {
    const image: RgbImage = { width: 512, height: 256, data: randomBytes(512 * 256 * 3, 3) };
    const t = await addon.preprocess(rgb(image), resolvePreprocessOptions({ resize: "area", width: 256, height: 128 }));
    const want = new Float32Array(3 * 256 * 128);
    for (let oy = 0; oy < 128; oy++) {
      for (let ox = 0; ox < 256; ox++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (const [dx, dy] of [
            [0, 0],
            [1, 0],
            [0, 1],
            [1, 1],
          ]) {
            sum += image.data[3 * ((2 * oy + dy) * 512 + 2 * ox + dx) + c] / 255;
          }
          want[c * 256 * 128 + oy * 256 + ox] = sum / 4;
        }
      }
    }
    expect(maxAbsDiff(t, want)).toBeLessThanOrEqual(1e-6);
  });
});

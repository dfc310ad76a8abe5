// The fast CPU render path (native/preprocess.cc: RenderCpu) against the shared per-pixel definition it replaces
// (RenderCpuReference: pixel_math.h's render_pixel in a plain loop, preprocess() with device "cpu-reference"):
// every pixel format x resize mode x geometry, bit for bit, in both builds. The frames are noise, stride padding
// included, so a tap one pixel (or one chroma sample) off shows.
import { describe, expect, it } from "vitest";

import type { FrameInput, NativeAddon, ResizeMode } from "../../src/native/addonTypes.js";
import { resolvePreprocessOptions, type PreprocessOptionsInput } from "../../src/scoring/scorerOptions.js";
import { loadCmakeAddon, loadGypAddon } from "../helpers/addon.js";
import { floatMismatch, padRows, randomBytes, toI420, toNv12, toRgba, type RgbImage } from "../helpers/images.js";
import { TEST_TIMEOUT } from "../helpers/paths.js";

const BUILDS = [
  { name: "cmake-js", load: loadCmakeAddon },
  { name: "node-gyp", load: loadGypAddon },
] as const;
const MODES: ResizeMode[] = ["nearest", "bilinear", "area"];

/** The frame in every pixel format the addon takes, rows padded with noise. */
function formats(image: RgbImage): Array<{ name: string; frame: FrameInput }> {
  const { width: w, height: h } = image;
  const cw = Math.ceil(w / 2);
  const strideRgb = 3 * w + 7;
  const strideRgba = 4 * w + 12;
  return [
    { name: "rgb", frame: { kind: "rgb", data: padRows(image.data, 3 * w, h, strideRgb, 11), width: w, height: h, stride: strideRgb } },
    { name: "rgba", frame: { kind: "rgba", data: padRows(toRgba(image), 4 * w, h, strideRgba, 12), width: w, height: h, stride: strideRgba } },
    { name: "i420", frame: toI420(image, { strideY: w + 5, strideU: cw + 3, strideV: cw + 9 }) },
    { name: "nv12", frame: toNv12(image, { strideY: w + 6, strideUV: 2 * cw + 5 }) },
  ];
}

/** BlazeFace-order keypoints of a face with its nose at (cx, cy), eyes `eye` apart, turned by `degrees`. */
function face(cx: number, cy: number, eye: number, degrees: number): number[] {
  const local = [
    [-0.5, -0.35],
    [0.5, -0.35],
    [0, 0],
    [0, 0.45],
    [-0.9, -0.2],
    [0.9, -0.2],
  ];
  const r = (degrees * Math.PI) / 180;
  const c = Math.cos(r);
  const s = Math.sin(r);
  return local.flatMap(([x, y]) => [cx + eye * (c * x! - s * y!), cy + eye * (s * x! + c * y!)]);
}

/** Every kind of geometry preprocess() renders, for a w x h frame. */
function geometries(w: number, h: number): Array<{ name: string; options: PreprocessOptionsInput }> {
  const m = Math.min(w, h);
  const crop = (name: string, keypoints: number[], size = 256) => ({ name, options: { width: size, height: size, keypoints } });
  return [
    { name: "resize 256", options: { width: 256, height: 256 } },
    { name: "resize 37x53", options: { width: 37, height: 53 } },
    { name: "resize 1x1", options: { width: 1, height: 1 } },
    { name: "letterbox frame", options: { width: 128, height: 128, region: [0, 0, w, h] } },
    { name: "letterbox past the edge", options: { width: 128, height: 128, region: [0.62 * w, 0.11 * h, 1.13 * w, 0.57 * h] } },
    { name: "letterbox outside", options: { width: 64, height: 64, region: [2 * w, 2 * h, 3 * w, 3 * h] } },
    { name: "letterbox tiny region", options: { width: 128, height: 128, region: [10.3, 7.7, 12.1, 9.2] } },
    { name: "letterbox huge region", options: { width: 16, height: 16, region: [-5e4, -3e4, 7e4, 9e4] } },
    crop("crop upright", face(0.47 * w, 0.53 * h, 0.12 * m, 0)),
    crop("crop rotated", face(0.47 * w, 0.53 * h, 0.12 * m, 17)),
    crop("crop sideways 64", face(0.4 * w, 0.5 * h, 0.09 * m, 90), 64),
    crop("crop upside down", face(0.5 * w, 0.5 * h, 0.1 * m, 180)),
    crop("crop tiny face (upscale)", face(0.3 * w, 0.6 * h, 3, -23)),
    crop("crop larger than the frame", face(0.5 * w, 0.5 * h, 0.9 * m, -35)),
    crop("crop at the left edge", face(2, 0.5 * h, 0.15 * m, 8)),
    crop("crop in a corner", face(w - 3, h - 2, 0.11 * m, -12)),
    crop("crop half outside", face(-0.12 * m, 0.3 * h, 0.14 * m, 31)),
    crop("crop outside", face(w + 0.9 * m, -0.8 * m, 0.1 * m, 5)),
    // The fast bilinear path interpolates the interior (all four taps in the converted window) and hands a pixel
    // with a tap past the frame's right or bottom edge to the edge path: rows that cross that boundary.
    crop("crop across the right and bottom edges", face(w - 0.06 * m, h - 0.09 * m, 0.1 * m, 41)),
    crop("crop upright on the pixel grid", face(Math.round(0.5 * w), Math.round(0.5 * h), 20, 0), 32),
    crop("crop huge face", face(0.5 * w, 0.5 * h, 5e4, 12), 16),
  ];
}

for (const build of BUILDS) {
  describe(`fast CPU render equals the per-pixel definition (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    let addon: NativeAddon;

    for (const [w, h] of [
      [97, 61],
      [320, 241],
    ] as const) {
      it(`${w}x${h}: every format x resize mode x geometry, bit for bit`, async () => {
        addon ??= build.load();
        const image: RgbImage = { width: w, height: h, data: randomBytes(w * h * 3, w * 7 + h) };
        let compared = 0;
        for (const { name: format, frame } of formats(image)) {
          for (const resize of MODES) {
            for (const { name, options } of geometries(w, h)) {
              const label = `${format} ${resize} ${name}`;
              const want = await addon.preprocess(frame, resolvePreprocessOptions({ ...options, resize, device: "cpu-reference" }));
              const got = await addon.preprocess(frame, resolvePreprocessOptions({ ...options, resize, device: "cpu" }));
              expect(floatMismatch(got, want), label).toBe("");
              expect(want.every(Number.isFinite), label).toBe(true);
              compared++;
            }
          }
        }
        expect(compared).toBe(4 * MODES.length * geometries(w, h).length);
      });
    }

    it("a face crop's pixels are the frame's, not padding (the comparison is not of two blank crops)", async () => {
      addon ??= build.load();
      const image: RgbImage = { width: 97, height: 61, data: randomBytes(97 * 61 * 3, 5) };
      for (const { name, frame } of formats(image)) {
        const t = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", keypoints: face(48, 30, 8, 17) }));
        expect(new Set(t).size, name).toBeGreaterThan(1000);
      }
    });
  });
}

// The CPU detector's render (device "cpu-detector", native/preprocess.cc: RenderDetectorCpu): BlazeFace's area
// letterbox summed separably, columns then rows, rounded once. Not bit for bit the definition (whose float sums
// round at every add), but within DETECTOR_BOUND of it on RGB [0,1] values (2x that on BlazeFace's [-1, 1] input),
// for every pixel format and frame size, letterboxes of the whole frame, past its edge, outside it, and of tiny and
// huge regions (and every other area render, upright crops being axis-aligned too); nearest and bilinear renders
// it takes from the exact fast path, bit for bit.
const DETECTOR_BOUND = 1e-6;

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe("the CPU detector's letterbox (cpu-detector) against the per-pixel definition", { timeout: TEST_TIMEOUT }, () => {
  let addon: NativeAddon;

  for (const [w, h] of [
    [97, 61],
    [320, 241],
    [640, 480],
    [1280, 720],
    [1920, 1080],
  ] as const) {
    it(`${w}x${h}: area renders within ${DETECTOR_BOUND}, the others bit for bit`, async () => {
      addon ??= loadCmakeAddon();
      const image: RgbImage = { width: w, height: h, data: randomBytes(w * h * 3, w * 3 + h) };
      let area = 0;
      for (const { name: format, frame } of formats(image)) {
        for (const resize of MODES) {
          for (const { name, options } of geometries(w, h)) {
            const label = `${format} ${resize} ${name}`;
            const render = (device: "cpu" | "cpu-reference" | "cpu-detector") =>
              addon.preprocess(frame, resolvePreprocessOptions({ ...options, resize, device }));
            const got = await render("cpu-detector");
            if (resize === "area") {
              const want = await render("cpu-reference");
              expect(maxAbsDifference(got, want), label).toBeLessThanOrEqual(DETECTOR_BOUND);
              expect(got.every(Number.isFinite), label).toBe(true);
              area++;
            } else {
              expect(floatMismatch(got, await render("cpu")), label).toBe("");
            }
          }
        }
      }
      expect(area).toBe(4 * geometries(w, h).length);
    });
  }
});

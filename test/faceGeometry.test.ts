// The geometry of the two renders the face pipeline makes, checked pixel by pixel on synthetic frames whose
// pixels name their own coordinates: the MesoNet face crop (centre on the nose tip, side from the eyes and
// mouth, rotated upright, black outside the frame, never shifted) and the detector's letterbox of a region.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameInput, NativeAddon } from "../src/native/addonTypes.js";
import { loadAddon } from "../src/native/loadAddon.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { resolvePreprocessOptions } from "../src/scoring/scorerOptions.js";
import { markedCoordinateImage, planarPixel255, planarPixelBytes } from "./helpers/faces.js";
import type { RgbImage } from "./helpers/images.js";
import { TEST_TIMEOUT } from "./helpers/paths.js";

const OUT = 256;
const MARKER = 200;
const FACTOR = 2.2;
const MARGIN = 1.3;

let addon: NativeAddon;
const scorers: MesoNetScorer[] = [];

beforeAll(() => {
  addon = loadAddon();
});

afterAll(async () => {
  await Promise.allSettled(scorers.map((s) => s.close()));
}, TEST_TIMEOUT);

function rgb(image: RgbImage): FrameInput {
  return { kind: "rgb", data: image.data, width: image.width, height: image.height };
}

interface Face {
  rightEye: [number, number];
  leftEye: [number, number];
  nose: [number, number];
  mouth: [number, number];
}

/** BlazeFace order, the ears somewhere plausible (the crop must not use them). */
function keypointsOf(f: Face, ears: [number, number, number, number] = [f.rightEye[0], f.rightEye[1], f.leftEye[0], f.leftEye[1]]): number[] {
  return [...f.rightEye, ...f.leftEye, ...f.nose, ...f.mouth, ...ears];
}

/**
 * The crop as specified, computed here independently: centre on the nose tip, side = max(|eye-eye|,
 * |mid-eyes - mouth|) * factor * margin, the crop's "down" along mid-eyes -> mouth, its "right" the
 * clockwise perpendicular. Returns the source point the centre of output pixel (ox, oy) samples.
 */
function cropMapping(f: Face, factor = FACTOR, margin = MARGIN, out = OUT) {
  const ex = (f.rightEye[0] + f.leftEye[0]) / 2;
  const ey = (f.rightEye[1] + f.leftEye[1]) / 2;
  const eyeDistance = Math.hypot(f.leftEye[0] - f.rightEye[0], f.leftEye[1] - f.rightEye[1]);
  const eyeMouth = Math.hypot(f.mouth[0] - ex, f.mouth[1] - ey);
  const side = Math.max(eyeDistance, eyeMouth) * factor * margin;
  const down = [(f.mouth[0] - ex) / eyeMouth, (f.mouth[1] - ey) / eyeMouth];
  const right = [down[1], -down[0]];
  const k = side / out;
  const at = (u: number, v: number): [number, number] => {
    const a = u * k - side / 2;
    const b = v * k - side / 2;
    return [f.nose[0] + a * right[0] + b * down[0], f.nose[1] + a * right[1] + b * down[1]];
  };
  return { side, k, pixel: (ox: number, oy: number) => at(ox + 0.5, oy + 0.5), at };
}

/**
 * Bilinear sampling of a coordinate frame gives back the sampled point itself: value (x) at pixel x, whose
 * centre is x + 0.5, interpolates to (source point - 0.5). So the source point is value + 0.5.
 */
function sampledPoint(t: Float32Array, ox: number, oy: number, out = OUT): [number, number] {
  const [r, g] = planarPixel255(t, out, out, ox, oy);
  return [r + 0.5, g + 0.5];
}

const UPRIGHT: Face = { rightEye: [100, 100], leftEye: [140, 100], nose: [120, 120], mouth: [120, 140] };
// Turned 90 degrees: the eyes one above the other, the mouth to the right of them (the head lies on its side).
const ON_ITS_SIDE: Face = { rightEye: [100, 140], leftEye: [100, 100], nose: [120, 120], mouth: [140, 120] };

describe("MesoNet face crop (preprocess with keypoints)", { timeout: TEST_TIMEOUT }, () => {
  const frame = rgb(markedCoordinateImage(256, 256, MARKER));

  it("upright face: centred on the nose tip, side = 40 * 2.2 * 1.3, every pixel where the formula puts it", async () => {
    const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: OUT, height: OUT, resize: "bilinear", keypoints: keypointsOf(UPRIGHT) }));
    expect(t.length).toBe(3 * OUT * OUT);
    const m = cropMapping(UPRIGHT);
    expect(m.side).toBeCloseTo(40 * 2.2 * 1.3, 10);

    // The crop's centre (between output pixels 127 and 128) is the nose tip.
    const centre = [sampledPoint(t, 127, 127), sampledPoint(t, 128, 127), sampledPoint(t, 127, 128), sampledPoint(t, 128, 128)];
    expect((centre[0][0] + centre[1][0] + centre[2][0] + centre[3][0]) / 4).toBeCloseTo(120, 2);
    expect((centre[0][1] + centre[1][1] + centre[2][1] + centre[3][1]) / 4).toBeCloseTo(120, 2);

    // The crop's outer corners (half a pixel beyond the corner pixels' centres) are nose -/+ side/2.
    const tl = sampledPoint(t, 0, 0);
    const br = sampledPoint(t, OUT - 1, OUT - 1);
    expect(tl[0] - m.k / 2).toBeCloseTo(120 - m.side / 2, 2);
    expect(tl[1] - m.k / 2).toBeCloseTo(120 - m.side / 2, 2);
    expect(br[0] + m.k / 2).toBeCloseTo(120 + m.side / 2, 2);
    expect(br[1] + m.k / 2).toBeCloseTo(120 + m.side / 2, 2);

    // Every pixel, and the marker everywhere (nothing padded: the crop lies inside the frame).
    let worst = 0;
    for (let oy = 0; oy < OUT; oy++) {
      for (let ox = 0; ox < OUT; ox++) {
        const [sx, sy] = m.pixel(ox, oy);
        const [gx, gy] = sampledPoint(t, ox, oy);
        worst = Math.max(worst, Math.abs(gx - sx), Math.abs(gy - sy));
        expect(planarPixelBytes(t, OUT, OUT, ox, oy)[2]).toBe(MARKER);
      }
    }
    expect(worst).toBeLessThan(0.02);
  });

  it("a face on its side is turned upright: down the crop is +x in the frame, right across it is -y", async () => {
    const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: OUT, height: OUT, resize: "bilinear", keypoints: keypointsOf(ON_ITS_SIDE) }));
    const m = cropMapping(ON_ITS_SIDE);
    const top = sampledPoint(t, 128, 10);
    const bottom = sampledPoint(t, 128, 240);
    expect(bottom[0] - top[0]).toBeCloseTo(230 * m.k, 2); // down the crop: x grows
    expect(bottom[1] - top[1]).toBeCloseTo(0, 2); // ... and y does not move
    const left = sampledPoint(t, 10, 128);
    const right = sampledPoint(t, 240, 128);
    expect(right[1] - left[1]).toBeCloseTo(-230 * m.k, 2); // across the crop: y shrinks
    expect(right[0] - left[0]).toBeCloseTo(0, 2);
    // The mouth (x = 140) is below the crop's centre, the eyes (x = 100) above it.
    const rowOf = (x: number) => (x - (120 - m.side / 2)) / m.k;
    expect(rowOf(140)).toBeGreaterThan(128);
    expect(rowOf(100)).toBeLessThan(128);
    let worst = 0;
    for (let oy = 0; oy < OUT; oy += 3) {
      for (let ox = 0; ox < OUT; ox += 3) {
        const [sx, sy] = m.pixel(ox, oy);
        const [gx, gy] = sampledPoint(t, ox, oy);
        worst = Math.max(worst, Math.abs(gx - sx), Math.abs(gy - sy));
      }
    }
    expect(worst).toBeLessThan(0.02);
  });

  it("a face at the frame's corner: out-of-frame pixels are black, in-frame ones are not shifted", async () => {
    const corner: Face = { rightEye: [10, 10], leftEye: [30, 10], nose: [20, 20], mouth: [20, 30] };
    const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: OUT, height: OUT, resize: "nearest", keypoints: keypointsOf(corner) }));
    const m = cropMapping(corner);
    expect(m.side).toBeCloseTo(57.2, 4); // reaches 8.6 px beyond the top and left edges
    let black = 0;
    let inside = 0;
    const wrong: string[] = [];
    for (let oy = 0; oy < OUT; oy++) {
      for (let ox = 0; ox < OUT; ox++) {
        const [sx, sy] = m.pixel(ox, oy);
        // Skip pixels whose sampling point sits on a pixel boundary (float rounding may pick either side).
        if (Math.abs(sx - Math.round(sx)) < 1e-3 || Math.abs(sy - Math.round(sy)) < 1e-3) continue;
        const want = sx < 0 || sy < 0 ? [0, 0, 0] : [Math.floor(sx), Math.floor(sy), MARKER];
        const got = planarPixelBytes(t, OUT, OUT, ox, oy);
        if (want[2] === 0) black++;
        else inside++;
        if (got[0] !== want[0] || got[1] !== want[1] || got[2] !== want[2]) {
          if (wrong.length < 5) wrong.push(`(${ox},${oy}) got ${got} want ${want}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    // About 8.6/57.2 of the rows and of the columns lie outside: a real share is black, most is not.
    expect(black).toBeGreaterThan(0.2 * OUT * OUT);
    expect(inside).toBeGreaterThan(0.6 * OUT * OUT);
    // Spot checks: the top-left output pixel is padding, the centre is the nose tip.
    expect(planarPixelBytes(t, OUT, OUT, 0, 0)).toEqual([0, 0, 0]);
    expect(planarPixelBytes(t, OUT, OUT, 128, 128)).toEqual([20, 20, MARKER]);
  });

  it("crop.factor and crop.margin scale the side; the side follows the longer of eye-eye and eyes-mouth", async () => {
    const span = async (face: Face, crop?: { factor?: number; margin?: number }) => {
      const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: OUT, height: OUT, resize: "bilinear", keypoints: keypointsOf(face), crop }));
      // From the first to the last pixel centre of the middle row: (OUT - 1) * side / OUT.
      return ((sampledPoint(t, OUT - 1, 128)[0] - sampledPoint(t, 0, 128)[0]) * OUT) / (OUT - 1);
    };
    expect(await span(UPRIGHT)).toBeCloseTo(40 * 2.2 * 1.3, 1);
    expect(await span(UPRIGHT, { factor: 1.1 })).toBeCloseTo(40 * 1.1 * 1.3, 1);
    expect(await span(UPRIGHT, { margin: 2.6 })).toBeCloseTo(40 * 2.2 * 2.6, 1);
    expect(await span(UPRIGHT, { factor: 1, margin: 1 })).toBeCloseTo(40, 1);
    // Eyes 20 apart, mouth 40 below them: the eyes-to-mouth distance sets the side.
    const longFace: Face = { rightEye: [110, 100], leftEye: [130, 100], nose: [120, 120], mouth: [120, 140] };
    expect(await span(longFace)).toBeCloseTo(40 * 2.2 * 1.3, 1);
    // Eyes 60 apart, mouth 20 below: the eye distance sets it.
    const wideFace: Face = { rightEye: [90, 110], leftEye: [150, 110], nose: [120, 120], mouth: [120, 130] };
    expect(await span(wideFace, { factor: 1 })).toBeCloseTo(60 * 1.3, 1);
  });

  it("the ears do not move the crop", async () => {
    const a = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", keypoints: keypointsOf(UPRIGHT, [60, 110, 180, 110]) }));
    const b = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", keypoints: keypointsOf(UPRIGHT, [0, 0, 255, 255]) }));
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
  });

  it("analyze() with given faces reports the same geometry and returns the same pixels as preprocess()", async () => {
    const scorer = await MesoNetScorer.create({ detector: false, provider: "cpu" });
    scorers.push(scorer);
    const toNamed = (f: Face) => {
      const p = (q: [number, number]) => ({ x: q[0], y: q[1] });
      return { rightEye: p(f.rightEye), leftEye: p(f.leftEye), noseTip: p(f.nose), mouth: p(f.mouth), rightEar: p(f.rightEye), leftEar: p(f.leftEye) };
    };
    const result = await scorer.analyze(frame, {
      detect: false,
      returnCrops: true,
      faces: [UPRIGHT, ON_ITS_SIDE].map((f) => ({ box: [f.nose[0] - 30, f.nose[1] - 30, f.nose[0] + 30, f.nose[1] + 30], keypoints: toNamed(f), score: 0.9 })),
    });
    expect(result.faces).toHaveLength(2);
    expect(result.detectorRuns).toBe(0);
    const [upright, sideways] = result.faces;
    expect(upright.crop.center).toEqual([120, 120]);
    expect(upright.crop.side).toBeCloseTo(114.4, 3);
    expect(upright.crop.angle).toBeCloseTo(0, 6);
    expect(sideways.crop.center).toEqual([120, 120]);
    expect(sideways.crop.side).toBeCloseTo(114.4, 3);
    expect(Math.abs(sideways.crop.angle)).toBeCloseTo(Math.PI / 2, 5);
    expect(upright.score).toBeCloseTo(0.9, 6);
    for (const [i, f] of [UPRIGHT, ON_ITS_SIDE].entries()) {
      const want = await addon.preprocess(frame, resolvePreprocessOptions({ resize: "bilinear", keypoints: keypointsOf(f) }));
      const got = result.faces[i].crop.rgb!;
      expect(got.length).toBe(OUT * OUT * 3);
      let worst = 0;
      for (let p = 0; p < OUT * OUT; p++) {
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(got[3 * p + c] - want[c * OUT * OUT + p] * 255));
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-3);
    }
  });
});

describe("detector letterbox (preprocess with region)", { timeout: TEST_TIMEOUT }, () => {
  it("a 200x100 frame into 128x128 keeps its aspect: 32-px black bars top and bottom, content maps back exactly", async () => {
    const image = markedCoordinateImage(200, 100, MARKER);
    const t = await addon.preprocess(rgb(image), resolvePreprocessOptions({ width: 128, height: 128, resize: "nearest", region: [0, 0, 200, 100] }));
    const scale = 128 / 200;
    const wrong: string[] = [];
    for (let oy = 0; oy < 128; oy++) {
      for (let ox = 0; ox < 128; ox++) {
        const got = planarPixelBytes(t, 128, 128, ox, oy);
        let want: number[];
        if (oy < 32 || oy >= 96) {
          want = [0, 0, 0];
        } else {
          // Detector pixel centre -> frame: x = x1 + (u - padX) / scale, y = y1 + (v - padY) / scale.
          want = [Math.floor((ox + 0.5) / scale), Math.floor((oy + 0.5 - 32) / scale), MARKER];
        }
        if (got.join() !== want.join() && wrong.length < 5) wrong.push(`(${ox},${oy}) got ${got} want ${want}`);
      }
    }
    expect(wrong).toEqual([]);
    // The content's corners are the frame's corners.
    expect(planarPixelBytes(t, 128, 128, 0, 32)).toEqual([0, 0, MARKER]);
    expect(planarPixelBytes(t, 128, 128, 127, 95)).toEqual([199, 99, MARKER]);
    expect(planarPixelBytes(t, 128, 128, 64, 31)).toEqual([0, 0, 0]);
    expect(planarPixelBytes(t, 128, 128, 64, 96)).toEqual([0, 0, 0]);
  });

  it("a tall region gets its bars left and right", async () => {
    const image = markedCoordinateImage(100, 200, MARKER);
    const t = await addon.preprocess(rgb(image), resolvePreprocessOptions({ width: 128, height: 128, resize: "nearest", region: [0, 0, 100, 200] }));
    for (let oy = 0; oy < 128; oy += 7) {
      expect(planarPixelBytes(t, 128, 128, 31, oy)).toEqual([0, 0, 0]);
      expect(planarPixelBytes(t, 128, 128, 96, oy)).toEqual([0, 0, 0]);
      expect(planarPixelBytes(t, 128, 128, 32, oy)).toEqual([0, Math.floor(((oy + 0.5) * 200) / 128), MARKER]);
    }
  });

  it("a region inside a larger frame: the region fills the width, and the bars show the frame around it (black only beyond the frame)", async () => {
    const image = markedCoordinateImage(256, 256, MARKER);
    const region = [20, 30, 220, 130] as [number, number, number, number];
    const t = await addon.preprocess(rgb(image), resolvePreprocessOptions({ width: 128, height: 128, resize: "nearest", region }));
    const scale = 128 / 200;
    const wrong: string[] = [];
    for (let oy = 0; oy < 128; oy++) {
      for (let ox = 0; ox < 128; ox++) {
        const sx = region[0] + (ox + 0.5) / scale;
        const sy = region[1] + (oy + 0.5 - 32) / scale;
        if (Math.abs(sx - Math.round(sx)) < 1e-3 || Math.abs(sy - Math.round(sy)) < 1e-3) continue;
        const want = sx < 0 || sy < 0 || sx >= 256 || sy >= 256 ? [0, 0, 0] : [Math.floor(sx), Math.floor(sy), MARKER];
        const got = planarPixelBytes(t, 128, 128, ox, oy);
        if (got.join() !== want.join() && wrong.length < 5) wrong.push(`(${ox},${oy}) got ${got} want ${want}`);
      }
    }
    expect(wrong).toEqual([]);
    // The region's own corners land on the content area's corners.
    expect(planarPixelBytes(t, 128, 128, 0, 32)).toEqual([20, 30, MARKER]);
    expect(planarPixelBytes(t, 128, 128, 127, 95)).toEqual([219, 129, MARKER]);
  });
});

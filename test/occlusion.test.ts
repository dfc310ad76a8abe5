// Occlusion sensitivity (scan --explain, and a server's "explain") on the data set's own crops through the real
// scorer: the addon paints each cell exactly as defined (the cell OCCLUSION_GREY, every other pixel untouched), the
// map's shape, its base score, each cell's drop as the crop with that cell greyed scores, and the obvious case:
// greying the whole crop changes the score.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadAddon } from "../src/native/loadAddon.js";
import { OCCLUSION_GREY, occlusionCell, occlusionMap } from "../src/scan/occlusion.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { resolvePreprocessOptions } from "../src/scoring/scorerOptions.js";
import { decodeWithAddon, planarToRgbBytes } from "./helpers/faces.js";
import { TEST_TIMEOUT } from "./helpers/paths.js";
import { DF_CROPS } from "./helpers/videos.js";

const addon = loadAddon();
let scorer: MesoNetScorer;
let crop: Buffer; // a deepfake crop of the data set, 256x256 RGB as the addon decodes it
const decodedCrop = async () => Buffer.from((await decodeWithAddon(addon, { kind: "jpeg", data: readFileSync(DF_CROPS[0]!) }, 256, 256)).data);
beforeAll(async () => {
  scorer = await MesoNetScorer.create({ model: "meso4-df", detector: false, provider: "cpu" });
  crop = await decodedCrop();
}, TEST_TIMEOUT);
afterAll(() => scorer?.close());

const rgb = (data: Uint8Array) => ({ kind: "rgb", data, width: 256, height: 256 }) as const;
const fakeOf = async (data: Uint8Array) => (await scorer.score(rgb(data))).fake;

/** The definition, pixel by pixel: the crop with every pixel of [x1, x2) x [y1, y2) set to OCCLUSION_GREY. */
function greyedByDefinition(image: Uint8Array, [x1, y1, x2, y2]: number[]): Buffer {
  const out = Buffer.from(image);
  for (let y = y1!; y < y2!; y++) for (let x = x1!; x < x2!; x++) for (let c = 0; c < 3; c++) out[(y * 256 + x) * 3 + c] = OCCLUSION_GREY;
  return out;
}

describe("the addon's occlusion painting", () => {
  it("greys exactly the cell and leaves every other pixel as it was (preprocess's identity render shows the pixels)", async () => {
    // Grid 3 does not divide 256: its edges fall at 85 and 170, so an off-by-one would show.
    for (const [grid, index] of [[3, 4], [3, 8], [8, 0], [8, 63], [1, 0]] as const) {
      const cell = occlusionCell(grid, index);
      const planar = await addon.preprocess(rgb(crop), { ...resolvePreprocessOptions({ resize: "nearest" }), occlude: { box: cell, value: OCCLUSION_GREY } });
      const painted = Buffer.from(planarToRgbBytes(planar, 256, 256));
      expect(painted.equals(greyedByDefinition(crop, cell))).toBe(true);
    }
    expect(occlusionCell(3, 4)).toEqual([85, 85, 170, 170]);
    expect(occlusionCell(3, 8)).toEqual([170, 170, 256, 256]);
  }, TEST_TIMEOUT);

  it("scores each variant as score() scores the crop greyed by the definition, and refuses cells outside the crop", async () => {
    const cells = [occlusionCell(4, 6), occlusionCell(7, 20)];
    const scores = await Promise.all(scorer.scoreOccluded(rgb(crop), cells, OCCLUSION_GREY));
    for (let i = 0; i < cells.length; i++) expect(scores[i]!.fake).toBeCloseTo(await fakeOf(greyedByDefinition(crop, cells[i]!)), 6);
    expect(() => scorer.scoreOccluded(rgb(crop), [[200, 0, 257, 10]], OCCLUSION_GREY)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG" }));
    expect(() => scorer.scoreOccluded(rgb(crop), [[0, 0, 10.5, 10]], OCCLUSION_GREY)).toThrow(/whole pixels/);
    expect(() => scorer.scoreOccluded(rgb(crop), [[0, 0, 10, 10]], 256)).toThrow(/0\.\.255/);
    expect(crop.equals(await decodedCrop())).toBe(true); // the caller's crop is never written
  }, TEST_TIMEOUT);
});

describe("occlusionMap", () => {
  it("gives grid x grid drops from the crop's own score, each the score lost with that cell greyed", async () => {
    const map = await occlusionMap(scorer, crop, { grid: 4 });
    expect(map.grid).toBe(4);
    expect(map.drops).toHaveLength(16);
    expect(map.baseFake).toBe(await fakeOf(crop));
    expect(map.baseFake).toBeGreaterThan(0.5); // a deepfake crop, as given
    // Cell (row 1, col 2) = pixels x 128..191, y 64..127, greyed here independently.
    expect(map.drops[1 * 4 + 2]).toBeCloseTo(map.baseFake - (await fakeOf(greyedByDefinition(crop, [128, 64, 192, 128]))), 6);
    expect(new Set(map.drops.map((d) => d.toFixed(6))).size).toBeGreaterThan(1); // cells differ
    expect(crop.equals(await decodedCrop())).toBe(true); // untouched
  }, TEST_TIMEOUT);

  it("the default 8x8 grid gives 64 finite drops", async () => {
    const map = await occlusionMap(scorer, crop);
    expect(map.drops).toHaveLength(64);
    expect(map.drops.every(Number.isFinite)).toBe(true);
  }, TEST_TIMEOUT);

  it("greying out the whole crop changes the score (grid 1)", async () => {
    const map = await occlusionMap(scorer, crop, { grid: 1 });
    const grey = Buffer.alloc(256 * 256 * 3, OCCLUSION_GREY);
    expect(map.drops[0]).toBeCloseTo(map.baseFake - (await fakeOf(grey)), 6);
    expect(Math.abs(map.drops[0]!)).toBeGreaterThan(0.1);
  }, TEST_TIMEOUT);

  it("works from a scorer view of a stream (a server's participant): the variants are not held to its group's cap", async () => {
    const participant = scorer.forGroup("participant-1");
    const map = await occlusionMap(participant, crop, { grid: 4 });
    expect(map.drops).toEqual((await occlusionMap(scorer, crop, { grid: 4 })).drops.map((d) => expect.closeTo(d, 6)));
  }, TEST_TIMEOUT);

  it("refuses a crop of the wrong size or a bad grid", async () => {
    await expect(occlusionMap(scorer, Buffer.alloc(10))).rejects.toThrow(/256x256/);
    await expect(occlusionMap(scorer, crop, { grid: 0 })).rejects.toMatchObject({ code: "ERR_INVALID_ARG", message: expect.stringMatching(/grid/) });
  });
});

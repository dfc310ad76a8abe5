// Occlusion sensitivity (scan --explain) on the data set's own crops through the real scorer: the map's shape,
// its base score, each cell's drop as the crop with that cell greyed scores, and the obvious case: greying the
// whole crop changes the score.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadAddon } from "../src/native/loadAddon.js";
import { occlusionMap } from "../src/scan/occlusion.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { decodeWithAddon } from "./helpers/faces.js";
import { TEST_TIMEOUT } from "./helpers/paths.js";
import { DF_CROPS } from "./helpers/videos.js";

let scorer: MesoNetScorer;
let crop: Buffer; // a deepfake crop of the data set, 256x256 RGB as the addon decodes it
beforeAll(async () => {
  scorer = await MesoNetScorer.create({ model: "meso4-df", detector: false, provider: "cpu" });
  const image = await decodeWithAddon(loadAddon(), { kind: "jpeg", data: readFileSync(DF_CROPS[0]!) }, 256, 256);
  crop = Buffer.from(image.data);
}, TEST_TIMEOUT);
afterAll(() => scorer?.close());

const fakeOf = async (rgb: Buffer) => (await scorer.score({ kind: "rgb", data: rgb, width: 256, height: 256 })).fake;

describe("occlusionMap", () => {
  it("gives grid x grid drops from the crop's own score, each the score lost with that cell greyed", async () => {
    const map = await occlusionMap(scorer, crop, 4);
    expect(map.grid).toBe(4);
    expect(map.drops).toHaveLength(16);
    expect(map.baseFake).toBe(await fakeOf(crop));
    expect(map.baseFake).toBeGreaterThan(0.5); // a deepfake crop, as given
    // Cell (row 1, col 2) = pixels x 128..191, y 64..127, greyed here independently.
    const greyed = Buffer.from(crop);
    for (let y = 64; y < 128; y++) for (let x = 128; x < 192; x++) greyed.fill(128, (y * 256 + x) * 3, (y * 256 + x + 1) * 3);
    expect(map.drops[1 * 4 + 2]).toBeCloseTo(map.baseFake - (await fakeOf(greyed)), 6);
    expect(new Set(map.drops.map((d) => d.toFixed(6))).size).toBeGreaterThan(1); // cells differ
    expect(crop.equals(Buffer.from((await decodeWithAddon(loadAddon(), { kind: "jpeg", data: readFileSync(DF_CROPS[0]!) }, 256, 256)).data))).toBe(true); // untouched
  }, TEST_TIMEOUT);

  it("the default 8x8 grid gives 64 finite drops", async () => {
    const map = await occlusionMap(scorer, crop);
    expect(map.drops).toHaveLength(64);
    expect(map.drops.every(Number.isFinite)).toBe(true);
  }, TEST_TIMEOUT);

  it("greying out the whole crop changes the score (grid 1)", async () => {
    const map = await occlusionMap(scorer, crop, 1);
    const grey = Buffer.alloc(256 * 256 * 3, 128);
    expect(map.drops[0]).toBeCloseTo(map.baseFake - (await fakeOf(grey)), 6);
    expect(Math.abs(map.drops[0]!)).toBeGreaterThan(0.1);
  }, TEST_TIMEOUT);

  it("refuses a crop of the wrong size or a bad grid", async () => {
    await expect(occlusionMap(scorer, Buffer.alloc(10))).rejects.toThrow(/256x256/);
    await expect(occlusionMap(scorer, crop, 0)).rejects.toThrow(/grid/);
  });
});

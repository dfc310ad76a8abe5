// The pipeline renders each frame's detector letterbox and face crops into tensors that earlier frames' jobs gave
// back (InferenceBatcher::NewTensor), holding those frames' values until overwritten. Every render must write each
// value, or a frame's scores would depend on the frames before it: a frame scored after others of other shapes (a
// landscape letterbox pads top and bottom, a portrait one left and right) gives exactly what it gives on a fresh scorer.
import { readFileSync } from "node:fs";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { MesoNetScorer } from "../../src/scoring/MesoNetScorer.js";
import type { FrameInput } from "../../src/scoring/scoringTypes.js";
import { SHARED } from "../helpers/paths.js";

const jpeg = (name: string): FrameInput => ({ kind: "jpeg", data: readFileSync(path.join(SHARED, "photos", name)) });
const portrait = jpeg("grace_hopper.jpg"); // 512x600
const others = [jpeg("messi5.jpg"), jpeg("example.jpg")]; // 548x342, 1162x580

const scorers: MesoNetScorer[] = [];
afterAll(async () => {
  await Promise.all(scorers.map((s) => s.close()));
});

async function facesOf(scorer: MesoNetScorer, frame: FrameInput) {
  const result = await scorer.analyze(frame);
  return result.faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.score, real: f.real, logit: f.logit }));
}

describe("tensors reused across frames", () => {
  it("a frame scored after frames of other shapes gives exactly what it gives on a fresh scorer", async () => {
    const fresh = await MesoNetScorer.create({ provider: "cpu" });
    const used = await MesoNetScorer.create({ provider: "cpu" });
    scorers.push(fresh, used);
    const expected = await facesOf(fresh, portrait);
    expect(expected.length).toBeGreaterThan(0);
    for (let round = 0; round < 3; round++) {
      for (const other of others) await facesOf(used, other);
      expect(await facesOf(used, portrait)).toEqual(expected);
    }
  });
});

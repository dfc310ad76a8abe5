// StreamAnalyzer on a real moving video: example.jpg's three faces sliding right 4 px per frame, through the
// real detector and MesoNet. Ids stay with their faces, the detector runs on the planned frames only, carried
// faces are still scored, lost faces come back with new ids, bad frames reject without breaking the stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { StreamAnalyzer, type StreamFrameResult } from "../src/scoring/StreamAnalyzer.js";
import type { FrameInput } from "../src/native/addonTypes.js";
import { loadAddon } from "../src/native/loadAddon.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import type { TrackedFaceScore } from "../src/scoring/scoringTypes.js";
import { detectorModelPath } from "../src/faces/detectorModels.js";
import { findModel, type ModelManifestEntry } from "../src/models/manifest.js";
import { modelFile } from "../src/scoring/MesoNetScorer.js";
import { cpuScorerOptions, rejectionOf } from "./helpers/addon.js";
import { decodeWithAddon, photoAboveNoise, photoFrame, readPhoto, shiftedRight } from "./helpers/faces.js";
import { constantImage, randomBytes, type RgbImage } from "./helpers/images.js";
import { TEST_TIMEOUT } from "./helpers/paths.js";

const W = 1162;
const H = 580;
const STEP = 4;
const FRAMES = 12;

let scorer: MesoNetScorer;
let frames: FrameInput[];
const grey: FrameInput = rgb(constantImage(W, H, [128, 128, 128]));

function rgb(image: RgbImage): FrameInput {
  return { kind: "rgb", data: image.data, width: image.width, height: image.height };
}

beforeAll(async () => {
  scorer = await MesoNetScorer.create({ provider: "cpu" });
  const example = await decodeWithAddon(loadAddon(), photoFrame("example.jpg"), W, H);
  frames = Array.from({ length: FRAMES }, (_, i) => rgb(shiftedRight(example, STEP * i)));
}, TEST_TIMEOUT);

afterAll(async () => {
  await scorer?.close();
}, TEST_TIMEOUT);

/** Which third of the frame (0 left, 1 middle, 2 right) the face's box centre lies in. */
function thirdOf(face: TrackedFaceScore): number {
  return Math.floor((face.box[0] + face.box[2]) / 2 / (W / 3));
}

async function run(stream: StreamAnalyzer, input: FrameInput[]): Promise<StreamFrameResult[]> {
  const out: StreamFrameResult[] = [];
  for (const frame of input) out.push(await stream.analyze(frame));
  return out;
}

function expectScored(face: TrackedFaceScore, label: string): void {
  expect(Number.isFinite(face.real), label).toBe(true);
  expect(face.real, label).toBeGreaterThanOrEqual(0);
  expect(face.real, label).toBeLessThanOrEqual(1);
  expect(face.fake, label).toBeCloseTo(1 - face.real, 12);
  expect(face.crop.side, label).toBeGreaterThan(100);
}

/**
 * Frame i was moved STEP * i px right: each face's box centre (matched by id) moved as much, within the
 * detector's jitter (measured here: up to 6 px across, 8 px down, region searches included).
 */
function expectFollowsMotion(first: StreamFrameResult, later: StreamFrameResult, i: number): void {
  for (const face of later.faces) {
    const before = first.faces.find((f) => f.id === face.id)!;
    const moved = (face.box[0] + face.box[2]) / 2 - (before.box[0] + before.box[2]) / 2;
    expect(Math.abs(moved - STEP * i), `frame ${i} face ${face.id} moved ${moved}`).toBeLessThanOrEqual(8);
    const rose = (face.box[1] + face.box[3]) / 2 - (before.box[1] + before.box[3]) / 2;
    expect(Math.abs(rose), `frame ${i} face ${face.id}: no vertical motion, moved ${rose}`).toBeLessThanOrEqual(10);
  }
}

describe("StreamAnalyzer", { timeout: 120_000 }, () => {
  it("detectEvery 3: ids 1..3 on every frame, the detector on frames 0, 3, 6, 9 only, carried faces scored", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const results = await run(stream, frames);
    const idThird = new Map<number, number>();
    for (const [i, r] of results.entries()) {
      const label = `frame ${i}`;
      expect([r.width, r.height], label).toEqual([W, H]);
      expect(r.detect, label).toBe(i % 3 === 0 ? "full" : "none");
      expect(r.detectorRuns, label).toBe(i % 3 === 0 ? 1 : 0);
      expect(r.faces.map((f) => f.id), label).toEqual([1, 2, 3]);
      for (const face of r.faces) {
        expect(face.detected, `${label} face ${face.id}`).toBe(i % 3 === 0);
        expectScored(face, `${label} face ${face.id}`);
        // Each id stays with its face: the same third of the frame on every frame.
        if (!idThird.has(face.id)) idThird.set(face.id, thirdOf(face));
        expect(thirdOf(face), `${label} face ${face.id}`).toBe(idThird.get(face.id));
      }
    }
    expect(new Set(idThird.values()).size).toBe(3);

    // Detected boxes follow the motion: 4 px a frame, give or take the detector's jitter.
    for (const i of [3, 6, 9]) expectFollowsMotion(results[0], results[i], i);
    for (const [i, r] of results.entries()) {
      if (i % 3 === 0) continue;
      const last = results[i - (i % 3)];
      for (const [j, face] of r.faces.entries()) {
        expect(face.box).toEqual(last.faces[j].box);
        expect(face.keypoints).toEqual(last.faces[j].keypoints);
      }
    }
    // The carried faces were really cropped from their own frame, not copied: the same face, scored on a
    // frame that moved, gets a (slightly) different logit.
    expect(results[2].faces.map((f) => f.logit)).not.toEqual(results[0].faces.map((f) => f.logit));
  });

  it("a carried face's score is the scorer's score of that geometry on that frame", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const [, second] = await run(stream, frames.slice(0, 2));
    expect(second.detect).toBe("none");
    const direct = await scorer.analyze(frames[1], { detect: false, faces: second.faces });
    expect(direct.faces.map((f) => f.box)).toEqual(second.faces.map((f) => f.box));
    for (const [j, f] of direct.faces.entries()) expect(Math.abs(f.real - second.faces[j].real)).toBeLessThanOrEqual(1e-5);
  });

  it("detectEvery 1: every frame runs the detector and reports detected faces", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 1 });
    const results = await run(stream, frames);
    for (const [i, r] of results.entries()) {
      expect(r.detect, `frame ${i}`).toBe("full");
      expect(r.detectorRuns, `frame ${i}`).toBe(1);
      expect(r.faces.map((f) => f.id), `frame ${i}`).toEqual([1, 2, 3]);
      expect(r.faces.every((f) => f.detected), `frame ${i}`).toBe(true);
    }
    for (let i = 1; i < FRAMES; i++) expectFollowsMotion(results[0], results[i], i);
  });

  it("faces gone for two detections are dropped; when they return they get new ids", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const input = [frames[0], frames[1], frames[2], grey, grey, frames[5], frames[6], frames[7]];
    const results = await run(stream, input);
    // 3: scheduled; 4 and 5: nothing visible, so the detector runs at once; 6: scheduled again.
    expect(results.map((r) => r.detect)).toEqual(["full", "none", "none", "full", "full", "full", "full", "none"]);
    expect(results.map((r) => r.faces.map((f) => f.id))).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
      [],
      [],
      [4, 5, 6],
      [4, 5, 6],
      [4, 5, 6],
    ]);
    // The new ids are given to the same three faces, one per third.
    expect(new Set(results[5].faces.map(thirdOf)).size).toBe(3);
  });

  it("one flat grey frame hides the faces for that frame; the default maxMissed (2) gives them their ids back", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const results = await run(stream, [frames[0], frames[1], frames[2], grey, frames[4], frames[5]]);
    expect(results.map((r) => r.faces.map((f) => f.id))).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3], [], [1, 2, 3], [1, 2, 3]]);
    expect(results[4].detect).toBe("full"); // nothing visible: the detector runs at once
  });

  it("with maxMissed 1 a single face-less frame drops the tracks: new ids after it", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3, maxMissed: 1 });
    // The grey frame falls on a scheduled detection (frame 3).
    const results = await run(stream, [frames[0], frames[1], frames[2], grey, frames[4], frames[5]]);
    expect(results.map((r) => r.detect)).toEqual(["full", "none", "none", "full", "full", "none"]);
    expect(results.map((r) => r.faces.map((f) => f.id))).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3], [], [4, 5, 6], [4, 5, 6]]);
  });

  it("a face-less frame between detections goes unnoticed: the carried faces are scored on it", async () => {
    // Documented behaviour of detectEvery > 1 without regionSearch: nothing checks the faces between full frames.
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const results = await run(stream, [frames[0], grey, frames[2], frames[3]]);
    expect(results.map((r) => r.detect)).toEqual(["full", "none", "none", "full"]);
    expect(results[1].faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(results[1].faces.every((f) => !f.detected)).toBe(true);
    expect(results[3].faces.map((f) => f.id)).toEqual([1, 2, 3]);
  });

  it("a corrupt frame rejects with a code; the stream goes on with the same faces", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const first = await stream.analyze(frames[0]);
    expect(first.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    const jpeg = readPhoto("example.jpg");
    // The header is intact (the size is readable), the data is cut: the decoder rejects it.
    const truncated = await rejectionOf(stream.analyze({ kind: "jpeg", data: jpeg.subarray(0, jpeg.length >> 1) }));
    expect(truncated.code).toBe("ERR_JPEG_DECODE");
    // No readable header at all: refused before the scorer.
    const garbage = await rejectionOf(stream.analyze({ kind: "jpeg", data: randomBytes(2000, 9) }));
    expect(garbage.code).toBe("ERR_INVALID_INPUT");
    // A raw frame too short for its size.
    const short = await rejectionOf(stream.analyze({ kind: "rgb", data: new Uint8Array(100), width: W, height: H }));
    expect(short.code).toBeDefined();
    const next = await stream.analyze(frames[1]);
    expect(next.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(next.detect).toBe("none");
    next.faces.forEach((f) => expectScored(f, `face ${f.id}`));
    const then = await stream.analyze(photoFrame("example.jpg"));
    expect(then.faces.map((f) => f.id)).toEqual([1, 2, 3]);
  });

  it("analyze() while the previous frame is in flight rejects; the first frame and later ones still work", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3 });
    const first = stream.analyze(frames[0]);
    const second = stream.analyze(frames[1]);
    const error = await rejectionOf(second);
    expect(error.message).toMatch(/in flight/);
    expect((await first).faces.map((f) => f.id)).toEqual([1, 2, 3]);
    const third = await stream.analyze(frames[1]);
    expect(third.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(third.detect).toBe("none"); // the refused call did not advance the schedule
  });

  it("regionSearch: the detector searches around the tracks between full frames and the ids hold", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3, regionSearch: true });
    const results = await run(stream, frames);
    for (const [i, r] of results.entries()) {
      const label = `frame ${i}`;
      expect(r.detect, label).toBe(i % 3 === 0 ? "full" : "regions");
      expect(r.detectorRuns, label).toBeGreaterThanOrEqual(1);
      expect(r.faces.map((f) => f.id), label).toEqual([1, 2, 3]);
      // Region frames re-detect the faces (they are all in their regions).
      expect(r.faces.every((f) => f.detected), label).toBe(true);
      r.faces.forEach((f) => expectScored(f, `${label} face ${f.id}`));
    }
    // Re-detected in every frame, the boxes follow the motion frame by frame.
    for (let i = 1; i < FRAMES; i++) expectFollowsMotion(results[0], results[i], i);
  });

  it("needs a scorer with a detector", async () => {
    const plain = await MesoNetScorer.create({ provider: "cpu", detector: false });
    try {
      expect(() => new StreamAnalyzer(plain)).toThrow(/detector/);
    } finally {
      await plain.close();
    }
  });
});

/** Until the scorer's queue is empty (a background detection done) and its promise has settled. */
async function settled(): Promise<void> {
  const until = Date.now() + 30_000;
  while (scorer.stats().pending > 0) {
    if (Date.now() > until) throw new Error("the scorer's queue did not empty within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
}

function byX<T extends { box: [number, number, number, number] }>(faces: readonly T[]): T[] {
  return [...faces].sort((a, b) => a.box[0] - b.box[0]);
}

describe("StreamAnalyzer with backgroundDetection", { timeout: 120_000 }, () => {
  it("a due frame is scored with the tracked faces at once; its detections land before the next frame", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3, backgroundDetection: true });
    const [r0, r1, r2] = await run(stream, frames.slice(0, 3));
    expect([r0.detect, r1.detect, r2.detect]).toEqual(["full", "none", "none"]);
    const r3 = await stream.analyze(frames[3]);
    expect(r3.detect).toBe("background");
    expect(r3.detectorRuns).toBe(0);
    expect(r3.landed).toBeUndefined();
    expect(r3.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(r3.faces.every((f) => !f.detected)).toBe(true);
    expect(r3.faces.map((f) => f.box)).toEqual(r0.faces.map((f) => f.box)); // the geometry of frame 0's detection
    // Scored on its own frame, as a "none" frame's carried faces are.
    const direct = await scorer.analyze(frames[3], { detect: false, faces: r3.faces });
    for (const [j, f] of direct.faces.entries()) expect(Math.abs(f.real - r3.faces[j]!.real)).toBeLessThanOrEqual(1e-5);

    await settled();
    const r4 = await stream.analyze(frames[4]);
    expect(r4.detect).toBe("none");
    expect(r4.landed).toMatchObject({ framesLate: 1, applied: true, detectorRuns: 1, facesCut: 0 });
    expect(r4.landed!.timings.detectMs).toBeGreaterThan(0);
    expect(r4.landed!.error).toBeUndefined();
    // Frame 4's faces carry frame 3's detections, under the same ids.
    expect(r4.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    const found = await scorer.detect(frames[3]);
    expect(byX(r4.faces).map((f) => f.box)).toEqual(byX(found.faces).map((f) => f.box));
    expectFollowsMotion(r0, r4, 3);
    r4.faces.forEach((f) => expectScored(f, `face ${f.id}`));
  });

  it("a face that comes in is found in the background and scored from the frame after the detection lands", async () => {
    // Only the left third of the frame shows its face at first; the whole frame from frame 3 on.
    const masked = (i: number): FrameInput => {
      const data = new Uint8Array((frames[i] as { data: Uint8Array }).data);
      for (let y = 0; y < H; y++) data.fill(128, (y * W + Math.floor(W / 3)) * 3, (y + 1) * W * 3);
      return { kind: "rgb", data, width: W, height: H };
    };
    const stream = new StreamAnalyzer(scorer, { detectEvery: 3, backgroundDetection: true });
    const results = await run(stream, [masked(0), masked(1), masked(2), frames[3]]);
    expect(results.map((r) => r.detect)).toEqual(["full", "none", "none", "background"]);
    expect(results.map((r) => r.faces.map((f) => f.id))).toEqual([[1], [1], [1], [1]]);
    await settled();
    const next = await stream.analyze(frames[4]);
    expect(next.landed).toMatchObject({ applied: true, detectorRuns: 1 });
    expect(next.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(new Set(next.faces.map(thirdOf)).size).toBe(3);
    expect(thirdOf(next.faces[0]!)).toBe(0); // face 1 is still the left one
    next.faces.forEach((f) => expectScored(f, `face ${f.id}`));
  });

  it("a background detection that fails is reported on the next frame and changes nothing", async () => {
    // example.jpg above a canvas of noise 2x its height: its faces' rows come early in the stream. Cut at 60% of
    // the bytes, the tracked faces' rows are whole (they are scored) but the detector's whole frame is not.
    const { jpeg: tall } = await photoAboveNoise("example.jpg", 3);
    const whole: FrameInput = { kind: "jpeg", data: tall };
    const cut: FrameInput = { kind: "jpeg", data: tall.subarray(0, Math.floor(tall.length * 0.6)) };
    const stream = new StreamAnalyzer(scorer, { detectEvery: 2, backgroundDetection: true });
    const first = await stream.analyze(whole);
    expect(first.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    await stream.analyze(whole);
    const due = await stream.analyze(cut);
    expect(due.detect).toBe("background");
    expect(due.faces.map((f) => f.real)).toEqual(first.faces.map((f) => f.real)); // the same rows, the same crops
    await settled();
    const after = await stream.analyze(whole);
    expect(after.landed).toMatchObject({ applied: false, detectorRuns: 0, error: { code: "ERR_JPEG_DECODE" } });
    expect(after.faces.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(after.faces.map((f) => f.box)).toEqual(first.faces.map((f) => f.box));
    // The next due frame detects again, and that one lands.
    const again = await stream.analyze(whole);
    expect(again.detect).toBe("background");
    await settled();
    expect((await stream.analyze(whole)).landed).toMatchObject({ applied: true, detectorRuns: 1 });
  });

  it("reset() drops a detection still out: it never lands", async () => {
    const stream = new StreamAnalyzer(scorer, { detectEvery: 2, backgroundDetection: true });
    await run(stream, frames.slice(0, 3));
    stream.reset();
    await settled();
    const r = await stream.analyze(frames[3]);
    expect(r.landed).toBeUndefined();
    expect(r.detect).toBe("full");
    expect(r.faces.map((f) => f.id)).toEqual([4, 5, 6]);
  });
});

describe("MesoNetScorer.detect", { timeout: 120_000 }, () => {
  it("finds the faces analyze() finds, without crops or scores", async () => {
    const found = await scorer.detect(frames[0]);
    const analyzed = await scorer.analyze(frames[0]);
    expect([found.width, found.height]).toEqual([W, H]);
    expect(found.detectorRuns).toBe(1);
    expect(found.facesCut).toBe(0);
    expect(found.faces).toEqual(analyzed.faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.score })));
    expect(found.timings.detectMs).toBeGreaterThan(0);
    const regions = await scorer.detect(frames[0], { regions: [[0, 0, W / 2, H]] });
    expect(regions.detectorRuns).toBe(1);
    expect(regions.faces.length).toBeGreaterThanOrEqual(1);
    expect(regions.faces.every((f) => f.box[0] < W / 2)).toBe(true);
  });

  it("the addon refuses score: false without detect, or with returnCrops", async () => {
    const native = await loadAddon().createScorer(
      cpuScorerOptions(modelFile(findModel("meso4-df") as ModelManifestEntry), { detector: { modelPath: detectorModelPath("blazeface-back") } }),
    );
    try {
      const noDetect = await rejectionOf(native.analyze(frames[0], { detect: false, score: false, faces: [] }));
      expect(noDetect.code).toBe("ERR_INVALID_ARG");
      expect(noDetect.message).toMatch(/score: false .* needs detect: true/);
      const crops = await rejectionOf(native.analyze(frames[0], { score: false, returnCrops: true }));
      expect(crops.code).toBe("ERR_INVALID_ARG");
      expect(crops.message).toMatch(/returnCrops must be false/);
      const found = await native.analyze(frames[0], { score: false });
      expect(found.faces).toHaveLength(3);
      expect(found.faces.every((f) => Object.keys(f.outputs).length === 0 && f.crop.rgb === undefined)).toBe(true);
    } finally {
      await native.close();
    }
  });
});


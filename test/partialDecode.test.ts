// A JPEG frame whose faces are given (the server's tracked frames) is decoded only in the rows its face crops read:
// libjpeg-turbo skips the rows above them and stops after the last. Those rows are the whole-frame decode's bit for
// bit, so a tracked frame scores exactly as a detection frame of the same faces, on every chroma layout.
import { readFileSync } from "node:fs";
import path from "node:path";

import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameInput } from "../src/native/addonTypes.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import type { FaceScore, FrameAnalysis } from "../src/scoring/scoringTypes.js";
import { photoAboveNoise } from "./helpers/faces.js";
import { SHARED, TEST_TIMEOUT } from "./helpers/paths.js";

const PHOTOS = ["grace_hopper.jpg", "example.jpg", "messi5.jpg"];

/** The photo as stored, and re-encoded: 4:4:4, 4:2:0 at an odd size (partial blocks), progressive, grayscale. */
async function variants(file: string): Promise<Array<{ name: string; jpeg: Buffer }>> {
  const bytes = readFileSync(path.join(SHARED, "photos", file));
  const image = sharp(bytes);
  const { width = 0, height = 0 } = await image.metadata();
  const odd = { left: 1, top: 3, width: width - 2 - ((width - 2) % 2 === 0 ? 1 : 0), height: height - 6 - ((height - 6) % 2 === 0 ? 1 : 0) };
  return [
    { name: `${file}`, jpeg: bytes },
    { name: `${file} 4:4:4`, jpeg: await image.clone().jpeg({ quality: 90, chromaSubsampling: "4:4:4" }).toBuffer() },
    { name: `${file} odd size`, jpeg: await image.clone().extract(odd).jpeg({ quality: 85, chromaSubsampling: "4:2:0" }).toBuffer() },
    { name: `${file} progressive`, jpeg: await image.clone().jpeg({ quality: 80, progressive: true }).toBuffer() },
    { name: `${file} grayscale`, jpeg: await image.clone().grayscale().jpeg({ quality: 85 }).toBuffer() },
  ];
}

const given = (faces: FaceScore[]) => faces.map((f) => ({ box: f.box, keypoints: f.keypoints, score: f.score }));

let scorer: MesoNetScorer;

beforeAll(async () => {
  // One thread and one frame at a time: every crop runs as a batch of one, so equal inputs give equal outputs.
  scorer = await MesoNetScorer.create({ provider: "cpu", intraOpThreads: 1 });
}, TEST_TIMEOUT);

afterAll(async () => {
  await scorer.close();
}, TEST_TIMEOUT);

describe("tracked JPEG frames decode only their face crops' rows", { timeout: TEST_TIMEOUT }, () => {
  it("and score exactly as a detection frame of the same faces", async () => {
    let compared = 0;
    for (const file of PHOTOS) {
      for (const { name, jpeg } of await variants(file)) {
        const frame: FrameInput = { kind: "jpeg", data: jpeg };
        const detected = await scorer.analyze(frame, { detect: true, returnCrops: true });
        expect(detected.faces.length, name).toBeGreaterThan(0);
        const before = scorer.stats().partialDecodes;
        const tracked = await scorer.analyze(frame, { detect: false, faces: given(detected.faces), returnCrops: true });
        expect(scorer.stats().partialDecodes - before, `${name}: decoded in part`).toBe(1);
        expect(tracked.faces).toHaveLength(detected.faces.length);
        tracked.faces.forEach((face, i) => {
          const reference = detected.faces[i]!;
          expect(face.real, `${name}, face ${i}`).toBe(reference.real);
          expect(face.logit, `${name}, face ${i}`).toBe(reference.logit);
          expect(Buffer.compare(face.crop!.rgb!, reference.crop!.rgb!), `${name}, face ${i}: crop`).toBe(0);
          compared++;
        });
      }
    }
    expect(compared).toBeGreaterThanOrEqual(25); // 5 faces x 5 encodings
  });

  it("a frame without faces given, or with a detector run, is decoded whole", async () => {
    const frame: FrameInput = { kind: "jpeg", data: readFileSync(path.join(SHARED, "photos", "grace_hopper.jpg")) };
    const before = scorer.stats().partialDecodes;
    const detected = await scorer.analyze(frame, { detect: true });
    await scorer.analyze(frame, { detect: false, faces: [] });
    expect(scorer.stats().partialDecodes).toBe(before);
    // A face whose crop covers the whole frame reads every row: decoded whole as well.
    const face = detected.faces[0]!;
    const scale = (v: number) => 240 + (v - 240) * 8;
    const huge = {
      box: face.box,
      score: face.score,
      keypoints: Object.fromEntries(Object.entries(face.keypoints).map(([k, p]) => [k, { x: scale(p.x), y: scale(p.y) }])) as FaceScore["keypoints"],
    };
    await scorer.analyze(frame, { detect: false, faces: [huge] });
    expect(scorer.stats().partialDecodes).toBe(before);
  });

  it("a stream cut inside the crop's rows still rejects; one cut below them is not read", async () => {
    // The photo on top of a canvas of noise 4x its height: the face's rows come early in the stream, and most
    // of the stream's bytes are the noise below them.
    const { jpeg: tall, width, height } = await photoAboveNoise("grace_hopper.jpg", 4);
    const frame: FrameInput = { kind: "jpeg", data: tall };
    const detected: FrameAnalysis = await scorer.analyze(frame, { detect: true });
    expect(detected.faces).toHaveLength(1);
    expect(detected.height).toBe(4 * height);
    expect(detected.width).toBe(width);
    const faces = given(detected.faces);

    // Cut at 60% of the bytes: the photo (the face's rows) is intact, the noise below is not all there.
    const cutBelow: FrameInput = { kind: "jpeg", data: tall.subarray(0, Math.floor(tall.length * 0.6)) };
    await expect(scorer.analyze(cutBelow, { detect: true })).rejects.toMatchObject({ code: "ERR_JPEG_DECODE" });
    const tracked = await scorer.analyze(cutBelow, { detect: false, faces });
    expect(tracked.faces[0]!.real).toBe(detected.faces[0]!.real);

    // Cut at 3%: before the face's last rows.
    const cutInside: FrameInput = { kind: "jpeg", data: tall.subarray(0, Math.floor(tall.length * 0.03)) };
    await expect(scorer.analyze(cutInside, { detect: false, faces })).rejects.toMatchObject({ code: "ERR_JPEG_DECODE" });
  });
});

// The int8 variant of meso4-df (models/quantize.ts, built by `npm run models`) against its float32 model through the
// real addon: on the shared face crops and on every face found in the shared photos, P(REAL) within
// INT8_MAX_REAL_ERROR and the same verdict level at the default thresholds. The variant is offered (findModel knows
// its name) exactly when that holds.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { INT8_SUFFIX } from "../models/quantize.js";
import { findModel, INT8_MAX_REAL_ERROR, offeredInt8Variants } from "../src/models/manifest.js";
import { defaultGeneratedDir } from "../src/models/paths.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import type { FrameInput } from "../src/scoring/scoringTypes.js";
import { DEFAULT_VERDICT_CONFIG } from "../src/verdict/verdictConfig.js";
import { PHOTOS_DIR } from "./helpers/faces.js";
import { readTestJpeg, TEST_JPEGS, TEST_TIMEOUT } from "./helpers/paths.js";

const NAME = "meso4-df";
const INT8 = `${NAME}${INT8_SUFFIX}`;

/** 0 authentic, 1 suspicious, 2 likely fake: the verdict's level for one fake score at the default thresholds. */
function level(real: number): number {
  const fake = 1 - real;
  return fake >= DEFAULT_VERDICT_CONFIG.likelyFakeAt ? 2 : fake >= DEFAULT_VERDICT_CONFIG.suspiciousAt ? 1 : 0;
}

interface Pair {
  what: string;
  fp32: number;
  int8: number;
}

let fp32: MesoNetScorer;
let int8: MesoNetScorer;
const pairs: Pair[] = [];

beforeAll(async () => {
  fp32 = await MesoNetScorer.create({ model: NAME, provider: "cpu" });
  int8 = await MesoNetScorer.create({ model: NAME, provider: "cpu", modelPath: path.join(defaultGeneratedDir(), `${INT8}.onnx`) });
  for (const jpeg of TEST_JPEGS) {
    const frame: FrameInput = { kind: "jpeg", data: readTestJpeg(jpeg.file) };
    pairs.push({ what: jpeg.file, fp32: (await fp32.score(frame)).real, int8: (await int8.score(frame)).real });
  }
  for (const file of readdirSync(PHOTOS_DIR).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort()) {
    const frame: FrameInput = { kind: /\.png$/i.test(file) ? "png" : "jpeg", data: readFileSync(path.join(PHOTOS_DIR, file)) };
    const found = await fp32.analyze(frame);
    const again = await int8.analyze(frame, { detect: false, faces: found.faces });
    found.faces.forEach((face, i) => pairs.push({ what: `${file} face ${i + 1}`, fp32: face.real, int8: again.faces[i]!.real }));
  }
}, TEST_TIMEOUT);

afterAll(async () => {
  await Promise.all([fp32?.close(), int8?.close()]);
});

describe(`${INT8} (int8 QDQ) against ${NAME} (float32)`, { timeout: TEST_TIMEOUT }, () => {
  it("is offered exactly when every P(REAL) stays within the bound and no verdict level changes", () => {
    expect(pairs.length).toBeGreaterThan(TEST_JPEGS.length); // the photos gave faces too
    const worst = Math.max(...pairs.map((p) => Math.abs(p.int8 - p.fp32)));
    const flips = pairs.filter((p) => level(p.int8) !== level(p.fp32));
    const holds = worst <= INT8_MAX_REAL_ERROR && flips.length === 0;
    const report = pairs.map((p) => `${p.what}: ${p.fp32.toFixed(4)} vs ${p.int8.toFixed(4)}`).join("; ");
    expect(offeredInt8Variants().includes(INT8), `max |d| ${worst.toFixed(4)}, ${flips.length} flips: ${report}`).toBe(holds);
    if (holds) expect(findModel(INT8).name).toBe(INT8);
    else expect(() => findModel(INT8)).toThrow(/Unknown model/);
  });
});

// The batch queue under load: many concurrent frames each get their own result, batches really form,
// close() drains or cancels as documented, backpressure refuses excess frames, and scorers stay separate.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameInput, NativeAddon, NativeScoreResult, NativeScorer } from "../../src/native/addonTypes.js";
import { closeAll, loadCmakeAddon, loadGypAddon, openScorer, realOf, rejectionOf, type AddonError } from "../helpers/addon.js";
import { readPngRgb, shuffled } from "../helpers/images.js";
import { REFERENCE_IMAGES, referencePng, TEST_JPEGS, TEST_TIMEOUT, readTestJpeg } from "../helpers/paths.js";

let addon: NativeAddon;
const scorers: NativeScorer[] = [];

const jpegs = TEST_JPEGS.map((j) => ({ ...j, frame: { kind: "jpeg", data: readTestJpeg(j.file) } as FrameInput }));

beforeAll(() => {
  addon = loadCmakeAddon();
});

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

/** Scores each frame alone, one after another: the reference the concurrent runs must reproduce. */
async function serialScores(scorer: NativeScorer, frames: FrameInput[]): Promise<NativeScoreResult[]> {
  const out: NativeScoreResult[] = [];
  for (const frame of frames) out.push(await scorer.score(frame));
  return out;
}

describe("300 concurrent frames", { timeout: TEST_TIMEOUT }, () => {
  it("each gets its own correct result, in batches of at most maxBatch", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { maxBatch: 8, maxWaitMs: 5, prepThreads: 2 });
    expect(scorer.info().maxBatch).toBe(8);
    const serial = await serialScores(
      scorer,
      jpegs.map((j) => j.frame),
    );
    // The four crops really differ, so a mixed-up result would show.
    const serialReal = serial.map(realOf);
    expect(new Set(serialReal).size).toBe(4);
    const before = scorer.stats();

    const order = shuffled(
      Array.from({ length: 300 }, (_, i) => i % 4),
      1234,
    );
    const results = await Promise.all(order.map((k) => scorer.score(jpegs[k].frame)));

    let wrong = 0;
    for (let i = 0; i < order.length; i++) {
      const want = serial[order[i]];
      const got = results[i];
      if (Math.abs(realOf(got) - realOf(want)) > 1e-6) wrong++;
      if (Math.abs(got.outputs.logit[0] - want.outputs.logit[0]) > 1e-4) wrong++;
      expect(got.batchSize).toBeGreaterThanOrEqual(1);
      expect(got.batchSize).toBeLessThanOrEqual(8);
      expect(got.preprocessMs).toBeGreaterThanOrEqual(0);
      expect(got.waitMs).toBeGreaterThanOrEqual(0);
      expect(got.inferenceMs).toBeGreaterThan(0);
    }
    expect(wrong).toBe(0);
    expect(Math.max(...results.map((r) => r.batchSize))).toBeGreaterThan(1);

    const after = scorer.stats();
    expect(after.submitted - before.submitted).toBe(300);
    expect(after.completed - before.completed).toBe(300);
    expect(after.failed).toBe(before.failed);
    expect(after.pending).toBe(0);
    const batches = after.batches - before.batches;
    expect(batches).toBeLessThan(300);
    expect(batches).toBeGreaterThanOrEqual(Math.ceil(300 / 8));
    expect(after.meanBatchSize).toBeGreaterThan(1);
    expect(after.meanBatchSize).toBeLessThanOrEqual(8);
  });

  it("maxBatch 1 never batches and still gives the same answers", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { maxBatch: 1 });
    const serial = (await serialScores(scorer, jpegs.map((j) => j.frame))).map(realOf);
    const order = shuffled(
      Array.from({ length: 40 }, (_, i) => i % 4),
      9,
    );
    const results = await Promise.all(order.map((k) => scorer.score(jpegs[k].frame)));
    results.forEach((r, i) => {
      expect(r.batchSize).toBe(1);
      expect(Math.abs(realOf(r) - serial[order[i]])).toBeLessThanOrEqual(1e-6);
    });
    expect(scorer.stats().meanBatchSize).toBe(1);
  });
});

describe("close()", { timeout: TEST_TIMEOUT }, () => {
  it("with drain resolves only after every pending frame settled; score() afterwards rejects ERR_CLOSED", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers);
    const serial = (await serialScores(scorer, jpegs.map((j) => j.frame))).map(realOf);
    const n = 60;
    let settled = 0;
    const countSettled = (): void => {
      settled++;
    };
    const pending = Array.from({ length: n }, (_, i) => scorer.score(jpegs[i % 4].frame));
    for (const p of pending) p.then(countSettled, countSettled);
    const closing = scorer.close(); // default: drain
    expect(scorer.info().closed).toBe(true);
    // A frame submitted while closing is refused at once.
    const late = await rejectionOf(scorer.score(jpegs[0].frame));
    expect(late.code).toBe("ERR_CLOSED");
    await closing;
    expect(settled).toBe(n);
    const results = await Promise.allSettled(pending);
    results.forEach((r, i) => {
      expect(r.status, `frame ${i}`).toBe("fulfilled");
      if (r.status === "fulfilled") expect(Math.abs(realOf(r.value) - serial[i % 4])).toBeLessThanOrEqual(1e-6);
    });
    const after = await rejectionOf(scorer.score(jpegs[0].frame));
    expect(after.code).toBe("ERR_CLOSED");
    expect(after.message.length).toBeGreaterThan(0);
    // Closing again is harmless.
    await scorer.close();
    await scorer.close({ drain: false });
  });

  it("with drain:false cancels queued frames with ERR_CLOSED and finishes the ones already running", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { maxBatch: 4 });
    const serial = (await serialScores(scorer, jpegs.map((j) => j.frame))).map(realOf);
    const n = 200;
    let settled = 0;
    const countSettled = (): void => {
      settled++;
    };
    const pending = Array.from({ length: n }, (_, i) => scorer.score(jpegs[i % 4].frame));
    for (const p of pending) p.then(countSettled, countSettled);
    await scorer.close({ drain: false });
    expect(settled).toBe(n);
    const results = await Promise.allSettled(pending);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    const fulfilled = results.filter((r) => r.status === "fulfilled");
    expect(rejected.length + fulfilled.length).toBe(n);
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) {
      const error = r.reason as AddonError;
      expect(error.code).toBe("ERR_CLOSED");
      expect(error.message.length).toBeGreaterThan(0);
    }
    results.forEach((r, i) => {
      if (r.status === "fulfilled") expect(Math.abs(realOf(r.value) - serial[i % 4])).toBeLessThanOrEqual(1e-6);
    });
    expect((await rejectionOf(scorer.score(jpegs[0].frame))).code).toBe("ERR_CLOSED");
  });

  it("an idle scorer closes at once, with or without drain", async () => {
    for (const drain of [true, false]) {
      const scorer = await openScorer(addon, "meso4-f2f", scorers);
      await scorer.score(jpegs[2].frame);
      await scorer.close({ drain });
      expect(scorer.info().closed).toBe(true);
      expect((await rejectionOf(scorer.score(jpegs[2].frame))).code).toBe("ERR_CLOSED");
    }
  });
});

describe("backpressure", { timeout: TEST_TIMEOUT }, () => {
  it("maxPending refuses excess frames with ERR_QUEUE_FULL and serves the rest", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { maxPending: 4 });
    expect(scorer.info().maxPending).toBe(4);
    const serial = (await serialScores(scorer, jpegs.map((j) => j.frame))).map(realOf);
    const n = 40;
    const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => scorer.score(jpegs[i % 4].frame)));
    // The first maxPending frames always find room.
    for (let i = 0; i < 4; i++) expect(results[i].status, `frame ${i}`).toBe("fulfilled");
    let full = 0;
    results.forEach((r, i) => {
      if (r.status === "fulfilled") {
        expect(Math.abs(realOf(r.value) - serial[i % 4])).toBeLessThanOrEqual(1e-6);
      } else {
        const error = r.reason as AddonError;
        expect(error.code).toBe("ERR_QUEUE_FULL");
        expect(error.message).toMatch(/maxPending|queue/);
        full++;
      }
    });
    expect(full).toBeGreaterThan(0);
    const stats = scorer.stats();
    expect(stats.pending).toBe(0);
    expect(stats.failed).toBe(0); // refused frames were never admitted
    // Once the queue has room again, frames are accepted.
    expect(Math.abs(realOf(await scorer.score(jpegs[1].frame)) - serial[1])).toBeLessThanOrEqual(1e-6);
  });
});

describe("several scorers at once", { timeout: TEST_TIMEOUT }, () => {
  it("two models used concurrently don't mix results", async () => {
    const df = await openScorer(addon, "meso4-df", scorers, { maxWaitMs: 3 });
    const f2f = await openScorer(addon, "mesoinception4-f2f", scorers, { maxWaitMs: 3 });
    const frames = [
      ...REFERENCE_IMAGES.map((r) => {
        const image = readPngRgb(referencePng(r.png));
        return { kind: "rgb", data: image.data, width: 256, height: 256 } as FrameInput;
      }),
      ...jpegs.map((j) => j.frame),
    ];
    const wantDf = (await serialScores(df, frames)).map(realOf);
    const wantF2f = (await serialScores(f2f, frames)).map(realOf);
    // The two models disagree on these frames, so a crossed result would be caught.
    for (let i = 0; i < frames.length; i++) expect(Math.abs(wantDf[i] - wantF2f[i])).toBeGreaterThan(1e-3);

    const jobs = shuffled(
      Array.from({ length: 120 }, (_, i) => ({ which: i % 2, frame: i % frames.length })),
      77,
    );
    const results = await Promise.all(jobs.map((j) => (j.which === 0 ? df : f2f).score(frames[j.frame])));
    let wrong = 0;
    jobs.forEach((j, i) => {
      const want = (j.which === 0 ? wantDf : wantF2f)[j.frame];
      if (Math.abs(realOf(results[i]) - want) > 1e-6) wrong++;
    });
    expect(wrong).toBe(0);
  });

  it("two builds' scorers on one model run concurrently without interfering", async () => {
    const a = await openScorer(addon, "meso4-df", scorers);
    const b = await openScorer(loadGypAddon(), "meso4-df", scorers);
    const want = (await serialScores(a, jpegs.map((j) => j.frame))).map(realOf);
    const order = shuffled(
      Array.from({ length: 80 }, (_, i) => i % 4),
      5,
    );
    const results = await Promise.all(order.map((k, i) => (i % 2 ? a : b).score(jpegs[k].frame)));
    results.forEach((r, i) => expect(Math.abs(realOf(r) - want[order[i]])).toBeLessThanOrEqual(1e-6));
  });
});

describe("groups: cancel() and the per-group share of the queue", { timeout: TEST_TIMEOUT }, () => {
  it("cancel(group) rejects that group's queued frames with ERR_CANCELLED, leaves other groups and later frames alone", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { prepThreads: 1, maxPendingPerGroup: 1000 });
    const frame = jpegs[0].frame;
    const want = realOf(await scorer.score(frame));
    const gone = Array.from({ length: 100 }, () => scorer.score(frame, { group: "left" }).then(realOf, (e: AddonError) => e.code));
    const kept = Array.from({ length: 20 }, () => scorer.score(frame, { group: "stays" }).then(realOf, (e: AddonError) => e.code));
    const pending = scorer.cancel("left");
    expect(pending).toBeGreaterThan(0);
    expect(pending).toBeLessThanOrEqual(100);
    const after = scorer.score(frame, { group: "left" }); // sent after cancel(): scored as usual
    const goneResults = await Promise.all(gone);
    // One worker thread and 120 frames: most of "left" had not started when it was cancelled.
    const cancelled = goneResults.filter((r) => r === "ERR_CANCELLED").length;
    expect(cancelled).toBeGreaterThan(50);
    expect(goneResults.every((r) => r === "ERR_CANCELLED" || r === want)).toBe(true);
    expect(await Promise.all(kept)).toEqual(kept.map(() => want));
    expect(realOf(await after)).toBe(want);
    const stats = scorer.stats();
    expect(stats.cancelled).toBe(cancelled);
    expect(stats.pending).toBe(0);
    expect(scorer.cancel("nobody")).toBe(0);
    expect(() => scorer.cancel("" as string)).toThrow(TypeError);
  });

  it("analyze() frames of a cancelled group skip their remaining stages", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { prepThreads: 1, maxPendingPerGroup: 1000 });
    const face = { box: [0, 0, 100, 100] as [number, number, number, number], keypoints: [30, 40, 70, 40, 50, 60, 50, 80, 10, 50, 90, 50] };
    const frame = jpegs[1].frame;
    const runs = Array.from({ length: 60 }, () =>
      scorer.analyze(frame, { detect: false, faces: [face], group: "g" }).then(() => "ok", (e: AddonError) => e.code),
    );
    scorer.cancel("g");
    const results = await Promise.all(runs);
    expect(results.filter((r) => r === "ERR_CANCELLED").length).toBeGreaterThan(30);
    expect(results.every((r) => r === "ok" || r === "ERR_CANCELLED")).toBe(true);
    expect(scorer.stats().pending).toBe(0);
  });

  it("one group cannot fill the shared queue: beyond maxPendingPerGroup its frames are refused, others still enter", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers, { maxPending: 100, maxPendingPerGroup: 3 });
    expect(scorer.info().maxPendingPerGroup).toBe(3);
    const frame = jpegs[2].frame;
    const flood = Array.from({ length: 10 }, () => scorer.score(frame, { group: "flood" }).then(() => "ok", (e: AddonError) => e.code));
    const other = scorer.score(frame, { group: "other" });
    const results = await Promise.all(flood);
    expect(results.filter((r) => r === "ok").length).toBe(3);
    expect(results.filter((r) => r === "ERR_QUEUE_FULL").length).toBe(7);
    expect(realOf(await other)).toBeGreaterThan(0);
  });
});

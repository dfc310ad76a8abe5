// A recorded hour must not grow the scan's memory: frames are streamed (one decoded picture held per file) and
// only the small per-frame timeline accumulates. An hour of 720p H.264 made here by ffmpeg is scanned by the
// package's scanFiles (what `mesoguard scan` runs) in a child process that samples its RSS as the frames go by
// (bench/scanMemory.ts; `npm run bench` records the same at the scan's default 2 frames/s).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";

import { hourLong720p, measureScanMemory, rssHalves } from "../bench/scanMemory.js";
import { requireTool, FFMPEG_TOOL } from "./helpers/tools.js";
import { GRACE } from "./helpers/videos.js";

const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-scanmemory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One frame every 4 s of video: 900 frames detected and scored, every one of the 3600 pictures decoded. */
const FPS = 0.25;

it("keeps RSS flat over an hour of 720p: the peak over the second half is within 30 MB of the first half's (after 10%)", () => {
  requireTool(FFMPEG_TOOL);
  const run = measureScanMemory(hourLong720p(path.join(dir, "hour.mp4"), GRACE), FPS);
  expect(run).toMatchObject({ frames: 900, durationS: 3600, tracks: 1 });
  expect(run.error).toBeUndefined();
  expect(run.rss.filter(([f]) => f > 90).length).toBeGreaterThanOrEqual(81); // every 10 frames after 10%
  const { firstHalfMb, secondHalfMb } = rssHalves(run);
  console.log(`scan memory, 1 h 720p at ${FPS} frames/s: RSS peak ${firstHalfMb} MB over 10-50%, ${secondHalfMb} MB over 50-100% (${run.scanS} s)`);
  expect(secondHalfMb - firstHalfMb).toBeLessThan(30);
}, 300_000);

// The scan's memory over a recorded hour: an hour of 1280x720 H.264 (the bench photo, 1 frame/s) is made with
// ffmpeg and scanned by the package's scanFiles (what `mesoguard scan` runs) in a child process of its own, which
// samples its RSS every 10 sampled frames. RSS growth = the peak over the second half of the file minus the peak
// over 10-50% (after warm-up); a leak of even 64 KB per frame shows as tens of MB. test/scanMemory.test.ts runs a
// cheaper rate; `npm run bench` records the scan's default rate.
//   child: node dist/bench/scanMemory.js VIDEO FPS  -> one JSON line (ScanMemoryRun)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { packageRoot } from "../src/models/paths.js";
import { findMediaFiles } from "../src/scan/mediaFiles.js";
import { scanFiles } from "../src/scan/scanFiles.js";
import { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";
import { round } from "./stats.js";
import { FFMPEG_TOOL, runFfmpeg, toolAbsence } from "./tools.js";

export interface ScanMemoryRun {
  frames: number;
  error?: { code: string; message: string };
  durationS: number;
  tracks: number;
  scanS: number;
  /** [sampled frames so far, RSS in MB]. */
  rss: [number, number][];
}

export interface ScanMemoryResult {
  video: { durationS: number; width: number; height: number; sourceFps: number; sizeMb: number; makeS: number };
  fps: number;
  frames: number;
  scanS: number;
  /** Peak RSS over 10-50% and 50-100% of the sampled frames, and the second minus the first. */
  rssPeakFirstHalfMb: number;
  rssPeakSecondHalfMb: number;
  rssGrowthMb: number;
}

/**
 * An hour of 1280x720 H.264 at 1 frame/s: the photo padded to 720p, one minute encoded (libx264 ultrafast, still
 * image tuning) and looped 60 times by stream copy: about a second to make, 33 MB, 3600 pictures to decode.
 */
export function hourLong720p(out: string, photo: string): string {
  const minute = out + ".minute.mp4";
  runFfmpeg(["-loop", "1", "-framerate", "1", "-i", photo, "-t", "60", "-vf", "scale=-2:720,pad=1280:720:(ow-iw)/2:0",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-pix_fmt", "yuv420p", minute]);
  runFfmpeg(["-stream_loop", "59", "-i", minute, "-c", "copy", out]);
  rmSync(minute);
  return out;
}

/** Scans `video` at `fps` in a child process (its RSS is the scan's alone) and returns what it sampled. */
export function measureScanMemory(video: string, fps: number): ScanMemoryRun {
  // The compiled file, also when the caller runs from the sources (vitest).
  const script = path.join(packageRoot(), "dist", "bench", "scanMemory.js");
  const run = spawnSync(process.execPath, [script, video, String(fps)], { encoding: "utf8", timeout: 1_800_000 });
  if (run.status !== 0 || run.stderr) throw new Error(`scan memory child failed (${run.status ?? run.signal}): ${run.stderr}`);
  return JSON.parse(run.stdout) as ScanMemoryRun;
}

/** The peak RSS over 10-50% and over 50-100% of the run's frames. */
export function rssHalves(run: ScanMemoryRun): { firstHalfMb: number; secondHalfMb: number } {
  const peak = (from: number, to: number) =>
    Math.max(...run.rss.filter(([f]) => f > from * run.frames && f <= to * run.frames).map(([, mb]) => mb));
  return { firstHalfMb: peak(0.1, 0.5), secondHalfMb: peak(0.5, 1) };
}

/** The bench row: make the hour (needs ffmpeg: skipped, saying so, without it), scan it at `fps`, summarise. */
export function runScanMemory(photo: string, fps: number): ScanMemoryResult | { skipped: string } {
  const absent = toolAbsence(FFMPEG_TOOL);
  if (absent) return { skipped: `the recorded hour is made with ffmpeg: ${absent}` };
  const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-bench-scan-"));
  try {
    const started = Date.now();
    const video = hourLong720p(path.join(dir, "hour.mp4"), photo);
    const makeS = (Date.now() - started) / 1000;
    const run = measureScanMemory(video, fps);
    if (run.error) throw new Error(`scan memory: the hour failed to scan: ${run.error.code} ${run.error.message}`);
    const { firstHalfMb, secondHalfMb } = rssHalves(run);
    return {
      video: { durationS: run.durationS, width: 1280, height: 720, sourceFps: 1, sizeMb: round(statSync(video).size / 1e6, 1), makeS: round(makeS, 1) },
      fps,
      frames: run.frames,
      scanS: run.scanS,
      rssPeakFirstHalfMb: round(firstHalfMb, 1),
      rssPeakSecondHalfMb: round(secondHalfMb, 1),
      rssGrowthMb: round(secondHalfMb - firstHalfMb, 1),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function child(video: string, fps: number): Promise<void> {
  const scorer = await MesoNetScorer.create({ provider: "cpu" });
  const rss: [number, number][] = [];
  const started = Date.now();
  const [result] = await scanFiles(scorer, await findMediaFiles([video]), {
    fps,
    maxFrames: 1_000_000,
    onProgress: (p) => {
      if (p.frames % 10 === 0) rss.push([p.frames, round(process.memoryUsage().rss / 1e6, 1)]);
    },
  });
  await scorer.close();
  const { scan } = result!;
  const out: ScanMemoryRun = {
    frames: scan.frames,
    error: scan.error,
    durationS: scan.video?.durationS ?? 0,
    tracks: scan.tracks.length,
    scanS: round((Date.now() - started) / 1000, 1),
    rss,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv[2]!, Number(process.argv[3])).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}

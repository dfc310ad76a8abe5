// `mesoguard scan` run as a user runs it (the compiled bin in a child process) on videos made here by ffmpeg from
// the shared photos and crops: JSON lines, the CSV summary, bad files, the progress bar, and the verdict, which
// must be the live server's (ParticipantVerdict fed the same timeline over one window covering the video).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { findMediaFiles, MesoNetScorer, scanFiles } from "../src/index.js";
import type { FileScan } from "../src/scan/scanTypes.js";
import { ParticipantVerdict } from "../src/verdict/ParticipantVerdict.js";
import { DEFAULT_VERDICT_CONFIG } from "../src/verdict/verdictConfig.js";
import { ROOT, TEST_TIMEOUT } from "./helpers/paths.js";
import { cropsVideo, DF_CROPS, GRACE, patternVideo, photoVideo, REAL_CROPS, truncatedCopy } from "./helpers/videos.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-scan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: dir, timeout: 120_000 });
}

function jsonLines(stdout: string): Map<string, FileScan> {
  const scans = stdout.trim().split("\n").map((l) => JSON.parse(l) as FileScan);
  return new Map(scans.map((s) => [path.basename(s.file), s]));
}

const media = path.join(dir, "media");
beforeAll(() => {
  mkdirSync(path.join(media, "nested"), { recursive: true });
  photoVideo(path.join(media, "grace.mp4"), GRACE, "h264", 5);
  photoVideo(path.join(media, "nested", "grace.webm"), GRACE, "vp8", 5);
  patternVideo(path.join(media, "pattern.mkv"), "h264", 3);
  truncatedCopy(path.join(media, "nested", "grace.webm"), path.join(media, "cut.webm"), 0.3);
  // Cut after its first seconds: frames before the cut are scored, then the file fails.
  truncatedCopy(patternVideo(path.join(dir, "pattern6.mkv"), "h264", 6), path.join(media, "half.mkv"), 0.6);
  writeFileSync(path.join(media, "garbage.mov"), "not a video");
  writeFileSync(path.join(media, "notes.txt"), "not media: skipped in folders");
  copyFileSync(GRACE, path.join(media, "nested", "grace.jpg"));
  cropsVideo(path.join(dir, "df.mp4"), DF_CROPS, 6);
  cropsVideo(path.join(dir, "real.mp4"), REAL_CROPS, 6);
}, TEST_TIMEOUT);

/** What the live server's verdict says after the whole timeline, with one window over the whole video. */
function liveVerdict(scan: FileScan) {
  const verdict = new ParticipantVerdict({ ...DEFAULT_VERDICT_CONFIG, windowSeconds: 3600, noFaceSeconds: 3600 });
  for (const frame of scan.timeline) verdict.addFrame(frame.t * 1000, frame.faces);
  return verdict.snapshot(scan.timeline.at(-1)!.t * 1000).participant;
}

describe("mesoguard scan", () => {
  let run: ReturnType<typeof mesoguard>;
  let scans: Map<string, FileScan>;
  const csv = () => path.join(dir, "summary.csv");
  beforeAll(() => {
    run = mesoguard("scan", "--json", "--csv", csv(), media);
    scans = jsonLines(run.stdout);
  }, TEST_TIMEOUT * 2);

  it("scans every video and image under a folder, recursively, one JSON line each; exit 1 as some failed", () => {
    expect(run.stderr).toBe(""); // no TTY, --json: no progress bar
    expect([...scans.keys()].sort()).toEqual(["cut.webm", "garbage.mov", "grace.jpg", "grace.mp4", "grace.webm", "half.mkv", "pattern.mkv"]);
    expect(run.status).toBe(1);
  });

  it("reports per video the stream, the frames sampled at 2/s, each face track and the timeline", () => {
    for (const [name, codec] of [
      ["grace.mp4", "h264"],
      ["grace.webm", "vp8"],
    ] as const) {
      const s = scans.get(name)!;
      expect(s.error).toBeUndefined();
      expect(s).toMatchObject({ kind: "video", model: "meso4-df", detector: "blazeface-back", frames: 10 });
      expect(s.video!.codec).toBe(codec);
      expect(s.timeline.map((f) => f.t)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]);
      // One still face: one track through every frame.
      expect(s.tracks).toHaveLength(1);
      const track = s.tracks[0]!;
      expect(track).toMatchObject({ firstS: 0, lastS: 4.5, frames: 10 });
      const scores = s.timeline.map((f) => f.faces[0]!.fake);
      expect(track.mean).toBeCloseTo(scores.reduce((a, b) => a + b) / scores.length, 12);
      expect(track.peak).toBe(Math.max(...scores));
      expect(s.timeline[s.timeline.findIndex((f) => f.faces[0]!.fake === track.peak)]!.t).toBe(track.peakS);
      expect(s.facesScored).toBe(10);
    }
  });

  it("gives each video the live server's verdict and thresholds", () => {
    for (const name of ["grace.mp4", "grace.webm"]) {
      const s = scans.get(name)!;
      const live = liveVerdict(s);
      expect(s.verdict.state).toBe(live.state);
      expect(s.verdict.fake).toBe(live.aggregate);
      expect(s.verdict.aggregateMethod).toBe(live.aggregateMethod);
      expect(["authentic", "suspicious", "likely-fake"]).toContain(s.verdict.state);
    }
  });

  it("says 'no faces' for a video without one, and one image gets scores but no verdict (one frame)", () => {
    const pattern = scans.get("pattern.mkv")!;
    expect(pattern.error).toBeUndefined();
    expect(pattern).toMatchObject({ frames: 6, facesScored: 0, tracks: [], verdict: { state: "no-face", fake: null } });
    const image = scans.get("grace.jpg")!;
    expect(image).toMatchObject({ kind: "image", frames: 1, facesScored: 1, verdict: { state: "gathering", fake: null } });
    expect(image.tracks[0]!.peak).toBeGreaterThanOrEqual(0);
  });

  it("gives a truncated file and a non-video a clear per-file error, and the scan goes on", () => {
    expect(scans.get("cut.webm")!.error).toMatchObject({ code: "ERR_VIDEO_TRUNCATED", message: expect.stringMatching(/truncated/) });
    expect(scans.get("garbage.mov")!.error).toMatchObject({ code: "ERR_VIDEO_OPEN", message: expect.stringContaining("garbage.mov") });
    // Cut part-way: an error, and the frames before the cut are still reported.
    const half = scans.get("half.mkv")!;
    expect(half.error).toMatchObject({ code: "ERR_VIDEO_TRUNCATED", message: expect.stringMatching(/ends at [\d.]+ s of the 6.0 s/) });
    expect(half.frames).toBeGreaterThan(0);
    expect(half.timeline).toHaveLength(half.frames);
  });

  it("writes a CSV summary, one row per file, errors included", () => {
    const lines = readFileSync(csv(), "utf8").trim().split("\r\n");
    expect(lines[0]).toBe("file,kind,state,fake,aggregate_method,track,tracks,frames,faces_scored,duration_s,codec,model,detector,error_code,error");
    expect(lines).toHaveLength(8);
    const row = (name: string) => lines.find((l) => l.includes(name))!.split(",");
    const mp4 = scans.get("grace.mp4")!;
    expect(row("grace.mp4").slice(1, 9)).toEqual(["video", mp4.verdict.state, String(Number(mp4.verdict.fake!.toFixed(6))), mp4.verdict.aggregateMethod, "1", "1", "10", "10"]);
    expect(row("pattern.mkv").slice(2, 3)).toEqual(["no-face"]);
    expect(row("cut.webm")[2]).toBe("error");
    expect(row("cut.webm")[13]).toBe("ERR_VIDEO_TRUNCATED");
    expect(row("garbage.mov")[13]).toBe("ERR_VIDEO_OPEN");
  });

  it("prints one readable line per file, errors and 'no faces' included", () => {
    const text = mesoguard("scan", path.join(media, "pattern.mkv"), path.join(media, "cut.webm"), path.join(dir, "missing.mp4"));
    expect(text.status).toBe(1);
    const lines = text.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.startsWith("pattern.mkv") || l.includes("pattern.mkv"))).toMatch(/no faces/);
    expect(lines.find((l) => l.includes("cut.webm"))).toMatch(/error ERR_VIDEO_TRUNCATED/);
    expect(lines.find((l) => l.includes("missing.mp4"))).toMatch(/error ERR_VIDEO_OPEN: .*No such file/);
  }, TEST_TIMEOUT);

  it("exits 0 when every file was scanned, and shows a progress bar on a terminal", () => {
    // script(1) gives the command a pseudo-terminal, so stderr is a TTY.
    const command = [process.execPath, bin, "scan", path.join(media, "grace.mp4"), path.join(media, "pattern.mkv")].join(" ");
    const tty = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", cwd: dir, timeout: 120_000 });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/\[#+\] 2\/2 files, 16 frames, 10 faces, ETA 0s/);
  }, TEST_TIMEOUT);

  it("a video of the data set's deepfake crops scores more fake than one of its real crops (meso4-df, crop mode)", () => {
    const crops = mesoguard("scan", "--json", "--no-detect", "--model", "meso4-df", path.join(dir, "df.mp4"), path.join(dir, "real.mp4"));
    expect(crops.status).toBe(0);
    const byName = jsonLines(crops.stdout);
    const df = byName.get("df.mp4")!;
    const real = byName.get("real.mp4")!;
    expect(df.detector).toBeNull();
    expect(df.frames).toBeGreaterThanOrEqual(12); // 6 s at 2/s (ffmpeg's concat may add the last crop's frame)
    expect(df.verdict.fake!).toBeGreaterThan(real.verdict.fake!);
    expect(df.verdict.state).toBe("likely-fake");
    expect(real.verdict.state).toBe("authentic");
  }, TEST_TIMEOUT);

  it("scans files at once through the one scorer with the same results as one at a time", () => {
    const one = jsonLines(mesoguard("scan", "--json", "--concurrency", "1", media).stdout);
    expect([...one.keys()].sort()).toEqual([...scans.keys()].sort());
    for (const [name, s] of scans) {
      const o = one.get(name)!;
      expect(o.verdict.state).toBe(s.verdict.state);
      expect(o.error?.code).toBe(s.error?.code);
      expect(o.timeline.map((f) => f.faces.map((face) => face.id))).toEqual(s.timeline.map((f) => f.faces.map((face) => face.id)));
      o.timeline.forEach((f, i) => f.faces.forEach((face, j) => expect(face.fake).toBeCloseTo(s.timeline[i]!.faces[j]!.fake, 5)));
    }
  }, TEST_TIMEOUT * 2);

  it("is a library too: the package entry's findMediaFiles + scanFiles give what the command prints", async () => {
    const scorer = await MesoNetScorer.create({ provider: "cpu" });
    try {
      const files = await findMediaFiles([media]);
      const results = await scanFiles(scorer, files);
      expect(results.map((r) => path.basename(r.scan.file)).sort()).toEqual([...scans.keys()].sort());
      for (const { scan } of results) {
        const cli = scans.get(path.basename(scan.file))!;
        expect(scan.verdict.state).toBe(cli.verdict.state);
        expect(scan.frames).toBe(cli.frames);
        expect(scan.error?.code).toBe(cli.error?.code);
      }
    } finally {
      await scorer.close();
    }
  }, TEST_TIMEOUT);

  it("refuses bad options with exit 2", () => {
    for (const args of [["--fps", "0"], ["--max-frames", "2.5"], ["--max-frames", "1000001"], ["--concurrency", "x"], ["--fps", ""], []]) {
      const bad = mesoguard("scan", ...args, ...(args.length ? [media] : []));
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/mesoguard scan: .*\n\nUsage: mesoguard scan/);
    }
    // The bound is the scan settings' (src/scan/scanOptions.ts), named as the library names it.
    expect(mesoguard("scan", "--max-frames", "1000001", media).stderr).toMatch(/maxFrames must be an integer 1\.\.1000000, got 1000001/);
  }, TEST_TIMEOUT);
});

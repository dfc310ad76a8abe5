// The addon's VideoFile (libavformat + libavcodec) on real files made by ffmpeg: sampled frames with their
// times, the sampling limits, one frame in memory at a time, and a clear error for each kind of bad file.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadAddon } from "../../src/native/loadAddon.js";
import { SCORER_DEFAULTS } from "../../src/scoring/scorerOptions.js";
import { CMAKE_ADDON, TEST_TIMEOUT } from "../helpers/paths.js";
import { runFfmpeg as ffmpeg } from "../helpers/tools.js";
import { GRACE, patternVideo, photoVideo, truncatedCopy } from "../helpers/videos.js";

const addon = loadAddon();
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-videofile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files: Record<string, string> = {};
beforeAll(() => {
  files.mp4 = photoVideo(path.join(dir, "grace.mp4"), GRACE, "h264", 5);
  files.webm = photoVideo(path.join(dir, "grace.webm"), GRACE, "vp8", 3);
  files.mkv = patternVideo(path.join(dir, "pattern.mkv"), "h264", 3);
  files.truncated = truncatedCopy(files.webm, path.join(dir, "cut.webm"), 0.3);
  files.garbage = path.join(dir, "garbage.mp4");
  writeFileSync(files.garbage, "not a video at all");
  files.audio = path.join(dir, "tone.m4a");
  ffmpeg(["-f", "lavfi", "-i", "sine=duration=2", files.audio]);
  for (const format of ["yuv420p10le", "yuv444p"]) {
    files[format] = path.join(dir, `${format}.mkv`);
    ffmpeg(["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-pix_fmt", format, files[format]!]);
    ffmpeg(["-i", files[format]!, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", path.join(dir, `${format}.yuv`)]);
  }
  // Bytes of the H.264 stream overwritten with noise (the container intact): pictures that do not decode.
  const damaged = Buffer.from(readFileSync(files.mp4));
  for (let i = Math.floor(damaged.length / 5), n = 0; n < 3000; i++, n++) damaged[i] = (n * 7919) & 255;
  files.damaged = path.join(dir, "damaged.mp4");
  writeFileSync(files.damaged, damaged);
}, TEST_TIMEOUT);

const maxFramePixels = SCORER_DEFAULTS.maxFramePixels;

async function readAll(file: string, fps: number, maxFrames: number) {
  const video = new addon.VideoFile({ path: file, fps, maxFrames, maxFramePixels });
  try {
    const info = await video.open();
    const frames = [];
    for (let f = await video.read(); f !== null; f = await video.read()) frames.push(f);
    return { info, frames };
  } finally {
    await video.close();
  }
}

describe("VideoFile", () => {
  it("samples an H.264 mp4 at the asked rate, as packed I420 with presentation times", async () => {
    const { info, frames } = await readAll(files.mp4!, 2, 32);
    expect(info).toMatchObject({ codec: "h264", width: 320, frameRate: 10 });
    expect(info.durationS).toBeCloseTo(5, 1);
    expect(frames.map((f) => f.timeS)).toEqual([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]);
    for (const f of frames) {
      expect(f.kind).toBe("i420");
      expect(f.data.length).toBe(f.width * f.height + 2 * Math.ceil(f.width / 2) * Math.ceil(f.height / 2));
    }
    expect(frames.map((f) => f.decodedIndex)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40, 45]);
  }, TEST_TIMEOUT);

  it("reads VP8 webm and H.264 mkv, and stops at maxFrames", async () => {
    const webm = await readAll(files.webm!, 5, 4);
    expect(webm.info.codec).toBe("vp8");
    expect(webm.info.container).toContain("webm");
    expect(webm.frames.map((f) => f.timeS)).toEqual([0, 0.2, 0.4, 0.6]);
    const mkv = await readAll(files.mkv!, 1, 32);
    expect(mkv.info.container).toContain("matroska");
    expect(mkv.frames.map((f) => f.timeS)).toEqual([0, 1, 2]);
  }, TEST_TIMEOUT);

  it("brings 10-bit and 4:4:4 video to 8-bit 4:2:0, close to ffmpeg's own conversion", async () => {
    for (const format of ["yuv420p10le", "yuv444p"]) {
      const { frames } = await readAll(files[format]!, 2, 1);
      const reference = readFileSync(path.join(dir, `${format}.yuv`), { flag: "r" });
      expect(frames[0]!.data.length).toBe(reference.length);
      let sum = 0;
      for (let i = 0; i < reference.length; i++) sum += Math.abs(frames[0]!.data[i]! - reference[i]!);
      // Scalers differ in rounding and dithering, not in content: a mean difference well under one level.
      expect(sum / reference.length).toBeLessThan(1);
    }
  }, TEST_TIMEOUT);

  it("turns sideways phone video upright as its display matrix says, pixel for pixel as ffmpeg does", async () => {
    for (const rotate of [90, 180, 270]) {
      // The same H.264 stream with only the container's rotation set (as phones record).
      const rotated = path.join(dir, `rotate${rotate}.mp4`);
      ffmpeg(["-i", files.mp4!, "-c", "copy", "-metadata:s:v:0", `rotate=${rotate}`, rotated]);
      const { info, frames } = await readAll(rotated, 2, 1);
      const sideways = rotate !== 180;
      expect(info.width).toBe(sideways ? 376 : 320);
      expect(info.height).toBe(sideways ? 320 : 376);
      expect([90, 180, 270]).toContain(info.rotation);
      expect(frames[0]!.width).toBe(info.width);
      // ffmpeg's own decode turns the picture too (autorotate).
      const reference = path.join(dir, `rotate${rotate}.yuv`);
      ffmpeg(["-i", rotated, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "yuv420p", reference]);
      expect(frames[0]!.data.equals(readFileSync(reference))).toBe(true);
    }
    const upright = await readAll(files.mp4!, 2, 1);
    expect(upright.info.rotation).toBe(0);
  }, TEST_TIMEOUT);

  it("rejects each kind of bad file with its own code, and a read after close with ERR_CLOSED", async () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code: string }) => e.code);
    expect(await codeOf(readAll(files.garbage!, 2, 8))).toBe("ERR_VIDEO_OPEN");
    expect(await codeOf(readAll(path.join(dir, "missing.mp4"), 2, 8))).toBe("ERR_VIDEO_OPEN");
    expect(await codeOf(readAll(files.audio!, 2, 8))).toBe("ERR_VIDEO_NO_STREAM");
    expect(await codeOf(readAll(files.truncated!, 2, 8))).toBe("ERR_VIDEO_TRUNCATED");
    const damaged = await readAll(files.damaged!, 2, 8).catch((e) => e);
    expect(damaged.code).toBe("ERR_VIDEO_DECODE");
    expect(damaged.message).toMatch(/corrupt|decod/);
    // A picture over the frame-pixel cap is refused before it is allocated.
    const capped = new addon.VideoFile({ path: files.mp4!, fps: 2, maxFrames: 2, maxFramePixels: 1000 });
    const over = await capped.open().catch((e) => e);
    expect(over.code).toBe("ERR_VIDEO_DECODE");
    expect(over.message).toMatch(/320x376, over the frame-pixel cap of 1000/);
    await capped.close();
    const video = new addon.VideoFile({ path: files.mp4!, fps: 2, maxFrames: 2, maxFramePixels });
    await video.close();
    expect(await codeOf(video.read())).toBe("ERR_CLOSED");
  }, TEST_TIMEOUT);

  it("keeps memory flat over a long 720p file: frames are streamed, the file is never loaded", () => {
    // 2 minutes of 720p noise-like pattern, then the same stream looped 4x without re-encoding: 8 minutes.
    const chunk = path.join(dir, "chunk.mp4");
    ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10", "-t", "120", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", chunk]);
    const long = path.join(dir, "long.mp4");
    ffmpeg(["-stream_loop", "3", "-i", chunk, "-c", "copy", long]);
    rmSync(chunk);
    const fileMb = statSync(long).size / 1e6;
    // A child with --expose-gc, so RSS measures what is held, not garbage waiting for a collection.
    const script = `
      import { createRequire } from "node:module";
      const addon = createRequire(import.meta.url)(${JSON.stringify(CMAKE_ADDON)});
      gc();
      const before = process.memoryUsage().rss;
      const video = new addon.VideoFile({ path: ${JSON.stringify(long)}, fps: 2, maxFrames: 100000, maxFramePixels: ${maxFramePixels} });
      await video.open();
      let n = 0, base = 0, peak = 0;
      for (let f = await video.read(); f !== null; f = await video.read()) {
        if (++n % 10 === 0) gc();
        const rss = process.memoryUsage().rss;
        if (n === 20) base = rss;
        if (n > 20) peak = Math.max(peak, rss);
      }
      await video.close();
      console.log(JSON.stringify({ n, growthMb: (peak - base) / 1e6, totalMb: (peak - before) / 1e6 }));`;
    const run = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 120_000 });
    expect(run.stderr).toBe("");
    const { n, growthMb, totalMb } = JSON.parse(run.stdout);
    expect(n).toBe(960); // 480 s at 2 frames/s
    // From the 20th frame to the last, RSS stays flat; all of it (decoder, reference pictures, the frame handed
    // out) is far below the file's size.
    expect(fileMb).toBeGreaterThan(100);
    expect(growthMb).toBeLessThan(16);
    expect(totalMb).toBeLessThan(fileMb / 2);
  }, TEST_TIMEOUT * 2);

  it("refuses missing or mistyped options (their ranges are src/scan/scanOptions.ts's, test/scanOptions.test.ts)", () => {
    expect(() => new addon.VideoFile({ path: files.mp4!, maxFrames: 2, maxFramePixels } as never)).toThrow(/'fps' is required/);
    expect(() => new addon.VideoFile({ path: files.mp4!, fps: 2, maxFrames: 1.5, maxFramePixels })).toThrow(/'maxFrames' must be an integer/);
    expect(() => new addon.VideoFile({ fps: 2, maxFrames: 2, maxFramePixels } as never)).toThrow(/path/);
  });
});

// Test videos made at test time with Debian's ffmpeg from the shared photos and crops (never stored in the repo).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { SHARED, TEST_IMAGES_DIR } from "./paths.js";
import { runFfmpeg } from "./tools.js";

export const GRACE = path.join(SHARED, "photos", "grace_hopper.jpg");
export const DF_CROPS = ["df00204.jpg", "df01254.jpg"].map((f) => path.join(TEST_IMAGES_DIR, "df", f));
export const REAL_CROPS = ["real00240.jpg", "real00772.jpg"].map((f) => path.join(TEST_IMAGES_DIR, "real", f));

const CODEC_ARGS = {
  h264: ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
  vp8: ["-c:v", "libvpx", "-b:v", "1M", "-pix_fmt", "yuv420p"],
} as const;

/** A still photo as a video of `seconds` at 10 frames/s (width 320, aspect kept). */
export function photoVideo(out: string, photo: string, codec: keyof typeof CODEC_ARGS, seconds: number): string {
  runFfmpeg(["-loop", "1", "-i", photo, "-t", String(seconds), "-r", "10", "-vf", "scale=320:-2", ...CODEC_ARGS[codec], out]);
  return out;
}

/** A video with no face in it (ffmpeg's test pattern). */
export function patternVideo(out: string, codec: keyof typeof CODEC_ARGS, seconds: number): string {
  runFfmpeg(["-f", "lavfi", "-i", `testsrc=size=320x240:rate=10`, "-t", String(seconds), ...CODEC_ARGS[codec], out]);
  return out;
}

/** Face crops shown in turn, `perImage` seconds each, repeated to `seconds`; 256x256 H.264 at high quality. */
export function cropsVideo(out: string, crops: string[], seconds: number, perImage = 0.5): string {
  const list = out + ".txt";
  const lines: string[] = [];
  for (let t = 0, i = 0; t < seconds; t += perImage, i++) {
    lines.push(`file '${crops[i % crops.length]}'`, `duration ${perImage}`);
  }
  lines.push(`file '${crops[0]}'`);
  writeFileSync(list, lines.join("\n") + "\n");
  runFfmpeg(["-f", "concat", "-safe", "0", "-i", list, "-r", "10", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", out]);
  return out;
}

/** The first `fraction` of a file's bytes: a file cut short, as a failed upload leaves it. */
export function truncatedCopy(source: string, out: string, fraction: number): string {
  const bytes = readFileSync(source);
  writeFileSync(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

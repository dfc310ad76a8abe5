// Test videos made at test time with Debian's ffmpeg from the shared photos and crops (never stored in the repo).
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { SHARED, TEST_IMAGES_DIR } from "./paths.js";
import { ffmpegProcess, runFfmpeg } from "./tools.js";

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

/**
 * A video no decoder here reads: ffmpeg's a64multi encoder (Commodore 64 charsets) has no decoder in libavcodec,
 * and no container maps its tag back to a codec, so libavformat demuxes a video stream of an unknown codec (tag
 * 'a64m'). Of the video codecs Debian's libavcodec 59 cannot decode (a64_multi, a64_multi5, avs2, avs3, daala,
 * vvc), it is the only one its ffmpeg can write. NUT, as no listed container takes it.
 */
export function undecodableVideo(out: string): string {
  runFfmpeg(["-f", "lavfi", "-i", "testsrc=size=320x200:rate=5", "-t", "2", "-c:v", "a64multi", "-f", "nut", out]);
  return out;
}

/** Two seconds of a tone, no video stream. */
export function audioOnly(out: string): string {
  runFfmpeg(["-f", "lavfi", "-i", "sine=duration=2", out]);
  return out;
}

/** The first `fraction` of a file's bytes: a file cut short, as a failed upload leaves it. */
export function truncatedCopy(source: string, out: string, fraction: number): string {
  const bytes = readFileSync(source);
  writeFileSync(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

/** The frames of an IVF file (VP8): a 32-byte file header, then per frame a 12-byte header (uint32 size, uint64 pts). */
export function ivfFrames(file: string): Buffer[] {
  const data = readFileSync(file);
  const frames: Buffer[] = [];
  for (let offset = data.readUInt16LE(6); offset + 12 <= data.length; ) {
    const size = data.readUInt32LE(offset);
    frames.push(data.subarray(offset + 12, offset + 12 + size));
    offset += 12 + size;
  }
  return frames;
}

/**
 * Streams grace_hopper.jpg (640 px wide, a key frame every 25 frames) as RTP to 127.0.0.1 for `seconds` (real time,
 * -re) with Debian's ffmpeg; resolves when ffmpeg is done. ffmpeg ignores keyframe requests.
 */
export function ffmpegRtp(options: { codec: "VP8" | "H264"; port: number; rtcpPort?: number; ssrc: number; payloadType: number; seconds?: number }): Promise<void> {
  const encoder =
    options.codec === "VP8"
      ? ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "1M", "-g", "25"]
      : ["-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-g", "25"];
  const args = [
    "-re", "-loop", "1", "-i", GRACE, "-t", String(options.seconds ?? 4),
    "-vf", "scale=640:-2,format=yuv420p", ...encoder,
    "-ssrc", String(options.ssrc), "-payload_type", String(options.payloadType),
    "-f", "rtp", `rtp://127.0.0.1:${options.port}?rtcpport=${options.rtcpPort ?? options.port}`,
  ];
  return ffmpegProcess(args);
}

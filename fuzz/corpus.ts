// Seeds for the native fuzz targets, made with ffmpeg from ../shared/photos into build-fuzz/seeds/ (generated,
// never committed): small JPEG/PNG/raw frames with face keypoints for fuzz_frame_render, and real VP8 and H.264
// encodes split into access units for fuzz_video_decoder (the input layouts are in fuzz/native/*.cc).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { packageRoot } from "../src/models/paths.js";
import { FUZZ_BUILD_DIR } from "./native.js";

const PHOTOS = path.resolve(packageRoot(), "../shared/photos");
const FFMPEG = process.env.MESOGUARD_FFMPEG ?? "/usr/bin/ffmpeg";

function ffmpeg(args: string[]): Buffer {
  if (!existsSync(FFMPEG)) throw new Error(`fuzz: the native seeds are made with ffmpeg, not found at ${FFMPEG} (apt-get install ffmpeg; npm test installs it)`);
  return execFileSync(FFMPEG, ["-hide_banner", "-loglevel", "error", ...args, "-"], { maxBuffer: 64 << 20 });
}

// fuzz_frame_render's header: kind u8, width u16, height u16, three strides u16, mode u8, 12 keypoint floats,
// factor and margin bytes; then the frame's bytes.
function frameSeed(kind: number, width: number, height: number, mode: number, bytes: Buffer): Buffer {
  const header = Buffer.alloc(1 + 2 * 5 + 1 + 12 * 4 + 2);
  let at = header.writeUInt8(kind, 0);
  for (const v of [width, height, 0, 0, 0]) at = header.writeUInt16LE(v, at);
  at = header.writeUInt8(mode, at);
  // right eye, left eye, nose, mouth, ears: an upright face in the middle of the frame
  const kp = [0.4, 0.4, 0.6, 0.4, 0.5, 0.55, 0.5, 0.7, 0.3, 0.45, 0.7, 0.45];
  kp.forEach((v, k) => (at = header.writeFloatLE(v * (k % 2 === 0 ? width : height), at)));
  header.writeUInt8(15, at); // factor 0.1 + 15/8 ≈ 2
  header.writeUInt8(9, at + 1); // margin ≈ 1.2
  return Buffer.concat([header, bytes]);
}

function frameSeeds(photo: string): Map<string, Buffer> {
  const [w, h] = [48, 32];
  const scale = ["-i", photo, "-vf", `scale=${w}:${h}`, "-frames:v", "1"];
  const seeds = new Map<string, Buffer>();
  // FrameKind: Jpeg 0, Rgb 1, Rgba 2, I420 3, Nv12 4, Png 5 (native/frame_decode.h)
  seeds.set("jpeg", frameSeed(0, 0, 0, 1, ffmpeg([...scale, "-f", "mjpeg", "-pix_fmt", "yuvj420p"])));
  seeds.set("png", frameSeed(5, 0, 0, 2, ffmpeg([...scale, "-f", "image2pipe", "-c:v", "png"])));
  const raw = (fmt: string) => ffmpeg([...scale, "-f", "rawvideo", "-pix_fmt", fmt]);
  seeds.set("rgb", frameSeed(1, w, h, 0, raw("rgb24")));
  seeds.set("rgba", frameSeed(2, w, h, 5, raw("rgba")));
  seeds.set("i420", frameSeed(3, w, h, 1, raw("yuv420p")));
  seeds.set("nv12", frameSeed(4, w, h, 6, raw("nv12")));
  return seeds;
}

/** Access units of an IVF file (VP8): 32-byte file header, then per frame a 12-byte header with its size. */
function ivfFrames(ivf: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = ivf.readUInt16LE(6); at + 12 <= ivf.length; ) {
    const size = ivf.readUInt32LE(at);
    frames.push(ivf.subarray(at + 12, at + 12 + size));
    at += 12 + size;
  }
  return frames;
}

/** Access units of an Annex-B H.264 stream written with access unit delimiters (x264 aud=1). */
function annexBAccessUnits(stream: Buffer): Buffer[] {
  const aud = Buffer.from([0, 0, 0, 1, 9]);
  const units: Buffer[] = [];
  for (let at = stream.indexOf(aud); at >= 0; ) {
    const next = stream.indexOf(aud, at + aud.length);
    units.push(stream.subarray(at, next < 0 ? stream.length : next));
    at = next;
  }
  return units;
}

function videoSeed(codecBit: number, units: Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from([codecBit])];
  for (const unit of units) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(unit.length);
    parts.push(length, unit);
  }
  return Buffer.concat(parts);
}

function videoSeeds(photo: string): Map<string, Buffer> {
  // A still photo with moving noise: inter frames carry real residuals and motion, not only skips.
  const input = ["-loop", "1", "-i", photo, "-vf", "scale=96:64,noise=alls=30:allf=t", "-frames:v", "6"];
  const vp8 = ivfFrames(ffmpeg([...input, "-c:v", "libvpx", "-g", "3", "-b:v", "200k", "-f", "ivf"]));
  const h264 = annexBAccessUnits(ffmpeg([...input, "-c:v", "libx264", "-g", "3", "-bf", "0", "-pix_fmt", "yuv420p",
    "-x264-params", "aud=1", "-f", "h264"]));
  if (vp8.length < 2 || h264.length < 2) throw new Error(`fuzz: the seed encodes produced ${vp8.length} VP8 and ${h264.length} H.264 access units`);
  // bit 0: H.264; bit 1: copy the pictures out too
  return new Map([["vp8", videoSeed(0, vp8)], ["vp8-pixels", videoSeed(2, vp8)], ["h264", videoSeed(1, h264)], ["h264-pixels", videoSeed(3, h264)]]);
}

/** Writes the seeds (once) and returns the seed folder of each native target. */
export function nativeSeeds(): Record<string, string> {
  const dirs: Record<string, string> = {};
  const photos = ["grace_hopper.jpg", "messi5.jpg"].map((p) => path.join(PHOTOS, p));
  const makers: Record<string, (photo: string) => Map<string, Buffer>> = { fuzz_frame_render: frameSeeds, fuzz_video_decoder: videoSeeds };
  for (const [target, make] of Object.entries(makers)) {
    const dir = path.join(FUZZ_BUILD_DIR, "seeds", target);
    dirs[target] = dir;
    if (existsSync(path.join(dir, ".complete"))) continue;
    mkdirSync(dir, { recursive: true });
    photos.forEach((photo, k) => {
      for (const [name, bytes] of make(photo)) writeFileSync(path.join(dir, `${k}-${name}`), bytes);
    });
    writeFileSync(path.join(dir, ".complete"), "");
  }
  return dirs;
}


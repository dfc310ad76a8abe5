// Test images built in TypeScript: the reference PNGs as raw RGB, synthetic frames whose pixels encode
// their coordinates, constant/checker/block images, and the same pixels as RGBA, I420 and NV12 (BT.601
// limited range, what webcams and WebRTC decoders produce), with optional padded strides.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

import { PNG } from "pngjs";

import { seededRandom } from "../../src/evaluate/metrics.js";
import { runFfmpeg } from "./tools.js";

/** A tightly packed 8-bit RGB image. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array; // width * height * 3
}

/** Deterministic PRNG (mulberry32): tests must be reproducible. The bootstrap's generator, one implementation. */
export const rng = seededRandom;

export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const random = rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

export function randomBytes(length: number, seed: number): Uint8Array {
  const random = rng(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** A PNG (any colour type pngjs reads) as tight RGB; alpha, if any, is dropped. */
export function readPngRgb(file: string): RgbImage {
  const png = PNG.sync.read(readFileSync(file));
  const { width, height } = png;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[3 * i] = png.data[4 * i];
    data[3 * i + 1] = png.data[4 * i + 1];
    data[3 * i + 2] = png.data[4 * i + 2];
  }
  return { width, height, data };
}

/** RGB bytes -> planar (C,H,W) float32 x/255: the model's input contract. */
export function toPlanar01(image: RgbImage): Float32Array {
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = data[3 * i + c] / 255;
  }
  return out;
}

/** Nearest-neighbour source index as Keras/PIL pick it: floor((i + 0.5) * in / out), in exact integers. */
export function nearestIndex(i: number, inSize: number, outSize: number): number {
  return Math.min(inSize - 1, Math.floor(((2 * i + 1) * inSize) / (2 * outSize)));
}

/**
 * An image whose every pixel names its own coordinates (for widths/heights up to 4096):
 * R = x & 255, G = y & 255, B = (x >> 8) << 4 | (y >> 8).
 */
export function coordinateImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      data[o] = x & 255;
      data[o + 1] = y & 255;
      data[o + 2] = ((x >> 8) << 4) | (y >> 8);
    }
  }
  return { width, height, data };
}

/** Inverse of coordinateImage for one pixel given as bytes. */
export function decodeCoordinate(r: number, g: number, b: number): { x: number; y: number } {
  return { x: ((b >> 4) << 8) | r, y: ((b & 15) << 8) | g };
}

export function constantImage(width: number, height: number, rgb: readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, 3 * i);
  return { width, height, data };
}

/** One-pixel black/white checkerboard: (x + y) odd is white. Every aligned 2x2 block averages to 0.5. */
export function checkerImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.fill((x + y) & 1 ? 255 : 0, 3 * (y * width + x), 3 * (y * width + x) + 3);
  }
  return { width, height, data };
}

/**
 * Constant-colour 2x2 blocks aligned to even coordinates (so 4:2:0 chroma subsampling loses nothing),
 * each block a pseudo-random colour. Odd sizes leave 1-pixel-wide edge blocks (still one chroma sample).
 */
export function blockImage(width: number, height: number, seed: number): RgbImage {
  const bw = Math.ceil(width / 2);
  const bh = Math.ceil(height / 2);
  const colours = randomBytes(bw * bh * 3, seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const b = 3 * ((y >> 1) * bw + (x >> 1));
      data.set(colours.subarray(b, b + 3), 3 * (y * width + x));
    }
  }
  return { width, height, data };
}

/** The same pixels with an alpha channel (alpha must be ignored by the addon). */
export function toRgba(image: RgbImage, alphaSeed = 7): Uint8Array {
  const alpha = randomBytes(image.width * image.height, alphaSeed);
  const out = new Uint8Array(image.width * image.height * 4);
  for (let i = 0; i < image.width * image.height; i++) {
    out[4 * i] = image.data[3 * i];
    out[4 * i + 1] = image.data[3 * i + 1];
    out[4 * i + 2] = image.data[3 * i + 2];
    out[4 * i + 3] = alpha[i];
  }
  return out;
}

/**
 * Copies `rows` rows of `rowBytes` bytes (tightly packed in `src`) into rows of `stride` bytes; the padding
 * is filled with pseudo-random garbage. With `trimLastRow` the buffer ends right after the last row's
 * pixels (the smallest buffer a strided layout needs).
 */
export function padRows(
  src: Uint8Array,
  rowBytes: number,
  rows: number,
  stride: number,
  seed = 99,
  trimLastRow = false,
): Uint8Array {
  if (stride < rowBytes) throw new Error("padRows: stride < rowBytes");
  const length = trimLastRow ? stride * (rows - 1) + rowBytes : stride * rows;
  const out = randomBytes(length, seed);
  for (let r = 0; r < rows; r++) out.set(src.subarray(r * rowBytes, (r + 1) * rowBytes), r * stride);
  return out;
}

const clampByte = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

/** BT.601 limited-range ("studio swing") RGB bytes -> Y, Cb, Cr as unrounded floats. */
export function rgbToYuv601(r: number, g: number, b: number): [number, number, number] {
  const R = r / 255;
  const G = g / 255;
  const B = b / 255;
  const y = 16 + 65.481 * R + 128.553 * G + 24.966 * B;
  const u = 128 - 37.797 * R - 74.203 * G + 112.0 * B;
  const v = 128 + 112.0 * R - 93.786 * G - 18.214 * B;
  return [y, u, v];
}

/** BT.601 limited-range Y, Cb, Cr bytes -> RGB in [0,1] (the inverse the decoder applies). */
export function yuv601ToRgb01(y: number, u: number, v: number): [number, number, number] {
  const c = 1.164383 * (y - 16);
  const d = u - 128;
  const e = v - 128;
  const clamp = (x: number): number => Math.max(0, Math.min(1, x / 255));
  return [clamp(c + 1.596027 * e), clamp(c - 0.391762 * d - 0.812968 * e), clamp(c + 2.017232 * d)];
}

interface YuvPlanes {
  y: Uint8Array; // width * height
  u: Uint8Array; // cw * ch
  v: Uint8Array; // cw * ch
  cw: number;
  ch: number;
}

/** 4:2:0 planes: full-resolution luma, chroma averaged over each 2x2 block (clipped at odd edges). */
function yuv420Planes(image: RgbImage): YuvPlanes {
  const { width, height, data } = image;
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const y = new Uint8Array(width * height);
  const uSum = new Float64Array(cw * ch);
  const vSum = new Float64Array(cw * ch);
  const count = new Uint8Array(cw * ch);
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const o = 3 * (py * width + px);
      const [Y, U, V] = rgbToYuv601(data[o], data[o + 1], data[o + 2]);
      y[py * width + px] = clampByte(Y);
      const c = (py >> 1) * cw + (px >> 1);
      uSum[c] += U;
      vSum[c] += V;
      count[c]++;
    }
  }
  const u = new Uint8Array(cw * ch);
  const v = new Uint8Array(cw * ch);
  for (let i = 0; i < cw * ch; i++) {
    u[i] = clampByte(uSum[i] / count[i]);
    v[i] = clampByte(vSum[i] / count[i]);
  }
  return { y, u, v, cw, ch };
}

export interface I420Frame {
  kind: "i420";
  data: Uint8Array;
  width: number;
  height: number;
  strideY?: number;
  strideU?: number;
  strideV?: number;
}

/** I420: Y plane, then U, then V, each row `stride*` bytes (default tight), padding filled with garbage. */
export function toI420(image: RgbImage, strides: { strideY?: number; strideU?: number; strideV?: number } = {}): I420Frame {
  const { width, height } = image;
  const p = yuv420Planes(image);
  const sy = strides.strideY ?? width;
  const su = strides.strideU ?? p.cw;
  const sv = strides.strideV ?? su;
  const data = new Uint8Array(sy * height + su * p.ch + sv * p.ch);
  data.set(padRows(p.y, width, height, sy, 11), 0);
  data.set(padRows(p.u, p.cw, p.ch, su, 12), sy * height);
  data.set(padRows(p.v, p.cw, p.ch, sv, 13), sy * height + su * p.ch);
  const frame: I420Frame = { kind: "i420", data, width, height };
  if (strides.strideY !== undefined) frame.strideY = strides.strideY;
  if (strides.strideU !== undefined) frame.strideU = strides.strideU;
  if (strides.strideV !== undefined) frame.strideV = strides.strideV;
  return frame;
}

export interface Nv12Frame {
  kind: "nv12";
  data: Uint8Array;
  width: number;
  height: number;
  strideY?: number;
  strideUV?: number;
}

/** NV12: Y plane, then one plane of interleaved U,V pairs. */
export function toNv12(image: RgbImage, strides: { strideY?: number; strideUV?: number } = {}): Nv12Frame {
  const { width, height } = image;
  const p = yuv420Planes(image);
  const sy = strides.strideY ?? width;
  const suv = strides.strideUV ?? 2 * p.cw;
  const uv = new Uint8Array(2 * p.cw * p.ch);
  for (let i = 0; i < p.cw * p.ch; i++) {
    uv[2 * i] = p.u[i];
    uv[2 * i + 1] = p.v[i];
  }
  const data = new Uint8Array(sy * height + suv * p.ch);
  data.set(padRows(p.y, width, height, sy, 21), 0);
  data.set(padRows(uv, 2 * p.cw, p.ch, suv, 22), sy * height);
  const frame: Nv12Frame = { kind: "nv12", data, width, height };
  if (strides.strideY !== undefined) frame.strideY = strides.strideY;
  if (strides.strideUV !== undefined) frame.strideUV = strides.strideUV;
  return frame;
}

/** The largest |a[i] - b[i]| (arrays must have the same length). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/**
 * A copy of a JPEG whose first SOF marker (any of SOF0..SOF15 except DHT/JPG/DAC) claims width x height.
 * Walks the marker segments properly instead of searching for bytes.
 */
export function withJpegDimensions(jpeg: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(jpeg);
  let offset = 2; // after SOI
  while (offset + 4 <= out.length) {
    if (out[offset] !== 0xff) throw new Error(`withJpegDimensions: no marker at ${offset}`);
    const marker = out[offset + 1];
    const length = (out[offset + 2] << 8) | out[offset + 3];
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      // FF Cn, length(2), precision(1), height(2), width(2)
      out[offset + 5] = (height >> 8) & 255;
      out[offset + 6] = height & 255;
      out[offset + 7] = (width >> 8) & 255;
      out[offset + 8] = width & 255;
      return out;
    }
    if (marker === 0xda) break; // start of scan: no SOF before it
    offset += 2 + length;
  }
  throw new Error("withJpegDimensions: no SOF marker found");
}

/** Reads the dimensions a JPEG's SOF marker claims (for checking withJpegDimensions did its job). */
export function jpegDimensions(jpeg: Uint8Array): { width: number; height: number } {
  let offset = 2;
  while (offset + 9 <= jpeg.length) {
    const marker = jpeg[offset + 1];
    const length = (jpeg[offset + 2] << 8) | jpeg[offset + 3];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (jpeg[offset + 5] << 8) | jpeg[offset + 6], width: (jpeg[offset + 7] << 8) | jpeg[offset + 8] };
    }
    offset += 2 + length;
  }
  throw new Error("jpegDimensions: no SOF marker found");
}

/**
 * "" when `got` and `want` hold the same values element for element (exact float equality), else a short
 * description of the first mismatch and how many there are. Much faster than toEqual on 200k-element arrays.
 */
export function floatMismatch(got: ArrayLike<number>, want: ArrayLike<number>): string {
  if (got.length !== want.length) return `length ${got.length} !== ${want.length}`;
  let first = -1;
  let count = 0;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      if (first < 0) first = i;
      count++;
    }
  }
  return first < 0 ? "" : `${count} mismatches, first at ${first}: ${got[first]} !== ${want[first]}`;
}

/**
 * A PNG file built chunk by chunk: IHDR for `width` x `height` (8 bits per sample, colour type 0 grey or 2 RGB),
 * IDAT holding `raw` (filter bytes included) deflated, IEND. `raw` may be short or empty: a header that lies.
 */
export function pngBytes(width: number, height: number, colorType: 0 | 2, raw: Buffer): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/**
 * A 5x4 grid of `photo` (one face each: 20 faces), each tile `tileWidth` wide, as JPEG bytes (made by ffmpeg's
 * tile filter): more faces than the detector's default maxFaces of 16.
 */
export function facesGridJpeg(photo: string, tileWidth = 160): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mesoguard-grid-"));
  try {
    const out = path.join(dir, "grid.jpg");
    runFfmpeg(["-loop", "1", "-i", photo, "-vf", `scale=${tileWidth}:-2,tile=5x4`, "-frames:v", "1", "-q:v", "2", out]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

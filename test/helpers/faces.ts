// Helpers for the face tests: the shared photos, box overlap, frames built from decoded photos, and a
// synthetic frame whose pixels name their own coordinates plus a marker that black padding cannot fake.
import { readFileSync } from "node:fs";
import path from "node:path";

import sharp from "sharp";

import type { FrameInput, NativeAddon } from "../../src/native/addonTypes.js";
import { resolvePreprocessOptions } from "../../src/scoring/scorerOptions.js";
import type { RgbImage } from "./images.js";
import { SHARED } from "./paths.js";

export const PHOTOS_DIR = path.join(SHARED, "photos");

export type PhotoName = "grace_hopper.jpg" | "astronaut.png" | "messi5.jpg" | "example.jpg";

export function photoPath(name: PhotoName): string {
  return path.join(PHOTOS_DIR, name);
}

export function readPhoto(name: PhotoName): Buffer {
  return readFileSync(photoPath(name));
}

/** The photo's file as the frame a caller would pass (jpeg or png by extension). */
export function photoFrame(name: PhotoName): FrameInput {
  return { kind: name.endsWith(".png") ? "png" : "jpeg", data: readPhoto(name) };
}

/**
 * A photo on top of a canvas of noise `rows` times its height, as one JPEG: the photo's rows (its faces') come early
 * in the stream and most of its bytes are the noise below them, so a cut at 60% of the bytes leaves the faces whole.
 */
export async function photoAboveNoise(name: PhotoName, rows: number): Promise<{ jpeg: Buffer; width: number; height: number }> {
  const photo = readPhoto(name);
  const { width = 0, height = 0 } = await sharp(photo).metadata();
  const jpeg = await sharp({ create: { width, height: rows * height, channels: 3, background: "#000", noise: { type: "gaussian", mean: 128, sigma: 40 } } })
    .composite([{ input: photo, top: 0, left: 0 }])
    .jpeg({ quality: 85 })
    .toBuffer();
  return { jpeg, width, height };
}

export type BoxLike = readonly [number, number, number, number] | readonly number[];

/** Intersection over union of two [x1, y1, x2, y2] boxes (0 when they do not overlap). */
export function boxIou(a: BoxLike, b: BoxLike): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

/** Planar float RGB in [0,1] (what preprocess returns) -> tight interleaved bytes, rounded. */
export function planarToRgbBytes(planar: Float32Array, width: number, height: number): Uint8Array {
  const plane = width * height;
  if (planar.length !== 3 * plane) throw new Error(`planarToRgbBytes: ${planar.length} values for ${width}x${height}`);
  const out = new Uint8Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.max(0, Math.min(255, Math.round(planar[c * plane + i] * 255)));
  }
  return out;
}

/**
 * The frame's pixels as the addon decodes them: preprocess() to its own size with nearest resizing is the
 * identity, so this is exactly the decoded RGB (JPEG/PNG decode included).
 */
export async function decodeWithAddon(addon: NativeAddon, frame: FrameInput, width: number, height: number): Promise<RgbImage> {
  const planar = await addon.preprocess(frame, resolvePreprocessOptions({ width, height, resize: "nearest" }));
  return { width, height, data: planarToRgbBytes(planar, width, height) };
}

/** The image moved `dx` pixels to the right (dx >= 0); the uncovered left columns are black. */
export function shiftedRight(image: RgbImage, dx: number): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = 3 * y * width;
    if (dx < width) out.set(data.subarray(row, row + 3 * (width - dx)), row + 3 * dx);
  }
  return { width, height, data: out };
}

/**
 * A frame of at most 256x256 whose pixel (x, y) is R = x, G = y, B = marker (non-zero): a sampled pixel names
 * its source exactly, and black padding (0, 0, 0) can never be mistaken for pixel (0, 0).
 */
export function markedCoordinateImage(width: number, height: number, marker = 200): RgbImage {
  if (width > 256 || height > 256) throw new Error("markedCoordinateImage: at most 256x256");
  if (marker < 1 || marker > 255) throw new Error("markedCoordinateImage: marker must be 1..255");
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 3 * (y * width + x);
      data[o] = x;
      data[o + 1] = y;
      data[o + 2] = marker;
    }
  }
  return { width, height, data };
}

/** Output pixel (x, y) of a planar float tensor as rounded bytes [r, g, b]. */
export function planarPixelBytes(t: Float32Array, width: number, height: number, x: number, y: number): [number, number, number] {
  const plane = width * height;
  const i = y * width + x;
  return [Math.round(t[i] * 255), Math.round(t[plane + i] * 255), Math.round(t[2 * plane + i] * 255)];
}

/** Output pixel (x, y) of a planar float tensor, unrounded, scaled to bytes. */
export function planarPixel255(t: Float32Array, width: number, height: number, x: number, y: number): [number, number, number] {
  const plane = width * height;
  const i = y * width + x;
  return [t[i] * 255, t[plane + i] * 255, t[2 * plane + i] * 255];
}

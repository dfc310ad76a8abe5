// The test frames: a real photo with one face (grace_hopper by default), letterboxed into 640x480 and 1280x720
// frames and encoded as JPEG, all with the addon (decode -> resize -> encodeJpeg), so every part of the bench
// (stages, end to end, baseline) sends the very same bytes.
import { readFileSync } from "node:fs";
import path from "node:path";

import { packageRoot } from "../src/models/paths.js";
import { frameSize } from "../src/faces/frameSize.js";
import type { NativeAddon } from "../src/native/addonTypes.js";
import { resolvePreprocessOptions } from "../src/scoring/scorerOptions.js";

export const FRAME_SIZES = [
  { name: "640x480", width: 640, height: 480 },
  { name: "1280x720", width: 1280, height: 720 },
] as const;

export type FrameName = (typeof FRAME_SIZES)[number]["name"];

export interface BenchFrame {
  name: FrameName;
  width: number;
  height: number;
  jpeg: Buffer;
}

export function defaultPhoto(): string {
  return path.resolve(packageRoot(), "../shared/photos/grace_hopper.jpg");
}

/** JPEG quality of the test frames (a typical webcam encoder setting). */
const JPEG_QUALITY = 85;

/**
 * Letterboxes the photo into a height x height square (aspect kept, area resampling), centres the square in a
 * black width x height canvas and encodes it as JPEG.
 */
export async function makeFrames(addon: NativeAddon, photoFile = defaultPhoto()): Promise<BenchFrame[]> {
  const data = readFileSync(photoFile);
  const kind = /\.png$/i.test(photoFile) ? "png" : "jpeg";
  const size = frameSize({ kind, data });
  if (!size) throw new Error(`bench: cannot read the size of ${photoFile}`);
  const frames: BenchFrame[] = [];
  for (const { name, width, height } of FRAME_SIZES) {
    const side = height;
    // Planar float RGB in [0, 1], 3 x side x side.
    const square = await addon.preprocess(
      { kind, data },
      resolvePreprocessOptions({ width: side, height: side, resize: "area", region: [0, 0, size.width, size.height] }),
    );
    const rgb = Buffer.alloc(width * height * 3); // black
    const left = Math.floor((width - side) / 2);
    const plane = side * side;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const i = y * side + x;
        const o = (y * width + left + x) * 3;
        rgb[o] = Math.round(square[i]! * 255);
        rgb[o + 1] = Math.round(square[plane + i]! * 255);
        rgb[o + 2] = Math.round(square[2 * plane + i]! * 255);
      }
    }
    frames.push({ name, width, height, jpeg: await addon.encodeJpeg(rgb, width, height, JPEG_QUALITY) });
  }
  return frames;
}

// Checks a JPEG with a decoder other than the addon that wrote it: ffmpeg decodes it to raw RGB.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { runFfmpeg } from "./tools.js";

/** The JPEG's size from its SOF0 header and the byte count of its RGB pixels as ffmpeg decodes them. */
export function decodeJpeg(jpeg: Buffer): { width: number; height: number; rgbBytes: number } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mesoguard-jpeg-"));
  try {
    const input = path.join(dir, "in.jpg");
    writeFileSync(input, jpeg);
    runFfmpeg(["-i", input, "-f", "rawvideo", "-pix_fmt", "rgb24", path.join(dir, "out.rgb")]);
    const sof = jpeg.findIndex((byte, i) => byte === 0xff && jpeg[i + 1] === 0xc0);
    if (sof < 0) throw new Error("no SOF0 marker: not a baseline JPEG");
    return { height: jpeg.readUInt16BE(sof + 5), width: jpeg.readUInt16BE(sof + 7), rgbBytes: readFileSync(path.join(dir, "out.rgb")).length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

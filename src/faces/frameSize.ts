// A frame's width and height without decoding it: raw frames say it, JPEG and PNG carry it in their header.
// Only header bytes are read (no pixel work on the event loop).
import type { FrameInput } from "../native/addonTypes.js";

export interface FrameSize {
  width: number;
  height: number;
}

function bytesOf(data: Uint8Array | ArrayBuffer): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

/** JPEG: the first start-of-frame marker (SOF0..SOF15 except DHT/JPG/DAC) holds height then width. */
function jpegSize(b: Uint8Array): FrameSize | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2; // markers without a length
      continue;
    }
    const length = (b[i + 2]! << 8) | b[i + 3]!;
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > b.length) return undefined;
      const height = (b[i + 5]! << 8) | b[i + 6]!;
      const width = (b[i + 7]! << 8) | b[i + 8]!;
      return width > 0 && height > 0 ? { width, height } : undefined;
    }
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image or scan data before any frame header
    i += 2 + length;
  }
  return undefined;
}

/** PNG: the IHDR chunk comes first; width and height are its first eight bytes, big-endian. */
function pngSize(b: Uint8Array): FrameSize | undefined {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length < 24 || signature.some((v, i) => b[i] !== v)) return undefined;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** The frame's size, or undefined when its header is unreadable (decoding it would fail too). */
export function frameSize(frame: FrameInput): FrameSize | undefined {
  switch (frame.kind) {
    case "jpeg":
      return jpegSize(bytesOf(frame.data));
    case "png":
      return pngSize(bytesOf(frame.data));
    default:
      return Number.isSafeInteger(frame.width) && Number.isSafeInteger(frame.height) && frame.width > 0 && frame.height > 0
        ? { width: frame.width, height: frame.height }
        : undefined;
  }
}

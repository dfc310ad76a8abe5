// Binary frame messages: a fixed little-endian header, then the image bytes.
//
//   offset size field
//        0    4 magic "MGF1"
//        4    1 version (1)
//        5    1 kind: 0 jpeg, 1 png, 2 rgb, 3 rgba, 4 i420, 5 nv12
//        6    2 header length in bytes (36 for version 1; the payload starts here)
//        8    4 sequence number (uint32, per participant, increasing)
//       12    8 capture timestamp (float64, ms since epoch, sender's clock)
//       20    2 width  (raw kinds; 0 for jpeg/png)
//       22    2 height (raw kinds; 0 for jpeg/png)
//       24    4 stride 0 (rgb/rgba row bytes, or Y stride; 0 = tightly packed)
//       28    4 stride 1 (U stride for i420, UV stride for nv12; 0 = default)
//       32    4 stride 2 (V stride for i420; 0 = default)
//       36  ... payload
// Works on Uint8Array/DataView only, so the same code runs in Node and in browsers.

export const FRAME_MAGIC = 0x3146474d; // "MGF1" read as little-endian uint32
export const FRAME_VERSION = 1;
export const FRAME_HEADER_BYTES = 36;

export const FRAME_KINDS = ["jpeg", "png", "rgb", "rgba", "i420", "nv12"] as const;
export type WireFrameKind = (typeof FRAME_KINDS)[number];

export interface WireFrame {
  kind: WireFrameKind;
  seq: number;
  capturedAt: number;
  width: number;
  height: number;
  strides: [number, number, number];
  payload: Uint8Array;
}

export class FrameFormatError extends Error {
  readonly code = "bad-frame";
}

export function encodeFrame(frame: Omit<WireFrame, "strides"> & { strides?: [number, number, number] }): Uint8Array {
  const kindIndex = FRAME_KINDS.indexOf(frame.kind);
  if (kindIndex < 0) throw new FrameFormatError(`unknown frame kind '${String(frame.kind)}'`);
  for (const [name, value] of [["width", frame.width], ["height", frame.height]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new FrameFormatError(`${name} ${value} does not fit the header (0..65535)`);
  }
  const out = new Uint8Array(FRAME_HEADER_BYTES + frame.payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint8(4, FRAME_VERSION);
  view.setUint8(5, kindIndex);
  view.setUint16(6, FRAME_HEADER_BYTES, true);
  view.setUint32(8, frame.seq >>> 0, true);
  view.setFloat64(12, frame.capturedAt, true);
  view.setUint16(20, frame.width, true);
  view.setUint16(22, frame.height, true);
  const strides = frame.strides ?? [0, 0, 0];
  view.setUint32(24, strides[0], true);
  view.setUint32(28, strides[1], true);
  view.setUint32(32, strides[2], true);
  out.set(frame.payload, FRAME_HEADER_BYTES);
  return out;
}

/** Parses a binary message; throws FrameFormatError with a reason for anything malformed. */
export function decodeFrame(message: Uint8Array): WireFrame {
  if (message.byteLength < FRAME_HEADER_BYTES) {
    throw new FrameFormatError(`frame message is ${message.byteLength} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  if (view.getUint32(0, true) !== FRAME_MAGIC) throw new FrameFormatError("frame message does not start with MGF1");
  const version = view.getUint8(4);
  if (version !== FRAME_VERSION) throw new FrameFormatError(`frame version ${version} is not supported (want ${FRAME_VERSION})`);
  const kind = FRAME_KINDS[view.getUint8(5)];
  if (!kind) throw new FrameFormatError(`unknown frame kind ${view.getUint8(5)}`);
  const headerBytes = view.getUint16(6, true);
  if (headerBytes < FRAME_HEADER_BYTES || headerBytes > message.byteLength) {
    throw new FrameFormatError(`bad header length ${headerBytes}`);
  }
  const capturedAt = view.getFloat64(12, true);
  if (!Number.isFinite(capturedAt)) throw new FrameFormatError("capture timestamp is not a finite number");
  const width = view.getUint16(20, true);
  const height = view.getUint16(22, true);
  const raw = kind !== "jpeg" && kind !== "png";
  if (raw && (width === 0 || height === 0)) throw new FrameFormatError(`${kind} frames need width and height`);
  const payload = message.subarray(headerBytes);
  if (payload.byteLength === 0) throw new FrameFormatError("frame has no payload");
  return {
    kind,
    seq: view.getUint32(8, true),
    capturedAt,
    width,
    height,
    strides: [view.getUint32(24, true), view.getUint32(28, true), view.getUint32(32, true)],
    payload,
  };
}

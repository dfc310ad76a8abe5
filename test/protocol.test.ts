// The binary frame codec: every kind round-trips field for field, and decodeFrame refuses every malformed
// header with a FrameFormatError (code "bad-frame") that says what is wrong. Pure TypeScript.
import { describe, expect, it } from "vitest";

import {
  FRAME_HEADER_BYTES,
  FRAME_KINDS,
  FRAME_MAGIC,
  FRAME_VERSION,
  FrameFormatError,
  decodeFrame,
  encodeFrame,
  type WireFrame,
  type WireFrameKind,
} from "../src/protocol/binaryFrame.js";
import { CLOSE_CODES, PROTOCOL_VERSION, WS_PATH } from "../src/protocol/protocolTypes.js";

const payloadOf = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17) & 255);

/** A valid frame of `kind` (raw kinds get a size; compressed kinds width = height = 0). */
function sampleFrame(kind: WireFrameKind, extra: Partial<WireFrame> = {}): WireFrame {
  const raw = kind !== "jpeg" && kind !== "png";
  return {
    kind,
    seq: 42,
    capturedAt: 1_795_000_000_123.25,
    width: raw ? 640 : 0,
    height: raw ? 480 : 0,
    strides: raw ? [1920, 320, 330] : [0, 0, 0],
    payload: payloadOf(100),
    ...extra,
  };
}

/** A valid encoded frame whose header bytes `edit` then changes. */
function edited(edit: (view: DataView, bytes: Uint8Array) => void, kind: WireFrameKind = "rgb"): Uint8Array {
  const bytes = encodeFrame(sampleFrame(kind));
  edit(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes);
  return bytes;
}

function formatError(message: Uint8Array): FrameFormatError {
  try {
    decodeFrame(message);
  } catch (error) {
    expect(error).toBeInstanceOf(FrameFormatError);
    expect((error as FrameFormatError).code).toBe("bad-frame");
    return error as FrameFormatError;
  }
  throw new Error("decodeFrame accepted a malformed frame");
}

describe("binary frame header", () => {
  it("has the documented layout: MGF1, version 1, 36-byte header, little-endian fields", () => {
    expect(FRAME_HEADER_BYTES).toBe(36);
    expect(FRAME_VERSION).toBe(1);
    expect(FRAME_KINDS).toEqual(["jpeg", "png", "rgb", "rgba", "i420", "nv12"]);
    const bytes = encodeFrame({ kind: "i420", seq: 0x01020304, capturedAt: 1.5, width: 0x0a0b, height: 0x0c0d, strides: [5, 6, 7], payload: Uint8Array.of(9, 8, 7) });
    expect(bytes.byteLength).toBe(36 + 3);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("MGF1");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getUint32(0, true)).toBe(FRAME_MAGIC);
    expect(bytes[4]).toBe(1);
    expect(bytes[5]).toBe(4); // i420
    expect(view.getUint16(6, true)).toBe(36);
    expect([...bytes.subarray(8, 12)]).toEqual([4, 3, 2, 1]);
    expect(view.getFloat64(12, true)).toBe(1.5);
    expect(view.getUint16(20, true)).toBe(0x0a0b);
    expect(view.getUint16(22, true)).toBe(0x0c0d);
    expect([view.getUint32(24, true), view.getUint32(28, true), view.getUint32(32, true)]).toEqual([5, 6, 7]);
    expect([...bytes.subarray(36)]).toEqual([9, 8, 7]);
  });

  it("the protocol constants are the documented ones", () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(WS_PATH).toBe("/ws");
    expect(CLOSE_CODES).toEqual({ normal: 1000, goingAway: 1001, policy: 1008, tooLarge: 1009, unauthorized: 4001, full: 4003, abuse: 4008, slowConsumer: 4009 });
  });
});

describe("encodeFrame / decodeFrame round trip", () => {
  it.each(FRAME_KINDS.map((k) => [k]))("%s: every field comes back", (kind) => {
    const frame = sampleFrame(kind);
    const decoded = decodeFrame(encodeFrame(frame));
    expect(decoded).toEqual(frame);
    expect(decoded.payload).toBeInstanceOf(Uint8Array);
  });

  it("extreme field values survive: seq 2^32-1, width/height 65535, strides 2^32-1, negative and tiny timestamps", () => {
    for (const capturedAt of [0, -1, 5e-324, Number.MAX_VALUE, Date.now() + 0.001]) {
      const frame = sampleFrame("nv12", { seq: 0xffffffff, capturedAt, width: 65535, height: 65535, strides: [0xffffffff, 1, 0], payload: Uint8Array.of(1) });
      expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
    }
  });

  it("strides default to zeros when omitted", () => {
    const { strides, ...rest } = sampleFrame("rgb");
    expect(strides).toBeDefined();
    expect(decodeFrame(encodeFrame(rest)).strides).toEqual([0, 0, 0]);
  });

  it("a seq beyond uint32 wraps the way the header stores it", () => {
    expect(decodeFrame(encodeFrame(sampleFrame("jpeg", { seq: 2 ** 32 + 5 }))).seq).toBe(5);
  });

  it("decodes a frame that sits at an offset inside a larger buffer (as ws hands over pooled Buffers)", () => {
    const frame = sampleFrame("rgba", { payload: payloadOf(333, 7) });
    const encoded = encodeFrame(frame);
    const pool = new Uint8Array(encoded.byteLength + 100).fill(0xee);
    pool.set(encoded, 37);
    const view = pool.subarray(37, 37 + encoded.byteLength);
    expect(decodeFrame(view)).toEqual(frame);
    const fromBuffer = decodeFrame(Buffer.from(pool.buffer, 37, encoded.byteLength));
    expect({ ...fromBuffer, payload: Uint8Array.from(fromBuffer.payload) }).toEqual(frame);
  });

  it("the decoded payload is a view of the message, not a copy (no per-frame copy on the event loop)", () => {
    const encoded = encodeFrame(sampleFrame("jpeg"));
    const decoded = decodeFrame(encoded);
    expect(decoded.payload.buffer).toBe(encoded.buffer);
    expect(decoded.payload.byteOffset).toBe(36);
  });

  it("a header longer than 36 bytes (a future extension) is skipped: the payload starts at the header length", () => {
    const frame = sampleFrame("png");
    const encoded = encodeFrame(frame);
    const longer = new Uint8Array(encoded.byteLength + 8);
    longer.set(encoded.subarray(0, 36));
    longer.set([1, 2, 3, 4, 5, 6, 7, 8], 36); // extension bytes
    longer.set(frame.payload, 44);
    new DataView(longer.buffer).setUint16(6, 44, true);
    expect(decodeFrame(longer)).toEqual(frame);
  });

  it("encodeFrame refuses an unknown kind with FrameFormatError", () => {
    expect(() => encodeFrame({ ...sampleFrame("jpeg"), kind: "gif" as WireFrameKind })).toThrow(FrameFormatError);
    expect(() => encodeFrame({ ...sampleFrame("jpeg"), kind: "gif" as WireFrameKind })).toThrow(/unknown frame kind 'gif'/);
  });
});

describe("decodeFrame rejects malformed frames with FrameFormatError", () => {
  it("messages shorter than the header (including empty)", () => {
    for (const n of [0, 1, 4, 35]) {
      expect(formatError(encodeFrame(sampleFrame("jpeg")).subarray(0, n)).message).toMatch(new RegExp(`${n} bytes, shorter than the 36-byte header`));
    }
  });

  it("garbage bytes", () => {
    let seed = 12345;
    for (let trial = 0; trial < 50; trial++) {
      const garbage = Uint8Array.from({ length: 36 + trial * 7 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255);
      formatError(garbage);
    }
    expect(formatError(new TextEncoder().encode('{"type":"join","room":"a","role":"observer","x":"padding"}')).message).toMatch(/MGF1/);
  });

  it("a bad magic", () => {
    expect(formatError(edited((_, b) => b.set([0x4d, 0x47, 0x46, 0x32], 0))).message).toMatch(/does not start with MGF1/); // "MGF2"
    expect(formatError(edited((v) => v.setUint32(0, FRAME_MAGIC, false))).message).toMatch(/MGF1/); // big-endian magic
  });

  it("an unsupported version", () => {
    for (const version of [0, 2, 255]) {
      expect(formatError(edited((v) => v.setUint8(4, version))).message).toMatch(new RegExp(`version ${version} is not supported`));
    }
  });

  it("an unknown kind", () => {
    for (const kind of [6, 7, 128, 255]) {
      expect(formatError(edited((v) => v.setUint8(5, kind))).message).toMatch(new RegExp(`unknown frame kind ${kind}`));
    }
  });

  it("a header length below 36 or past the end of the message", () => {
    for (const headerBytes of [0, 8, 35]) expect(formatError(edited((v) => v.setUint16(6, headerBytes, true))).message).toMatch(/bad header length/);
    const encoded = encodeFrame(sampleFrame("jpeg"));
    expect(formatError(edited((v) => v.setUint16(6, encoded.byteLength + 1, true), "jpeg")).message).toMatch(/bad header length/);
    expect(formatError(edited((v) => v.setUint16(6, 65535, true), "jpeg")).message).toMatch(/bad header length/);
  });

  it("a timestamp that is not finite", () => {
    for (const t of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(formatError(edited((v) => v.setFloat64(12, t, true))).message).toMatch(/not a finite number/);
    }
  });

  it("raw kinds without a width or a height", () => {
    for (const kind of ["rgb", "rgba", "i420", "nv12"] as const) {
      for (const [width, height] of [[0, 480], [640, 0], [0, 0]]) {
        const message = encodeFrame(sampleFrame(kind, { width, height }));
        expect(formatError(message).message).toMatch(new RegExp(`${kind} frames need width and height`));
      }
    }
    // Compressed kinds carry their size in the payload: zeros are what they should send.
    expect(decodeFrame(encodeFrame(sampleFrame("jpeg", { width: 0, height: 0 }))).kind).toBe("jpeg");
  });

  it("an empty payload", () => {
    for (const kind of FRAME_KINDS) {
      expect(formatError(encodeFrame(sampleFrame(kind, { payload: new Uint8Array(0) }))).message).toMatch(/no payload/);
    }
    // A header of exactly the message's length leaves no payload either.
    const longHeader = edited((v) => v.setUint16(6, 36 + 100, true), "jpeg");
    expect(formatError(longHeader).message).toMatch(/no payload/);
  });
});

// VP8 over RTP (RFC 7741): the payload descriptor at the start of every packet's payload, and a frame's
// packets joined back into the VP8 frame the decoder takes.
//
//        0 1 2 3 4 5 6 7
//       +-+-+-+-+-+-+-+-+
//       |X|R|N|S|R| PID | (required)
//       +-+-+-+-+-+-+-+-+
//  X:   |I|L|T|K| RSV   | (optional)
//       +-+-+-+-+-+-+-+-+
//  I:   |M| PictureID   | (optional; M = 1: 15-bit picture id, two bytes)
//       +-+-+-+-+-+-+-+-+
//  L:   |   TL0PICIDX   | (optional)
//       +-+-+-+-+-+-+-+-+
//  T/K: |TID|Y| KEYIDX  | (optional; present when T or K is set)
//       +-+-+-+-+-+-+-+-+
// S marks the first packet of a partition, PID its index: a frame starts with S = 1 and PID = 0.

export class DepacketizeError extends Error {
  readonly code = "ERR_DEPACKETIZE";
}

export interface Vp8Descriptor {
  extended: boolean;
  nonReference: boolean;
  /** S: this packet starts a VP8 partition. */
  start: boolean;
  partitionIndex: number;
  pictureId: number | null;
  /** 7 or 15 when a picture id is present. */
  pictureIdBits: 7 | 15 | null;
  tl0PicIdx: number | null;
  temporalLayer: number | null;
  layerSync: boolean | null;
  keyIndex: number | null;
  /** Bytes of descriptor: the VP8 payload starts here. */
  length: number;
}

/** Parses the payload descriptor; throws DepacketizeError when it is cut short or leaves no VP8 payload. */
export function parseVp8Descriptor(payload: Uint8Array): Vp8Descriptor {
  if (payload.length < 1) throw new DepacketizeError("VP8: empty payload");
  const b0 = payload[0]!;
  const d: Vp8Descriptor = {
    extended: (b0 & 0x80) !== 0,
    nonReference: (b0 & 0x20) !== 0,
    start: (b0 & 0x10) !== 0,
    partitionIndex: b0 & 0x07,
    pictureId: null,
    pictureIdBits: null,
    tl0PicIdx: null,
    temporalLayer: null,
    layerSync: null,
    keyIndex: null,
    length: 1,
  };
  let i = 1;
  const need = (n: number, what: string) => {
    if (payload.length < i + n) throw new DepacketizeError(`VP8: payload descriptor cut short in ${what}`);
  };
  if (d.extended) {
    need(1, "the extension byte");
    const x = payload[i++]!;
    const hasI = (x & 0x80) !== 0;
    const hasL = (x & 0x40) !== 0;
    const hasT = (x & 0x20) !== 0;
    const hasK = (x & 0x10) !== 0;
    if (hasI) {
      need(1, "the picture id");
      if (payload[i]! & 0x80) {
        need(2, "the 15-bit picture id");
        d.pictureId = ((payload[i]! & 0x7f) << 8) | payload[i + 1]!;
        d.pictureIdBits = 15;
        i += 2;
      } else {
        d.pictureId = payload[i]! & 0x7f;
        d.pictureIdBits = 7;
        i += 1;
      }
    }
    if (hasL) {
      need(1, "TL0PICIDX");
      d.tl0PicIdx = payload[i++]!;
    }
    if (hasT || hasK) {
      need(1, "TID/Y/KEYIDX");
      const t = payload[i++]!;
      if (hasT) {
        d.temporalLayer = t >> 6;
        d.layerSync = (t & 0x20) !== 0;
      }
      if (hasK) d.keyIndex = t & 0x1f;
    }
  }
  d.length = i;
  if (payload.length <= i) throw new DepacketizeError("VP8: packet has a payload descriptor but no VP8 data");
  return d;
}

/** RFC 6386 9.1: the frame tag's P bit (0 = key frame) and, for key frames, the start code 9d 01 2a. */
export function isVp8Keyframe(frame: Uint8Array): boolean {
  return frame.length >= 10 && (frame[0]! & 1) === 0 && frame[3] === 0x9d && frame[4] === 0x01 && frame[5] === 0x2a;
}

export interface DepacketizedFrame {
  data: Buffer;
  keyframe: boolean;
}

/**
 * Joins the payloads of one frame's packets (in sequence order, none missing) into a VP8 frame. The first
 * packet must start partition 0 (S = 1, PID = 0): otherwise the frame's head was lost.
 */
export function depacketizeVp8(payloads: Uint8Array[]): DepacketizedFrame {
  if (payloads.length === 0) throw new DepacketizeError("VP8: a frame without packets");
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let k = 0; k < payloads.length; k++) {
    const descriptor = parseVp8Descriptor(payloads[k]!);
    if (k === 0 && !(descriptor.start && descriptor.partitionIndex === 0)) {
      throw new DepacketizeError("VP8: the frame's first packet does not start partition 0 (its head was lost)");
    }
    const part = payloads[k]!.subarray(descriptor.length);
    parts.push(part);
    total += part.length;
  }
  const data = Buffer.concat(parts, total);
  const keyframe = (data[0]! & 1) === 0;
  if (keyframe && !isVp8Keyframe(data)) throw new DepacketizeError("VP8: a key frame without the 9d 01 2a start code");
  return { data, keyframe };
}

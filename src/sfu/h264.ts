// H.264 over RTP, packetization-mode 1 (RFC 6184): single NAL unit packets (types 1-23), STAP-A (24) and FU-A
// (28), joined back into an Annex-B access unit (each NAL unit after a 00 00 00 01 start code), the form the
// decoder takes. Also keeps the stream's last SPS and PPS so an IDR picture that arrives without them (they
// were lost, sent earlier, or given out of band as sprop-parameter-sets) still decodes.
import { DepacketizeError, type DepacketizedFrame } from "./vp8.js";

export const NAL_SLICE = 1;
export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const NAL_STAP_A = 24;
export const NAL_FU_A = 28;

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** The NAL units of one access unit, in order, from its packets' payloads (sequence order, none missing). */
export function h264NalUnits(payloads: Uint8Array[]): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let fragments: Uint8Array[] | null = null; // an FU-A NAL unit being reassembled
  for (const payload of payloads) {
    if (payload.length < 1) throw new DepacketizeError("H264: empty payload");
    const header = payload[0]!;
    if (header & 0x80) throw new DepacketizeError("H264: forbidden_zero_bit set (the sender marks this NAL unit damaged)");
    const type = header & 0x1f;
    if (type === NAL_FU_A) {
      if (payload.length < 3) throw new DepacketizeError("H264: FU-A packet too short");
      const fu = payload[1]!;
      const start = (fu & 0x80) !== 0;
      const end = (fu & 0x40) !== 0;
      if (start && end) throw new DepacketizeError("H264: FU-A with both start and end bits");
      if (start) {
        if (fragments) throw new DepacketizeError("H264: FU-A start while another fragmented NAL unit is unfinished");
        // The NAL header: F and NRI from the FU indicator, the type from the FU header.
        fragments = [Uint8Array.of((header & 0xe0) | (fu & 0x1f)), payload.subarray(2)];
      } else {
        if (!fragments) throw new DepacketizeError("H264: FU-A fragment without its start (lost)");
        fragments.push(payload.subarray(2));
        if (end) {
          nals.push(Buffer.concat(fragments));
          fragments = null;
        }
      }
      continue;
    }
    if (fragments) throw new DepacketizeError("H264: a fragmented NAL unit was not finished (FU-A end lost)");
    if (type >= 1 && type <= 23) {
      nals.push(payload);
    } else if (type === NAL_STAP_A) {
      let offset = 1;
      if (payload.length < 3) throw new DepacketizeError("H264: STAP-A without NAL units");
      while (offset < payload.length) {
        if (offset + 2 > payload.length) throw new DepacketizeError("H264: STAP-A NAL unit size cut short");
        const size = (payload[offset]! << 8) | payload[offset + 1]!;
        offset += 2;
        if (size === 0 || offset + size > payload.length) {
          throw new DepacketizeError(`H264: STAP-A NAL unit of ${size} bytes does not fit the packet`);
        }
        nals.push(payload.subarray(offset, offset + size));
        offset += size;
      }
    } else {
      throw new DepacketizeError(`H264: NAL unit type ${type} is not used in packetization-mode 1 (only 1-23, 24 STAP-A, 28 FU-A)`);
    }
  }
  if (fragments) throw new DepacketizeError("H264: a fragmented NAL unit was not finished (FU-A end lost)");
  return nals;
}

/** Whether a slice NAL unit is the first of its picture: first_mb_in_slice, the first ue(v), is 0 (a 1 bit). */
function startsPicture(nal: Uint8Array): boolean {
  return nal.length > 1 && (nal[1]! & 0x80) !== 0;
}

/** SPS and PPS NAL units seen last (or given as sprop-parameter-sets). */
export class H264ParameterSets {
  sps: Uint8Array[] = [];
  pps: Uint8Array[] = [];

  /** From an SDP fmtp sprop-parameter-sets value: base64 NAL units separated by commas. */
  static fromSprop(value: string): H264ParameterSets {
    const sets = new H264ParameterSets();
    for (const part of value.split(",")) {
      const trimmed = part.trim();
      if (!trimmed) continue;
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new Error(`sprop-parameter-sets: "${trimmed}" is not base64`);
      const nal = Buffer.from(trimmed, "base64");
      const type = nal.length > 0 ? nal[0]! & 0x1f : -1;
      if (type === NAL_SPS) sets.sps.push(nal);
      else if (type === NAL_PPS) sets.pps.push(nal);
      else throw new Error(`sprop-parameter-sets: a NAL unit of type ${type}, not SPS (7) or PPS (8)`);
    }
    return sets;
  }
}

export interface H264DepacketizeOptions {
  /** The packets before this frame were lost: refuse a frame whose first slice does not start the picture. */
  afterGap?: boolean;
  /** Updated with the SPS/PPS this access unit carries; used to complete an IDR access unit without them. */
  parameterSets?: H264ParameterSets;
}

/** Joins one access unit's packets into Annex-B bytes; key frame = holds an IDR slice. */
export function depacketizeH264(payloads: Uint8Array[], options: H264DepacketizeOptions = {}): DepacketizedFrame & { nalTypes: number[] } {
  const nals = h264NalUnits(payloads);
  if (nals.length === 0) throw new DepacketizeError("H264: an access unit without NAL units");
  const nalTypes = nals.map((n) => n[0]! & 0x1f);
  const firstSlice = nals.find((_, k) => nalTypes[k] === NAL_SLICE || nalTypes[k] === NAL_IDR);
  if (options.afterGap && firstSlice && !startsPicture(firstSlice)) {
    throw new DepacketizeError("H264: the access unit's first slice does not start the picture (its head was lost)");
  }
  const keyframe = nalTypes.includes(NAL_IDR);
  const sets = options.parameterSets;
  let prefix: Uint8Array[] = [];
  if (sets) {
    const sps = nals.filter((_, k) => nalTypes[k] === NAL_SPS);
    const pps = nals.filter((_, k) => nalTypes[k] === NAL_PPS);
    if (sps.length > 0) sets.sps = sps.map((n) => Buffer.from(n));
    if (pps.length > 0) sets.pps = pps.map((n) => Buffer.from(n));
    if (keyframe) prefix = [...(sps.length === 0 ? sets.sps : []), ...(pps.length === 0 ? sets.pps : [])];
  }
  const parts: Uint8Array[] = [];
  for (const nal of [...prefix, ...nals]) parts.push(START_CODE, nal);
  return { data: Buffer.concat(parts), keyframe, nalTypes };
}

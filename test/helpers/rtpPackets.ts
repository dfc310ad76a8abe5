// RTP datagrams built by the tests (senders, hostile sources, reorder cases): the server only parses RTP
// (src/sfu/rtp.ts), so the writer lives here, on the parser's constants.
import { RTP_HEADER_BYTES, RTP_VERSION } from "../../src/sfu/rtp.js";

export interface RtpPacketInit {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  csrcs?: number[];
  headerExtension?: { profile: number; data: Uint8Array };
  /** Padding bytes to add at the end (sets P). */
  padding?: number;
  payload: Uint8Array;
}

/** Builds an RTP datagram (the ingest only receives RTP: building them is the tests' business). */
export function serializeRtp(init: RtpPacketInit): Buffer {
  const csrcs = init.csrcs ?? [];
  const ext = init.headerExtension;
  if (ext && ext.data.length % 4 !== 0) throw new Error("RTP header extension data must be a whole number of 32-bit words");
  const padding = init.padding ?? 0;
  const length = RTP_HEADER_BYTES + 4 * csrcs.length + (ext ? 4 + ext.data.length : 0) + init.payload.length + padding;
  const out = Buffer.alloc(length);
  out[0] = (RTP_VERSION << 6) | (padding > 0 ? 0x20 : 0) | (ext ? 0x10 : 0) | csrcs.length;
  out[1] = (init.marker ? 0x80 : 0) | (init.payloadType & 0x7f);
  out.writeUInt16BE(init.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(init.timestamp >>> 0, 4);
  out.writeUInt32BE(init.ssrc >>> 0, 8);
  let offset = RTP_HEADER_BYTES;
  for (const csrc of csrcs) {
    out.writeUInt32BE(csrc >>> 0, offset);
    offset += 4;
  }
  if (ext) {
    out.writeUInt16BE(ext.profile, offset);
    out.writeUInt16BE(ext.data.length / 4, offset + 2);
    out.set(ext.data, offset + 4);
    offset += 4 + ext.data.length;
  }
  out.set(init.payload, offset);
  if (padding > 0) out[length - 1] = padding;
  return out;
}

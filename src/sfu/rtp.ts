// RTP and RTCP on the wire: the fixed RTP header (RFC 3550 section 5.1), telling RTCP from RTP on a muxed port
// (RFC 5761 section 4), and the two keyframe requests the ingest sends: Picture Loss Indication (RFC 4585
// section 6.3.1) and Full Intra Request (RFC 5104 section 4.3.1). Header bytes only: no pixel work.

export const RTP_VERSION = 2;
export const RTP_HEADER_BYTES = 12;

export interface RtpPacket {
  version: number;
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  /** The header extension (RFC 3550 5.3.1): its 16-bit profile word and its data, when the X bit is set. */
  headerExtension: { profile: number; data: Uint8Array } | null;
  /** The payload, without header, CSRCs, extension or padding (a view into the datagram). */
  payload: Uint8Array;
}

export type RtpParseFailure = "truncated" | "version" | "padding" | "extension" | "rtcp";

export class RtpParseError extends Error {
  constructor(
    readonly reason: RtpParseFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * RFC 5761 4: on a muxed port, a packet whose second byte is 192..223 (RTCP packet types SR 200 .. PSFB 206
 * and the rest of that range) is RTCP; RTP payload types 64..95 would collide with it and are not used.
 */
export function isRtcp(datagram: Uint8Array): boolean {
  return datagram.length >= 2 && datagram[1]! >= 192 && datagram[1]! <= 223;
}

/** Parses one RTP datagram; throws RtpParseError for anything that is not a well-formed RTP version 2 packet. */
export function parseRtp(datagram: Uint8Array): RtpPacket {
  if (datagram.length < RTP_HEADER_BYTES) {
    throw new RtpParseError("truncated", `${datagram.length} bytes is shorter than the 12-byte RTP header`);
  }
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const b0 = datagram[0]!;
  const b1 = datagram[1]!;
  const version = b0 >> 6;
  if (version !== RTP_VERSION) throw new RtpParseError("version", `RTP version ${version}, not 2`);
  if (b1 >= 192 && b1 <= 223) throw new RtpParseError("rtcp", "an RTCP packet, not RTP");
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let offset = RTP_HEADER_BYTES + 4 * csrcCount;
  if (datagram.length < offset) {
    throw new RtpParseError("truncated", `${csrcCount} CSRCs do not fit in ${datagram.length} bytes`);
  }
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrcs.push(view.getUint32(RTP_HEADER_BYTES + 4 * i));
  let headerExtension: RtpPacket["headerExtension"] = null;
  if (extension) {
    if (datagram.length < offset + 4) throw new RtpParseError("truncated", "the header extension does not fit");
    const profile = view.getUint16(offset);
    const words = view.getUint16(offset + 2);
    const end = offset + 4 + 4 * words;
    if (datagram.length < end) {
      throw new RtpParseError("extension", `the header extension of ${words} words runs past the end of the packet`);
    }
    headerExtension = { profile, data: datagram.subarray(offset + 4, end) };
    offset = end;
  }
  let end = datagram.length;
  if (padding) {
    const count = datagram[datagram.length - 1]!;
    if (count === 0 || end - count < offset) {
      throw new RtpParseError("padding", `a padding count of ${count} does not fit the packet`);
    }
    end -= count;
  }
  return {
    version,
    padding,
    extension,
    csrcCount,
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    headerExtension,
    payload: datagram.subarray(offset, end),
  };
}

// ---- sequence numbers ---------------------------------------------------------------------------------------

/** b - a in 16-bit sequence space, in -32768..32767 (positive: b is newer). */
export function seqDelta(a: number, b: number): number {
  return ((((b - a) & 0xffff) + 0x8000) & 0xffff) - 0x8000;
}

// ---- RTCP ---------------------------------------------------------------------------------------------------

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;
export const RTCP_RTPFB = 205;
export const RTCP_PSFB = 206;

export interface RtcpPacketHeader {
  /** Count / FMT field (5 bits). */
  count: number;
  packetType: number;
  /** Length in bytes, header included. */
  length: number;
  /** The first SSRC (the sender's, for every standard type). */
  ssrc: number | null;
  body: Uint8Array;
}

/**
 * Splits a compound RTCP datagram (RFC 3550 6.1) into its packets; throws RtpParseError when a packet is not
 * version 2, or its length field runs past the datagram.
 */
export function parseRtcpCompound(datagram: Uint8Array): RtcpPacketHeader[] {
  const packets: RtcpPacketHeader[] = [];
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  let offset = 0;
  while (offset < datagram.length) {
    if (datagram.length - offset < 4) throw new RtpParseError("truncated", "an RTCP packet shorter than its 4-byte header");
    const b0 = datagram[offset]!;
    if (b0 >> 6 !== RTP_VERSION) throw new RtpParseError("version", `RTCP version ${b0 >> 6}, not 2`);
    const length = (view.getUint16(offset + 2) + 1) * 4;
    if (offset + length > datagram.length) {
      throw new RtpParseError("truncated", `an RTCP packet of ${length} bytes runs past the ${datagram.length}-byte datagram`);
    }
    packets.push({
      count: b0 & 0x1f,
      packetType: datagram[offset + 1]!,
      length,
      ssrc: length >= 8 ? view.getUint32(offset + 4) : null,
      body: datagram.subarray(offset, offset + length),
    });
    offset += length;
  }
  if (packets.length === 0) throw new RtpParseError("truncated", "an empty RTCP datagram");
  return packets;
}

/** RFC 4585 6.3.1: Picture Loss Indication, PSFB (206) with FMT 1; 12 bytes, no FCI. */
export function buildPli(senderSsrc: number, mediaSsrc: number): Buffer {
  const out = Buffer.alloc(12);
  out[0] = (RTP_VERSION << 6) | 1;
  out[1] = RTCP_PSFB;
  out.writeUInt16BE(2, 2); // length in 32-bit words minus one
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(mediaSsrc >>> 0, 8);
  return out;
}

/**
 * RFC 5104 4.3.1: Full Intra Request, PSFB (206) with FMT 4; the media source SSRC field is 0 and the FCI
 * names the SSRC and an 8-bit command sequence number (incremented per new request); 20 bytes.
 */
export function buildFir(senderSsrc: number, mediaSsrc: number, sequence: number): Buffer {
  const out = Buffer.alloc(20);
  out[0] = (RTP_VERSION << 6) | 4;
  out[1] = RTCP_PSFB;
  out.writeUInt16BE(4, 2);
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(0, 8);
  out.writeUInt32BE(mediaSsrc >>> 0, 12);
  out[16] = sequence & 0xff;
  return out;
}

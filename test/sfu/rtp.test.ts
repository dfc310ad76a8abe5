// RTP and RTCP wire formats on hand-built packets: the RFC 3550 fixed header with CSRCs, header extension and
// padding; what is refused and why; RTCP demultiplexing (RFC 5761) and compound parsing; the exact bytes of the
// keyframe requests the ingest sends (PLI, RFC 4585; FIR, RFC 5104); 16-bit sequence arithmetic.
import { describe, expect, it } from "vitest";

import {
  buildFir,
  buildPli,
  isRtcp,
  parseRtcpCompound,
  parseRtp,
  RtpParseError,
  seqDelta,
} from "../../src/sfu/rtp.js";

import { serializeRtp } from "../helpers/rtpPackets.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

function failure(bytes: Uint8Array): string {
  try {
    parseRtp(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(RtpParseError);
    return (error as RtpParseError).reason;
  }
  throw new Error("expected parseRtp to throw");
}

describe("RTP header (RFC 3550 5.1)", () => {
  it("parses the fixed header of a hand-built packet", () => {
    // V=2 P=0 X=0 CC=0 | M=1 PT=96 | seq 0x1234 | ts 0xdeadbeef | ssrc 0x01020304 | payload aa bb
    const p = parseRtp(hex("80 e0 1234 deadbeef 01020304 aabb"));
    expect(p).toMatchObject({
      version: 2,
      padding: false,
      extension: false,
      csrcCount: 0,
      marker: true,
      payloadType: 96,
      sequenceNumber: 0x1234,
      timestamp: 0xdeadbeef,
      ssrc: 0x01020304,
      csrcs: [],
      headerExtension: null,
    });
    expect(Buffer.from(p.payload)).toEqual(hex("aabb"));
  });

  it("skips CSRCs, the header extension and padding to find the payload", () => {
    // V=2 P=1 X=1 CC=2, M=0 PT=102; 2 CSRCs; extension profile 0xbede with 1 word; payload 3 bytes; 4 bytes padding
    const bytes = hex("b2 66 0001 00000010 0000abcd  11111111 22222222  bede 0001 10ff0000  010203  00000004");
    const p = parseRtp(bytes);
    expect(p).toMatchObject({ padding: true, extension: true, csrcCount: 2, marker: false, payloadType: 102, sequenceNumber: 1, timestamp: 16, ssrc: 0xabcd });
    expect(p.csrcs).toEqual([0x11111111, 0x22222222]);
    expect(p.headerExtension!.profile).toBe(0xbede);
    expect(Buffer.from(p.headerExtension!.data)).toEqual(hex("10ff0000"));
    expect(Buffer.from(p.payload)).toEqual(hex("010203"));
  });

  it("serializeRtp and parseRtp agree, every field", () => {
    const payload = Buffer.from("payload bytes");
    const bytes = serializeRtp({
      payloadType: 127,
      sequenceNumber: 65535,
      timestamp: 0xffffffff,
      ssrc: 0xfedcba98,
      marker: true,
      csrcs: [7],
      headerExtension: { profile: 0x1000, data: hex("0102030405060708") },
      padding: 3,
      payload,
    });
    const p = parseRtp(bytes);
    expect(p).toMatchObject({ payloadType: 127, sequenceNumber: 65535, timestamp: 0xffffffff, ssrc: 0xfedcba98, marker: true, csrcs: [7], padding: true });
    expect(Buffer.from(p.payload)).toEqual(payload);
    expect(Buffer.from(p.headerExtension!.data)).toEqual(hex("0102030405060708"));
  });

  it("an empty payload is allowed (padding-only probes)", () => {
    expect(parseRtp(hex("a0 60 0005 00000000 00000001 00000004")).payload.length).toBe(0);
  });

  it.each([
    ["shorter than 12 bytes", "80 60 0001 00000000 000000", "truncated"],
    ["version 1", "40 60 0001 00000000 00000001 aa", "version"],
    ["version 0 (e.g. STUN)", "00 01 0000 2112a442 00000000 0000", "version"],
    ["CSRCs past the end", "83 60 0001 00000000 00000001 11111111", "truncated"],
    ["extension header past the end", "90 60 0001 00000000 00000001 bede", "truncated"],
    ["extension words past the end", "90 60 0001 00000000 00000001 bede 0004 00000000", "extension"],
    ["padding count 0", "a0 60 0001 00000000 00000001 aa 00", "padding"],
    ["padding longer than the payload", "a0 60 0001 00000000 00000001 aa 09", "padding"],
    ["RTCP given to the RTP parser", "80 c8 0006 00000001 00000000 00000000 00000000 00000000 00000000", "rtcp"],
  ])("refuses %s", (_, bytes, reason) => {
    expect(failure(hex(bytes))).toBe(reason);
  });

  it("garbage of every length is refused with an RtpParseError, never another exception", () => {
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let n = 0; n < 300; n++) {
      const bytes = Buffer.from(Array.from({ length: n % 64 }, random));
      try {
        parseRtp(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(RtpParseError);
      }
    }
  });
});

describe("sequence numbers", () => {
  it("seqDelta is the signed 16-bit difference, across the wrap", () => {
    expect(seqDelta(1, 2)).toBe(1);
    expect(seqDelta(2, 1)).toBe(-1);
    expect(seqDelta(65535, 0)).toBe(1);
    expect(seqDelta(0, 65535)).toBe(-1);
    expect(seqDelta(65530, 4)).toBe(10);
    expect(seqDelta(100, 100 + 32767)).toBe(32767);
    expect(seqDelta(100, 100 + 32768)).toBe(-32768);
  });
});

describe("RTCP", () => {
  it("tells RTCP from RTP on a muxed port by the second byte (RFC 5761: 192..223)", () => {
    expect(isRtcp(hex("80c8"))).toBe(true); // SR
    expect(isRtcp(hex("81ce"))).toBe(true); // PSFB
    expect(isRtcp(hex("80c0"))).toBe(true);
    expect(isRtcp(hex("80df"))).toBe(true);
    expect(isRtcp(hex("8060"))).toBe(false); // PT 96
    expect(isRtcp(hex("80e0"))).toBe(false); // PT 96 with marker
    expect(isRtcp(hex("80"))).toBe(false);
  });

  it("splits a compound packet (SR + SDES) and reports each sender SSRC", () => {
    // SR with no report blocks (28 bytes), then SDES with one chunk: CNAME "ab" (12 bytes)
    const sr = hex("80 c8 0006 000004d2 00000001 00000002 00000003 00000004 00000005");
    const sdes = hex("81 ca 0002 000004d2 01 02 6162 00 00 0000").subarray(0, 12);
    const packets = parseRtcpCompound(Buffer.concat([sr, sdes]));
    expect(packets.map((p) => [p.packetType, p.length, p.ssrc])).toEqual([
      [200, 28, 1234],
      [202, 12, 1234],
    ]);
  });

  it("refuses a compound packet whose length runs past the datagram, or another version", () => {
    expect(() => parseRtcpCompound(hex("80 c8 0006 000004d2"))).toThrow(RtpParseError);
    expect(() => parseRtcpCompound(hex("40 c8 0001 000004d2"))).toThrow(/version/);
    expect(() => parseRtcpCompound(hex("80c8"))).toThrow(RtpParseError);
  });

  it("PLI (RFC 4585 6.3.1): PSFB, FMT 1, length 2, sender SSRC, media SSRC; 12 bytes", () => {
    expect(buildPli(0x11223344, 0xaabbccdd)).toEqual(hex("81 ce 0002 11223344 aabbccdd"));
  });

  it("FIR (RFC 5104 4.3.1): PSFB, FMT 4, length 4, media source 0, FCI with the SSRC and a sequence number", () => {
    expect(buildFir(0x11223344, 0xaabbccdd, 7)).toEqual(hex("84 ce 0004 11223344 00000000 aabbccdd 07 000000"));
    expect(buildFir(1, 2, 256 + 5)[16]).toBe(5); // 8-bit sequence number wraps
    const parsed = parseRtcpCompound(buildFir(1, 2, 0));
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ count: 4, packetType: 206, length: 20, ssrc: 1 });
  });
});

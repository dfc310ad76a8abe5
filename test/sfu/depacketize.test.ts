// The two depacketizers on hand-built payloads: VP8 payload descriptors with every extension (RFC 7741) and
// frame joining by the S bit and partition index; H.264 packetization-mode 1 (RFC 6184) single NAL units,
// STAP-A with two NAL units, FU-A start / middle / end, what is refused, and SPS/PPS carried over to IDR frames.
import { describe, expect, it } from "vitest";

import {
  depacketizeH264,
  H264ParameterSets,
  h264NalUnits,
  NAL_FU_A,
  NAL_STAP_A,
} from "../../src/sfu/h264.js";
import { DepacketizeError, depacketizeVp8, isVp8Keyframe, parseVp8Descriptor } from "../../src/sfu/vp8.js";

/** Key frame size from its header (14 bits each; the top 2 bits are the scaling mode). */
function vp8KeyframeSize(frame: Uint8Array): { width: number; height: number } | null {
  if (!isVp8Keyframe(frame)) return null;
  return { width: (frame[6]! | (frame[7]! << 8)) & 0x3fff, height: (frame[8]! | (frame[9]! << 8)) & 0x3fff };
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const SC = "00000001";

// A VP8 key frame's first bytes: frame tag (P=0, show_frame), start code 9d 01 2a, 640x480.
const VP8_KEY_HEAD = "50 42 00 9d 01 2a 80 02 e0 01";
// An inter frame's frame tag (P=1).
const VP8_DELTA_HEAD = "31 02 00";

describe("VP8 payload descriptor (RFC 7741 4.2)", () => {
  it("the one-byte descriptor: N, S and PID", () => {
    expect(parseVp8Descriptor(hex("10 ff"))).toMatchObject({ extended: false, nonReference: false, start: true, partitionIndex: 0, length: 1, pictureId: null });
    expect(parseVp8Descriptor(hex("23 ff"))).toMatchObject({ nonReference: true, start: false, partitionIndex: 3, length: 1 });
  });

  it("X with I: a 7-bit picture id, and with M a 15-bit one", () => {
    expect(parseVp8Descriptor(hex("90 80 05 ff"))).toMatchObject({ extended: true, start: true, pictureId: 5, pictureIdBits: 7, length: 3 });
    expect(parseVp8Descriptor(hex("90 80 81 23 ff"))).toMatchObject({ pictureId: 0x0123, pictureIdBits: 15, length: 4 });
    // ffmpeg's own packets: 90 80 80 00 (15-bit id 0)
    expect(parseVp8Descriptor(hex("90 80 80 00 ff"))).toMatchObject({ pictureId: 0, pictureIdBits: 15, length: 4 });
  });

  it("X with I, L, T and K: picture id, TL0PICIDX, TID/Y/KEYIDX", () => {
    // I L T K = f0; M=1 id 0x7fff; TL0PICIDX 0x2a; TID=2 Y=1 KEYIDX=17 -> 10 1 10001 = 0xb1
    const d = parseVp8Descriptor(hex("90 f0 ff ff 2a b1 ff"));
    expect(d).toMatchObject({ pictureId: 0x7fff, tl0PicIdx: 0x2a, temporalLayer: 2, layerSync: true, keyIndex: 17, length: 6 });
    // L and K without I or T: the T/K byte is present, TID unset
    expect(parseVp8Descriptor(hex("80 50 07 1f ff"))).toMatchObject({ pictureId: null, tl0PicIdx: 7, temporalLayer: null, keyIndex: 31, length: 4 });
    // T only
    expect(parseVp8Descriptor(hex("80 20 40 ff"))).toMatchObject({ temporalLayer: 1, layerSync: false, keyIndex: null, length: 3 });
  });

  it.each([
    ["empty", ""],
    ["X without its byte", "80"],
    ["I without the picture id", "80 80"],
    ["M without the second byte", "80 80 80"],
    ["L without TL0PICIDX", "80 40"],
    ["T without its byte", "80 20"],
    ["a descriptor and no VP8 data", "90 80 05"],
  ])("refuses a descriptor cut short: %s", (_, bytes) => {
    expect(() => parseVp8Descriptor(hex(bytes))).toThrow(DepacketizeError);
  });
});

describe("VP8 frames", () => {
  it("joins a key frame's packets, dropping each descriptor", () => {
    const frame = depacketizeVp8([hex(`90 80 80 01 ${VP8_KEY_HEAD}`), hex("80 80 80 01 aabbcc"), hex("81 80 80 01 ddeeff")]);
    expect(frame.keyframe).toBe(true);
    expect(frame.data).toEqual(hex(`${VP8_KEY_HEAD} aabbcc ddeeff`));
    expect(vp8KeyframeSize(frame.data)).toEqual({ width: 640, height: 480 });
  });

  it("an inter frame is not a key frame", () => {
    const frame = depacketizeVp8([hex(`10 ${VP8_DELTA_HEAD}`), hex("00 0102")]);
    expect(frame).toMatchObject({ keyframe: false });
    expect(frame.data).toEqual(hex(`${VP8_DELTA_HEAD} 0102`));
    expect(isVp8Keyframe(frame.data)).toBe(false);
  });

  it("refuses a frame whose first packet does not start partition 0 (its head was lost)", () => {
    expect(() => depacketizeVp8([hex("00 aabb"), hex("00 ccdd")])).toThrow(/head was lost/);
    expect(() => depacketizeVp8([hex("11 aabb")])).toThrow(/head was lost/); // S=1 but partition 1
  });

  it("refuses a 'key frame' without the 9d 01 2a start code", () => {
    expect(() => depacketizeVp8([hex("10 50 42 00 00 00 00 00 00 00 00")])).toThrow(/start code/);
  });
});

describe("H.264 packetization-mode 1 (RFC 6184)", () => {
  const SPS = "67 42c01f d9";
  const PPS = "68 ce3c80";
  const IDR = "65 88 8416";
  const SLICE = "41 9a 2032";

  it("a single NAL unit packet is one NAL unit", () => {
    expect(h264NalUnits([hex(SLICE)]).map((n) => Buffer.from(n))).toEqual([hex(SLICE)]);
  });

  it("STAP-A with two NAL units (SPS, PPS) gives both, in order", () => {
    const sps = hex(SPS);
    const pps = hex(PPS);
    const stap = Buffer.concat([Buffer.from([0x78]), Buffer.from([0, sps.length]), sps, Buffer.from([0, pps.length]), pps]);
    expect(stap[0]! & 0x1f).toBe(NAL_STAP_A);
    expect(h264NalUnits([stap]).map((n) => Buffer.from(n))).toEqual([sps, pps]);
  });

  it("FU-A start, middle and end rebuild one NAL unit with its header from the FU indicator and header", () => {
    // FU indicator: F=0 NRI=3 type 28 = 0x7c; FU header: S=1 type 5 = 0x85, middle 0x05, E=1 0x45
    const nals = h264NalUnits([hex("7c 85 0102"), hex("7c 05 0304"), hex("7c 45 05")]);
    expect(hex("7c")[0]! & 0x1f).toBe(NAL_FU_A);
    expect(nals.map((n) => Buffer.from(n))).toEqual([hex("65 0102 0304 05")]);
  });

  it("an access unit of STAP-A (SPS, PPS) + FU-A IDR becomes Annex-B and is a key frame", () => {
    const sps = hex(SPS);
    const pps = hex(PPS);
    const stap = Buffer.concat([hex("78"), Buffer.from([0, sps.length]), sps, Buffer.from([0, pps.length]), pps]);
    const au = depacketizeH264([stap, hex("7c 85 8416"), hex("7c 45 aa")]);
    expect(au.keyframe).toBe(true);
    expect(au.nalTypes).toEqual([7, 8, 5]);
    expect(au.data).toEqual(hex(`${SC} ${SPS} ${SC} ${PPS} ${SC} 65 8416 aa`));
  });

  it("a non-IDR access unit is not a key frame", () => {
    expect(depacketizeH264([hex(SLICE)])).toMatchObject({ keyframe: false, nalTypes: [1] });
  });

  it.each([
    ["an FU-A middle without its start", [hex("7c 05 01"), hex("7c 45 02")], /without its start/],
    ["an FU-A without its end", [hex("7c 85 01"), hex("7c 05 02")], /not finished/],
    ["an FU-A start and end in one packet", [hex("7c c5 01")], /both start and end/],
    ["a new FU-A start before the end", [hex("7c 85 01"), hex("7c 85 02")], /unfinished/],
    ["a single NAL unit inside an unfinished FU-A", [hex("7c 85 01"), hex(SLICE)], /not finished/],
    ["a STAP-A whose NAL unit size runs past the packet", [hex("78 0009 6742")], /does not fit/],
    ["a STAP-A with a zero size", [hex("78 0000 67")], /does not fit/],
    ["a STAP-A cut inside a size field", [hex("78 0002 6742 00")], /cut short/],
    ["STAP-B (25), not in mode 1", [hex("79 0000 0002 6742")], /type 25/],
    ["FU-B (29)", [hex("7d 85 0000 01")], /type 29/],
    ["NAL type 0", [hex("00 01")], /type 0/],
    ["forbidden_zero_bit set", [hex("e5 01")], /forbidden_zero_bit/],
  ])("refuses %s", (_, payloads, message) => {
    expect(() => depacketizeH264(payloads)).toThrow(message);
  });

  it("after a gap, an access unit whose first slice does not start the picture is refused", () => {
    // first_mb_in_slice = 0 is the ue(v) '1': the byte after the NAL header has its top bit set
    expect(() => depacketizeH264([hex("65 40 01")], { afterGap: true })).toThrow(/head was lost/);
    expect(depacketizeH264([hex("65 88 01")], { afterGap: true }).keyframe).toBe(true);
    expect(depacketizeH264([hex("65 40 01")], { afterGap: false }).keyframe).toBe(true); // not checked without a gap
  });

  it("keeps the last SPS/PPS and puts them in front of an IDR access unit that lacks them", () => {
    const sets = new H264ParameterSets();
    depacketizeH264([hex(SPS), hex(PPS), hex(IDR)], { parameterSets: sets });
    expect(sets.sps.map((n) => Buffer.from(n))).toEqual([hex(SPS)]);
    expect(sets.pps.map((n) => Buffer.from(n))).toEqual([hex(PPS)]);
    // An IDR alone gets them; a non-IDR access unit is left as it is.
    expect(depacketizeH264([hex(IDR)], { parameterSets: sets }).data).toEqual(hex(`${SC} ${SPS} ${SC} ${PPS} ${SC} ${IDR}`));
    expect(depacketizeH264([hex(SLICE)], { parameterSets: sets }).data).toEqual(hex(`${SC} ${SLICE}`));
  });

  it("sprop-parameter-sets (SDP, base64) seed the parameter sets", () => {
    const sprop = `${hex(SPS).toString("base64")},${hex(PPS).toString("base64")}`;
    const sets = H264ParameterSets.fromSprop(sprop);
    expect(depacketizeH264([hex(IDR)], { parameterSets: sets }).data).toEqual(hex(`${SC} ${SPS} ${SC} ${PPS} ${SC} ${IDR}`));
    expect(() => H264ParameterSets.fromSprop("not base64!")).toThrow(/base64/);
    expect(() => H264ParameterSets.fromSprop(hex(IDR).toString("base64"))).toThrow(/type 5/);
  });
});

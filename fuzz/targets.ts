// The TypeScript fuzz targets: each parser of untrusted bytes, fed mutated seeds (fuzz/mutate.ts). A target
// fails ("crash") when the parser throws anything but its own documented error, or breaks an invariant of what
// it returns. Seeds are the inputs the tests build (the same encoders and helpers).
import { encodeFrame, decodeFrame, FrameFormatError, FRAME_KINDS } from "../src/protocol/binaryFrame.js";
import { mintToken, verifyToken, TokenError } from "../src/auth/tokens.js";
import { parseStreamSpec } from "../src/sfu/RtpControlApi.js";
import { isRtcp, parseRtcpCompound, parseRtp, RtpParseError, type RtpPacket } from "../src/sfu/rtp.js";
import { ReorderBuffer } from "../src/sfu/reorderBuffer.js";
import { FrameAssembler } from "../src/sfu/frameAssembler.js";
import { depacketizeVp8, DepacketizeError } from "../src/sfu/vp8.js";
import { depacketizeH264, H264ParameterSets } from "../src/sfu/h264.js";
import { serializeRtp } from "../test/helpers/rtpPackets.js";

export interface ByteTarget {
  name: string;
  /** What it feeds. */
  covers: string;
  seeds: () => Uint8Array[];
  /** Returns normally or throws one of the parser's own errors; anything else is a finding. */
  run: (input: Uint8Array) => void;
  expected: (error: unknown) => boolean;
}

/** Thrown for a broken invariant: always a finding. */
export class InvariantError extends Error {}

function check(condition: boolean, what: string): void {
  if (!condition) throw new InvariantError(what);
}

const utf8 = (text: string) => new TextEncoder().encode(text);

// --- binary frame header --------------------------------------------------------------------------------------
function frameSeeds(): Uint8Array[] {
  return FRAME_KINDS.map((kind, k) =>
    encodeFrame({ kind, seq: k, capturedAt: 1_700_000_000_000 + k, width: 4, height: 2, payload: new Uint8Array(4 * 2 * 4).fill(k) }),
  );
}

const binaryFrame: ByteTarget = {
  name: "binary-frame",
  covers: "src/protocol/binaryFrame.ts decodeFrame",
  seeds: frameSeeds,
  run(input) {
    const frame = decodeFrame(input);
    check(FRAME_KINDS.includes(frame.kind), "decoded kind is one of FRAME_KINDS");
    check(frame.payload.length <= input.length, "payload lies inside the message");
    check(Number.isInteger(frame.width) && Number.isInteger(frame.height), "integer sides");
  },
  expected: (error) => error instanceof FrameFormatError,
};

// --- tokens ---------------------------------------------------------------------------------------------------
const SECRET = "fuzz-secret-0123456789abcdef";
const NOW = 1_800_000_000;

const tokens: ByteTarget = {
  name: "tokens",
  covers: "src/auth/tokens.ts verifyToken",
  seeds: () => [
    utf8(mintToken(SECRET, { room: "r1", role: "observer", exp: NOW + 60 }, NOW)),
    utf8(mintToken(SECRET, { room: "room-2", role: "participant", participantId: "alice", exp: NOW + 3600 }, NOW)),
    utf8(mintToken("another-secret-0123456789", { room: "r1", role: "observer", exp: NOW + 60 }, NOW)),
  ],
  run(input) {
    const claims = verifyToken(SECRET, new TextDecoder().decode(input), NOW);
    // A token that verifies was signed with SECRET: mutations must never forge one.
    check(typeof claims.room === "string" && (claims.role === "participant" || claims.role === "observer"), "claims have a room and a role");
  },
  expected: (error) => error instanceof TokenError,
};

// --- control API bodies ---------------------------------------------------------------------------------------
const controlApi: ByteTarget = {
  name: "control-api",
  covers: "src/sfu/RtpControlApi.ts parseStreamSpec (POST /rtp/streams bodies)",
  seeds: () =>
    [
      { ssrc: 1234, payloadType: 96, codec: "VP8", room: "r1", participantId: "cam1" },
      { ssrc: 4294967295, payloadType: 102, codec: "H264", clockRate: 90000, room: "r1", participantId: "cam2", name: "Door", fir: true,
        spropParameterSets: "Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==" },
      { ssrc: 1, payloadType: 64, codec: "h.264", room: "bad room", participantId: "" },
    ].map((body) => utf8(JSON.stringify(body))),
  run(input) {
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(input));
    } catch {
      return; // the API answers 400 to a body that is not JSON before parseStreamSpec sees it
    }
    const spec = parseStreamSpec(body);
    check(Number.isInteger(spec.ssrc) && spec.ssrc >= 0 && spec.ssrc <= 0xffffffff, "ssrc in range");
    check(spec.codec === "VP8" || spec.codec === "H264", "codec normalised");
  },
  expected: (error) => (error as { status?: unknown }).status === 400,
};

// --- RTP / RTCP -----------------------------------------------------------------------------------------------
function rtpSeeds(): Uint8Array[] {
  const payload = Uint8Array.from([0x90, 0x80, 0x12, 0x34, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
  const rtp = [
    serializeRtp({ payloadType: 96, sequenceNumber: 65535, timestamp: 3000, ssrc: 0x1234, marker: true, payload }),
    serializeRtp({ payloadType: 102, sequenceNumber: 7, timestamp: 1, ssrc: 1, csrcs: [9, 10], padding: 3, payload,
      headerExtension: { profile: 0xbede, data: Uint8Array.from([0x10, 0xff, 0, 0]) } }),
  ];
  // An RTCP compound: a receiver report and a PLI.
  const rr = Buffer.from([0x81, 201, 0, 7, 0, 0, 0, 1, ...new Array(24).fill(0)]);
  const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0x12, 0x34]);
  return [...rtp, Buffer.concat([rr, pli])];
}

const rtpParse: ByteTarget = {
  name: "rtp-rtcp",
  covers: "src/sfu/rtp.ts parseRtp, parseRtcpCompound",
  seeds: rtpSeeds,
  run(input) {
    if (isRtcp(input)) {
      for (const header of parseRtcpCompound(input)) check(header.length >= 4, "an RTCP packet is at least its header");
      return;
    }
    const packet = parseRtp(input);
    check(packet.payload.length <= input.length - 12, "payload inside the datagram");
    check(packet.sequenceNumber >= 0 && packet.sequenceNumber <= 0xffff, "16-bit sequence number");
  },
  expected: (error) => error instanceof RtpParseError,
};

// --- a stream: RTP -> reorder -> frames -> VP8/H.264 depacketisation ---------------------------------------------
// Input: byte 0 bit 0 picks H.264; then datagrams, each a big-endian uint16 length and its bytes.
function streamSeeds(): Uint8Array[] {
  const vp8 = (start: boolean, body: number[]) => Uint8Array.from([start ? 0x10 : 0x00, ...body]);
  const vp8Packets = [
    vp8(true, [0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]),
    vp8(false, [1, 2, 3, 4]),
    vp8(true, [0x31, 0x02, 0x00, 5, 6, 7]),
  ];
  const sps = [0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x03, 0xc5, 0x68, 0x40];
  const pps = [0x68, 0xcb, 0x8c, 0xb2];
  const stapA = Uint8Array.from([24, 0, sps.length, ...sps, 0, pps.length, ...pps]);
  const fuStart = Uint8Array.from([0x7c, 0x85, 0x88, 0x84, 1, 2]);
  const fuEnd = Uint8Array.from([0x7c, 0x45, 3, 4, 5]);
  const single = Uint8Array.from([0x41, 0x9a, 0x21, 7, 8]);
  const h264Packets = [stapA, fuStart, fuEnd, single];
  const stream = (codec: number, payloads: Uint8Array[], order: number[], markers: number[]) => {
    const parts: Uint8Array[] = [Uint8Array.from([codec])];
    for (const k of order) {
      const datagram = serializeRtp({ payloadType: 96, sequenceNumber: 65530 + k, timestamp: 3000 * (1 + Math.floor(k / 2)), ssrc: 5,
        marker: markers.includes(k), payload: payloads[k % payloads.length]! });
      parts.push(Uint8Array.from([datagram.length >> 8, datagram.length & 0xff]), datagram);
    }
    return Buffer.concat(parts);
  };
  return [
    stream(0, vp8Packets, [0, 1, 2, 3, 4, 5], [1, 3, 5]),
    stream(0, vp8Packets, [1, 0, 3, 2, 5, 4, 5], [1, 3, 5]),
    stream(1, h264Packets, [0, 1, 2, 3, 4, 5, 6, 7], [2, 3, 6, 7]),
    stream(1, h264Packets, [0, 2, 1, 3, 7, 6], [2, 3, 6, 7]),
  ];
}

/** Feeds one stream input through the ingest's parsing chain; returns how many frames came out depacketised. */
export function replayStream(input: Uint8Array): { depacketized: number } {
  let depacketized = 0;
  if (input.length < 1) return { depacketized };
  const h264 = (input[0]! & 1) === 1;
  const reorder = new ReorderBuffer<RtpPacket>({ windowPackets: 8, maxDelayMs: 40 });
  const assembler = new FrameAssembler(16);
  const sets = new H264ParameterSets();
  let lastExtended = -Infinity;
  let now = 0;
  const onFrames = (frames: ReturnType<FrameAssembler["onPacket"]>) => {
    for (const frame of frames) {
      if (!frame.complete) continue;
      try {
        const out = h264 ? depacketizeH264(frame.payloads, { afterGap: frame.afterGap, parameterSets: sets }) : depacketizeVp8(frame.payloads);
        check(out.data.length > 0, "a depacketised frame has bytes");
        depacketized++;
      } catch (error) {
        if (!(error instanceof DepacketizeError)) throw error;
      }
    }
  };
  const release = (events: ReturnType<ReorderBuffer<RtpPacket>["expire"]>) => {
    for (const event of events) {
      if (event.kind === "loss") {
        assembler.onLoss();
        lastExtended = -Infinity; // a restart (after its loss event) numbers packets afresh
        continue;
      }
      check(event.extendedSeq > lastExtended, "between losses, packets leave the reorder buffer in increasing order");
      lastExtended = event.extendedSeq;
      onFrames(assembler.onPacket(event.packet, event.extendedSeq, now));
    }
  };
  for (let at = 1; at + 2 <= input.length; ) {
    const length = (input[at]! << 8) | input[at + 1]!;
    const datagram = input.subarray(at + 2, at + 2 + length);
    at += 2 + length;
    now += 5;
    let packet: RtpPacket;
    try {
      packet = parseRtp(datagram);
    } catch (error) {
      if (error instanceof RtpParseError) continue;
      throw error;
    }
    release(reorder.push(packet, now).events);
  }
  release(reorder.expire(now + 1000));
  return { depacketized };
}

const rtpStream: ByteTarget = {
  name: "rtp-depacketize",
  covers: "src/sfu/reorderBuffer.ts, frameAssembler.ts, vp8.ts, h264.ts on a stream of datagrams",
  seeds: streamSeeds,
  run: (input) => void replayStream(input),
  expected: () => false,
};

export const BYTE_TARGETS: ByteTarget[] = [binaryFrame, tokens, controlApi, rtpParse, rtpStream];

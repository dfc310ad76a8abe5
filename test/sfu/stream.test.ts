// One RtpStream on a real UDP socket with the real native decoder, fed real VP8 (ffmpeg, grace_hopper.jpg)
// that the test packetizes itself (RFC 7741) so it can reorder, wrap, drop and corrupt packets precisely:
// every frame decoded and sampled at scoreFps; reordering and the 16-bit wrap cost nothing; a lost packet
// sends a PLI (exact bytes) back to the sender, frames are dropped until the next key frame, and requests are
// rate-limited; FIR when asked; bad datagrams are counted and dropped; a decoder error resets one stream only;
// a crash of the decoder process (src/sfu/DecoderProcess.ts) costs its streams one PLI each and the frames up to
// the next key frame.
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import type { NativeVideoDecoder } from "../../src/native/addonTypes.js";
import { loadAddon } from "../../src/native/loadAddon.js";
import type { StreamFrame } from "../../src/scoring/scoringTypes.js";
import { serializeRtp } from "../helpers/rtpPackets.js";
import { RtpStream, type RtpStreamSpec, type RtpStreamTuning } from "../../src/sfu/RtpStream.js";
import { DecoderProcess } from "../../src/sfu/DecoderProcess.js";
import { DECODER_FAULT_ENV } from "../../src/sfu/decoderProcessTypes.js";
import { decoderMaxPending } from "../../src/sfu/RtpStreamRegistry.js";
import { CMAKE_ADDON, SHARED } from "../helpers/paths.js";
import { DEFAULT_MAX_FRAME_PIXELS } from "../../src/scoring/scorerOptions.js";
import { runFfmpeg } from "../helpers/tools.js";
import { ivfFrames } from "../helpers/videos.js";

const WIDTH = 320;
const HEIGHT = 376;
const GOP = 5;
const FRAMES = 12;
const TS_STEP = 9000; // 10 fps at 90 kHz
const SSRC = 0x5eed1234;
const PT = 96;
const MAX_PAYLOAD = 1000;

let dir: string;
let frames: Buffer[];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mesoguard-stream-"));
  const ivf = path.join(dir, "grace.ivf");
  runFfmpeg(
    ["-loop", "1", "-framerate", "10", "-i", path.join(SHARED, "photos/grace_hopper.jpg"),
      "-frames:v", String(FRAMES), "-vf", `scale=${WIDTH}:-2,format=yuv420p`, "-g", String(GOP), "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "500k", ivf],
  );
  frames = ivfFrames(ivf);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** RFC 7741 packets of one frame: X=1 I=1 with a 15-bit picture id; S on the first packet; marker on the last. */
function packetize(frame: Buffer, firstSeq: number, timestamp: number, pictureId: number, ssrc = SSRC): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < frame.length; offset += MAX_PAYLOAD) chunks.push(frame.subarray(offset, offset + MAX_PAYLOAD));
  return chunks.map((chunk, i) =>
    serializeRtp({
      payloadType: PT,
      sequenceNumber: (firstSeq + i) & 0xffff,
      timestamp,
      ssrc,
      marker: i === chunks.length - 1,
      payload: Buffer.concat([Buffer.from([i === 0 ? 0x90 : 0x80, 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff]), chunk]),
    }),
  );
}

/** Frames as packets, frame by frame, sequence numbers from `firstSeq` (wrapping); default all 12 frames. */
function packetsOf(firstSeq: number, list: Buffer[] = frames): Buffer[][] {
  let seq = firstSeq;
  return list.map((frame, i) => {
    const packets = packetize(frame, seq, 1000 + i * TS_STEP, i);
    seq += packets.length;
    return packets;
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function bind(): Promise<Socket> {
  const socket = createSocket("udp4");
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

interface Harness {
  stream: RtpStream;
  sender: Socket;
  /** Datagrams the stream sent back to the sender (RTCP feedback). */
  feedback: Buffer[];
  pictures: StreamFrame[];
  send(datagram: Buffer): Promise<void>;
  /** Sends frames' packets, pausing a little between frames like a real sender. */
  sendFrames(packets: Buffer[][]): Promise<void>;
}

const open: Harness[] = [];

/** `decoder`: default the addon's VideoDecoder in this process. */
async function harness(spec: Partial<RtpStreamSpec> = {}, tuning: Partial<RtpStreamTuning> = {}, decoder?: NativeVideoDecoder): Promise<Harness> {
  const socket = await bind();
  const sender = await bind();
  const feedback: Buffer[] = [];
  sender.on("message", (m) => feedback.push(m));
  const pictures: StreamFrame[] = [];
  const addon = loadAddon(CMAKE_ADDON);
  const stream = new RtpStream({
    id: "test",
    spec: { ssrc: SSRC, payloadType: PT, codec: "VP8", clockRate: 90000, room: "r", participantId: "p", fir: false, ...spec },
    socket,
    advertisedHost: "127.0.0.1",
    decoder: decoder ?? new addon.VideoDecoder({ codec: "VP8", maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, maxPending: decoderMaxPending(tuning) }),
    tuning: { scoreFps: 5, reorderMs: 30, ...tuning },
    onPicture: (frame) => pictures.push(frame),
  });
  const port = stream.port;
  const send = (datagram: Buffer) => new Promise<void>((resolve, reject) => sender.send(datagram, port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
  const h: Harness = {
    stream,
    sender,
    feedback,
    pictures,
    send,
    async sendFrames(packets) {
      for (const frame of packets) {
        for (const packet of frame) await send(packet);
        await sleep(3);
      }
    },
  };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.stream.close();
    h.sender.close();
  }
});

const decodedOf = (h: Harness) => h.stream.counters.frames.decoded;

describe("RtpStream (real UDP, real decoder)", () => {
  it("in order: every frame decoded, pictures sampled at scoreFps by RTP time, no keyframe request", async () => {
    const h = await harness();
    await h.sendFrames(packetsOf(1000));
    await waitFor(() => decodedOf(h) === FRAMES, "12 decoded frames");
    await sleep(100);
    const c = h.stream.info().counters;
    expect(c.frames).toEqual({ decoded: FRAMES, incomplete: 0, "waiting-keyframe": 0, "decode-error": 0, overload: 0, "decoder-lost": 0 });
    expect(c.lost).toBe(0);
    expect(c.keyframes).toBe(3);
    expect(c.packets.ok).toBe(packetsOf(1000).flat().length);
    // 10 fps of RTP time, scored at 5: every other frame.
    expect(h.pictures).toHaveLength(FRAMES / 2);
    for (const [i, p] of h.pictures.entries()) {
      expect(p).toMatchObject({ seq: i, input: { kind: "i420", width: WIDTH, height: HEIGHT } });
      expect(p.input.data.byteLength).toBe(WIDTH * HEIGHT * 1.5);
    }
    expect(c.sampled).toBe(FRAMES / 2);
    expect(h.feedback).toEqual([]);
    expect(h.stream.info()).toMatchObject({ waitingForKeyframe: false, width: WIDTH, height: HEIGHT, source: `127.0.0.1:${h.sender.address().port}` });
  });

  it("reordered packets within the window and the 16-bit wrap cost nothing", async () => {
    const h = await harness();
    // Start 20 packets before the wrap; swap neighbouring packets everywhere.
    const packets = packetsOf(65516).map((frame) => {
      const out = [...frame];
      for (let i = 0; i + 1 < out.length; i += 2) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      return out;
    });
    // And one of frame 3's packets arrives after frame 4's first.
    const moved = packets[3]!.shift()!;
    packets[4]!.splice(1, 0, moved);
    await h.sendFrames(packets);
    await waitFor(() => decodedOf(h) === FRAMES, "12 decoded frames");
    const c = h.stream.info().counters;
    expect(c.lost).toBe(0);
    expect(c.frames.incomplete).toBe(0);
    expect(c.packets.late).toBe(0);
    expect(h.feedback).toEqual([]);
  });

  it("a lost packet: a PLI back to the sender, frames dropped until the next key frame, then decoded again", async () => {
    const h = await harness();
    const packets = packetsOf(500);
    const dropped = packets[2]!.length + packets[3]!.length;
    packets[2] = []; // frame 2 (a delta frame) never arrives, nor frame 3: one gap, one request
    packets[3] = [];
    await h.sendFrames(packets);
    await waitFor(() => decodedOf(h) === FRAMES - 3, "frames 0, 1 and 5.. decoded");
    await sleep(100);
    const c = h.stream.info().counters;
    expect(c.lost).toBe(dropped);
    // Frames 2 and 3 vanished whole; frame 4 came after a gap and was a delta frame: dropped.
    expect(c.frames["waiting-keyframe"]).toBe(1);
    expect(c.frames.decoded).toBe(FRAMES - 3);
    expect(c.pli).toBe(1);
    expect(h.feedback).toHaveLength(1);
    const pli = h.feedback[0]!;
    // RFC 4585 6.1/6.3.1: V=2 P=0 FMT=1, PT=206 (PSFB), length 2, sender SSRC, media source SSRC.
    expect(pli.length).toBe(12);
    expect(pli[0]).toBe(0x81);
    expect(pli[1]).toBe(206);
    expect(pli.readUInt16BE(2)).toBe(2);
    expect(pli.readUInt32BE(4)).not.toBe(0);
    expect(pli.readUInt32BE(4)).not.toBe(SSRC);
    expect(pli.readUInt32BE(8)).toBe(SSRC);
    expect(h.stream.info().feedbackTo).toBe(`127.0.0.1:${h.sender.address().port}`);
  });

  it("a packet lost inside a key frame: that frame is incomplete and dropped", async () => {
    const h = await harness();
    const packets = packetsOf(7);
    expect(packets[GOP]!.length).toBeGreaterThan(3);
    packets[GOP]!.splice(2, 1);
    await h.sendFrames(packets);
    await waitFor(() => decodedOf(h) === FRAMES - GOP, "frames 0-4 and 10-11 decoded");
    const c = h.stream.info().counters;
    expect(c.frames.incomplete).toBe(1);
    expect(c.frames["waiting-keyframe"]).toBe(GOP - 1);
    expect(c.pli).toBe(1);
  });

  it("the stream asks with FIR (RFC 5104) when registered with fir, its sequence number rising per request", async () => {
    const h = await harness({ fir: true }, { keyframeRequestIntervalMs: 50 });
    const packets = packetsOf(100);
    packets[1] = []; // lost: a FIR; frames 2-4 are dropped (waiting for a key frame) within the 50 ms
    await h.sendFrames(packets.slice(0, 5));
    await waitFor(() => h.feedback.length === 1, "a FIR");
    await sleep(80);
    packets[5] = []; // the key frame lost too: a second FIR; frames 6-9 dropped; frame 10 decodes
    await h.sendFrames(packets.slice(5));
    await waitFor(() => decodedOf(h) === 3, "frames 0, 10 and 11 decoded");
    await sleep(100);
    expect(h.feedback).toHaveLength(2);
    for (const [n, fir] of h.feedback.entries()) {
      expect(fir.length).toBe(20);
      expect([fir[0], fir[1], fir.readUInt16BE(2)]).toEqual([0x84, 206, 4]);
      expect(fir.readUInt32BE(8)).toBe(0); // media source SSRC: unused in FIR
      expect(fir.readUInt32BE(12)).toBe(SSRC); // FCI: the SSRC asked
      expect(fir[16]).toBe(n); // command sequence number
    }
    expect(h.stream.counters).toMatchObject({ fir: 2, pli: 0 });
  });

  it("garbage, truncated packets, another SSRC, another payload type are counted and dropped; RTCP is counted", async () => {
    const h = await harness();
    const bad = {
      garbage: Buffer.from("definitely not an RTP packet"),
      truncated: Buffer.from([0x80, 0x60, 0x00]),
      version1: serializeRtp({ payloadType: PT, sequenceNumber: 1, timestamp: 0, ssrc: SSRC, payload: Buffer.from([0x10, 1]) }).fill(0x40, 0, 1),
      otherSsrc: serializeRtp({ payloadType: PT, sequenceNumber: 3, timestamp: 0, ssrc: SSRC + 1, payload: Buffer.from([0x10, 1]) }),
      otherPt: serializeRtp({ payloadType: 97, sequenceNumber: 3, timestamp: 0, ssrc: SSRC, payload: Buffer.from([0x10, 1]) }),
      badRtcp: Buffer.from([0x80, 200, 0x00, 0x09, 0, 0, 0, 1]),
    };
    // A sender report from the stream's SSRC (28 bytes).
    const sr = Buffer.alloc(28);
    sr.set([0x80, 200, 0x00, 0x06]);
    sr.writeUInt32BE(SSRC, 4);
    const packets = packetsOf(40000);
    const mixed = packets.map((frame, i) => [...frame, ...(i % 2 === 0 ? Object.values(bad) : [sr])]);
    await h.sendFrames(mixed);
    await waitFor(() => decodedOf(h) === FRAMES, "12 decoded frames despite the noise");
    const c = h.stream.info().counters;
    const rounds = FRAMES / 2;
    expect(c.packets).toEqual({
      ok: packets.flat().length,
      rtcp: rounds,
      malformed: 4 * rounds,
      "unknown-ssrc": rounds,
      "wrong-payload-type": rounds,
      late: 0,
      duplicate: 0,
      "other-source": 0,
    });
    expect(c.lost).toBe(0);
    expect(c.datagrams).toBe(packets.flat().length + rounds * 7);
  });

  it("a 5x duplicate storm: each extra copy counts as duplicate (none as late), every frame is decoded once", async () => {
    const h = await harness();
    const packets = packetsOf(65530); // across the 16-bit wrap
    for (const packet of packets.flat()) {
      for (let copy = 0; copy < 5; copy++) await h.send(packet);
      await sleep(1); // let the stream read them: a burst of 5x a key frame overflows the socket's receive buffer
    }
    await waitFor(() => decodedOf(h) === FRAMES, "12 decoded frames");
    await sleep(100);
    const c = h.stream.info().counters;
    const n = packets.flat().length;
    expect(c.packets).toMatchObject({ ok: n, duplicate: 4 * n, late: 0 });
    expect(c.lost).toBe(0);
    expect(c.frames).toEqual({ decoded: FRAMES, incomplete: 0, "waiting-keyframe": 0, "decode-error": 0, overload: 0, "decoder-lost": 0 });
  });

  it("a second sender with the same SSRC cannot take the stream over: its packets are refused, every honest frame decoded", async () => {
    const h = await harness();
    const hostile = await bind();
    try {
      const honest = packetsOf(1000);
      // The attacker replays the same VP8 under the same SSRC with far-off sequence numbers (a "restart"),
      // packet for packet interleaved with the honest sender, and aims RTCP at the stream too.
      const forged = packetsOf(30000).flat();
      const sendHostile = (datagram: Buffer) =>
        new Promise<void>((resolve, reject) => hostile.send(datagram, h.stream.port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
      const sr = Buffer.alloc(28);
      sr.set([0x80, 200, 0x00, 0x06]);
      sr.writeUInt32BE(SSRC, 4);
      let k = 0;
      for (const frame of honest) {
        for (const packet of frame) {
          await h.send(packet);
          if (k < forged.length) await sendHostile(forged[k++]!);
          await sleep(1); // twice the packets: let the stream read them before the socket's buffer overflows
        }
        await sendHostile(sr);
        await sleep(3);
      }
      await waitFor(() => decodedOf(h) === FRAMES, "12 decoded frames");
      const info = h.stream.info();
      expect(info.counters.packets).toMatchObject({ ok: honest.flat().length, "other-source": k, late: 0, duplicate: 0 });
      expect(info.counters.lost).toBe(0);
      expect(info.source).toBe(`127.0.0.1:${h.sender.address().port}`);
      expect(info.counters.frames).toMatchObject({ decoded: FRAMES, incomplete: 0, "waiting-keyframe": 0 });
    } finally {
      hostile.close();
    }
  });

  it("another sender takes over only after the latched one is silent for sourceTimeoutMs and it sent 3 packets in sequence", async () => {
    const h = await harness({}, { sourceTimeoutMs: 300 });
    const restarted = await bind();
    try {
      const send2 = (datagram: Buffer) =>
        new Promise<void>((resolve, reject) => restarted.send(datagram, h.stream.port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
      await h.sendFrames(packetsOf(1000).slice(0, GOP)); // frames 0-4 from the first sender
      await waitFor(() => decodedOf(h) === GOP, "the first GOP decoded");
      // Too early: the first sender was heard from moments ago.
      const second = packetsOf(20000).slice(GOP); // the sender restarted on a new port: frames 5-11, new numbering
      await send2(second[0]![0]!);
      await waitFor(() => h.stream.counters.packets["other-source"] === 1, "the early packet refused");
      await sleep(350);
      for (const frame of second) {
        for (const packet of frame) await send2(packet);
        await sleep(3);
      }
      // Its first packets are probation (refused); the key frame they belong to is incomplete, then a PLI goes to
      // the new sender, and the next key frame (frame 10) decodes.
      await waitFor(() => decodedOf(h) === GOP + 2, "frames 10 and 11 from the new sender decoded");
      expect(h.stream.info().source).toBe(`127.0.0.1:${restarted.address().port}`);
      expect(h.stream.counters.packets["other-source"]).toBe(1 + 2);
    } finally {
      restarted.close();
    }
  });

  it("a decoder error resets that stream only: the other stream decodes every frame", async () => {
    const victim = await harness();
    const bystander = await harness();
    // Frame 0, the key frame, cut to its first 100 bytes (its first partition runs past the end), sent whole.
    const bad = packetsOf(1, [frames[0]!.subarray(0, 100), ...frames.slice(1)]);
    const good = packetsOf(1);
    await Promise.all([victim.sendFrames(bad), bystander.sendFrames(good)]);
    await waitFor(() => decodedOf(bystander) === FRAMES && decodedOf(victim) === FRAMES - GOP, "both streams done");
    expect(victim.stream.counters.lost).toBe(0);
    expect(victim.stream.counters.frames["decode-error"]).toBe(1);
    expect(victim.stream.counters.frames["waiting-keyframe"]).toBe(GOP - 1);
    expect(victim.stream.counters.pli).toBeGreaterThanOrEqual(1);
    expect(bystander.stream.counters.frames).toMatchObject({ decoded: FRAMES, "decode-error": 0, incomplete: 0 });
    expect(bystander.feedback).toEqual([]);
  });

  it("the decoder process crashes (SIGSEGV) on a stream's 3rd frame: one PLI at once, both streams decode again from the next key frame", async () => {
    // The test hook (decoderProcessTypes.ts): the first process kills itself on the 3rd access unit it receives.
    process.env[DECODER_FAULT_ENV] = "crash:3";
    const decoders = new DecoderProcess({ addonPath: CMAKE_ADDON, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, restartDelayMinMs: 20 });
    delete process.env[DECODER_FAULT_ENV];
    try {
      const victim = await harness({}, {}, decoders.createDecoder("VP8", decoderMaxPending()));
      const idle = await harness({}, {}, decoders.createDecoder("VP8", decoderMaxPending()));
      const packets = packetsOf(1);
      await idle.sendFrames(packets.slice(0, 1)); // access unit 1: the other stream's key frame
      await waitFor(() => decodedOf(idle) === 1, "the other stream's key frame decoded");
      await victim.sendFrames(packets.slice(0, 1)); // unit 2
      await waitFor(() => decodedOf(victim) === 1, "the stream's key frame decoded");
      const firstPid = decoders.pid;
      await victim.sendFrames(packets.slice(1, GOP)); // unit 3, frame 1: the process dies
      await waitFor(() => decoders.status().restarts === 1 && decoders.pid !== null, "the decoder process restarted");
      expect(decoders.pid).not.toBe(firstPid);
      expect(decoders.status().lastExit).toMatchObject({ cause: "signal", signal: "SIGSEGV", pid: firstPid });
      // Frame 1 was in the dead process: dropped, the stream waits for a key frame and asked for one at once.
      const c = victim.stream.counters;
      expect(c.frames.decoded).toBe(1);
      expect(c.frames["decoder-lost"]).toBeGreaterThanOrEqual(1);
      expect(c.frames["decoder-lost"] + c.frames["waiting-keyframe"]).toBe(GOP - 1);
      expect(victim.feedback).toHaveLength(1);
      expect([victim.feedback[0]![0], victim.feedback[0]![1], victim.feedback[0]!.readUInt32BE(8)]).toEqual([0x81, 206, SSRC]);
      expect(victim.stream.waitingForKeyframe).toBe(true);
      // The next key frame decodes in the new process, and so does everything after it.
      await victim.sendFrames(packets.slice(GOP));
      await waitFor(() => decodedOf(victim) === 1 + FRAMES - GOP, "frames 5-11 decoded after the restart");
      expect(victim.stream.waitingForKeyframe).toBe(false);
      expect(victim.pictures.at(-1)!.input).toMatchObject({ kind: "i420", width: WIDTH, height: HEIGHT });
      // The other stream had nothing in the process when it died: its next delta frame meets a fresh decoder,
      // which wants a key frame; it asks for one and decodes from the next.
      await idle.sendFrames(packets.slice(1));
      await waitFor(() => decodedOf(idle) === 1 + FRAMES - GOP, "the other stream decodes from frame 5");
      expect(idle.stream.counters.frames["waiting-keyframe"]).toBe(GOP - 1);
      expect(idle.stream.counters.pli).toBeGreaterThanOrEqual(1);
    } finally {
      for (const h of open.splice(0)) {
        await h.stream.close();
        h.sender.close();
      }
      await decoders.close();
    }
  });

  it("close() stops the socket: nothing more is counted", async () => {
    const h = await harness();
    const port = h.stream.port;
    await h.stream.close();
    expect(h.stream.closed).toBe(true);
    await new Promise<void>((resolve) => h.sender.send(Buffer.from("x"), port, "127.0.0.1", () => resolve()));
    await sleep(50);
    expect(h.stream.counters.datagrams).toBe(0);
  });
});

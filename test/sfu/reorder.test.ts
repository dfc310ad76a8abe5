// The reorder buffer (sequence order with 16-bit wraparound, gaps declared lost by window or by time, late and
// duplicate packets, sender restarts) and the frame assembler (frames by timestamp and marker, losses making
// frames incomplete or marking the next one as after a gap), on hand-built packets and a fake clock.
import { describe, expect, it } from "vitest";

import { FrameAssembler, type AssembledFrame } from "../../src/sfu/frameAssembler.js";
import { ReorderBuffer, type ReorderEvent } from "../../src/sfu/reorderBuffer.js";
import { parseRtp, type RtpPacket } from "../../src/sfu/rtp.js";
import { serializeRtp } from "../helpers/rtpPackets.js";

type P = { sequenceNumber: number };
const p = (sequenceNumber: number): P => ({ sequenceNumber });

/** Events as compact strings: "5" for a released packet (its 16-bit number), "loss:2". */
function show(events: ReorderEvent<P>[]): string[] {
  return events.map((e) => (e.kind === "packet" ? String(e.packet.sequenceNumber) : `loss:${e.count}`));
}

/** Pushes `seqs` at time `now` (default 100, after the start-up hold of streams begun at 0). */
function feed(buffer: ReorderBuffer<P>, seqs: number[], now = 100): string[] {
  return seqs.flatMap((s) => {
    const r = buffer.push(p(s), now);
    return [...show(r.events), ...(r.dropped ? [`${r.dropped}:${s}`] : [])];
  });
}

/** A buffer whose stream began with `first` at time 0 and is past its start-up hold. */
function begun(first: number, options: ConstructorParameters<typeof ReorderBuffer>[0] = {}): ReorderBuffer<P> {
  const b = new ReorderBuffer<P>(options);
  expect(feed(b, [first], 0)).toEqual([]);
  expect(show(b.expire(Math.max(100, b.maxDelayMs)))).toEqual([String(first)]);
  return b;
}

describe("ReorderBuffer", () => {
  it("holds the first packets maxDelayMs, then starts at the lowest: a stream whose first packets came swapped loses nothing", () => {
    const b = new ReorderBuffer<P>({ maxDelayMs: 40 });
    expect(feed(b, [501, 500, 503], 0)).toEqual([]);
    expect(b.nextDeadline()).toBe(40);
    expect(show(b.expire(39))).toEqual([]);
    expect(feed(b, [502], 39)).toEqual([]);
    expect(show(b.expire(40))).toEqual(["500", "501", "502", "503"]);
    expect(feed(b, [504], 41)).toEqual(["504"]);
    expect(b.lost).toBe(0);
  });

  it("with no hold (maxDelayMs 0) the first packet passes at once", () => {
    const b = new ReorderBuffer<P>({ maxDelayMs: 0 });
    expect(feed(b, [7, 8], 0)).toEqual(["7", "8"]);
  });

  it("passes packets in order straight through", () => {
    const b = begun(10);
    expect(feed(b, [11, 12, 13])).toEqual(["11", "12", "13"]);
    expect(b.waiting).toBe(0);
    expect(b.nextDeadline()).toBeNull();
  });

  it("holds a packet that came early until the missing one arrives", () => {
    const b = begun(1);
    expect(feed(b, [3, 4])).toEqual([]);
    expect(b.waiting).toBe(2);
    expect(feed(b, [2])).toEqual(["2", "3", "4"]);
    expect(b.lost).toBe(0);
  });

  it("follows the sequence number across 65535 -> 0, reordered at the wrap too", () => {
    const b = begun(65533);
    expect(feed(b, [65534, 0, 65535, 1, 3, 2])).toEqual(["65534", "65535", "0", "1", "2", "3"]);
    expect(b.lost).toBe(0);
  });

  it("declares a gap lost when the oldest waiting packet has waited maxDelayMs", () => {
    const b = begun(100, { maxDelayMs: 40 });
    expect(feed(b, [102, 103], 105)).toEqual([]);
    expect(b.nextDeadline()).toBe(145);
    expect(show(b.expire(144))).toEqual([]);
    expect(show(b.expire(145))).toEqual(["loss:1", "102", "103"]);
    expect(b.lost).toBe(1);
    expect(feed(b, [101], 150)).toEqual(["late:101"]);
  });

  it("declares a gap lost when more than windowPackets are held behind it", () => {
    const b = begun(0, { windowPackets: 4, maxDelayMs: 1000 });
    expect(feed(b, [3, 4])).toEqual([]); // 1..4: four packets held back, within the window
    expect(feed(b, [5])).toEqual(["loss:2", "3", "4", "5"]); // 1..5 is five: 1 and 2 are lost
    expect(b.lost).toBe(2);
  });

  it("keeps skipping gaps while the window overflows", () => {
    const b = begun(10, { windowPackets: 3, maxDelayMs: 1000 });
    expect(feed(b, [12])).toEqual([]);
    expect(feed(b, [14])).toEqual(["loss:1", "12"]);
    expect(feed(b, [16])).toEqual(["loss:1", "14"]);
    expect(b.lost).toBe(2);
    expect(feed(b, [15])).toEqual(["15", "16"]);
  });

  it("counts a copy of a waiting or of a released packet as duplicate, and one whose gap was given up as late", () => {
    const b = begun(1);
    feed(b, [2]);
    expect(feed(b, [4, 4])).toEqual(["duplicate:4"]);
    expect(feed(b, [2])).toEqual(["duplicate:2"]);
    expect(feed(b, [3])).toEqual(["3", "4"]);
    expect(feed(b, [1, 3])).toEqual(["duplicate:1", "duplicate:3"]);
    expect(feed(b, [6], 100)).toEqual([]);
    expect(show(b.expire(140))).toEqual(["loss:1", "6"]);
    expect(feed(b, [5, 5], 150)).toEqual(["late:5", "late:5"]); // 5 never came: late, each time
  });

  it("a 5x duplicate storm: every extra copy counts as duplicate, none as late, nothing is lost", () => {
    const b = begun(65500);
    const out: string[] = [];
    for (let i = 1; i <= 100; i++) {
      const seq = (65500 + i) & 0xffff; // across the wrap
      for (let copy = 0; copy < 5; copy++) out.push(...feed(b, [seq]));
    }
    expect(out.filter((e) => e.startsWith("duplicate:"))).toHaveLength(400);
    expect(out.filter((e) => !e.startsWith("duplicate:"))).toHaveLength(100); // each packet released once
    expect(b.lost).toBe(0);
  });

  it("follows a sender that restarts with a new sequence number once a second packet confirms it", () => {
    const b = begun(1000);
    feed(b, [1001]);
    expect(feed(b, [30000])).toEqual(["late:30000"]); // one stray far packet is not believed
    expect(feed(b, [1002])).toEqual(["1002"]);
    expect(feed(b, [40000])).toEqual(["late:40000"]);
    expect(feed(b, [40001])).toEqual(["loss:0", "40001"]);
    expect(feed(b, [40002, 40003])).toEqual(["40002", "40003"]);
  });
});

// ---- frame assembly ---------------------------------------------------------------------------------------

function rtp(seq: number, timestamp: number, marker: boolean, payload = [seq & 0xff]): RtpPacket {
  return parseRtp(serializeRtp({ payloadType: 96, sequenceNumber: seq, timestamp, ssrc: 1, marker, payload: Uint8Array.from(payload) }));
}

describe("FrameAssembler", () => {
  const frames = (a: FrameAssembler, packets: RtpPacket[]): AssembledFrame[] =>
    packets.flatMap((packet) => a.onPacket(packet, 0x10000 + packet.sequenceNumber, 0));

  it("a frame ends at the marker bit; its payloads are in order", () => {
    const a = new FrameAssembler();
    const out = frames(a, [rtp(1, 3000, false), rtp(2, 3000, false), rtp(3, 3000, true), rtp(4, 6000, true)]);
    expect(out.map((f) => [f.timestamp, f.payloads.map((x) => x[0]), f.complete, f.marker, f.afterGap])).toEqual([
      [3000, [1, 2, 3], true, true, false],
      [6000, [4], true, true, false],
    ]);
  });

  it("a new timestamp ends a frame that had no marker", () => {
    const a = new FrameAssembler();
    const out = frames(a, [rtp(1, 3000, false), rtp(2, 6000, true)]);
    expect(out.map((f) => [f.timestamp, f.complete, f.marker])).toEqual([
      [3000, true, false],
      [6000, true, true],
    ]);
  });

  it("a loss inside a frame makes it incomplete, and the next frame comes after a gap", () => {
    const a = new FrameAssembler();
    expect(frames(a, [rtp(1, 3000, false)])).toEqual([]);
    a.onLoss();
    const out = frames(a, [rtp(3, 3000, true), rtp(4, 6000, true), rtp(5, 9000, true)]);
    expect(out.map((f) => [f.timestamp, f.complete, f.afterGap])).toEqual([
      [3000, false, false],
      [6000, true, true],
      [9000, true, false],
    ]);
  });

  it("a loss between frames leaves the finished frame complete", () => {
    const a = new FrameAssembler();
    const first = frames(a, [rtp(1, 3000, true)]);
    a.onLoss();
    const next = frames(a, [rtp(3, 6000, true)]);
    expect([first[0]!.complete, next[0]!.complete, next[0]!.afterGap]).toEqual([true, true, true]);
  });

  it("padding-only packets are skipped", () => {
    const a = new FrameAssembler();
    const out = frames(a, [rtp(1, 3000, false), rtp(2, 3000, false, []), rtp(3, 3000, true)]);
    expect(out[0]!.payloads.map((x) => x[0])).toEqual([1, 3]);
  });

  it("a frame with more packets than the limit is incomplete", () => {
    const a = new FrameAssembler(3);
    const out = frames(a, [1, 2, 3, 4].map((s) => rtp(s, 3000, s === 4)));
    expect(out[0]!.complete).toBe(false);
  });
});

// Groups a stream's in-order packets (from the ReorderBuffer) into frames: the packets of one frame share an
// RTP timestamp and the last one carries the marker bit. A loss inside a frame makes it incomplete; a loss
// between frames marks the next frame as coming after a gap (its head may be missing: the depacketizer checks).
import type { RtpPacket } from "./rtp.js";

export interface AssembledFrame {
  timestamp: number;
  /** Payloads in sequence order. */
  payloads: Uint8Array[];
  /** No packet of it was lost (as far as sequence numbers tell) and it did not outgrow the packet limit. */
  complete: boolean;
  /** Packets were lost just before its first packet: its head may be missing. */
  afterGap: boolean;
  /** It ended with the marker bit (rather than with the next frame's timestamp). */
  marker: boolean;
  firstSeq: number;
  lastSeq: number;
  /** When its last packet was released (the clock passed to onPacket). */
  completedAt: number;
}

interface Building {
  timestamp: number;
  payloads: Uint8Array[];
  broken: boolean;
  afterGap: boolean;
  firstSeq: number;
  lastSeq: number;
}

export class FrameAssembler {
  #current: Building | null = null;
  #gap = false;

  /** A frame with more packets than this is dropped (a runaway sender, or a lost marker). */
  constructor(readonly maxPacketsPerFrame = 4096) {}

  /** The next packet in sequence order. Returns the frames it completes (0, 1, or 2 when it also ends one). */
  onPacket(packet: RtpPacket, extendedSeq: number, now: number): AssembledFrame[] {
    const out: AssembledFrame[] = [];
    // Padding-only packets (bandwidth probes) have no payload: they only keep the sequence numbers going.
    if (packet.payload.length === 0) return out;
    if (this.#current && this.#current.timestamp !== packet.timestamp) {
      out.push(this.#finish(this.#current, false, now));
      this.#current = null;
    }
    if (!this.#current) {
      this.#current = { timestamp: packet.timestamp, payloads: [], broken: false, afterGap: this.#gap, firstSeq: extendedSeq, lastSeq: extendedSeq };
      this.#gap = false;
    }
    const current = this.#current;
    if (current.payloads.length >= this.maxPacketsPerFrame) current.broken = true;
    else current.payloads.push(packet.payload);
    current.lastSeq = extendedSeq;
    if (packet.marker) {
      out.push(this.#finish(current, true, now));
      this.#current = null;
    }
    return out;
  }

  /** Packets were lost here: the frame being built is incomplete, and the next one may have lost its head. */
  onLoss(): void {
    if (this.#current) this.#current.broken = true;
    this.#gap = true;
  }

  reset(): void {
    this.#current = null;
    this.#gap = false;
  }

  #finish(b: Building, marker: boolean, now: number): AssembledFrame {
    return {
      timestamp: b.timestamp,
      payloads: b.payloads,
      complete: !b.broken,
      afterGap: b.afterGap,
      marker,
      firstSeq: b.firstSeq,
      lastSeq: b.lastSeq,
      completedAt: now,
    };
  }
}

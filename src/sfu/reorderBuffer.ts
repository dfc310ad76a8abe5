// Puts one stream's RTP packets back in sequence-number order (16-bit, wrapping) and says where packets were
// lost. A packet that arrives ahead of a gap waits until the gap fills, or until the gap is declared lost: when
// more than `windowPackets` packets wait behind it, or the oldest waiting packet has waited `maxDelayMs`.
// The first packets of a stream are held maxDelayMs too, so that a stream whose first packets arrive out of
// order starts at the lowest. Sequence jumps the sender makes on purpose (a restart) are followed as in RFC 3550
// appendix A.1: a far jump is believed once the next packet continues from it.
import { seqDelta } from "./rtp.js";

export interface ReorderOptions {
  /** Most packets held behind a gap before it is declared lost (default 64). */
  windowPackets?: number;
  /** Longest a packet waits behind a gap before it is declared lost (default 40 ms). */
  maxDelayMs?: number;
  /** A jump forward of more than this is a restart, not loss (default 3000, RFC 3550 MAX_DROPOUT). */
  maxDropout?: number;
  /** A packet more than this far behind is not late but a restart candidate (default 100, MAX_MISORDER). */
  maxMisorder?: number;
}

export type ReorderEvent<T> = { kind: "packet"; packet: T; extendedSeq: number } | { kind: "loss"; count: number };

export type PushResult<T> = {
  events: ReorderEvent<T>[];
  /**
   * Why the packet itself was not taken: `late`, it came after its place was given up as lost (or it is a far
   * jump not yet believed); `duplicate`, it is a copy of a packet waiting or already released.
   */
  dropped?: "late" | "duplicate";
};

interface Waiting<T> {
  packet: T;
  at: number;
}

export class ReorderBuffer<T extends { sequenceNumber: number }> {
  readonly windowPackets: number;
  readonly maxDelayMs: number;
  readonly maxDropout: number;
  readonly maxMisorder: number;
  /** Extended sequence number of the next packet to release; null before the first packet. */
  #next: number | null = null;
  /** Highest extended sequence number seen. */
  #highest = 0;
  readonly #waiting = new Map<number, Waiting<T>>();
  /** RFC 3550 A.1 probation: the sequence number that would confirm a jump. */
  #badSeq: number | null = null;
  #lost = 0;
  /** Whether the start-up hold is over (packets are released from #next on). */
  #started = false;
  #firstAt = 0;
  /**
   * Extended numbers of the packets released lately, a ring of maxMisorder + 1 slots: every number behind #next
   * that is not a restart candidate has its own slot, so a copy of a released packet is told from a late one.
   */
  readonly #released: Float64Array;

  constructor(options: ReorderOptions = {}) {
    this.windowPackets = options.windowPackets ?? 64;
    this.maxDelayMs = options.maxDelayMs ?? 40;
    this.maxDropout = options.maxDropout ?? 3000;
    this.maxMisorder = options.maxMisorder ?? 100;
    this.#released = new Float64Array(this.maxMisorder + 1).fill(-1);
  }

  /** Packets declared lost so far. */
  get lost(): number {
    return this.#lost;
  }

  /** Packets waiting behind a gap. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** When expire() next has something to do (ms, same clock as push), or null when nothing waits. */
  nextDeadline(): number | null {
    if (!this.#started) return this.#next === null ? null : this.#firstAt + this.maxDelayMs;
    let oldest = Infinity;
    for (const w of this.#waiting.values()) oldest = Math.min(oldest, w.at);
    return oldest === Infinity ? null : oldest + this.maxDelayMs;
  }

  push(packet: T, now: number): PushResult<T> {
    const seq = packet.sequenceNumber & 0xffff;
    if (this.#next === null) {
      // Start well away from 0 so extended numbers stay positive when early packets arrive late.
      const ext = 0x10000 + seq;
      this.#next = ext;
      this.#highest = ext;
      this.#firstAt = now;
      this.#waiting.set(ext, { packet, at: now });
      return { events: this.#startIfDue(now) };
    }
    const delta = seqDelta(this.#highest & 0xffff, seq);
    const ext = this.#highest + delta;
    const events: ReorderEvent<T>[] = [];
    if (delta > this.maxDropout || ext < this.#next - this.maxMisorder) {
      // A far jump either way: believe it only when the next packet follows on from it.
      if (this.#badSeq === seq) {
        this.#badSeq = null;
        events.push(...this.#restart(seq, packet));
        return { events };
      }
      this.#badSeq = (seq + 1) & 0xffff;
      return { events, dropped: "late" };
    }
    this.#badSeq = null;
    if (this.#waiting.has(ext)) return { events, dropped: "duplicate" };
    if (!this.#started) {
      // Still holding the first packets: an earlier one moves the start back.
      if (ext < this.#next) this.#next = ext;
      if (ext > this.#highest) this.#highest = ext;
      this.#waiting.set(ext, { packet, at: now });
      return { events: this.#startIfDue(now) };
    }
    if (ext < this.#next) return { events, dropped: this.#wasReleased(ext) ? "duplicate" : "late" };
    if (ext > this.#highest) this.#highest = ext;
    if (ext === this.#next) {
      this.#next++;
      events.push(this.#release(packet, ext));
      events.push(...this.#advance());
    } else {
      this.#waiting.set(ext, { packet, at: now });
    }
    events.push(...this.#giveUp(now));
    return { events };
  }

  /** Declares gaps lost whose packets have waited too long (call at nextDeadline()). */
  expire(now: number): ReorderEvent<T>[] {
    return [...this.#startIfDue(now), ...this.#giveUp(now)];
  }

  /** Forget everything (the stream restarts). */
  reset(): void {
    this.#next = null;
    this.#waiting.clear();
    this.#badSeq = null;
    this.#started = false;
    this.#released.fill(-1);
  }

  /** Ends the start-up hold once the first packet has waited maxDelayMs (or the window is full). */
  #startIfDue(now: number): ReorderEvent<T>[] {
    if (this.#started || this.#next === null) return [];
    if (now - this.#firstAt < this.maxDelayMs && this.#highest - this.#next + 1 <= this.windowPackets) return [];
    this.#started = true;
    return [...this.#advance(), ...this.#giveUp(now)];
  }

  #restart(seq: number, packet: T): ReorderEvent<T>[] {
    // The packets still waiting belong to the old numbering: they are dropped, and the break is a loss.
    const events: ReorderEvent<T>[] = [{ kind: "loss", count: this.#waiting.size }];
    this.#lost += this.#waiting.size;
    this.#waiting.clear();
    this.#released.fill(-1); // the old numbering's packets are no copies of the new one's
    this.#started = true;
    const ext = 0x10000 + seq;
    this.#next = ext + 1;
    this.#highest = ext;
    events.push(this.#release(packet, ext));
    return events;
  }

  #release(packet: T, ext: number): ReorderEvent<T> {
    this.#released[ext % this.#released.length] = ext;
    return { kind: "packet", packet, extendedSeq: ext };
  }

  #wasReleased(ext: number): boolean {
    return this.#released[ext % this.#released.length] === ext;
  }

  /** Releases waiting packets that are now in order. */
  #advance(): ReorderEvent<T>[] {
    const events: ReorderEvent<T>[] = [];
    if (this.#next === null) return events;
    for (;;) {
      const w = this.#waiting.get(this.#next);
      if (!w) break;
      this.#waiting.delete(this.#next);
      events.push(this.#release(w.packet, this.#next));
      this.#next++;
    }
    return events;
  }

  /** While the gap at #next holds too many packets or too old ones back, skip it as lost. */
  #giveUp(now: number): ReorderEvent<T>[] {
    const events: ReorderEvent<T>[] = [];
    while (this.#started && this.#waiting.size > 0 && this.#next !== null) {
      let lowest = Infinity;
      let oldest = Infinity;
      for (const [ext, w] of this.#waiting) {
        lowest = Math.min(lowest, ext);
        oldest = Math.min(oldest, w.at);
      }
      const tooMany = this.#highest - this.#next + 1 > this.windowPackets;
      const tooOld = now - oldest >= this.maxDelayMs;
      if (!tooMany && !tooOld) break;
      const count = lowest - this.#next;
      this.#lost += count;
      events.push({ kind: "loss", count });
      this.#next = lowest;
      events.push(...this.#advance());
    }
    return events;
  }
}

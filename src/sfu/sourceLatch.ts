// Which sender a stream takes its RTP from. The first valid packet latches its source (address and port); from
// then on packets from anywhere else are refused, so a local sender that knows the SSRC and the port cannot take
// the stream over. Another source is believed only after the latched one has sent nothing for `timeoutMs` (the
// sender restarted on a new port, the SFU moved), and only once it has passed probation as in RFC 3550 appendix
// A.1: `probationPackets` packets in sequence. To move a stream to another sender at once, register it again.
import type { RemoteInfo } from "node:dgram";

export interface SourceLatchOptions {
  /** How long the latched source must be silent before another may take over. */
  timeoutMs: number;
  /** In-sequence packets a new source sends before it is believed (RFC 3550 MIN_SEQUENTIAL). */
  probationPackets: number;
}

interface Candidate {
  address: string;
  port: number;
  nextSeq: number;
  count: number;
}

export type LatchDecision = "taken" | "moved" | "refused";

const sameSource = (a: { address: string; port: number }, b: { address: string; port: number }) =>
  a.address === b.address && a.port === b.port;

export class SourceLatch {
  #source: RemoteInfo | null = null;
  #lastAt = 0;
  #candidate: Candidate | null = null;

  constructor(readonly options: SourceLatchOptions) {}

  /** The latched source, or null before the first packet. */
  get source(): RemoteInfo | null {
    return this.#source;
  }

  /**
   * Whether an RTP packet (sequence number `seq`) from `from` at `now` (ms) is taken: `taken` from the latched
   * source (or the first packet), `moved` when `from` has just taken over from a silent source, else `refused`.
   */
  decide(from: RemoteInfo, seq: number, now: number): LatchDecision {
    if (!this.#source || sameSource(this.#source, from)) {
      this.#source = from;
      this.#lastAt = now;
      this.#candidate = null;
      return "taken";
    }
    const c = this.#candidate;
    if (c && sameSource(c, from) && seq === c.nextSeq) c.count++;
    else this.#candidate = { address: from.address, port: from.port, nextSeq: seq, count: 1 };
    const candidate = this.#candidate!;
    candidate.nextSeq = (seq + 1) & 0xffff;
    if (now - this.#lastAt < this.options.timeoutMs || candidate.count < this.options.probationPackets) return "refused";
    this.#source = from;
    this.#lastAt = now;
    this.#candidate = null;
    return "moved";
  }
}

// One stream's video decoder as the server sees it when decoding runs in the decoder process
// (src/sfu/DecoderProcess.ts): the addon's NativeVideoDecoder interface, each call a message to the process and
// each result a reply. When the process dies, what it had not answered rejects with ERR_VIDEO_DECODER_PROCESS and
// the decoder is opened again, fresh, in the next process (its first access unit must then be a key frame).
import type { NativeDecodedVideoFrame, NativeVideoDecoder, NativeVideoDecoderOptions, NativeVideoDecoderStats, VideoCodecName } from "../native/addonTypes.js";
import type { DecoderReply, DecoderRequest } from "./decoderProcessTypes.js";

/** What a decoder needs from its process. */
export interface DecoderProcessLink {
  /** Whether a process is up to take requests (false while it restarts). */
  running(): boolean;
  /** Sends a request; throws when it cannot be serialized. */
  send(message: DecoderRequest): void;
  /** The decoder is closed: the process forgets it. */
  forget(id: number): void;
}

interface Waiting {
  resolve: (result: NativeDecodedVideoFrame) => void;
  reject: (error: Error) => void;
  /** performance.now() when it was sent. */
  sentAt: number;
}

const COUNTERS = ["decoded", "empty", "failed", "skipped", "resets"] as const;

function decoderError(code: string, message: string, index?: number): Error {
  const error = new Error(message) as NodeJS.ErrnoException & { index?: number };
  error.code = code;
  if (index !== undefined) error.index = index;
  return error;
}

export class ProcessVideoDecoder implements NativeVideoDecoder {
  readonly codec: VideoCodecName;
  readonly id: number;
  readonly #options: NativeVideoDecoderOptions;
  readonly #link: DecoderProcessLink;
  /** Requests sent and not answered, oldest first (one decoder's replies come in request order). */
  readonly #waiting = new Map<number, Waiting>();
  #nextRequest = 0;
  /** Counters of decoders in processes that died, and the current one's latest. */
  readonly #counted = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Record<(typeof COUNTERS)[number], number>;
  #latest: NativeVideoDecoderStats | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;
  #closeDone: (() => void) | null = null;

  constructor(id: number, options: NativeVideoDecoderOptions, link: DecoderProcessLink) {
    this.id = id;
    this.codec = options.codec;
    this.#options = options;
    this.#link = link;
  }

  /** The message that opens this decoder in a (new) process. */
  get openRequest(): DecoderRequest {
    return { type: "open", id: this.id, options: this.#options };
  }

  /** When its oldest unanswered request was sent (performance.now()); undefined when none waits. */
  get oldestWaitingSince(): number | undefined {
    return this.#waiting.values().next().value?.sentAt;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /** `index` counts this decoder's decode() calls that reached the process, across restarts. */
  decode(accessUnit: Uint8Array | ArrayBuffer, options?: { returnPixels?: boolean }): Promise<NativeDecodedVideoFrame> {
    if (this.#closed) return Promise.reject(decoderError("ERR_CLOSED", "the video decoder is closed"));
    if (!this.#link.running()) {
      return Promise.reject(decoderError("ERR_VIDEO_DECODER_PROCESS", "the decoder process is restarting after it died: wait for a key frame"));
    }
    // Counted here, not in the process: what is in transit waits too.
    if (this.#waiting.size >= this.#options.maxPending) {
      return Promise.reject(decoderError("ERR_QUEUE_FULL", `the video decoder already has ${this.#waiting.size} access units waiting (maxPending)`));
    }
    const request = this.#nextRequest;
    try {
      this.#link.send({ type: "decode", id: this.id, request, data: accessUnit, options });
    } catch (error) {
      return Promise.reject(decoderError("ERR_INVALID_INPUT", `decode(accessUnit, options): cannot be sent to the decoder process: ${(error as Error).message}`));
    }
    this.#nextRequest++;
    return new Promise((resolve, reject) => this.#waiting.set(request, { resolve, reject, sentAt: performance.now() }));
  }

  reset(): void {
    if (!this.#closed && this.#link.running()) this.#link.send({ type: "reset", id: this.id });
  }

  stats(): NativeVideoDecoderStats {
    const latest = this.#latest;
    const counters = Object.fromEntries(COUNTERS.map((k) => [k, this.#counted[k] + (latest?.[k] ?? 0)]));
    return { ...(counters as Record<(typeof COUNTERS)[number], number>), pending: this.#waiting.size, closed: this.#closed };
  }

  /**
   * Settles when what waits has settled: decoded (drain, the default), or rejected with ERR_CLOSED at once
   * (drain: false; the process drops it). A process that hangs meanwhile is killed, which settles it too.
   */
  close(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    const drain = options.drain ?? true;
    if (!drain) this.#rejectWaiting("ERR_CLOSED", "the video decoder was closed before this access unit was decoded");
    if (this.#link.running()) this.#link.send({ type: "close", id: this.id, drain });
    this.#closing = new Promise<void>((resolve) => (this.#closeDone = () => resolve()));
    this.#settleClose();
    return this.#closing;
  }

  #settleClose(): void {
    if (!this.#closeDone || this.#waiting.size > 0) return;
    this.#link.forget(this.id);
    this.#closeDone();
    this.#closeDone = null;
  }

  /** A reply from the process. */
  onReply(message: Exclude<DecoderReply, { type: "ready" }>): void {
    const waiting = this.#waiting.get(message.request);
    if (!waiting) return;
    this.#waiting.delete(message.request);
    if (message.stats) this.#latest = message.stats;
    if (message.type === "decoded") waiting.resolve({ ...message.result, index: message.request });
    else waiting.reject(decoderError(message.code, message.message, message.request));
    this.#settleClose();
  }

  /** The process died (`why`: how): every request it had not answered rejects (a close in progress is then done). */
  onProcessLost(why: string): void {
    for (const k of COUNTERS) this.#counted[k] += this.#latest?.[k] ?? 0;
    this.#latest = null;
    this.#rejectWaiting("ERR_VIDEO_DECODER_PROCESS", `${why} before this access unit was decoded: the stream's decoder restarts and waits for a key frame`);
    this.#settleClose();
  }

  #rejectWaiting(code: string, message: string): void {
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const [request, w] of waiting) w.reject(decoderError(code, message, request));
  }
}

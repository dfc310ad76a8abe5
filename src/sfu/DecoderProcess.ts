// The RTP ingest's decoder process, mediasoup's model: libavcodec runs in one child process per server
// (src/sfu/decoderProcessMain.ts) that hosts every stream's decoder, so a crash in it (a hostile bitstream) ends
// that process and not the server. Transport: Node's IPC channel with `serialization: "advanced"` (V8's
// serializer: Buffers cross as Buffers, framing and ordering are Node's) rather than a socket with framing of our
// own: less code to get wrong, and the copies are the same; the I420 planes come back only for the frames sampled
// for scoring.
// When the process dies, or a decode goes unanswered for hangTimeoutMs (it is then killed), the crash is logged
// once, every unanswered decode rejects with ERR_VIDEO_DECODER_PROCESS (each stream then waits for a key frame
// and asks for one), and a new process opens the streams' decoders again after a backoff, with a cap on restarts
// per minute (decoderProcessTypes.ts).
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Logger } from "pino";

import type { NativeVideoDecoder, VideoCodecName } from "../native/addonTypes.js";
import { resolveAddonPath } from "../native/loadAddon.js";
import { packageRoot } from "../models/paths.js";
import {
  DECODER_FAULT_ENV,
  DECODER_PROCESS_DEFAULTS,
  parseDecoderFault,
  type DecoderExitCause,
  type DecoderFault,
  type DecoderProcessExit,
  type DecoderProcessSettings,
  type DecoderProcessStatus,
  type DecoderReply,
  type DecoderRequest,
} from "./decoderProcessTypes.js";
import { ProcessVideoDecoder, type DecoderProcessLink } from "./ProcessVideoDecoder.js";

export interface DecoderProcessOptions extends Partial<DecoderProcessSettings> {
  /** The decoders' picture size cap (the scorer's maxFramePixels). */
  maxFramePixels: number;
  /** The addon the process loads; default the one loadAddon() finds (so the server's own). */
  addonPath?: string;
  log?: Logger;
  /** Each unexpected end of a process (the server counts it in /metrics). */
  onExit?: (exit: DecoderProcessExit) => void;
}

/** A process that ran this long before it died resets the backoff. */
const STABLE_MS = 60_000;
/** A process that has not loaded the addon after this long hangs (the hang timeout counts from then on). */
const STARTUP_TIMEOUT_MS = 30_000;
/** How long close() waits for the process to leave after its channel is closed, before SIGKILL. */
const CLOSE_GRACE_MS = 2000;

/**
 * The compiled entry script. Under vitest this module runs from src/ as TypeScript, which a forked node cannot
 * load: it then takes the compiled copy in dist/ (npm test compiles it first).
 */
function entryScript(): string {
  if (fileURLToPath(import.meta.url).endsWith(".ts")) return path.join(packageRoot(), "dist", "src", "sfu", "decoderProcessMain.js");
  return fileURLToPath(new URL("./decoderProcessMain.js", import.meta.url));
}

export class DecoderProcess {
  readonly #settings: DecoderProcessSettings;
  readonly #options: DecoderProcessOptions;
  readonly #addonPath: string;
  /** The test hook, for the first process only. */
  readonly #fault: DecoderFault | null;
  readonly #decoders = new Map<number, ProcessVideoDecoder>();
  readonly #link: DecoderProcessLink;
  #nextId = 1;
  #child: ChildProcess | null = null;
  #childStartedAt = 0;
  #started = 0;
  /** Crashes in a row of processes that ran less than STABLE_MS (the backoff's exponent). */
  #quickCrashes = 0;
  /** When the restarts of the last minute happened (ms since epoch), for the cap. */
  #recentRestarts: number[] = [];
  /** When the running process started, and when it said it was ready (performance.now()). */
  #startedAtPerf = 0;
  #readyAt: number | null = null;
  /** Why the watchdog killed the running process, when it did. */
  #hang: string | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #nextStartAt: number | null = null;
  #lastExit: DecoderProcessExit | null = null;
  readonly #watchdog: NodeJS.Timeout;
  #closed = false;

  constructor(options: DecoderProcessOptions) {
    this.#options = options;
    this.#settings = {
      hangTimeoutMs: options.hangTimeoutMs ?? DECODER_PROCESS_DEFAULTS.hangTimeoutMs,
      restartDelayMinMs: options.restartDelayMinMs ?? DECODER_PROCESS_DEFAULTS.restartDelayMinMs,
      restartDelayMaxMs: options.restartDelayMaxMs ?? DECODER_PROCESS_DEFAULTS.restartDelayMaxMs,
      maxRestartsPerMinute: options.maxRestartsPerMinute ?? DECODER_PROCESS_DEFAULTS.maxRestartsPerMinute,
    };
    const addonPath = options.addonPath ?? resolveAddonPath();
    if (!addonPath) throw new Error("mesoguard: the native addon is not built (npm run build:native): the decoder process cannot load it");
    this.#addonPath = addonPath;
    this.#fault = parseDecoderFault(process.env[DECODER_FAULT_ENV]);
    this.#link = {
      running: () => this.#child !== null,
      send: (message) => this.#send(message),
      forget: (id) => this.#decoders.delete(id),
    };
    this.#watchdog = setInterval(() => this.#checkHang(), Math.min(1000, Math.ceil(this.#settings.hangTimeoutMs / 4)));
    this.#watchdog.unref();
  }

  /** The running process's pid (null before the first stream, while restarting, after close). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  status(): DecoderProcessStatus {
    const state = this.#closed ? "closed" : this.#child ? "running" : this.#started === 0 ? "idle" : "restarting";
    return {
      state,
      pid: this.pid,
      restarts: Math.max(0, this.#started - 1),
      decoders: this.#decoders.size,
      lastExit: this.#lastExit,
      nextStartAt: this.#nextStartAt,
    };
  }

  /** A stream's decoder, hosted in the process (started with the first one). */
  createDecoder(codec: VideoCodecName, maxPending: number): NativeVideoDecoder {
    if (this.#closed) throw new Error("mesoguard: the decoder process is closed");
    const id = this.#nextId++;
    const decoder = new ProcessVideoDecoder(id, { codec, maxPending, maxFramePixels: this.#options.maxFramePixels }, this.#link);
    this.#decoders.set(id, decoder);
    if (this.#child) this.#send(decoder.openRequest);
    else if (this.#started === 0) this.#start();
    return decoder;
  }

  /** Ends the process (the streams are closed first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    this.#nextStartAt = null;
    const child = this.#child;
    this.#child = null;
    // Decoders still open are closed with it: what they wait for rejects with ERR_CLOSED.
    for (const decoder of [...this.#decoders.values()]) void decoder.close({ drain: false });
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.disconnect(); // the process exits when its channel closes
    const killer = setTimeout(() => child.kill("SIGKILL"), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(killer);
  }

  #send(message: DecoderRequest): void {
    // Errors in sending (the process just died) are its exit's business: unanswered requests reject there.
    this.#child?.send(message, (error) => {
      if (error) this.#options.log?.debug({ err: error }, "decoder process: send failed");
    });
  }

  #start(): void {
    const fault = this.#started === 0 && this.#fault ? [this.#fault.kind, String(this.#fault.at)] : [];
    const child = fork(entryScript(), [this.#addonPath, ...fault], {
      serialization: "advanced",
      execArgv: [],
      stdio: ["ignore", "ignore", "inherit", "ipc"],
    });
    this.#child = child;
    this.#childStartedAt = Date.now();
    this.#started++;
    if (this.#started > 1) this.#recentRestarts.push(this.#childStartedAt);
    this.#nextStartAt = null;
    this.#startedAtPerf = performance.now();
    this.#readyAt = null;
    this.#hang = null;
    child.on("message", (message: DecoderReply) => {
      if (message.type === "ready") this.#readyAt = performance.now();
      else this.#decoders.get(message.id)?.onReply(message);
    });
    child.once("exit", (code, signal) => this.#onExit(child, code, signal));
    child.on("error", (error) => {
      // Spawning failed (no exit follows), or the channel broke (the exit follows).
      if (child.pid === undefined) this.#onExit(child, null, null);
      else this.#options.log?.debug({ err: error }, "decoder process: channel error");
    });
    for (const decoder of this.#decoders.values()) this.#send(decoder.openRequest);
    if (this.#started > 1) this.#options.log?.info({ pid: child.pid, restarts: this.#started - 1, decoders: this.#decoders.size }, "decoder process restarted");
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return; // closed, or already handled
    this.#child = null;
    const cause: DecoderExitCause = this.#hang ? "hang" : signal ? "signal" : "exit";
    const pending = [...this.#decoders.values()].reduce((n, d) => n + d.waiting, 0);
    const now = Date.now();
    const ranMs = now - this.#childStartedAt;
    const why =
      this.#hang
        ? `the decoder process ${this.#hang} and was killed`
        : signal
          ? `the decoder process died (${signal})`
          : `the decoder process exited (code ${code})`;
    for (const decoder of this.#decoders.values()) decoder.onProcessLost(why);
    const restartInMs = this.#restartDelay(ranMs, now);
    const exit: DecoderProcessExit = { cause, pid: child.pid ?? null, code, signal, at: now, pending, restartInMs };
    this.#lastExit = exit;
    this.#options.log?.error({ ...exit, why, ranMs, streams: this.#decoders.size }, "decoder process lost");
    this.#options.onExit?.(exit);
    this.#nextStartAt = now + restartInMs;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (!this.#closed) this.#start();
    }, restartInMs);
    this.#restartTimer.unref();
  }

  /** The backoff (doubling per quick crash) and the cap (maxRestartsPerMinute starts in any 60 s). */
  #restartDelay(ranMs: number, now: number): number {
    const { restartDelayMinMs, restartDelayMaxMs, maxRestartsPerMinute } = this.#settings;
    this.#quickCrashes = ranMs >= STABLE_MS ? 0 : this.#quickCrashes + 1;
    const backoff = Math.min(restartDelayMaxMs, restartDelayMinMs * 2 ** Math.max(0, this.#quickCrashes - 1));
    this.#recentRestarts = this.#recentRestarts.filter((t) => now - t < 60_000);
    const n = this.#recentRestarts.length;
    if (n < maxRestartsPerMinute) return backoff;
    // Wait until the restart maxRestartsPerMinute back is a minute old: then at most that many fall in any 60 s.
    return Math.max(backoff, this.#recentRestarts[n - maxRestartsPerMinute]! + 60_000 - now);
  }

  /**
   * Kills a process that has left a decode unanswered for hangTimeoutMs since it became ready (its start, loading
   * the addon, does not count: a loaded machine may take seconds), or that is not ready after STARTUP_TIMEOUT_MS.
   */
  #checkHang(): void {
    const child = this.#child;
    if (!child || this.#hang) return;
    const now = performance.now();
    const readyAt = this.#readyAt;
    if (readyAt === null) {
      if (now - this.#startedAtPerf > STARTUP_TIMEOUT_MS) this.#hang = `did not start within ${STARTUP_TIMEOUT_MS} ms`;
    } else {
      for (const decoder of this.#decoders.values()) {
        const since = decoder.oldestWaitingSince;
        if (since !== undefined && now - Math.max(since, readyAt) > this.#settings.hangTimeoutMs) {
          this.#hang = `stopped answering (no reply for ${this.#settings.hangTimeoutMs} ms)`;
          break;
        }
      }
    }
    if (this.#hang) child.kill("SIGKILL");
  }
}

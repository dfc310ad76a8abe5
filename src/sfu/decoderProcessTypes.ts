// What the server and its decoder process (src/sfu/DecoderProcess.ts, src/sfu/decoderProcessMain.ts) say to each
// other over Node's IPC channel, and the process's restart policy. Each stream's decoder has an id; replies to
// one decoder's requests come back in request order (the addon's VideoDecoder settles in call order).
import type { NativeDecodedVideoFrame, NativeVideoDecoderOptions, NativeVideoDecoderStats } from "../native/addonTypes.js";

/** The server to the decoder process. `data` and `options` of a decode go as given: the addon checks them. */
export type DecoderRequest =
  | { type: "open"; id: number; options: NativeVideoDecoderOptions }
  | { type: "decode"; id: number; request: number; data: unknown; options: unknown }
  | { type: "reset"; id: number }
  // The process drops the decoder once it has answered what it drains (the server does not wait for that).
  | { type: "close"; id: number; drain: boolean };

/** The decoder process to the server: "ready" once it has loaded the addon; `stats` is the decoder's after the request. */
export type DecoderReply =
  | { type: "ready" }
  | { type: "decoded"; id: number; request: number; result: NativeDecodedVideoFrame; stats: NativeVideoDecoderStats }
  | { type: "failed"; id: number; request: number; code: string; message: string; stats: NativeVideoDecoderStats | null };

/**
 * How a decoder process ended without being asked to: killed by a signal (a crash in libavcodec: SIGSEGV,
 * SIGABRT...), exited by itself, or killed by the server because a decode went unanswered for hangTimeoutMs.
 */
export const DECODER_EXIT_CAUSES = ["signal", "exit", "hang"] as const;
export type DecoderExitCause = (typeof DECODER_EXIT_CAUSES)[number];

export interface DecoderProcessExit {
  cause: DecoderExitCause;
  pid: number | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When it ended (ms since epoch). */
  at: number;
  /** Decodes it had not answered: each rejected with ERR_VIDEO_DECODER_PROCESS. */
  pending: number;
  /** Milliseconds until the next process starts. */
  restartInMs: number;
}

export interface DecoderProcessSettings {
  /**
   * A decode unanswered this long (counted from when the process was ready) means the process hangs: it is killed
   * (SIGKILL) and restarted.
   */
  hangTimeoutMs: number;
  /** The first restart's delay; it doubles for each crash of a process that ran less than a minute. */
  restartDelayMinMs: number;
  restartDelayMaxMs: number;
  /** Restarts in any 60 s; beyond them the next restart waits until the oldest is a minute old. */
  maxRestartsPerMinute: number;
}

export const DECODER_PROCESS_DEFAULTS: DecoderProcessSettings = {
  hangTimeoutMs: 5000,
  restartDelayMinMs: 250,
  restartDelayMaxMs: 8000,
  maxRestartsPerMinute: 10,
};

/** The process as /healthz shows it. */
export interface DecoderProcessStatus {
  /** "restarting": it died and the next one has not started yet; "idle": not started (no stream yet). */
  state: "idle" | "running" | "restarting" | "closed";
  pid: number | null;
  /** Processes started after the first (each after one that died). */
  restarts: number;
  /** Stream decoders it hosts. */
  decoders: number;
  lastExit: DecoderProcessExit | null;
  /** When the next process starts (ms since epoch), while restarting. */
  nextStartAt: number | null;
}

/**
 * Test hook (README *Tests*): MESOGUARD_TEST_DECODER_FAULT=crash:N makes the first decoder process kill itself
 * with SIGSEGV when it receives its N-th access unit (counted over all its streams), as a crash in libavcodec
 * would; hang:N makes it stop answering there instead. Processes started after it run normally.
 */
export const DECODER_FAULT_ENV = "MESOGUARD_TEST_DECODER_FAULT";

export interface DecoderFault {
  kind: "crash" | "hang";
  /** The access unit (1-based) it happens on. */
  at: number;
}

/** Reads the test hook; throws on a value that is not crash:N or hang:N. */
export function parseDecoderFault(value: string | undefined): DecoderFault | null {
  if (value === undefined || value === "") return null;
  const match = /^(crash|hang):([1-9][0-9]{0,8})$/.exec(value);
  if (!match) throw new Error(`mesoguard: ${DECODER_FAULT_ENV} must be crash:N or hang:N (N >= 1), got ${JSON.stringify(value)}`);
  return { kind: match[1] as DecoderFault["kind"], at: Number(match[2]) };
}

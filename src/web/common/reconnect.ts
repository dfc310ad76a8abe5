// A MesoguardClient that reconnects: exponential backoff with jitter, capped; the attempt counter resets on
// every welcome. Gives up (status "stopped") only when retrying cannot help: the server refused the join as
// unauthorized or malformed, or a newer connection of the same participant replaced this one.
import { MesoguardClient, type ClientOptions } from "../../client/MesoguardClient.js";
import { CLOSE_CODES, type ErrorMessage, type WelcomeMessage } from "../../protocol/protocolTypes.js";

export type LinkStatus =
  | { kind: "connecting"; attempt: number }
  | { kind: "live"; welcome: WelcomeMessage }
  | { kind: "waiting"; attempt: number; retryAt: number; reason: string }
  | { kind: "stopped"; reason: string; code?: string | number };

export interface BackoffOptions {
  /** First retry delay (ms). */
  baseMs: number;
  /** Longest delay (ms). */
  maxMs: number;
  /** +- this fraction of random jitter, so many clients do not retry in lockstep after a restart. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 15_000, jitter: 0.2 };

/** Delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped, with jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const raw = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (1 + options.jitter * (2 * random() - 1)));
}

/** Join errors that retrying cannot fix. */
const FATAL_CODES = new Set<string | number>(["unauthorized", "bad-message", CLOSE_CODES.unauthorized]);

const WELCOME_TIMEOUT_MS = 10_000;

export interface ReconnectHandlers {
  status(status: LinkStatus): void;
  /** A fresh connection joined: register per-client listeners here (they die with that client). */
  joined(client: MesoguardClient, welcome: WelcomeMessage): void;
  /** An error message from the server (after the join, or the join's refusal). */
  serverError?(error: ErrorMessage): void;
}

export class ReconnectingClient {
  #client: MesoguardClient | null = null;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #generation = 0;
  #stopped = false;

  constructor(
    private readonly options: ClientOptions,
    private readonly handlers: ReconnectHandlers,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  /** The live client, or null while (re)connecting. */
  get client(): MesoguardClient | null {
    return this.#client?.connected ? this.#client : null;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  /** Closes the connection and stops retrying. */
  stop(reason = "stopped"): void {
    this.#stopped = true;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#client?.close(1000, reason);
    this.#client = null;
    this.handlers.status({ kind: "stopped", reason });
  }

  /** Skips the wait and reconnects now (a "retry now" button). */
  retryNow(): void {
    if (this.#client?.connected) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#stopped = false;
    this.#connect();
  }

  #connect(): void {
    const generation = ++this.#generation;
    this.#attempt++;
    this.handlers.status({ kind: "connecting", attempt: this.#attempt });
    const client = new MesoguardClient(this.options);
    this.#client = client;
    let welcomed = false;
    const welcomeTimer = setTimeout(() => {
      if (!welcomed && generation === this.#generation) client.close(4000, "no welcome");
    }, WELCOME_TIMEOUT_MS);
    client.on("error", (error) => {
      if (generation === this.#generation) this.handlers.serverError?.(error);
    });
    client.on("close", (event) => {
      clearTimeout(welcomeTimer);
      if (!welcomed || generation !== this.#generation) return; // a failed join is handled by connect()'s rejection
      this.#client = null;
      if (event.code === CLOSE_CODES.policy && /replaced/.test(event.reason)) {
        this.#stop(`replaced: ${event.reason} (another tab or device joined as this participant)`, event.code);
      } else if (FATAL_CODES.has(event.code)) {
        this.#stop(`closed by the server: ${event.reason || event.code}`, event.code);
      } else {
        this.#schedule(describeClose(event.code, event.reason));
      }
    });
    client.connect().then(
      (welcome) => {
        welcomed = true;
        clearTimeout(welcomeTimer);
        if (generation !== this.#generation) {
          client.close(1000, "superseded");
          return;
        }
        this.#attempt = 0;
        this.handlers.status({ kind: "live", welcome });
        this.handlers.joined(client, welcome);
      },
      (error: Error & { code?: string | number }) => {
        clearTimeout(welcomeTimer);
        if (generation !== this.#generation) return;
        this.#client = null;
        if (error.code !== undefined && FATAL_CODES.has(error.code)) this.#stop(error.message, error.code);
        else this.#schedule(typeof error.code === "number" ? describeClose(error.code, "") : error.message);
      },
    );
  }

  #stop(reason: string, code?: string | number): void {
    this.#stopped = true;
    this.#client = null;
    this.handlers.status({ kind: "stopped", reason, code });
  }

  #schedule(reason: string): void {
    if (this.#stopped) return;
    const delay = backoffDelay(Math.max(1, this.#attempt), this.backoff);
    this.handlers.status({ kind: "waiting", attempt: this.#attempt, retryAt: Date.now() + delay, reason });
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) this.#connect();
    }, delay);
  }
}

function describeClose(code: number, reason: string): string {
  if (code === 1006) return "connection lost";
  if (code === CLOSE_CODES.goingAway) return reason || "server going away";
  return reason ? `closed (${code}: ${reason})` : `closed (${code})`;
}

/** "Reconnecting in 4 s (try 3)" etc., for status lines (the reason goes in a tooltip). */
export function describeStatus(status: LinkStatus, now = Date.now()): string {
  switch (status.kind) {
    case "connecting":
      return status.attempt > 1 ? `Connecting (attempt ${status.attempt})…` : "Connecting…";
    case "live":
      return "Live";
    case "waiting":
      return `Reconnecting in ${Math.max(0, Math.ceil((status.retryAt - now) / 1000))} s` + (status.attempt > 1 ? ` (try ${status.attempt + 1})` : "");
    case "stopped":
      return `Disconnected — ${status.reason}`;
  }
}

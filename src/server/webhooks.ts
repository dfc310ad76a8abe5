// Webhooks: every participant event (src/server/auditTrail.ts) is POSTed as JSON to each configured URL, signed
// with HMAC-SHA256 over "<timestamp>.<raw body>". Per URL one delivery at a time, in order, retried with
// exponential backoff and jitter; each URL's queue is bounded (when full the oldest waiting event is dropped and
// counted), so a dead receiver costs a bounded amount of memory and never blocks the event loop or the caller.
import { createHmac, timingSafeEqual } from "node:crypto";

import type { Logger } from "pino";

import type { ParticipantEvent } from "../protocol/protocolTypes.js";
import type { WEBHOOK_OUTCOMES } from "./serverMetrics.js";

/** ServerConfig.webhooks. */
export interface WebhookSettings {
  /** Where events are POSTed (http or https); none = no webhooks. */
  urls: string[];
  /** The HMAC key (16+ characters; required when there are URLs). */
  secret: string | undefined;
  /** One attempt's limit (connect to response). */
  timeoutMs: number;
  /** Attempts after the first before an event is given up. */
  retries: number;
  /** The first retry's delay; each next one doubles (up to MAX_BACKOFF_MS), less up to half of it as jitter. */
  backoffMs: number;
  /** Events waiting per URL (the one being delivered not counted). */
  queueSize: number;
}

export const WEBHOOK_DEFAULTS: Omit<WebhookSettings, "urls" | "secret"> = Object.freeze({
  timeoutMs: 5000,
  retries: 5,
  backoffMs: 500,
  queueSize: 1000,
});

/** The longest wait between two attempts. */
const MAX_BACKOFF_MS = 60_000;

export const WEBHOOK_HEADERS = {
  /** "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + raw body). */
  signature: "x-mesoguard-signature",
  /** Unix seconds when this attempt was signed. */
  timestamp: "x-mesoguard-timestamp",
  /** The event's type. */
  event: "x-mesoguard-event",
  /** The event's id: the same on every retry. */
  delivery: "x-mesoguard-delivery",
} as const;

/** The signature header's value for a body signed at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return "sha256=" + createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

/**
 * What a receiver does (exported for receivers written in TypeScript, and the tests): true when `signature` is
 * the body's signature at `timestamp` and the timestamp is within `windowSeconds` of `nowSeconds` (replays of an
 * old delivery are refused; deduplicate retries by the delivery id).
 */
export function verifyWebhook(
  secret: string,
  body: string,
  timestamp: string | undefined,
  signature: string | undefined,
  { nowSeconds = Date.now() / 1000, windowSeconds = 300 } = {},
): boolean {
  const t = Number(timestamp);
  if (!timestamp || !Number.isInteger(t) || Math.abs(nowSeconds - t) > windowSeconds || !signature) return false;
  const expected = Buffer.from(signWebhook(secret, t, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Checks the settings as a whole; returns the message of the first problem, or null. */
export function webhookSettingsProblem(settings: WebhookSettings): string | null {
  for (const url of settings.urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `webhooks.urls: "${url}" is not a URL`;
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `webhooks.urls: "${url}" is not http or https`;
  }
  if (settings.urls.length > 0 && (settings.secret === undefined || settings.secret.length < 16)) {
    return "webhooks.secret (16+ characters) is required when webhooks.urls is set: receivers must be able to verify events";
  }
  return null;
}

/** The counters a sender moves (ServerMetrics). */
export interface WebhookCounters {
  /** Events by outcome: sent (a 2xx), failed (every attempt failed), dropped (pushed out of a full queue). */
  outcome(outcome: (typeof WEBHOOK_OUTCOMES)[number]): void;
  /** Failed attempts that will be retried. */
  retry(): void;
}

interface Target {
  url: string;
  queue: ParticipantEvent[];
  busy: boolean;
}

export class WebhookSender {
  readonly #targets: Target[];
  readonly #secret: string;
  #closed = false;
  readonly #stop = new AbortController();

  constructor(
    private readonly settings: WebhookSettings,
    private readonly counters: WebhookCounters,
    private readonly log: Logger,
  ) {
    const problem = webhookSettingsProblem(settings);
    if (problem) throw new Error(`mesoguard: ${problem}`);
    this.#secret = settings.secret ?? "";
    this.#targets = settings.urls.map((url) => ({ url, queue: [], busy: false }));
  }

  /** Queues the event for every URL and returns at once. */
  send(event: ParticipantEvent): void {
    if (this.#closed) return;
    for (const target of this.#targets) {
      if (target.queue.length >= this.settings.queueSize) {
        const dropped = target.queue.shift()!;
        this.counters.outcome("dropped");
        this.log.warn({ url: target.url, event: dropped.type, id: dropped.id }, "webhook queue full: oldest event dropped");
      }
      target.queue.push(event);
      this.#pump(target);
    }
  }

  /** Stops: attempts in flight are aborted, waiting events are not sent. */
  close(): void {
    this.#closed = true;
    this.#stop.abort();
    for (const target of this.#targets) target.queue.length = 0;
  }

  #pump(target: Target): void {
    if (target.busy || this.#closed) return;
    const event = target.queue.shift();
    if (!event) return;
    target.busy = true;
    void this.#deliver(target.url, event).finally(() => {
      target.busy = false;
      this.#pump(target);
    });
  }

  async #deliver(url: string, event: ParticipantEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 0; ; attempt++) {
      const problem = await this.#post(url, event, body);
      if (problem === null) {
        this.counters.outcome("sent");
        return;
      }
      if (this.#closed) return;
      if (attempt >= this.settings.retries) {
        this.counters.outcome("failed");
        this.log.warn({ url, event: event.type, id: event.id, attempts: attempt + 1, problem }, "webhook event given up");
        return;
      }
      this.counters.retry();
      this.log.debug({ url, event: event.type, id: event.id, attempt: attempt + 1, problem }, "webhook attempt failed");
      await this.#wait(this.#backoff(attempt));
      if (this.#closed) return;
    }
  }

  /** Full-range doubling with jitter: [d/2, d) for d = backoffMs * 2^attempt, at most MAX_BACKOFF_MS. */
  #backoff(attempt: number): number {
    const d = Math.min(MAX_BACKOFF_MS, this.settings.backoffMs * 2 ** attempt);
    return d / 2 + Math.random() * (d / 2);
  }

  #wait(ms: number): Promise<void> {
    const signal = this.#stop.signal;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal.addEventListener("abort", done);
    });
  }

  /** One attempt: null on a 2xx, else what went wrong. */
  async #post(url: string, event: ParticipantEvent, body: string): Promise<string | null> {
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "mesoguard-webhook",
          [WEBHOOK_HEADERS.signature]: signWebhook(this.#secret, timestamp, body),
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.event]: event.type,
          [WEBHOOK_HEADERS.delivery]: event.id,
        },
        body,
        redirect: "manual",
        signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.settings.timeoutMs)]),
      });
      await res.body?.cancel();
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return cause ?? (error as Error).name ?? "error";
    }
  }
}

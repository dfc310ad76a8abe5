// One WebSocket client: bounded sending (a slow reader is disconnected, never waited for) and abuse counting.
import type { WebSocket } from "ws";

import { CLOSE_CODES, type ErrorCode, type ServerMessage } from "../protocol/protocolTypes.js";

export interface ConnectionLimits {
  sendBufferBytes: number;
  maxErrorsPerMinute: number;
}

export const CLOSE_REASONS = ["slow-consumer", "abuse", "unauthorized", "full", "shutdown", "join-timeout"] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export class ClientConnection {
  #errorTimes: number[] = [];
  #closed = false;

  constructor(
    readonly socket: WebSocket,
    readonly id: number,
    private readonly limits: ConnectionLimits,
    private readonly onServerClose: (reason: CloseReason) => void,
  ) {
    socket.once("close", () => {
      this.#closed = true;
    });
  }

  get closed(): boolean {
    return this.#closed || this.socket.readyState !== this.socket.OPEN;
  }

  /** Sends unless the client is not keeping up, in which case it is disconnected (nothing else waits on it). */
  send(message: ServerMessage): boolean {
    if (this.closed) return false;
    if (this.socket.bufferedAmount > this.limits.sendBufferBytes) {
      this.close(CLOSE_CODES.slowConsumer, "too slow: send buffer full", "slow-consumer");
      return false;
    }
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Reports a protocol error to the client; too many in a minute closes the connection. */
  error(code: ErrorCode, message: string, seq?: number): void {
    this.send(seq === undefined ? { type: "error", code, message } : { type: "error", code, message, seq });
    const now = Date.now();
    this.#errorTimes = this.#errorTimes.filter((t) => now - t < 60_000);
    this.#errorTimes.push(now);
    if (this.#errorTimes.length > this.limits.maxErrorsPerMinute) {
      this.close(CLOSE_CODES.abuse, "too many protocol errors", "abuse");
    }
  }

  close(code: number, reason: string, why?: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    if (why) this.onServerClose(why);
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
    // A peer that never answers the close handshake must not hold the socket open.
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}

// The JSON protocol as the server parses it (src/server/MesoguardServer.ts: join/leave/pause/resume), through a
// real server in development mode over a real WebSocket. Each input is one text message on a fresh or reused
// connection; the server must answer it (a JSON message) or close the socket with a protocol close code, and keep
// answering: an exit, a hang (no answer in 10 s) or a reply that is not JSON is a finding.
import fc from "fast-check";
import { WebSocket } from "ws";

import { startServer, type RunningServer } from "../test/helpers/server.js";
import { mutatedBytes } from "./mutate.js";

export const PROTOCOL_TARGET = { name: "json-protocol", covers: "src/server/MesoguardServer.ts text messages (dev mode, real WebSocket)" };

const SEEDS = [
  { type: "join", room: "r1", role: "observer" },
  { type: "join", room: "r1", role: "participant", participantId: "alice", name: "Alice", frameContent: "face-crop" },
  { type: "join", room: "bad room", role: "admin" },
  { type: "leave" },
  { type: "pause", reason: "user" },
  { type: "pause", reason: "silence" },
  { type: "resume" },
].map((m) => new TextEncoder().encode(JSON.stringify(m)));

const KEYS = ["type", "room", "role", "participantId", "name", "frameContent", "token", "reason", "__proto__", "constructor"];
const TYPES = ["join", "leave", "pause", "resume", "frame", ""];

/** Structured messages: a known type with fields of any JSON value, beside byte-mutated seeds. */
const messages: fc.Arbitrary<string> = fc.oneof(
  mutatedBytes(SEEDS).map((bytes) => Buffer.from(bytes).toString("utf8")),
  fc
    .tuple(fc.constantFrom(...TYPES), fc.dictionary(fc.constantFrom(...KEYS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }))
    .map(([type, fields]) => JSON.stringify({ type, ...fields })),
);

class Connection {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  #waiter: ((outcome: string) => void) | null = null;
  closed = false;

  constructor(url: string) {
    this.ws = new WebSocket(url.replace("http", "ws") + "/ws");
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => resolve());
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data, isBinary) => {
      let outcome = "message";
      if (isBinary) outcome = "binary reply";
      else {
        try {
          JSON.parse(String(data));
        } catch {
          outcome = `a reply that is not JSON: ${String(data).slice(0, 200)}`;
        }
      }
      this.#waiter?.(outcome);
    });
    this.ws.on("close", (code) => {
      this.closed = true;
      this.#waiter?.(code >= 4000 || code === 1000 || code === 1001 || code === 1008 ? "closed" : `closed with code ${code}`);
    });
    this.ws.on("error", () => {});
  }

  /** Sends `text`; resolves with what happened first ("message", "closed", "silent") or a finding. */
  send(text: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish("silent"), timeoutMs);
      const finish = (outcome: string) => {
        clearTimeout(timer);
        this.#waiter = null;
        resolve(outcome);
      };
      this.#waiter = finish;
      this.ws.send(text);
    });
  }
}

export interface AsyncRun {
  inputs: number;
  failure?: string;
}

// Connections driven at once: one round trip at a time left both processes mostly idle (about 800
// inputs/s on an idle 2-core machine; 7,600/s with 8).
const PARALLEL_CONNECTIONS = 8;

/**
 * Fuzzes for `seconds` on PARALLEL_CONNECTIONS connections at once, each with its own property and seed (`seed` +
 * its index). A message that draws no answer is allowed (an observer's "resume" gets an error, but a duplicate
 * "leave" on a closing socket may not): the next probe on a fresh connection must then be answered.
 */
export async function fuzzProtocol(seconds: number, seed: number): Promise<AsyncRun> {
  const server: RunningServer = await startServer([], { MESOGUARD_DEV: "1" });
  let inputs = 0;
  const connections: (Connection | null)[] = new Array<Connection | null>(PARALLEL_CONNECTIONS).fill(null);

  /** Sends `text` on connection slot `slot`; throws a finding. */
  const tryMessage = async (slot: number, text: string): Promise<void> => {
    inputs++;
    let connection = connections[slot];
    if (!connection || connection.closed) {
      connection = connections[slot] = new Connection(server.url);
      await connection.opened;
    }
    const outcome = await connection.send(text, 2000);
    if (outcome === "message" || outcome === "closed") return;
    if (outcome !== "silent") throw new Error(outcome);
    // Silence: the server must still answer a probe on a fresh connection.
    connection.ws.terminate();
    connection = connections[slot] = new Connection(server.url);
    await connection.opened;
    const probe = await connection.send('{"type":"resume"}', 10_000);
    if (probe !== "message") throw new Error(`after ${JSON.stringify(text)} the server no longer answers (${probe})`);
  };

  try {
    // One independent property per connection, so that a silent message (2 s) holds up only its own connection.
    const results = await Promise.all(
      connections.map((_, slot) =>
        fc.check(
          fc.asyncProperty(messages, async (text) => {
            await tryMessage(slot, text);
            return true;
          }),
          { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false, seed: seed + slot, endOnFailure: true },
        ),
      ),
    );
    if (server.process.exitCode !== null || server.process.signalCode !== null) {
      return { inputs, failure: `the server exited: ${server.stderr().slice(-500)}` };
    }
    const failed = results.find((result) => result.failed);
    return { inputs, failure: failed ? `${String(failed.errorInstance)} on ${JSON.stringify(failed.counterexample)} (seed ${failed.seed})` : undefined };
  } finally {
    for (const connection of connections) connection?.ws.terminate();
    await server.stop("SIGKILL");
  }
}

export const PROTOCOL_SEED_COUNT = SEEDS.length;

// The live server as a user runs it: `node dist/src/cli/main.js serve` in a child process on a free port,
// its JSON log lines collected; real WebSocket clients (the typed SDK over the `ws` package, or raw `ws`);
// HTTP helpers for /healthz and /metrics; the shared images the server tests send.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { request, type IncomingHttpHeaders } from "node:http";
import path from "node:path";

import { WebSocket } from "ws";

import { packageRoot } from "../../src/models/paths.js";
import { MesoguardClient, type ClientEvents, type ClientOptions, type WebSocketConstructor } from "../../src/client/MesoguardClient.js";
import { SETTINGS, envName } from "../../src/config/serverConfig.js";
import type { ServerMessage } from "../../src/protocol/protocolTypes.js";

export const ROOT = packageRoot();
export const SHARED = path.resolve(ROOT, "../shared");
export const BIN = path.join(ROOT, "dist/src/cli/main.js");

/** A 16+ character secret for the token tests. */
export const TEST_SECRET = "test-secret-0123456789abcdef";

/** A 16+ character RTP API key (the operator key of /rtp/streams and /healthz details). */
export const TEST_API_KEY = "test-rtp-api-key-0123456789";
/** The header that carries it. */
export const API_KEY_AUTH = { authorization: `Bearer ${TEST_API_KEY}` };

export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

export interface RunningServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  process: ChildProcess;
  /** Every JSON line the server logged to stdout so far. */
  logs: LogLine[];
  /** Everything it wrote to stderr so far. */
  stderr: () => string;
  /** Settles when the process exits. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (SIGKILL after 20 s) and resolves with the exit code (null when killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<RunningServer>();
// A test worker that dies without its afterAll must not leave servers behind.
process.once("exit", () => {
  for (const server of running) server.process.kill("SIGKILL");
});

/** Environment for the child: ours without any MESOGUARD_* server setting, then `env`. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const setting of SETTINGS) delete out[envName(setting.key)];
  delete out.MESOGUARD_CONFIG;
  delete out.MESOGUARD_DEV;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}

/**
 * Starts `mesoguard serve --port 0 --log-level info ...args` and resolves once it logs "listening" (60 s at
 * most). MESOGUARD_SECRET is unset unless `env` gives it. stopAllServers() (in afterAll) kills what is left.
 */
export function startServer(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<RunningServer> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--log-level", "info", ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  let stderr = "";
  let stdoutRest = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });

  return new Promise<RunningServer>((resolve, reject) => {
    let listening = false;
    const fail = (why: string) => {
      if (listening) return;
      listening = true; // settle once
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`mesoguard serve ${args.join(" ")}: ${why}\nstderr:\n${stderr}\nstdout:\n${logs.map((l) => JSON.stringify(l)).join("\n")}`));
    };
    const timer = setTimeout(() => fail("no 'listening' log line within 60 s"), 60_000);

    const server: RunningServer = {
      url: "",
      port: 0,
      process: child,
      logs,
      stderr: () => stderr,
      exited,
      async stop(signal: NodeJS.Signals = "SIGTERM") {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
          const { code } = await exited;
          clearTimeout(killer);
          running.delete(server);
          return code;
        }
        running.delete(server);
        return child.exitCode;
      },
    };
    running.add(server);

    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      stdoutRest += chunk;
      const lines = stdoutRest.split("\n");
      stdoutRest = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { msg: "(not JSON)", text: line };
        }
        logs.push(parsed);
        if (!listening && parsed.msg === "listening" && typeof parsed.port === "number") {
          listening = true;
          clearTimeout(timer);
          server.port = parsed.port;
          server.url = `http://127.0.0.1:${parsed.port}`;
          resolve(server);
        }
      }
    });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      stderr += chunk;
    });
    void exited.then(({ code, signal }) => {
      running.delete(server);
      fail(`exited (code ${code}, signal ${signal}) before listening`);
    });
  });
}

/** Kills every server still running (afterAll). */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop("SIGKILL")));
}

/** Runs `mesoguard token ...` with the given secret; returns the token it printed. */
export function mintWithCli(secret: string, args: string[]): string {
  const run = spawnSync(process.execPath, [BIN, "token", ...args], { cwd: ROOT, env: childEnv({ MESOGUARD_SECRET: secret }), encoding: "utf8" });
  if (run.status !== 0) throw new Error(`mesoguard token ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run.stdout.trim();
}

// ---- clients ------------------------------------------------------------------------------------------------

/** Everything a client received, by type, in order; closes recorded too. */
export interface Recorded {
  all: ServerMessage[];
  score: ClientEvents["score"][];
  error: ClientEvents["error"][];
  "room-state": ClientEvents["room-state"][];
  "participant-joined": ClientEvents["participant-joined"][];
  "participant-left": ClientEvents["participant-left"][];
  close: ClientEvents["close"][];
}

export interface TestClient {
  client: MesoguardClient;
  events: Recorded;
}

const openClients = new Set<MesoguardClient>();

function record(client: MesoguardClient): Recorded {
  const events: Recorded = { all: [], score: [], error: [], "room-state": [], "participant-joined": [], "participant-left": [], close: [] };
  // The evidence messages (history, snapshots, ...) land in `all` only.
  const evidence = ["history", "snapshots", "participant-info", "alert", "explanation"] as const;
  for (const type of evidence) client.on(type, (event) => events.all.push(event));
  for (const type of ["score", "error", "room-state", "participant-joined", "participant-left"] as const) {
    client.on(type, (event) => {
      (events[type] as ServerMessage[]).push(event);
      events.all.push(event);
    });
  }
  client.on("close", (event) => events.close.push(event));
  return events;
}

/** A typed SDK client (over `ws`), recording from before it joins; connect() is left to the caller. */
export function makeClient(url: string, options: Omit<ClientOptions, "url" | "WebSocket">): TestClient {
  const client = new MesoguardClient({ url, WebSocket: WebSocket as unknown as WebSocketConstructor, ...options });
  openClients.add(client);
  return { client, events: record(client) };
}

/** A typed SDK client that has joined (rejects with the server's error otherwise). */
export async function joinClient(url: string, options: Omit<ClientOptions, "url" | "WebSocket">): Promise<TestClient> {
  const c = makeClient(url, options);
  await c.client.connect();
  return c;
}

/** Closes every SDK client the helpers made (afterAll / afterEach). */
export function closeAllClients(): void {
  for (const client of openClients) {
    try {
      client.close();
    } catch {
      // already closed
    }
  }
  openClients.clear();
  for (const ws of openSockets) ws.terminate();
  openSockets.clear();
}

/** Polls `predicate` (sync or async) every 20 ms until it is truthy; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(predicate: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const openSockets = new Set<WebSocket>();

/** A raw `ws` socket on /ws, opened (closed by closeAllClients). */
export async function rawSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, "ws") + "/ws");
  openSockets.add(ws);
  ws.on("error", () => undefined); // a refused or reset socket reports through "close"
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("close", (code) => reject(new Error(`closed (${code}) before opening`)));
  });
  return ws;
}

export interface RawClient {
  ws: WebSocket;
  /** Text messages received, parsed. */
  messages: Array<Record<string, any>>;
  /** Settles with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
}

/** A raw socket recording every text message it receives and its close. */
export async function rawClient(url: string): Promise<RawClient> {
  const ws = await rawSocket(url);
  const messages: Array<Record<string, any>> = [];
  ws.on("message", (data, isBinary) => {
    if (!isBinary) messages.push(JSON.parse(String(data)) as Record<string, any>);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, messages, closed };
}

/** Resolves with the close code and reason the socket gets (rejects after `timeoutMs`). */
export function closeOf(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === ws.CLOSED) return reject(new Error("socket already closed"));
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

// ---- HTTP ---------------------------------------------------------------------------------------------------

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** One request with the path sent exactly as written (fetch normalises paths and refuses TRACE). */
export function rawHttp(
  url: string,
  rawPath: string,
  method = "GET",
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: rawPath, method, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

export async function getText(url: string): Promise<{ status: number; text: string; contentType: string | null }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), contentType: res.headers.get("content-type") };
}

/**
 * The value of one Prometheus sample: `name` with exactly these labels (in any order), or undefined.
 * `labels` {} matches the unlabelled sample.
 */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1]] = pair[2];
    const want = Object.entries(labels);
    if (Object.keys(got).length !== want.length || want.some(([k, v]) => got[k] !== v)) continue;
    return Number(match[3]);
  }
  return undefined;
}

// ---- images -------------------------------------------------------------------------------------------------

/** The deepfake face crops (JPEG bytes), sorted by name. */
export function dfCrops(): Buffer[] {
  const dir = path.join(SHARED, "mesonet/test_images/df");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".jpg"))
    .sort()
    .map((f) => readFileSync(path.join(dir, f)));
}

/** grace_hopper.jpg: a photo with one real face. */
export function graceHopper(): Buffer {
  return readFileSync(path.join(SHARED, "photos/grace_hopper.jpg"));
}

/**
 * Calls `send(i)` (i = 0, 1, 2, ...) `fps` times a second until the returned stop() is called. A send that
 * throws (the socket closed) stops the pacer.
 */
export function pace(fps: number, send: (i: number) => void): () => void {
  let i = 0;
  const timer = setInterval(() => {
    try {
      send(i++);
    } catch {
      clearInterval(timer);
    }
  }, 1000 / fps);
  return () => clearInterval(timer);
}

/** The most messages with `at` inside any window of `windowMs` (messages sorted or not). */
export function maxInWindow(times: number[], windowMs = 1000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let lo = 0, hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi] - sorted[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** A real face crop (JPEG bytes). */
export function realCrop(): Buffer {
  return readFileSync(path.join(SHARED, "mesonet/test_images/real/real00240.jpg"));
}

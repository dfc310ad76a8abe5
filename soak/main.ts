// `npm run soak -- --minutes N [--out DIR]`: a real `mesoguard serve` (bench's startServer) under everything at
// once for N minutes: 20 participants sending JPEG frames at 10 fps over real WebSockets (two rooms), an observer
// per room, two RTP streams from ffmpeg (VP8 and H.264) through the control API, and a hostile client sending
// mutated frames and messages, mutated RTP datagrams and bad control-API bodies (drawn with fuzz/mutate.ts).
// Every 5 s it samples the server's RSS, JS heap, active handles and event-loop lag (/metrics), its decoder process's RSS
// (/proc) and the scores each honest client received. Fails (exit 1) when the server's RSS, its decoder process's
// RSS, its native heap in use or its handles grow beyond a bound once settled (four times it in a run under 3
// minutes, which cannot tell a leak from the heaps still filling), or an honest participant or RTP stream goes a
// whole window without a score. Table on stdout, JSON in <out>/latest.json.
import { execFileSync, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import fc from "fast-check";
import { WebSocket } from "ws";

import { parseMetrics, startServer, type ServerProcess } from "../bench/endToEnd.js";
import { MesoguardClient, type WebSocketConstructor } from "../src/client/MesoguardClient.js";
import { packageRoot } from "../src/models/paths.js";
import type { ScoreMessage } from "../src/protocol/protocolTypes.js";
import { mutatedBytes } from "../fuzz/mutate.js";
import { BYTE_TARGETS } from "../fuzz/targets.js";

const USAGE = "Usage: npm run soak -- --minutes N [--out DIR]";
const PARTICIPANTS = 20;
const FPS = 10;
const ROOMS = 2;
const SAMPLE_MS = 5000;
/** A client with no score for this long is starved (the server scores each participant at up to 5 Hz). */
const STARVED_AFTER_MS = 15_000;
const WARMUP_MS = 20_000;
/**
 * Memory is compared from a minute in (the decoder process and glibc's heap were still filling at 20-50 s), or from a
 * third of a shorter run, as medians of the first and last quarter of the samples after that, up to 3 minutes each:
 * one sample's bytes in use swing by up to 50 MiB with the frames in flight at that moment.
 */
const MEMORY_SETTLE_MS = 60_000;
const MEMORY_WINDOW_SAMPLES = 36;
/** Growth allowed once settled: RSS (MiB; 66 before the busy trim of native/idle_trimmer.h) and active handles. */
const RSS_GROWTH_BOUND_MIB = 64;
const HANDLE_GROWTH_BOUND = 16;
/** Growth allowed for glibc's bytes in use in the server (mallinfo2), MiB: what a native leak would grow. */
const NATIVE_IN_USE_GROWTH_BOUND_MIB = 32;
/** Growth allowed for the server's child processes together (the RTP decoder process), MiB. */
const CHILD_RSS_GROWTH_BOUND_MIB = 64;
/**
 * The bounds above are a leak verdict only for a run of at least this many minutes. A shorter run (CI's) is held to
 * GROSS_FACTOR times them: in its first minutes the heaps are still filling (one 1-minute run's native heap in use
 * went 147 -> 205 MiB, where a 30-minute run's settled medians went 132 -> 136), yet a frame leaked per score would
 * still grow RSS by over 100 MiB a second.
 */
const LEAK_VERDICT_MINUTES = 3;
const GROSS_FACTOR = 4;
const FFMPEG = process.env.MESOGUARD_FFMPEG ?? "/usr/bin/ffmpeg";
const PHOTO = path.resolve(packageRoot(), "../shared/photos/grace_hopper.jpg");

interface Sample {
  atSeconds: number;
  rssMiB: number;
  /** Node's share of RSS: the JS heap in use, and memory outside it that JS objects own (Buffers). */
  heapUsedMiB: number;
  externalMiB: number;
  /** glibc's heap (mallinfo2): allocated and not freed (a native leak grows it), and freed but kept for reuse. */
  nativeInUseMiB: number;
  nativeFreeMiB: number;
  /** The server's child processes together (its RTP decoder process), from /proc. */
  childrenRssMiB: number;
  activeHandles: number;
  eventLoopLagMaxMs: number;
  /** Scores received in this sample's window: by the participants (own), by the observers (all). */
  participantScores: number;
  observerScores: number;
  rtpScores: number;
  hostileSent: number;
}

const mib = (bytes: number | undefined): number => Math.round((bytes ?? NaN) / 2 ** 20);

function parseArgs(argv: string[]): { minutes: number; outDir: string } {
  const options = { minutes: 1, outDir: path.join(packageRoot(), "soak", "results") };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = argv[++i];
    if (value === undefined) throw new Error(`soak: ${arg} needs a value\n${USAGE}`);
    if (arg === "--minutes") options.minutes = Number(value);
    else if (arg === "--out") options.outDir = path.resolve(value);
    else throw new Error(`soak: unknown argument ${arg}\n${USAGE}`);
  }
  if (!(options.minutes > 0)) throw new Error(`soak: --minutes must be a positive number\n${USAGE}`);
  return options;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The participants' frame: the photo at 320 px wide, as a JPEG. */
function jpegFrame(): Buffer {
  return execFileSync(FFMPEG, ["-hide_banner", "-loglevel", "error", "-i", PHOTO, "-vf", "scale=320:-2", "-frames:v", "1", "-f", "mjpeg", "-"]);
}

/** Registers an RTP stream in dev mode and streams the photo to it with ffmpeg for `seconds`. */
async function rtpStream(server: ServerProcess, codec: "VP8" | "H264", participantId: string, ssrc: number, seconds: number) {
  const payloadType = codec === "VP8" ? 96 : 102;
  const response = await fetch(`${server.url}/rtp/streams`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ssrc, payloadType, codec, room: "soak-rtp", participantId }),
  });
  if (response.status !== 201) throw new Error(`soak: registering the ${codec} stream answered ${response.status}: ${await response.text()}`);
  const { port } = (await response.json()) as { port: number };
  const encoder = codec === "VP8"
    ? ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "300k", "-g", "30"]
    : ["-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-g", "30"];
  const child = spawn(FFMPEG, ["-hide_banner", "-loglevel", "error", "-re", "-loop", "1", "-i", PHOTO, "-t", String(seconds),
    "-vf", "scale=320:-2,format=yuv420p", "-r", "10", ...encoder, "-ssrc", String(ssrc), "-payload_type", String(payloadType),
    "-f", "rtp", `rtp://127.0.0.1:${port}?rtcpport=${port}`], { stdio: "ignore" });
  process.once("exit", () => child.kill("SIGKILL"));
  return { port, child };
}

/** The hostile side: mutated frames and JSON on its own WebSocket, mutated datagrams to the RTP ports, bad bodies. */
class Hostile {
  sent = 0;
  #ws: WebSocket | null = null;
  #timer: NodeJS.Timeout | null = null;
  readonly #udp = createSocket("udp4");
  readonly #inputs: Record<string, Uint8Array[]>;

  constructor(private readonly url: string, private readonly rtpPorts: number[]) {
    const target = (name: string) => BYTE_TARGETS.find((t) => t.name === name)!;
    const draw = (name: string) => fc.sample(mutatedBytes(target(name).seeds()), { numRuns: 500, seed: 17 });
    this.#inputs = { frame: draw("binary-frame"), rtp: draw("rtp-rtcp"), body: draw("control-api") };
  }

  start(): void {
    let k = 0;
    this.#timer = setInterval(() => {
      k++;
      const pick = (list: Uint8Array[]) => list[k % list.length]!;
      if (!this.#ws || this.#ws.readyState === WebSocket.CLOSED) this.#connect();
      if (this.#ws?.readyState === WebSocket.OPEN) {
        this.#ws.send(pick(this.#inputs.frame!), { binary: true });
        this.#ws.send(Buffer.from(pick(this.#inputs.body!)).toString("utf8"));
        this.sent += 2;
      }
      for (const port of this.rtpPorts) this.#udp.send(pick(this.#inputs.rtp!), port, "127.0.0.1");
      this.sent += this.rtpPorts.length;
      if (k % 10 === 0) {
        void fetch(`${this.url}/rtp/streams`, { method: "POST", body: Buffer.from(pick(this.#inputs.body!)).toString("utf8") }).then((r) => r.body?.cancel(), () => {});
        this.sent++;
      }
    }, 50);
  }

  #connect(): void {
    this.#ws = new WebSocket(`${this.url.replace("http", "ws")}/ws`);
    this.#ws.on("open", () => this.#ws!.send(JSON.stringify({ type: "join", room: "soak-0", role: "participant", participantId: "hostile" })));
    this.#ws.on("error", () => {});
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#ws?.terminate();
    this.#udp.close();
  }
}

async function sample(server: ServerProcess): Promise<Map<string, number>> {
  const response = await fetch(`${server.url}/metrics`);
  const text = await response.text();
  const metrics = parseMetrics(text); // sums a metric's labelled series; the native heap's states are kept apart
  for (const [, state, value] of text.matchAll(/^mesoguard_native_heap_bytes\{state="(\w+)"\} (\S+)$/gm)) {
    metrics.set(`native_heap_${state!}`, Number(value));
  }
  return metrics;
}

/** The resident memory of `pid`'s child processes together (Linux /proc; NaN where /proc cannot say). */
function childrenRssMiB(pid: number): number {
  let kib = 0;
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const status = readFileSync(`/proc/${entry}/status`, "utf8");
        if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== pid) continue;
        kib += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      } catch {
        // the process ended while being read
      }
    }
  } catch {
    return NaN;
  }
  return Math.round(kib / 1024);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return NaN;
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const seconds = options.minutes * 60;
  const jpeg = jpegFrame();
  const server = await startServer(["--host", "127.0.0.1", "--participant-sees-verdict", "--log-level", "info"]);
  const lastScoreAt = new Map<string, number>();
  const counts = { participant: 0, observer: 0, rtp: 0 };
  const start = Date.now();
  const ws = WebSocket as unknown as WebSocketConstructor;

  const participants = Array.from({ length: PARTICIPANTS }, (_, i) => {
    const id = `p${i + 1}`;
    const client = new MesoguardClient({ url: server.url, room: `soak-${i % ROOMS}`, role: "participant", participantId: id, WebSocket: ws });
    client.on("score", () => {
      counts.participant++;
      lastScoreAt.set(id, Date.now());
    });
    return client;
  });
  const observers = Array.from({ length: ROOMS + 1 }, (_, r) => {
    const room = r < ROOMS ? `soak-${r}` : "soak-rtp";
    const client = new MesoguardClient({ url: server.url, room, role: "observer", WebSocket: ws });
    client.on("score", (message: ScoreMessage) => {
      if (room === "soak-rtp") {
        counts.rtp++;
        lastScoreAt.set(`rtp:${message.participantId}`, Date.now());
      } else counts.observer++;
    });
    return client;
  });
  await Promise.all([...participants, ...observers].map((c) => c.connect()));
  const timers = participants.map((client, i) =>
    setTimeout(() => {
      timers[i] = setInterval(() => {
        if (client.connected && client.bufferedAmount < 1 << 20) client.sendFrame({ kind: "jpeg", data: jpeg });
      }, 1000 / FPS);
    }, (i * 1000) / FPS / PARTICIPANTS),
  );
  const streams = [await rtpStream(server, "VP8", "cam-vp8", 0x5001, seconds + 5), await rtpStream(server, "H264", "cam-h264", 0x5002, seconds + 5)];
  const hostile = new Hostile(server.url, streams.map((s) => s.port));
  hostile.start();
  const honest = [...participants.map((_, i) => `p${i + 1}`), "rtp:cam-vp8", "rtp:cam-h264"];
  for (const id of honest) lastScoreAt.set(id, start + WARMUP_MS); // starvation counts from the end of the warm-up

  const samples: Sample[] = [];
  const starved = new Set<string>();
  let previous = { ...counts, hostile: 0 };
  let serverDied = false;
  server.child.once("exit", () => (serverDied = true));
  while (Date.now() - start < seconds * 1000 && !serverDied) {
    await sleep(SAMPLE_MS);
    const metrics = await sample(server).catch(() => new Map<string, number>());
    const now = Date.now();
    samples.push({
      atSeconds: Math.round((now - start) / 1000),
      rssMiB: mib(metrics.get("mesoguard_process_resident_memory_bytes")),
      heapUsedMiB: mib(metrics.get("mesoguard_nodejs_heap_size_used_bytes")),
      externalMiB: mib(metrics.get("mesoguard_nodejs_external_memory_bytes")),
      nativeInUseMiB: mib(metrics.get("native_heap_in_use")),
      nativeFreeMiB: mib(metrics.get("native_heap_free")),
      childrenRssMiB: server.child.pid === undefined ? NaN : childrenRssMiB(server.child.pid),
      activeHandles: metrics.get("mesoguard_nodejs_active_handles_total") ?? NaN,
      eventLoopLagMaxMs: Math.round((metrics.get("mesoguard_nodejs_eventloop_lag_max_seconds") ?? NaN) * 1000),
      participantScores: counts.participant - previous.participant,
      observerScores: counts.observer - previous.observer,
      rtpScores: counts.rtp - previous.rtp,
      hostileSent: hostile.sent - previous.hostile,
    });
    previous = { ...counts, hostile: hostile.sent };
    if (now - start > WARMUP_MS) for (const id of honest) if (now - lastScoreAt.get(id)! > STARVED_AFTER_MS) starved.add(id);
    console.error(`soak: ${JSON.stringify(samples.at(-1))}`);
  }

  const diedDuringSoak = serverDied; // stop() below ends it on purpose
  hostile.stop();
  for (const t of timers) clearInterval(t);
  for (const c of [...participants, ...observers]) c.close();
  for (const s of streams) s.child.kill("SIGKILL");
  await server.stop();

  const settleMs = Math.min(MEMORY_SETTLE_MS, (seconds * 1000) / 3);
  const settled = samples.filter((s) => s.atSeconds * 1000 > settleMs);
  const window = Math.max(1, Math.min(MEMORY_WINDOW_SAMPLES, Math.floor(settled.length / 4)));
  const first = settled.slice(0, window), last = settled.slice(-window);
  const rssStart = median(first.map((s) => s.rssMiB)), rssEnd = median(last.map((s) => s.rssMiB));
  const childStart = median(first.map((s) => s.childrenRssMiB)), childEnd = median(last.map((s) => s.childrenRssMiB));
  const heapStart = median(first.map((s) => s.heapUsedMiB)), heapEnd = median(last.map((s) => s.heapUsedMiB));
  const nativeStart = median(first.map((s) => s.nativeInUseMiB)), nativeEnd = median(last.map((s) => s.nativeInUseMiB));
  const handlesStart = median(first.map((s) => s.activeHandles)), handlesEnd = median(last.map((s) => s.activeHandles));
  const measuredSeconds = settled.length * (SAMPLE_MS / 1000);
  const sum = (key: keyof Sample) => settled.reduce((s, x) => s + (x[key] as number), 0);
  const leakVerdict = options.minutes >= LEAK_VERDICT_MINUTES;
  const factor = leakVerdict ? 1 : GROSS_FACTOR;
  const rssBound = RSS_GROWTH_BOUND_MIB * factor, nativeBound = NATIVE_IN_USE_GROWTH_BOUND_MIB * factor;
  const childBound = CHILD_RSS_GROWTH_BOUND_MIB * factor, handleBound = HANDLE_GROWTH_BOUND * factor;
  const failures: string[] = [];
  if (diedDuringSoak) failures.push("the server exited during the soak");
  if (settled.length < 2) failures.push("too few samples once settled: run longer");
  if (rssEnd - rssStart > rssBound) failures.push(`RSS grew ${rssEnd - rssStart} MiB once settled (bound ${rssBound})`);
  if (nativeEnd - nativeStart > nativeBound) {
    failures.push(`the native heap in use grew ${nativeEnd - nativeStart} MiB once settled (bound ${nativeBound})`);
  }
  if (childEnd - childStart > childBound) {
    failures.push(`the server's child processes' RSS grew ${childEnd - childStart} MiB once settled (bound ${childBound})`);
  }
  if (handlesEnd - handlesStart > handleBound) failures.push(`active handles grew by ${handlesEnd - handlesStart} (bound ${handleBound})`);
  if (starved.size > 0) failures.push(`starved (no score for ${STARVED_AFTER_MS / 1000} s): ${[...starved].join(", ")}`);
  const result = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, load: os.loadavg().map((l) => Math.round(l * 10) / 10) },
    load: { participants: PARTICIPANTS, fpsPerParticipant: FPS, observers: observers.length, rtpStreams: streams.length },
    minutes: options.minutes,
    memoryVerdict: leakVerdict ? "leak" : "gross",
    bounds: { rssGrowthMiB: rssBound, nativeInUseGrowthMiB: nativeBound, childRssGrowthMiB: childBound, handleGrowth: handleBound },
    summary: {
      rssStartMiB: rssStart, rssEndMiB: rssEnd, rssMinMiB: Math.min(...settled.map((s) => s.rssMiB)),
      rssMaxMiB: Math.max(...settled.map((s) => s.rssMiB)),
      heapUsedStartMiB: heapStart, heapUsedEndMiB: heapEnd, nativeInUseStartMiB: nativeStart, nativeInUseEndMiB: nativeEnd,
      nativeInUseMaxMiB: Math.max(...settled.map((s) => s.nativeInUseMiB)), nativeFreeMaxMiB: Math.max(...settled.map((s) => s.nativeFreeMiB)),
      childrenRssStartMiB: childStart, childrenRssEndMiB: childEnd, handlesStart, handlesEnd,
      eventLoopLagMaxMs: Math.max(...settled.map((s) => s.eventLoopLagMaxMs)),
      participantScoresPerSecond: Math.round((sum("participantScores") / measuredSeconds) * 10) / 10,
      rtpScoresPerSecond: Math.round((sum("rtpScores") / measuredSeconds) * 10) / 10,
      hostileInputs: hostile.sent,
    },
    failures,
    samples,
  };
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(path.join(options.outDir, "latest.json"), JSON.stringify(result, null, 2) + "\n");
  const s = result.summary;
  console.log([
    ["minutes", String(options.minutes)],
    ["memory bounds (growth once settled)", `${leakVerdict ? "leak verdict" : `gross only (x${GROSS_FACTOR}: a leak verdict needs --minutes ${LEAK_VERDICT_MINUTES} or more)`}: RSS ${rssBound}, native ${nativeBound}, decoder ${childBound} MiB, handles ${handleBound}`],
    ["RSS settled / end (MiB, medians)", `${s.rssStartMiB} / ${s.rssEndMiB}`],
    ["RSS min / max once settled (MiB)", `${s.rssMinMiB} / ${s.rssMaxMiB}`],
    ["JS heap used settled / end (MiB)", `${s.heapUsedStartMiB} / ${s.heapUsedEndMiB}`],
    ["native heap in use settled / end / max (MiB)", `${s.nativeInUseStartMiB} / ${s.nativeInUseEndMiB} / ${s.nativeInUseMaxMiB}`],
    ["native heap freed but kept, max (MiB)", String(s.nativeFreeMaxMiB)],
    ["decoder process RSS settled / end (MiB)", `${s.childrenRssStartMiB} / ${s.childrenRssEndMiB}`],
    ["active handles settled / end", `${s.handlesStart} / ${s.handlesEnd}`],
    ["event-loop lag max (ms)", String(s.eventLoopLagMaxMs)],
    ["scores/s to the 20 participants", String(s.participantScoresPerSecond)],
    ["scores/s of the 2 RTP streams", String(s.rtpScoresPerSecond)],
    ["hostile inputs sent", String(s.hostileInputs)],
    ["result", failures.length ? `FAIL: ${failures.join("; ")}` : "pass"],
  ].map(([k, v]) => `${k!.padEnd(50)} ${v}`).join("\n"));
  console.log(`(load average ${result.machine.load.join(" ")} on ${result.machine.cpus} cores; JSON: ${path.relative(process.cwd(), path.join(options.outDir, "latest.json"))})`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.stack : error);
    process.exit(2);
  },
);

// The cluster run: a real redis-server on a free port and `mesoguard serve` nodes sharing it, on this machine.
// 1. Frames/s end to end with 1 node, then 2 nodes, at the same offered load (the participants split over the
//    nodes, all in one room). On one host the nodes share its cores: scaling is bounded by them, not by mesoguard.
// 2. The cross-node delay: during the 2-node run an observer on each node; for a participant scored on node A,
//    the time from its score message (participant, seq) reaching A's observer to the same message reaching B's.
import os from "node:os";

import { WebSocket } from "ws";

import { MesoguardClient, type WebSocketConstructor } from "../src/client/MesoguardClient.js";
import type { ScoreMessage } from "../src/protocol/protocolTypes.js";
import { endToEndServerArgs, runLoadPoint, startServer, type LoadPointResult, type ServerProcess } from "./endToEnd.js";
import type { BenchFrame } from "./frames.js";
import { freePort, launchRedis } from "./redisServer.js";
import { REDIS_TOOL, toolAbsence } from "./tools.js";
import { nowMs, round, summarize, type Summary } from "./stats.js";

export interface ClusterRun {
  nodes: number;
  participants: number;
  fpsPerParticipant: number;
  offeredFps: number;
  /** Scored frames/s, summed over the nodes. */
  sustainedFps: number;
  /** Send-to-score latency, the worst node's. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  perNode: LoadPointResult[];
}

export type ClusterResult =
  | {
      present: true;
      redisServer: string;
      serverArgs: string[];
      cores: number;
      secondsPerPoint: number;
      warmupSeconds: number;
      runs: ClusterRun[];
      /** 2-node frames/s over 1-node frames/s. */
      scaling: number;
      /** Score on node A's observer -> same (participant, seq) on node B's observer, both directions, ms. */
      crossNodeDelayMs: Summary;
      note: string;
    }
  | { present: false; absentBecause: string };

export interface ClusterOptions {
  detectEvery: number;
  participants: number;
  fpsPerParticipant: number;
  secondsPerPoint: number;
  warmupSeconds: number;
  boundMs: number;
}

export function clusterPlan(quick: boolean): Pick<ClusterOptions, "participants" | "fpsPerParticipant" | "secondsPerPoint" | "warmupSeconds"> {
  return quick
    ? { participants: 2, fpsPerParticipant: 30, secondsPerPoint: 2, warmupSeconds: 1 }
    : { participants: 8, fpsPerParticipant: 30, secondsPerPoint: 10, warmupSeconds: 2 };
}

const ROOM = "bench-cluster";

/** An observer that notes when each (participant, seq) score message arrives. */
function observe(server: ServerProcess): { client: MesoguardClient; arrivals: Map<string, number> } {
  const arrivals = new Map<string, number>();
  const client = new MesoguardClient({ url: server.url, room: ROOM, role: "observer", WebSocket: WebSocket as unknown as WebSocketConstructor });
  client.on("score", (message: ScoreMessage) => {
    const seq = message.lastFrame?.seq;
    const key = `${message.participantId}#${seq}`;
    if (seq !== undefined && !arrivals.has(key)) arrivals.set(key, nowMs());
  });
  return { client, arrivals };
}

/** Delays from the scoring node's observer to the other node's, for each message both saw. */
function crossNodeDelays(local: Map<string, number>, remote: Map<string, number>, prefix: string): number[] {
  const delays: number[] = [];
  for (const [key, at] of local) {
    const there = remote.get(key);
    if (key.startsWith(prefix) && there !== undefined) delays.push(there - at);
  }
  return delays;
}

function combine(nodes: LoadPointResult[], point: { participants: number; fpsPerParticipant: number }): ClusterRun {
  return {
    nodes: nodes.length,
    ...point,
    offeredFps: point.participants * point.fpsPerParticipant,
    sustainedFps: round(nodes.reduce((s, n) => s + n.sustainedFps, 0), 1),
    latencyP50Ms: Math.max(...nodes.map((n) => n.latencyMs.p50)),
    latencyP99Ms: Math.max(...nodes.map((n) => n.latencyMs.p99)),
    perNode: nodes,
  };
}

export async function runCluster(frames: BenchFrame[], options: ClusterOptions, step: (label: string) => void): Promise<ClusterResult> {
  const binary = REDIS_TOOL.path;
  const absentBecause = toolAbsence(REDIS_TOOL);
  if (absentBecause) {
    step(`cluster: skipped, ${absentBecause}`);
    step("cluster: skipped");
    return { present: false, absentBecause };
  }
  const port = await freePort();
  const redis = await launchRedis(binary, port);
  const killRedis = () => redis.kill("SIGKILL");
  process.once("exit", killRedis);
  const serverArgs = [...endToEndServerArgs(options.detectEvery), "--redis-url", `redis://127.0.0.1:${port}`];
  const nodeArgs = (id: string) => [...serverArgs, "--cluster-node-id", id, "--rtp-ingest=false"];
  const load = { seconds: options.secondsPerPoint, warmupSeconds: options.warmupSeconds, boundMs: options.boundMs, room: ROOM };
  const point = { participants: options.participants, fpsPerParticipant: options.fpsPerParticipant };
  const half = (share: number) => ({ frame: "640x480" as const, participants: share, fpsPerParticipant: options.fpsPerParticipant });
  const jpeg = frames.find((f) => f.name === "640x480")!.jpeg;
  const nodes: ServerProcess[] = [];
  try {
    step(`cluster: 1 node, ${point.participants} x ${point.fpsPerParticipant} fps`);
    nodes.push(await startServer(nodeArgs("bench-a")));
    const one = combine([await runLoadPoint(nodes[0]!, jpeg, half(point.participants), { ...load, idPrefix: "a" })], point);

    step(`cluster: 2 nodes, ${point.participants} x ${point.fpsPerParticipant} fps split, observers on both`);
    nodes.push(await startServer(nodeArgs("bench-b")));
    const [a, b] = [nodes[0]!, nodes[1]!];
    const watchA = observe(a);
    const watchB = observe(b);
    await Promise.all([watchA.client.connect(), watchB.client.connect()]);
    const onA = Math.ceil(point.participants / 2);
    const perNode = await Promise.all([
      runLoadPoint(a, jpeg, half(onA), { ...load, idPrefix: "a" }),
      runLoadPoint(b, jpeg, half(point.participants - onA), { ...load, idPrefix: "b" }),
    ]);
    watchA.client.close();
    watchB.client.close();
    const two = combine(perNode, point);
    const delays = [...crossNodeDelays(watchA.arrivals, watchB.arrivals, "a"), ...crossNodeDelays(watchB.arrivals, watchA.arrivals, "b")];
    const cores = os.cpus().length;
    return {
      present: true,
      redisServer: binary,
      serverArgs: nodeArgs("<id>"),
      cores,
      secondsPerPoint: options.secondsPerPoint,
      warmupSeconds: options.warmupSeconds,
      runs: [one, two],
      scaling: round(two.sustainedFps / one.sustainedFps, 2),
      crossNodeDelayMs: summarize(delays),
      note:
        `all on this machine (${cores} cores): both nodes, Redis and the simulated participants share its cores, ` +
        `so 2 nodes cannot reach 2x here; the scaling shows what the cores allow`,
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    killRedis();
    process.removeListener("exit", killRedis);
  }
}

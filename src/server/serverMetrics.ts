// Prometheus metrics (prom-client), on a registry of the server's own so several servers can share a process.
// Every labelled counter exports all its label values from the start (at 0), so a dashboard sees zeros rather
// than missing series.
import { readFileSync } from "node:fs";
import path from "node:path";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import { packageRoot } from "../models/paths.js";
import type { NativeHeapUsage } from "../native/addonTypes.js";
import { VERDICT_STATES, type VerdictState } from "../verdict/verdictTypes.js";
import { CLOSE_REASONS } from "./ClientConnection.js";

export const DROP_REASONS = ["superseded", "rate", "shutdown"] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export const REJECT_REASONS = ["malformed", "too-large", "decode", "failed", "not-participant"] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
/**
 * Per-frame stages: the addon's decode, detect (frames the detector ran on), crop (the face crops) and mesonet
 * (inference) times, the wait for a batch, and server_total (frame received to scores ready).
 */
export const WEBHOOK_OUTCOMES = ["sent", "failed", "dropped"] as const;
export const STAGES = ["decode", "detect", "crop", "wait", "mesonet", "server_total"] as const;
export type Stage = (typeof STAGES)[number];

/** What the info metric names: the models, the provider and mesoguard's version. */
export interface ServerInfo {
  model: string;
  detector: string;
  provider: string;
}

/** What the metrics read from the server when scraped. */
export interface MetricSources {
  /** Frames queued or in flight in the addon. */
  queueDepth: () => number;
  /** Every connected participant's verdict state. */
  participantStates: () => Iterable<VerdictState>;
  /** glibc's malloc statistics for the process; null off glibc. */
  nativeHeap: () => NativeHeapUsage | null;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2.5];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly framesReceived = new Counter({ name: "mesoguard_frames_received_total", help: "Frames received from participants", registers: [this.registry] });
  readonly framesScored = new Counter({ name: "mesoguard_frames_scored_total", help: "Frames analysed (faces found and scored, or none found)", registers: [this.registry] });
  readonly framesDropped = new Counter({
    name: "mesoguard_frames_dropped_total",
    help: "Frames dropped unscored: superseded by a newer frame, over maxFps, or at shutdown",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly framesRejected = new Counter({
    name: "mesoguard_frames_rejected_total",
    help: "Frames refused: malformed, too large, undecodable, or failed",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly facesScored = new Counter({ name: "mesoguard_faces_scored_total", help: "Face crops scored by MesoNet", registers: [this.registry] });
  readonly facesCut = new Counter({
    name: "mesoguard_faces_cut_total",
    help: "Faces the detector found beyond maxFaces in a frame: not scored",
    registers: [this.registry],
  });
  readonly stageSeconds = new Histogram({
    name: "mesoguard_stage_seconds",
    help: "Per-frame time in each pipeline stage (server_total: frame received to scores ready)",
    labelNames: ["stage"],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly queueDepth: Gauge;
  readonly participants = new Gauge({ name: "mesoguard_participants", help: "Connected participants", registers: [this.registry] });
  readonly observers = new Gauge({ name: "mesoguard_observers", help: "Connected observers", registers: [this.registry] });
  readonly rooms = new Gauge({ name: "mesoguard_rooms", help: "Rooms with anyone in them", registers: [this.registry] });
  readonly connectionsClosed = new Counter({
    name: "mesoguard_connections_closed_total",
    help: "Connections the server closed, by reason",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly stateTransitions = new Counter({
    name: "mesoguard_state_transitions_total",
    help: "Participants' verdict state changes, by from and to state",
    labelNames: ["from", "to"],
    registers: [this.registry],
  });
  readonly participantsByState: Gauge<"state">;
  readonly nativeHeap: Gauge<"state">;
  readonly webhookEvents = new Counter({
    name: "mesoguard_webhook_events_total",
    help: "Webhook events per URL by outcome: sent (2xx), failed (every attempt failed), dropped (the URL's queue was full)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly webhookRetries = new Counter({
    name: "mesoguard_webhook_retries_total",
    help: "Failed webhook attempts that were retried",
    registers: [this.registry],
  });
  readonly info = new Gauge({
    name: "mesoguard_info",
    help: "The server's models, execution provider and mesoguard version (always 1)",
    labelNames: ["model", "detector", "provider", "version"],
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
    collectDefaultMetrics({ register: this.registry, prefix: "mesoguard_" });
    this.queueDepth = new Gauge({
      name: "mesoguard_queue_depth",
      help: "Frames queued or in flight in the native pipeline",
      registers: [this.registry],
      collect() {
        this.set(sources.queueDepth());
      },
    });
    this.participantsByState = new Gauge({
      name: "mesoguard_participants_by_state",
      help: "Connected participants by verdict state",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        const counts = new Map<VerdictState, number>(VERDICT_STATES.map((s) => [s, 0]));
        for (const state of sources.participantStates()) counts.set(state, counts.get(state)! + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    // RSS alone cannot tell a native leak (in_use grows) from memory glibc keeps for reuse (free grows).
    this.nativeHeap = new Gauge({
      name: "mesoguard_native_heap_bytes",
      help: "glibc malloc: bytes allocated and not freed (in_use), and freed but kept by the allocator (free)",
      labelNames: ["state"],
      registers: [this.registry],
      collect() {
        const usage = sources.nativeHeap();
        if (!usage) return;
        this.set({ state: "in_use" }, usage.inUseBytes);
        this.set({ state: "free" }, usage.freeBytes);
      },
    });
    for (const reason of DROP_REASONS) this.framesDropped.inc({ reason }, 0);
    for (const reason of REJECT_REASONS) this.framesRejected.inc({ reason }, 0);
    for (const reason of CLOSE_REASONS) this.connectionsClosed.inc({ reason }, 0);
    for (const from of VERDICT_STATES) for (const to of VERDICT_STATES) if (from !== to) this.stateTransitions.inc({ from, to }, 0);
    for (const stage of STAGES) this.stageSeconds.zero({ stage });
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookEvents.inc({ outcome }, 0);
  }

  /** Sets the info metric (once, when the models are loaded). */
  setInfo(info: ServerInfo): void {
    const { version } = JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string };
    this.info.set({ ...info, version }, 1);
  }

  observeStage(stage: Stage, ms: number): void {
    this.stageSeconds.observe({ stage }, ms / 1000);
  }
}

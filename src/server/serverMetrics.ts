// Prometheus metrics (prom-client), on a registry of the server's own so several servers can share a process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type DropReason = "superseded" | "rate" | "shutdown";
export type RejectReason = "malformed" | "too-large" | "decode" | "failed" | "not-participant";
export type Stage = "decode" | "detect" | "render" | "wait" | "inference" | "scorer_total" | "server_total";

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

  constructor(queueDepth: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: "mesoguard_" });
    this.queueDepth = new Gauge({
      name: "mesoguard_queue_depth",
      help: "Frames queued or in flight in the native pipeline",
      registers: [this.registry],
      collect() {
        this.set(queueDepth());
      },
    });
  }

  observeStage(stage: Stage, ms: number): void {
    this.stageSeconds.observe({ stage }, ms / 1000);
  }
}

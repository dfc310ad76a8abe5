// One participant's video: rate limit, at most one frame waiting (newest wins), the face stream analyser and
// the rolling verdict. Pushes score messages to the room's observers (and to the participant when it may see its
// verdict, else receipts), at most scoreRateHz times a second; records its events in the audit trail.
import type { Logger } from "pino";

import { frameSize } from "../faces/frameSize.js";
import type { FrameContent, FrameCounts, ParticipantSummary, ReceiptMessage, ScoreMessage } from "../protocol/protocolTypes.js";
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import type { FrameInput, StreamFrame } from "../scoring/scoringTypes.js";
import { StreamAnalyzer } from "../scoring/StreamAnalyzer.js";
import { ParticipantVerdict } from "../verdict/ParticipantVerdict.js";
import type { ParticipantVerdictSnapshot, PauseReason, VerdictConfig, VerdictFlag, VerdictState } from "../verdict/verdictTypes.js";
import type { AuditTrail } from "./auditTrail.js";
import type { ClientConnection } from "./ClientConnection.js";
import type { FaceEvidence } from "./evidence/ParticipantEvidence.js";
import { renderWholeFrameCrop } from "./evidence/wholeFrameCrop.js";
import type { ServerMetrics, Stage } from "./serverMetrics.js";

/** The server's settings for every participant (ServerConfig.session). */
export interface SessionSettings {
  /** Frames per second taken; the excess is dropped and counted. */
  maxFps: number;
  /** Most score messages per second. */
  scoreRateHz: number;
  /** StreamAnalyzer: run the detector every k frames, and search only around tracked faces in between. */
  detectEvery: number;
  regionSearch: boolean;
  /** StreamAnalyzer: while faces are tracked, frames do not wait for the detector (FaceTrackerOptions.backgroundDetection). */
  backgroundDetection: boolean;
  /** Send the participant its own scores; false: only receipts (no feedback for someone tuning a fake). */
  participantSeesVerdict: boolean;
}

export interface ParticipantSessionOptions extends SessionSettings {
  /** Shifts this participant's detection schedule (FaceTrackerOptions.detectOffset): the server spreads them. */
  detectOffset: number;
  room: string;
  participantId: string;
  name?: string;
  frameContent: FrameContent;
  verdict: Partial<VerdictConfig>;
}

/** How often a participant may pause or resume (#takePauseToken). */
const PAUSE_CHANGES = { burst: 10, everyMs: 5000 } as const;

interface ScoredFace extends FaceEvidence {
  box: [number, number, number, number];
  /** With several models: each model's fake score. */
  models?: Record<string, number>;
}

/** Where the session reports what the dashboard's evidence keeps (src/server/evidence/). */
export interface SessionEvidence {
  /** Whether the next frame's face crops are wanted (only then are they rendered out and copied). */
  wantsCrops(now: number): boolean;
  addFrame(at: number, faces: FaceEvidence[]): void;
  addPoint(message: ScoreMessage): void;
  stateChanged(at: number, from: VerdictState, to: VerdictState, aggregate: number | null): void;
}

interface PendingFrame {
  frame: StreamFrame;
  receivedAt: number;
}

export class ParticipantSession {
  readonly joinedAt = Date.now();
  readonly #analyzer: StreamAnalyzer;
  readonly #verdict: ParticipantVerdict;
  readonly #counts: FrameCounts = { received: 0, scored: 0, droppedSuperseded: 0, droppedRate: 0, rejected: 0, fps: 0 };
  #tokens: number;
  #lastRefill = Date.now();
  #pauseTokens: number = PAUSE_CHANGES.burst;
  #pauseRefill = Date.now();
  #inFlight: Promise<void> | null = null;
  #waiting: PendingFrame | null = null;
  #lastFrame: ScoreMessage["lastFrame"] = null;
  #lastBoxes = new Map<number, [number, number, number, number]>();
  /** With several models: each face's latest per-model fake scores. */
  #lastModels = new Map<number, Record<string, number>>();
  #scoredTimes: number[] = [];
  #lastPush = 0;
  #pushTimer: NodeJS.Timeout | null = null;
  #lastPushedState: string | null = null;
  /** The verdict state last seen (for mesoguard_state_transitions_total). */
  #state: VerdictState;
  #closed = false;
  /** Shutting down: no more frames are taken, but the final score can still be pushed. */
  #draining = false;
  #clockMs = 0;
  /** The scorer for this session's frames only: close() cancels those still queued. */
  readonly #scoring: MesoNetScorer;

  constructor(
    readonly options: ParticipantSessionOptions,
    /** The participant's WebSocket; null for a participant whose video arrives over RTP (src/sfu/): its scores go to observers only. */
    readonly connection: ClientConnection | null,
    scorer: MesoNetScorer,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
    private readonly audit: AuditTrail,
    private readonly broadcast: (message: ScoreMessage) => void,
    private readonly evidence: SessionEvidence,
  ) {
    this.#scoring = scorer.forGroup(`${options.room}/${options.participantId}`);
    this.#analyzer = new StreamAnalyzer(this.#scoring, {
      detectEvery: options.detectEvery,
      detectOffset: options.detectOffset,
      regionSearch: options.regionSearch,
      backgroundDetection: options.backgroundDetection,
    });
    this.#verdict = new ParticipantVerdict(options.verdict);
    this.#state = this.#verdict.snapshot(this.#now()).participant.state;
    this.#tokens = Math.max(1, options.maxFps);
  }

  get id(): string {
    return this.options.participantId;
  }

  /** Wall-clock ms that never goes backwards (the verdict refuses time travel, NTP may step the clock). */
  #now(): number {
    this.#clockMs = Math.max(this.#clockMs, Date.now());
    return this.#clockMs;
  }

  summary(): ParticipantSummary {
    const { state, paused, flag } = this.#verdict.snapshot(this.#now()).participant;
    return { participantId: this.id, name: this.options.name, joinedAt: this.joinedAt, state, paused, flag };
  }

  /** The participant said it stopped sending (its page: paused, tab hidden, camera muted or ended). */
  pauseSending(reason: Exclude<PauseReason, "silence">): void {
    if (this.#closed) return;
    const now = this.#now();
    const before = this.#verdict.snapshot(now).participant;
    if (before.state === "paused" && before.paused?.reason !== "silence") return; // already said: nothing changes
    if (!this.#takePauseToken()) return;
    const snapshot = this.#verdict.pauseSending(now, reason);
    this.#record("participant.paused", reason, snapshot);
    this.#noteState(snapshot);
    this.#schedulePush();
  }

  /** The participant said it sends again. */
  resumeSending(): void {
    if (this.#closed) return;
    const now = this.#now();
    if (this.#verdict.snapshot(now).participant.state !== "paused") return; // sending already: nothing changes
    if (!this.#takePauseToken()) return;
    const snapshot = this.#verdict.resumeSending(now);
    this.#record("participant.resumed", null, snapshot);
    this.#noteState(snapshot);
    this.#schedulePush();
  }

  /**
   * An operator dismissed this participant's flag (`by` names the operator for the audit trail). Returns the flag
   * dismissed, or null when none was raised.
   */
  dismissFlag(by: string): VerdictFlag | null {
    const now = this.#now();
    const flag = this.#verdict.dismissFlag(now);
    if (!flag) return null;
    this.audit.record({ type: "flag.dismissed", at: new Date(now).toISOString(), ...this.#who(), by, flag });
    this.#noteState(this.#verdict.snapshot(now));
    this.push();
    return flag;
  }

  #who(): { room: string; participantId: string; name?: string } {
    return { room: this.options.room, participantId: this.id, ...(this.options.name !== undefined && { name: this.options.name }) };
  }

  #record(type: "participant.paused" | "participant.resumed", reason: PauseReason | null, snapshot: ParticipantVerdictSnapshot): void {
    const { state, flag } = snapshot.participant;
    this.audit.record({ type, at: new Date(this.#now()).toISOString(), ...this.#who(), reason, state, flag });
  }

  /** A frame arrived: rate-limit it, then score it now or let it wait (replacing an older waiting frame). */
  onFrame(frame: StreamFrame): void {
    if (this.#closed || this.#draining) return;
    this.#counts.received++;
    this.metrics.framesReceived.inc();
    if (!this.#takeToken()) {
      this.#counts.droppedRate++;
      this.metrics.framesDropped.inc({ reason: "rate" });
      this.#schedulePush(); // the counts changed: observers see drops even when nothing gets scored
      return;
    }
    const pending = { frame, receivedAt: this.#now() };
    if (this.#inFlight) {
      if (this.#waiting) {
        this.#counts.droppedSuperseded++;
        this.metrics.framesDropped.inc({ reason: "superseded" });
      }
      this.#waiting = pending;
      return;
    }
    this.#process(pending);
  }

  /** A frame refused before it could be scored (malformed or too large): counted like any other frame. */
  onRejectedFrame(reason: "malformed" | "too-large"): void {
    this.#counts.received++;
    this.#counts.rejected++;
    this.metrics.framesReceived.inc();
    this.metrics.framesRejected.inc({ reason });
    this.#schedulePush();
  }

  /**
   * Pauses and resumes are events for the audit log and the webhooks: a participant toggling them in a loop would
   * flood both (and push other participants' events out of full webhook queues). PAUSE_CHANGES.burst at once, then
   * one per PAUSE_CHANGES.everyMs; the excess is a rate-limited error (counted toward maxErrorsPerMinute).
   */
  #takePauseToken(): boolean {
    const now = Date.now();
    this.#pauseTokens = Math.min(PAUSE_CHANGES.burst, this.#pauseTokens + (now - this.#pauseRefill) / PAUSE_CHANGES.everyMs);
    this.#pauseRefill = now;
    if (this.#pauseTokens >= 1) {
      this.#pauseTokens -= 1;
      return true;
    }
    this.connection?.error("rate-limited", `pause and resume at most ${PAUSE_CHANGES.burst} at once, then one per ${PAUSE_CHANGES.everyMs / 1000} s`);
    return false;
  }

  /** Token bucket: maxFps tokens a second, bursts up to one second's worth (at least one frame). */
  #takeToken(): boolean {
    const now = Date.now();
    const capacity = Math.max(1, this.options.maxFps);
    this.#tokens = Math.min(capacity, this.#tokens + ((now - this.#lastRefill) / 1000) * this.options.maxFps);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #process(pending: PendingFrame): void {
    const { frame, receivedAt } = pending;
    this.#inFlight = this.#analyze(frame.input, this.evidence.wantsCrops(receivedAt))
      .then(
        (result) => {
          const now = this.#now();
          // The verdict's clock is the server's receive time: monotonic per participant, immune to client clocks.
          this.#verdict.addFrame(
            receivedAt,
            result.faces.map((f) => ({ id: f.id, fake: f.fake })),
          );
          this.#noteState(this.#verdict.snapshot(now));
          this.evidence.addFrame(receivedAt, result.faces);
          this.#lastBoxes = new Map(result.faces.map((f) => [f.id, f.box]));
          this.#lastModels = new Map(result.faces.flatMap((f) => (f.models ? [[f.id, f.models] as const] : [])));
          this.#counts.scored++;
          this.#scoredTimes.push(now);
          this.#lastFrame = {
            seq: frame.seq,
            capturedAt: frame.capturedAt,
            scoredAt: now,
            faces: result.faces.length,
            facesCut: result.facesCut,
            latencyMs: now - receivedAt,
          };
          this.metrics.framesScored.inc();
          this.metrics.facesScored.inc(result.faces.length);
          this.metrics.facesCut.inc(result.facesCut);
          for (const [stage, ms] of Object.entries(result.stages) as Array<[Stage, number]>) this.metrics.observeStage(stage, ms);
          this.metrics.observeStage("server_total", now - receivedAt);
          this.#schedulePush();
        },
        (error: NodeJS.ErrnoException) => {
          if (error.code === "ERR_CANCELLED") return; // this session closed: nobody is left to tell
          this.#counts.rejected++;
          const decode = /DECODE|INVALID_INPUT/.test(error.code ?? "");
          this.metrics.framesRejected.inc({ reason: decode ? "decode" : "failed" });
          this.log.debug({ participant: this.id, seq: frame.seq, code: error.code }, "frame failed");
          this.connection?.error(decode ? "bad-frame" : "frame-failed", `frame ${frame.seq}: ${error.message}`, frame.seq);
          this.#schedulePush();
        },
      )
      .finally(() => {
        this.#inFlight = null;
        const next = this.#waiting;
        this.#waiting = null;
        if (next && !this.#closed && !this.#draining) this.#process(next);
      });
  }

  /**
   * Scene frames go through detection and tracking; a face-crop frame is one face, always track 1. `stages`: the
   * addon's time per stage that ran on this frame (a face crop's decode and resize are one step: not split).
   */
  async #analyze(input: FrameInput, withCrops: boolean): Promise<{ faces: ScoredFace[]; facesCut: number; stages: Partial<Record<Stage, number>> }> {
    if (this.options.frameContent === "scene") {
      const result = await this.#analyzer.analyze(input, { returnCrops: withCrops });
      const t = result.timings;
      const stages: Partial<Record<Stage, number>> = { decode: t.decodeMs };
      if (result.detectorRuns > 0) stages.detect = t.detectMs;
      const landed = result.landed;
      // A background detection's time is the detector's stage too, though no frame waited for it. Observed on its
      // own: the same frame may also have waited for a detection of its own (its faces were gone).
      if (landed && landed.detectorRuns > 0) this.metrics.observeStage("detect", landed.timings.detectMs);
      if (landed?.error && landed.error.code !== "ERR_CANCELLED") {
        this.log.debug({ participant: this.id, code: landed.error.code }, "background face detection failed");
      }
      if (result.faces.length > 0) Object.assign(stages, { crop: t.renderMs, wait: t.waitMs, mesonet: t.inferenceMs });
      const faces = result.faces.map((f) => ({ id: f.id, fake: f.fake, box: f.box, models: f.models, rgb: f.crop.rgb }));
      return { faces, facesCut: result.facesCut, stages };
    }
    const size = frameSize(input);
    const score = await this.#scoring.score(input);
    const stages = { wait: score.timings.waitMs, mesonet: score.timings.inferenceMs };
    // The frame is the crop: rendered as the addon's 256x256 crop only when a snapshot may be kept, beside the next
    // frames rather than before them (no snapshot if that fails, e.g. cancelled because the participant left).
    const rgb = withCrops ? renderWholeFrameCrop(this.#scoring, input).then((c) => c.rgb, () => undefined) : undefined;
    return { faces: [{ id: 1, fake: score.fake, box: [0, 0, size?.width ?? 0, size?.height ?? 0], models: score.models, rgb }], facesCut: 0, stages };
  }

  /** The participant's verdict state now. */
  get state(): VerdictState {
    return this.#state;
  }

  /** Counts and records a change of the verdict state (frames, time and pauses move it). */
  #noteState(snapshot: ParticipantVerdictSnapshot): void {
    const p = snapshot.participant;
    if (p.state === this.#state) return;
    this.metrics.stateTransitions.inc({ from: this.#state, to: p.state });
    this.evidence.stateChanged(p.stateSince, this.#state, p.state, p.aggregate);
    this.audit.record({
      type: "verdict.state-changed",
      at: new Date(p.stateSince).toISOString(),
      ...this.#who(),
      from: this.#state,
      to: p.state,
      aggregate: p.aggregate,
      aggregateMethod: p.aggregateMethod,
      flag: p.flag,
      paused: p.paused,
    });
    this.#state = p.state;
  }

  /** Score messages go out at most scoreRateHz times a second; a state change is never held back longer. */
  #schedulePush(): void {
    if (this.#pushTimer || this.#closed || this.#draining) return;
    const interval = 1000 / this.options.scoreRateHz;
    const wait = Math.max(0, this.#lastPush + interval - Date.now());
    if (wait === 0) {
      this.push();
      return;
    }
    this.#pushTimer = setTimeout(() => {
      this.#pushTimer = null;
      this.push();
    }, wait);
  }

  /** Time moves states too (no-face after a silence): the server calls this every second. */
  tick(): void {
    const snapshot = this.#verdict.snapshot(this.#now());
    this.#noteState(snapshot);
    if (snapshot.participant.state !== this.#lastPushedState) this.#schedulePush();
  }

  scoreMessage(): ScoreMessage {
    const now = this.#now();
    this.#scoredTimes = this.#scoredTimes.filter((t) => now - t < 5000);
    const snapshot = this.#verdict.snapshot(now);
    return {
      type: "score",
      room: this.options.room,
      participantId: this.id,
      name: this.options.name,
      at: now,
      lastFrame: this.#lastFrame,
      participant: snapshot.participant,
      faces: snapshot.faces.map((f) => {
        const models = this.#lastModels.get(f.id);
        return { ...f, box: this.#lastBoxes.get(f.id) ?? null, ...(models && { models }) };
      }),
      frames: { ...this.#counts, fps: this.#scoredTimes.length / 5 },
    };
  }

  push(): void {
    if (this.#closed) return;
    const message = this.scoreMessage();
    this.#lastPush = Date.now();
    this.#lastPushedState = message.participant.state;
    this.connection?.send(this.options.participantSeesVerdict ? message : this.#receipt(message));
    this.broadcast(message);
    this.evidence.addPoint(message);
  }

  /** What the participant gets when it may not see its verdict: the frame counts and whether it is paused. */
  #receipt(score: ScoreMessage): ReceiptMessage {
    const { room, participantId, at, frames } = score;
    return { type: "receipt", room, participantId, at, frames, paused: score.participant.state === "paused" };
  }

  /** Stop taking frames; resolves when the frame in flight (if any) is scored. A waiting frame is dropped. */
  async drain(): Promise<void> {
    this.#draining = true;
    if (this.#waiting) {
      this.#counts.droppedSuperseded++;
      this.metrics.framesDropped.inc({ reason: "shutdown" });
      this.#waiting = null;
    }
    if (this.#pushTimer) clearTimeout(this.#pushTimer);
    this.#pushTimer = null;
    await this.#inFlight;
  }

  close(): void {
    this.#closed = true;
    this.#waiting = null;
    this.#scoring.cancel(); // the frame in flight too: a participant who left must not hold the shared queue
    if (this.#pushTimer) clearTimeout(this.#pushTimer);
    this.#pushTimer = null;
  }
}

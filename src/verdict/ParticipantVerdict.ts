// A participant's rolling verdict: one RollingVerdict per face track, and the participant's own state
// driven by its most suspicious track with enough scored faces; its pauses, and the flag an operator clears.
import { RollingVerdict, nextVerdictState } from "./RollingVerdict.js";
import { resolveVerdictConfig } from "./verdictConfig.js";
import type {
  FaceTrackScore,
  FlaggedState,
  ParticipantScore,
  ParticipantVerdictSnapshot,
  PauseInfo,
  PauseReason,
  VerdictConfig,
  VerdictFlag,
  VerdictState,
} from "./verdictTypes.js";

/** How severe a flagged state is (0: not flagged). */
const FLAG_LEVEL: Partial<Record<VerdictState, number>> = { suspicious: 1, "likely-fake": 2 };

interface Track {
  verdict: RollingVerdict;
  lastSeen: number;
}

function checkTime(name: string, t: number): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new RangeError(`${name} must be a finite number of ms, got ${String(t)}`);
}

/**
 * The track a verdict follows: the most suspicious one with at least minScoredFaces samples; ties go to more
 * samples, then to the earlier in `tracks` (callers list them by id). Null when no track has enough samples.
 */
export function mostSuspiciousTrack<T extends { samples: number; aggregate: number | null }>(
  tracks: readonly T[],
  config: Pick<VerdictConfig, "minScoredFaces">,
): T | null {
  let chosen: T | null = null;
  for (const f of tracks) {
    if (f.samples < config.minScoredFaces || f.aggregate === null) continue;
    if (chosen === null || f.aggregate > chosen.aggregate! || (f.aggregate === chosen.aggregate && f.samples > chosen.samples)) {
      chosen = f;
    }
  }
  return chosen;
}

/**
 * The verdict on one participant's video over a time window.
 *
 * Clock: addFrame() times must be non-decreasing; snapshot(), pauseSending(), resumeSending() and dismissFlag() times must be
 * non-decreasing and not before the latest frame (a frame may arrive with a capture time before the last
 * snapshot). Like RollingVerdict, the participant's state machine steps on every call.
 *
 * Paused: after pauseSending() until resumeSending() or the next frame, or when no frame at all came for
 * noFaceSeconds (after a first frame or a resume). A participant that stops sending is "paused", not "no-face": frames without faces are "no-face".
 * Flag: entering suspicious or likely-fake raises it; it stays while the participant is paused, faceless or
 * gathering, and is cleared when the participant is authentic again or by dismissFlag(). A dismissed flag is
 * raised again when the participant reaches a more severe state, or enters a flagged state anew.
 */
export class ParticipantVerdict {
  readonly config: VerdictConfig;
  private readonly windowMs: number;
  private readonly noFaceMs: number;
  private readonly tracks = new Map<number, Track>();

  private lastFrameTime = -Infinity;
  private clock = -Infinity;
  /** Time of the latest frame with at least one face, -Infinity before any. */
  private lastScoredTime = -Infinity;
  /** Highest fake score of the latest frame with faces. */
  private latest: number | null = null;
  /** Faces scored ever, over all tracks (dropped ones included). */
  private total = 0;

  private state: VerdictState = "no-face";
  private stateSince: number | null = null;

  /** The pause the participant announced, until it resumes. */
  private announcedPause: { since: number; reason: PauseReason } | null = null;
  /** The latest resume(), -Infinity before any: silence is counted from it or the latest frame. */
  private resumedAt = -Infinity;
  private pause: PauseInfo | null = null;
  private flag: VerdictFlag | null = null;
  /** The flag level dismissed while the participant stays flagged: only a more severe state raises it again. */
  private dismissedLevel = 0;

  constructor(config?: Partial<VerdictConfig>) {
    this.config = resolveVerdictConfig(config);
    this.windowMs = this.config.windowSeconds * 1000;
    this.noFaceMs = this.config.noFaceSeconds * 1000;
  }

  /**
   * One analysed frame at capture time `timeMs`, with the fake score of each tracked face in it (possibly
   * none: a frame without faces moves the clock toward "no-face"). Throws a RangeError, before changing
   * anything, for a time before the previous frame's, a bad score, a non-integer id or an id twice.
   */
  addFrame(timeMs: number, faces: ReadonlyArray<{ id: number; fake: number }>): void {
    checkTime("timeMs", timeMs);
    if (timeMs < this.lastFrameTime) {
      throw new RangeError(`timeMs ${timeMs} is before the previous frame's ${this.lastFrameTime}: feed capture times in order`);
    }
    if (!Array.isArray(faces)) throw new RangeError(`faces must be an array, got ${String(faces)}`);
    const seen = new Set<number>();
    for (const face of faces) {
      const id = face?.id;
      const fake = face?.fake;
      if (typeof id !== "number" || !Number.isInteger(id)) throw new RangeError(`face id must be an integer, got ${String(id)}`);
      if (seen.has(id)) throw new RangeError(`face id ${id} appears twice in the frame at ${timeMs} ms`);
      seen.add(id);
      if (typeof fake !== "number" || !Number.isFinite(fake) || fake < 0 || fake > 1) {
        throw new RangeError(`fake score of face ${id} must be a finite number in [0, 1], got ${String(fake)}`);
      }
    }

    this.lastFrameTime = timeMs;
    this.clock = Math.max(this.clock, timeMs);
    this.announcedPause = null; // a frame ends a pause: sending while "paused" must not hide the verdict
    // Drop stale tracks first, so that an id that comes back after the window starts a fresh track.
    this.dropStale(this.clock);
    for (const { id, fake } of faces) {
      let track = this.tracks.get(id);
      if (track === undefined) {
        track = { verdict: new RollingVerdict(this.config), lastSeen: timeMs };
        this.tracks.set(id, track);
      }
      track.verdict.add(timeMs, fake);
      track.lastSeen = timeMs;
    }
    if (faces.length > 0) {
      this.lastScoredTime = timeMs;
      this.latest = Math.max(...faces.map((f) => f.fake));
      this.total += faces.length;
    }
    this.evaluate(this.clock);
  }

  /**
   * The participant's verdict and its live face tracks (by id) at `nowMs`, dropping tracks not scored within
   * the window. Throws a RangeError when nowMs is before the latest frame or an earlier snapshot.
   */
  snapshot(nowMs: number): ParticipantVerdictSnapshot {
    this.advance(nowMs);
    return this.evaluate(nowMs);
  }

  /** The participant said it stopped sending (a second pause keeps the first one's time and reason). */
  pauseSending(nowMs: number, reason: Exclude<PauseReason, "silence">): ParticipantVerdictSnapshot {
    this.advance(nowMs);
    this.announcedPause ??= { since: nowMs, reason };
    return this.evaluate(nowMs);
  }

  /** The participant said it sends again: silence is counted from now. */
  resumeSending(nowMs: number): ParticipantVerdictSnapshot {
    this.advance(nowMs);
    this.announcedPause = null;
    this.resumedAt = nowMs;
    return this.evaluate(nowMs);
  }

  /** An operator dismissed the flag: returns the flag dismissed, or null when none was raised. */
  dismissFlag(nowMs: number): VerdictFlag | null {
    this.advance(nowMs);
    this.evaluate(nowMs);
    const dismissed = this.flag;
    this.flag = null;
    this.dismissedLevel = FLAG_LEVEL[this.state] ?? 0;
    return dismissed;
  }

  private advance(nowMs: number): void {
    checkTime("nowMs", nowMs);
    if (nowMs < this.clock) throw new RangeError(`nowMs ${nowMs} is before the latest time already seen (${this.clock})`);
    this.clock = nowMs;
  }

  private dropStale(now: number): void {
    for (const [id, track] of this.tracks) {
      if (now - track.lastSeen > this.windowMs) this.tracks.delete(id);
    }
  }

  private evaluate(now: number): ParticipantVerdictSnapshot {
    this.dropStale(now);
    const faces: FaceTrackScore[] = [];
    for (const id of [...this.tracks.keys()].sort((a, b) => a - b)) {
      const track = this.tracks.get(id)!;
      faces.push({ ...track.verdict.snapshot(now), id, lastSeen: track.lastSeen });
    }

    const chosen = mostSuspiciousTrack(faces, this.config);
    const samples = faces.reduce((sum, f) => sum + f.samples, 0);

    const lastActivity = Math.max(this.lastFrameTime, this.resumedAt);
    let next: VerdictState;
    let pauseReason: PauseReason | null = null;
    if (this.announcedPause) pauseReason = this.announcedPause.reason;
    else if (lastActivity !== -Infinity && now - lastActivity > this.noFaceMs) pauseReason = "silence";
    if (pauseReason !== null) next = "paused";
    // No face in the frames that kept arriving (frames that stop make a pause, not "no face").
    else if (this.lastScoredTime === -Infinity || this.lastFrameTime - this.lastScoredTime > this.noFaceMs) next = "no-face";
    else if (chosen === null) next = "gathering";
    else next = nextVerdictState(this.state, chosen.aggregate!, this.config);
    if (next === "paused" && this.state !== "paused") {
      const since = this.announcedPause?.since ?? lastActivity;
      this.pause = { since, reason: pauseReason!, lastState: this.state, lastAggregate: chosen?.aggregate ?? null };
    } else if (next !== "paused") {
      this.pause = null;
    }
    if (this.stateSince === null || next !== this.state) {
      this.state = next;
      this.stateSince = now;
    }
    this.updateFlag(now, chosen?.aggregate ?? null);

    const participant: ParticipantScore = {
      latest: this.latest,
      ema: chosen?.ema ?? null,
      windowMean: chosen?.windowMean ?? null,
      aggregate: chosen?.aggregate ?? null,
      aggregateMethod: chosen?.aggregateMethod ?? null,
      samples,
      total: this.total,
      state: this.state,
      stateSince: this.stateSince,
      paused: this.pause && { ...this.pause },
      flag: this.flag && { ...this.flag },
    };
    return { participant, faces };
  }

  private updateFlag(now: number, aggregate: number | null): void {
    const level = FLAG_LEVEL[this.state] ?? 0;
    if (level === 0) {
      this.dismissedLevel = 0;
      if (this.state === "authentic") this.flag = null;
      return;
    }
    if (level <= this.dismissedLevel) return;
    const state = this.state as FlaggedState;
    const peak = aggregate ?? 0;
    if (this.flag === null) this.flag = { state, since: now, peak };
    else {
      if (level > FLAG_LEVEL[this.flag.state]!) this.flag.state = state;
      this.flag.peak = Math.max(this.flag.peak, peak);
    }
  }
}

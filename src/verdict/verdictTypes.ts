// The rolling verdict on a participant's faces over time (seconds, not frames).

/**
 * no-face: frames arrive but no face was scored recently; paused: the participant stopped sending (said so, or
 * no frame for noFaceSeconds; participants only); gathering: too few scored faces for any verdict yet;
 * authentic / suspicious / likely-fake: the aggregated fake score against thresholds, with hysteresis.
 */
export const VERDICT_STATES = ["no-face", "paused", "gathering", "authentic", "suspicious", "likely-fake"] as const;
export type VerdictState = (typeof VERDICT_STATES)[number];

export interface VerdictConfig {
  /** Scores older than this are forgotten (seconds). Default 10. */
  windowSeconds: number;
  /** Time constant of the exponential moving average (seconds). Default 3. */
  emaSeconds: number;
  /** Scored faces needed in the window before any verdict (otherwise "gathering"). Default 8. */
  minScoredFaces: number;
  /** No face scored for this long -> "no-face"; no frame at all for this long -> "paused" (seconds). Default 3. */
  noFaceSeconds: number;
  /** Aggregate fake score at which "suspicious" starts. Default 0.5. */
  suspiciousAt: number;
  /** Aggregate fake score at which "likely-fake" starts. Default 0.75. */
  likelyFakeAt: number;
  /** A state is left only when the score falls this far below its threshold. Default 0.05. */
  hysteresis: number;
  /** A frame with fake >= this is a confident fake (DFDC-winner style aggregation). Default 0.8. */
  confidentFake: number;
  /** Average only the confident fakes when at least this fraction of the window's frames are confident fakes... Default 0.4. */
  confidentFakeFraction: number;
  /** ...and at least this many. Default 5. */
  confidentFakeMinCount: number;
  /** A frame with fake <= this is confidently real. Default 0.2. */
  confidentReal: number;
  /** Average only the confident reals when at least this fraction of the window's frames are. Default 0.9. */
  confidentRealFraction: number;
}

export type AggregateMethod = "confident-fake" | "confident-real" | "mean";

/** One rolling score (a face track's or a participant's). Scores are fake scores: 1 - MesoNet's P(REAL). */
export interface RollingScore {
  /** The latest frame's fake score, or null before any. */
  latest: number | null;
  /** Exponential moving average (time-weighted), or null. */
  ema: number | null;
  /** Mean over the window, or null when the window is empty. */
  windowMean: number | null;
  /** The aggregation the state is based on, or null when the window is empty. */
  aggregate: number | null;
  aggregateMethod: AggregateMethod | null;
  /** Scored faces in the window. */
  samples: number;
  /** Scored faces ever. */
  total: number;
  state: VerdictState;
  /** When the current state began (ms, the clock of the timestamps fed in). */
  stateSince: number;
}

export interface FaceTrackScore extends RollingScore {
  /** The tracker's face id within this participant's stream. */
  id: number;
  /** Last time this face was scored (ms). */
  lastSeen: number;
}

/** Why a participant stopped sending: it said so (the reasons its page knows), or it went silent. */
export const PAUSE_REASONS = ["user", "hidden", "camera-muted", "camera-ended", "silence"] as const;
export type PauseReason = (typeof PAUSE_REASONS)[number];

/** A paused participant: since when (the pause message, or the last frame before a silence), why, and its state before. */
export interface PauseInfo {
  since: number;
  reason: PauseReason;
  lastState: VerdictState;
  /** The aggregate when it paused (null when there was none). */
  lastAggregate: number | null;
}

/** The states that flag a participant for an operator. */
export type FlaggedState = "suspicious" | "likely-fake";

/**
 * A raised flag: it stays through pauses, lost faces and gathering until the participant is authentic again or an
 * operator dismisses it. `state` is the most severe state reached since it was raised, `peak` the highest aggregate.
 */
export interface VerdictFlag {
  state: FlaggedState;
  since: number;
  peak: number;
}

/** A participant's rolling score, its pause and its flag. */
export interface ParticipantScore extends RollingScore {
  /** Set while the state is "paused". */
  paused: PauseInfo | null;
  flag: VerdictFlag | null;
}

export interface ParticipantVerdictSnapshot {
  /** The participant's verdict: driven by its most suspicious face track with enough samples. */
  participant: ParticipantScore;
  /** Face tracks seen within the window, by id. */
  faces: FaceTrackScore[];
}

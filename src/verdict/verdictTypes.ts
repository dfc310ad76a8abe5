// The rolling verdict on a participant's faces over time (seconds, not frames).

/**
 * no-face: no face scored recently; gathering: too few scored faces for any verdict yet;
 * authentic / suspicious / likely-fake: the aggregated fake score against thresholds, with hysteresis.
 */
export const VERDICT_STATES = ["no-face", "gathering", "authentic", "suspicious", "likely-fake"] as const;
export type VerdictState = (typeof VERDICT_STATES)[number];

export interface VerdictConfig {
  /** Scores older than this are forgotten (seconds). Default 10. */
  windowSeconds: number;
  /** Time constant of the exponential moving average (seconds). Default 3. */
  emaSeconds: number;
  /** Scored faces needed in the window before any verdict (otherwise "gathering"). Default 8. */
  minScoredFaces: number;
  /** No face scored for this long -> "no-face" (seconds). Default 3. */
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

export interface ParticipantVerdictSnapshot {
  /** The participant's verdict: driven by its most suspicious face track with enough samples. */
  participant: RollingScore;
  /** Face tracks seen within the window, by id. */
  faces: FaceTrackScore[];
}

// What the server keeps as evidence for the dashboard (ServerConfig.evidence): the defaults and ranges live here,
// next to their consumers (ParticipantEvidence, RoomEvidence, ExplainService); serverConfig.ts takes them from here.

export interface EvidenceSettings {
  /** Per face track: the most suspicious frames kept as JPEG snapshots (besides the latest). */
  snapshotsPerFace: number;
  /** A face's "latest" snapshot is refreshed when older than this (seconds). */
  snapshotLatestSeconds: number;
  /** All of one participant's snapshots together stay under this many JPEG bytes (the least suspicious go first). */
  snapshotBytesPerParticipant: number;
  /** How far back each room's timeline, state changes and alerts reach (minutes). */
  historyMinutes: number;
  /** Explain requests one observer may make per minute (each scores 65 variants of a crop). */
  explainPerMinute: number;
}

export const EVIDENCE_DEFAULTS: EvidenceSettings = {
  snapshotsPerFace: 3,
  snapshotLatestSeconds: 5,
  snapshotBytesPerParticipant: 512 * 1024,
  historyMinutes: 15,
  explainPerMinute: 6,
};

export const EVIDENCE_RANGES: Record<keyof EvidenceSettings, { min: number; max: number; integer: boolean }> = {
  snapshotsPerFace: { min: 0, max: 50, integer: true },
  snapshotLatestSeconds: { min: 0.5, max: 3600, integer: false },
  snapshotBytesPerParticipant: { min: 0, max: 256 * 1024 * 1024, integer: true },
  historyMinutes: { min: 1, max: 24 * 60, integer: false },
  explainPerMinute: { min: 0, max: 600, integer: true },
};

/** JPEG quality of the snapshots (the crops are 256x256: about 10-20 KB each). */
export const SNAPSHOT_JPEG_QUALITY = 85;
/** A face's suspicious snapshots are at least this far apart (ms). */
export const SUSPICIOUS_SPACING_MS = 2000;
/** At most one timeline point per participant per this many ms. */
export const TIMELINE_STEP_MS = 1000;
/** Alerts and state changes kept per room / participant besides the time bound. */
export const MAX_ALERTS_PER_ROOM = 500;
export const MAX_STATE_CHANGES = 500;
/** Participants (present or gone) whose evidence a room keeps; the longest idle is forgotten first. */
export const MAX_PARTICIPANTS_KEPT = 200;
/**
 * A snapshot replaced or dropped stays fetchable by its id this long (and at most DROPPED_SNAPSHOTS_SERVED per
 * participant): a dashboard told of it a moment earlier fetches it after it was replaced, and must not get a 404.
 */
export const DROPPED_SNAPSHOT_GRACE_MS = 15_000;
export const DROPPED_SNAPSHOTS_SERVED = 8;

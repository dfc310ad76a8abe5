// mesoguard's WebSocket protocol, defined once for the server, the client SDK, the dashboard and the bench.
//
// One WebSocket per client at ws(s)://HOST:PORT/ws. Text messages are JSON objects with a `type`; binary
// messages are frames (see binaryFrame.ts). A client first sends `join`; the server answers `welcome` or
// `error` + close. Participants then send binary frames (and `pause` / `resume` when they stop and start) and
// receive `receipt` messages (what the server received), or `score` messages about themselves when the server lets
// participants see their verdict (participantSeesVerdict); observers receive every participant's `score`s in the
// room plus `participant-joined` / `participant-left`.
import type {
  AggregateMethod,
  FaceTrackScore,
  ParticipantScore,
  PauseInfo,
  PauseReason,
  VerdictFlag,
  VerdictState,
} from "../verdict/verdictTypes.js";
import type { EvidenceClientMessage, EvidenceServerMessage } from "./evidenceProtocol.js";

export const PROTOCOL_VERSION = 1;
export const WS_PATH = "/ws";

export type Role = "participant" | "observer";

// ---- client -> server ---------------------------------------------------------------------------------------

export interface JoinMessage {
  type: "join";
  /** Signed token (room, role, participant id, expiry). Omitted only when the server runs in development mode. */
  token?: string;
  /** In development mode: the room, role and participant id; with a token they must match it or be omitted. */
  room?: string;
  role?: Role;
  participantId?: string;
  /** Display name shown on the dashboard (participants). */
  name?: string;
  /**
   * What the participant's frames show: "scene" (default: camera frames; the server finds the faces) or
   * "face-crop" (each frame is one aligned face crop, e.g. made by the sender's own face tracker; no detection).
   */
  frameContent?: FrameContent;
}

export type FrameContent = "scene" | "face-crop";

export interface LeaveMessage {
  type: "leave";
}

/** A participant stopped sending frames (its page: paused by the user, tab hidden, camera muted or ended). */
export interface PauseMessage {
  type: "pause";
  reason: Exclude<PauseReason, "silence">;
}

/** A participant sends frames again (a frame does too). */
export interface ResumeMessage {
  type: "resume";
}

export type ClientMessage = JoinMessage | LeaveMessage | PauseMessage | ResumeMessage | EvidenceClientMessage;

// ---- server -> client ---------------------------------------------------------------------------------------

/** Limits and rates the server applies, told to every client on join. */
export interface ServerLimits {
  maxMessageBytes: number;
  maxFps: number;
  scoreRateHz: number;
}

export interface WelcomeMessage {
  type: "welcome";
  protocol: number;
  room: string;
  role: Role;
  participantId?: string;
  frameContent?: FrameContent;
  limits: ServerLimits;
  /** The model and detector doing the scoring, and the provider running them. */
  model: { name: string; detector: string | null; provider: string };
  /** True when the server accepts joins without tokens (development mode). */
  devMode: boolean;
  /** Participants: true when they get `score` messages about themselves, false when only `receipt`s. */
  participantSeesVerdict?: boolean;
  /** The verdict settings the states are based on (pages show the real thresholds, not the defaults). */
  verdict: { suspiciousAt: number; likelyFakeAt: number; windowSeconds: number; minScoredFaces: number; noFaceSeconds: number };
}

export type ErrorCode =
  | "bad-message"
  | "bad-frame"
  | "not-joined"
  | "already-joined"
  | "unauthorized"
  | "room-full"
  | "server-full"
  | "too-large"
  | "rate-limited"
  | "not-participant"
  | "shutting-down"
  | "frame-failed"
  | "not-observer"
  | "not-found"
  | "explain-failed"
  | "conflict"
  | "unavailable";

export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  /** The frame's sequence number when the error is about a frame. */
  seq?: number;
  /** The request's id when the error answers an explain request (evidenceProtocol.ts). */
  requestId?: string;
}

/** Frame accounting for one participant since it joined. */
export interface FrameCounts {
  received: number;
  scored: number;
  /** Replaced by a newer frame while waiting (per participant at most one frame waits). */
  droppedSuperseded: number;
  /** Over maxFps. */
  droppedRate: number;
  /** Malformed, undecodable or failed. */
  rejected: number;
  /** Frames scored per second over the last seconds. */
  fps: number;
}

export interface ScoreMessage {
  type: "score";
  room: string;
  participantId: string;
  name?: string;
  /** Server time of this message (ms since epoch). */
  at: number;
  /**
   * The last scored frame: its sequence number, capture timestamp, how many faces it had scored and how many more
   * the detector found beyond maxFaces (cut, not scored).
   */
  lastFrame: { seq: number; capturedAt: number; scoredAt: number; faces: number; facesCut: number; latencyMs: number } | null;
  /** The participant's verdict, its pause and its flag. */
  participant: ParticipantScore;
  /** Each face track (ids are per participant stream); `models`: with several models, each one's latest fake score. */
  faces: Array<FaceTrackScore & { box: [number, number, number, number] | null; models?: Record<string, number> }>;
  frames: FrameCounts;
}

/**
 * What a participant gets instead of `score` when it may not see its verdict (the default): that the server is
 * receiving its frames, and whether it counts as paused. Nothing of the scores or faces.
 */
export interface ReceiptMessage {
  type: "receipt";
  room: string;
  participantId: string;
  at: number;
  frames: FrameCounts;
  paused: boolean;
}

export interface ParticipantSummary {
  participantId: string;
  name?: string;
  joinedAt: number;
  state: VerdictState;
  paused: PauseInfo | null;
  flag: VerdictFlag | null;
}

export interface RoomStateMessage {
  type: "room-state";
  room: string;
  participants: ParticipantSummary[];
}

export interface ParticipantJoinedMessage {
  type: "participant-joined";
  room: string;
  participant: ParticipantSummary;
}

export interface ParticipantLeftMessage {
  type: "participant-left";
  room: string;
  participantId: string;
}

export type ServerMessage =
  | WelcomeMessage
  | ErrorMessage
  | ScoreMessage
  | ReceiptMessage
  | RoomStateMessage
  | ParticipantJoinedMessage
  | ParticipantLeftMessage
  | EvidenceServerMessage;

/** WebSocket close codes the server uses (4000-4999 are application codes). */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooLarge: 1009,
  unauthorized: 4001,
  full: 4003,
  abuse: 4008,
  slowConsumer: 4009,
} as const;

// ---- webhooks (server -> the platform's own HTTP endpoints) ---------------------------------------------------

/** What every webhook event and audit log line says about the participant. */
interface ParticipantEventBase {
  /** Unique per event; retries of one event keep it (receivers deduplicate by it). */
  id: string;
  /** When it happened, ISO 8601. */
  at: string;
  room: string;
  participantId: string;
  name?: string;
}

/** The verdict state changed (paused included): from, to, and the aggregate it was based on. */
export interface StateChangedEvent extends ParticipantEventBase {
  type: "verdict.state-changed";
  from: VerdictState;
  to: VerdictState;
  aggregate: number | null;
  aggregateMethod: AggregateMethod | null;
  flag: VerdictFlag | null;
  paused: PauseInfo | null;
}

/** The participant said it stopped sending, or sends again. */
export interface PauseEvent extends ParticipantEventBase {
  type: "participant.paused" | "participant.resumed";
  reason: PauseReason | null;
  state: VerdictState;
  flag: VerdictFlag | null;
}

/** An operator dismissed the participant's flag. */
export interface FlagDismissedEvent extends ParticipantEventBase {
  type: "flag.dismissed";
  by: string;
  flag: VerdictFlag;
}

export type ParticipantEvent = StateChangedEvent | PauseEvent | FlagDismissedEvent;

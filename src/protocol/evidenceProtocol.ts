// The dashboard's evidence messages (issue 13): face snapshots, the room's recent history, alerts that observers
// acknowledge or dismiss, and occlusion explanations. Kept apart from protocolTypes.ts so each concern's messages
// read on their own; protocolTypes.ts adds them to ClientMessage and ServerMessage.
//
// Snapshot JPEGs and incident bundles are not sent over the WebSocket: observers fetch them over HTTP
// (GET /rooms/ROOM/participants/ID/snapshots/N.jpg and .../incident.zip) with their join token in an
// `Authorization: Bearer` header (none in development mode), checked as the WebSocket join is.
import type { VerdictState } from "../verdict/verdictTypes.js";

/** Where a participant's video comes from: a WebSocket (a browser page or another client) or an RTP stream. */
export type ParticipantSource =
  | { kind: "websocket"; client: "browser" | "other"; userAgent?: string }
  | { kind: "rtp"; streamId: string; codec: string };

/** One kept JPEG of a face crop (256x256). */
export interface SnapshotRef {
  /** Per participant, increasing; the N of .../snapshots/N.jpg. */
  id: number;
  faceId: number;
  /** The face's fake score on that frame. */
  fake: number;
  /** Server time the frame was received (ms since epoch). */
  at: number;
  /** "suspicious": one of the face's highest-scoring frames; "latest": its most recent kept frame. */
  kind: "suspicious" | "latest";
  bytes: number;
}

/** One point of a participant's timeline (at most one a second). */
export interface TimelinePoint {
  /** Server time (ms since epoch). */
  t: number;
  aggregate: number | null;
  ema: number | null;
  latest: number | null;
  state: VerdictState;
  /** Each face track's latest and rolling fake score at that time. */
  faces: Array<{ id: number; latest: number | null; aggregate: number | null }>;
}

export interface StateChange {
  at: number;
  from: VerdictState;
  to: VerdictState;
  aggregate: number | null;
}

/** Who acted on an alert: the observer's token participant id (or join name) and a display name. */
export interface ObserverIdentity {
  id: string;
  name?: string;
}

export interface AlertRecord {
  /** Per room, increasing. */
  id: number;
  participantId: string;
  name?: string;
  at: number;
  from: VerdictState;
  to: VerdictState;
  aggregate: number | null;
  acknowledged?: { by: ObserverIdentity; at: number };
  dismissed?: { by: ObserverIdentity; at: number };
}

export interface ParticipantHistory {
  participantId: string;
  name?: string;
  source: ParticipantSource | null;
  /** Oldest first, within the server's history window. */
  points: TimelinePoint[];
  states: StateChange[];
  snapshots: SnapshotRef[];
}

// ---- server -> observers ------------------------------------------------------------------------------------

/** Sent to an observer right after room-state: the room's recent past, so charts and alerts survive a reload. */
export interface HistoryMessage {
  type: "history";
  room: string;
  /** The server's clock when sent (clients map server times onto their own clock with it). */
  serverNow: number;
  /** How far back the server keeps history (historyMinutes). */
  minutes: number;
  participants: ParticipantHistory[];
  alerts: AlertRecord[];
}

/** A participant's kept snapshots changed (the whole current list). */
export interface SnapshotsMessage {
  type: "snapshots";
  room: string;
  participantId: string;
  snapshots: SnapshotRef[];
}

/** A participant's source and state changes since joining (sent to observers when it joins or its state changes). */
export interface ParticipantInfoMessage {
  type: "participant-info";
  room: string;
  participantId: string;
  source: ParticipantSource | null;
  states: StateChange[];
}

/** A new alert, or an existing one acknowledged or dismissed (same id). */
export interface AlertMessage {
  type: "alert";
  room: string;
  alert: AlertRecord;
}

/** The answer to an explain request (to the observer that asked). */
export interface ExplanationMessage {
  type: "explanation";
  room: string;
  requestId: string;
  participantId: string;
  faceId: number;
  /** The snapshot explained (its JPEG is the image the heatmap lies on). */
  snapshotId: number;
  /** Cells per side; drops is row-major grid*grid. */
  grid: number;
  /** P(fake) of the snapshot as it is. */
  baseFake: number;
  /** baseFake minus P(fake) with that cell greyed: positive = the region made the face look fake. */
  drops: number[];
}

export type EvidenceServerMessage = HistoryMessage | SnapshotsMessage | ParticipantInfoMessage | AlertMessage | ExplanationMessage;

// ---- observers -> server ------------------------------------------------------------------------------------

export interface AlertActionMessage {
  type: "alert-action";
  alertId: number;
  action: "acknowledge" | "dismiss";
}

/** Explain a face: its most suspicious kept snapshot (default) or its latest. Rate-limited per observer. */
export interface ExplainMessage {
  type: "explain";
  /** Echoed in the explanation or the error. */
  requestId: string;
  participantId: string;
  faceId: number;
  which?: "suspicious" | "latest";
}

export type EvidenceClientMessage = AlertActionMessage | ExplainMessage;

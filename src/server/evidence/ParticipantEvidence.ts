// One participant's evidence for the dashboard: JPEG snapshots of its face crops (per face track, the most
// suspicious frames and the latest), its timeline (one point a second) and its state changes, all bounded.
// It lives in its room's RoomEvidence, keyed by participant id, so a participant that reconnects keeps it.
//
// Crops cost a copy out of the addon and a JPEG encode, so the session asks for them only on frames that may be
// kept (wantsCrops): a face whose latest snapshot is stale, or whose last score would beat its kept set.
// Encoding runs in the addon's threads (encodeJpeg); the event loop only compares scores.
import type { ScoreMessage } from "../../protocol/protocolTypes.js";
import type {
  ParticipantHistory,
  ParticipantSource,
  SnapshotRef,
  StateChange,
  TimelinePoint,
} from "../../protocol/evidenceProtocol.js";
import type { VerdictState } from "../../verdict/verdictTypes.js";
import {
  DROPPED_SNAPSHOT_GRACE_MS,
  DROPPED_SNAPSHOTS_SERVED,
  MAX_STATE_CHANGES,
  SUSPICIOUS_SPACING_MS,
  TIMELINE_STEP_MS,
  type EvidenceSettings,
} from "./evidenceSettings.js";

/**
 * A face of a scored frame, with its 256x256 RGB crop when the frame was asked for crops (or a promise of it, when
 * the crop is rendered after the frame was scored: undefined if that failed).
 */
export interface FaceEvidence {
  id: number;
  fake: number;
  rgb?: Buffer | Promise<Buffer | undefined>;
}

export interface Snapshot extends SnapshotRef {
  jpeg: Buffer;
}

export interface EvidenceHooks {
  /** Encodes a 256x256 RGB crop as JPEG off the event loop. */
  encodeJpeg(rgb: Buffer): Promise<Buffer>;
  /** The kept snapshots changed. */
  snapshotsChanged(evidence: ParticipantEvidence): void;
  /** A JPEG encode failed (logged by the owner; the snapshot is skipped). */
  failed(error: unknown): void;
}

export class ParticipantEvidence {
  name: string | undefined;
  source: ParticipantSource | null = null;
  /** Last time a frame or score arrived (ms): absent participants' evidence ages out after historyMinutes. */
  lastActive = Date.now();
  readonly #points: TimelinePoint[] = [];
  readonly #states: StateChange[] = [];
  readonly #snapshots: Snapshot[] = [];
  /** Snapshots no longer kept, still served by id until `until` (wall-clock ms). */
  #dropped: Array<{ snapshot: Snapshot; until: number }> = [];
  /** The last scored frame's fake score per face id (which faces could be kept on the next frame). */
  #lastScores = new Map<number, number>();
  #nextSnapshotId = 1;
  #encoding = false;

  constructor(
    readonly participantId: string,
    private readonly settings: EvidenceSettings,
    private readonly hooks: EvidenceHooks,
  ) {}

  // ---- snapshots ----------------------------------------------------------------------------------------------

  /** Whether the next frame should come with crops (asked before it is analysed). */
  wantsCrops(now: number): boolean {
    // No face in the last frame: nothing to keep yet (a participant that sends one frame and leaves costs no crops).
    if (this.#encoding || this.settings.snapshotBytesPerParticipant === 0 || this.#lastScores.size === 0) return false;
    return [...this.#lastScores].some(([face, fake]) => this.#wanted(face, fake, now) !== null);
  }

  /** Why a face's frame would be kept: as one of its most suspicious, as its latest, or not at all. */
  #wanted(face: number, fake: number, now: number): "suspicious" | "latest" | null {
    const suspicious = this.#snapshots.filter((s) => s.faceId === face && s.kind === "suspicious");
    // Spread in time: a steady fake face would otherwise beat its own kept frames by a hair on every frame.
    const spaced = suspicious.every((s) => now - s.at >= SUSPICIOUS_SPACING_MS);
    if (this.settings.snapshotsPerFace > 0 && spaced &&
        (suspicious.length < this.settings.snapshotsPerFace || fake > Math.min(...suspicious.map((s) => s.fake)))) {
      return "suspicious";
    }
    const latest = this.#snapshots.find((s) => s.faceId === face && s.kind === "latest");
    return !latest || now - latest.at >= this.settings.snapshotLatestSeconds * 1000 ? "latest" : null;
  }

  /** A frame was scored at `at` (server receive time): keeps what beats the kept set. */
  addFrame(at: number, faces: FaceEvidence[]): void {
    this.lastActive = at;
    this.#lastScores = new Map(faces.map((f) => [f.id, f.fake]));
    const keep = faces.filter((f) => f.rgb).map((f) => ({ face: f, kind: this.#wanted(f.id, f.fake, at) })).filter((k) => k.kind);
    if (keep.length === 0 || this.#encoding) return;
    this.#encoding = true;
    void (async () => {
      try {
        for (const { face, kind } of keep) {
          const rgb = await face.rgb;
          if (!rgb) continue;
          const jpeg = await this.hooks.encodeJpeg(rgb);
          this.#insert({ id: this.#nextSnapshotId++, faceId: face.id, fake: face.fake, at, kind: kind!, bytes: jpeg.byteLength, jpeg });
        }
        this.hooks.snapshotsChanged(this);
      } catch (error) {
        this.hooks.failed(error);
      } finally {
        this.#encoding = false;
      }
    })();
  }

  #insert(snapshot: Snapshot): void {
    const same = (s: Snapshot) => s.faceId === snapshot.faceId && s.kind === snapshot.kind;
    if (snapshot.kind === "latest") this.#remove(this.#snapshots.filter(same));
    this.#snapshots.push(snapshot);
    const suspicious = this.#snapshots.filter(same).sort((a, b) => b.fake - a.fake);
    if (snapshot.kind === "suspicious") this.#remove(suspicious.slice(this.settings.snapshotsPerFace));
    // The byte bound: faces gone from the stream lose their latest first, then the least suspicious go.
    while (this.bytes > this.settings.snapshotBytesPerParticipant && this.#snapshots.length > 0) {
      this.#remove([this.#victim()]);
    }
  }

  #victim(): Snapshot {
    const byAge = (a: Snapshot, b: Snapshot) => a.at - b.at;
    const goneLatest = this.#snapshots.filter((s) => s.kind === "latest" && !this.#lastScores.has(s.faceId)).sort(byAge);
    if (goneLatest.length > 0) return goneLatest[0]!;
    const suspicious = this.#snapshots.filter((s) => s.kind === "suspicious").sort((a, b) => a.fake - b.fake);
    return suspicious[0] ?? [...this.#snapshots].sort(byAge)[0]!;
  }

  #remove(victims: Snapshot[]): void {
    const until = Date.now() + DROPPED_SNAPSHOT_GRACE_MS;
    for (const victim of victims) {
      const i = this.#snapshots.indexOf(victim);
      if (i < 0) continue;
      this.#snapshots.splice(i, 1);
      this.#dropped.push({ snapshot: victim, until });
    }
    this.#dropped = this.#dropped.filter((d) => d.until > Date.now()).slice(-DROPPED_SNAPSHOTS_SERVED);
  }

  get bytes(): number {
    return this.#snapshots.reduce((sum, s) => sum + s.bytes, 0);
  }

  /** The kept snapshots, most suspicious first. */
  snapshots(): Snapshot[] {
    return [...this.#snapshots].sort((a, b) => b.fake - a.fake || b.at - a.at);
  }

  snapshotRefs(): SnapshotRef[] {
    return this.snapshots().map(({ jpeg: _jpeg, ...ref }) => ref);
  }

  /** A kept snapshot, or one dropped within the last DROPPED_SNAPSHOT_GRACE_MS (see there why). */
  snapshot(id: number): Snapshot | undefined {
    return this.#snapshots.find((s) => s.id === id) ?? this.#dropped.find((d) => d.snapshot.id === id && d.until > Date.now())?.snapshot;
  }

  /** The snapshot an explanation of this face uses: its most suspicious (or latest), else the other kind. */
  snapshotOfFace(faceId: number, which: "suspicious" | "latest"): Snapshot | undefined {
    const own = this.snapshots().filter((s) => s.faceId === faceId);
    return own.find((s) => s.kind === which) ?? own[0];
  }

  // ---- timeline and states ------------------------------------------------------------------------------------

  /** A score message went out: at most one point a second, plus every state change. */
  addPoint(message: ScoreMessage, keepMs: number): void {
    this.lastActive = message.at;
    if (message.name) this.name = message.name;
    const last = this.#points.at(-1);
    const p = message.participant;
    if (last && message.at - last.t < TIMELINE_STEP_MS && last.state === p.state) return;
    this.#points.push({
      t: message.at,
      aggregate: p.aggregate,
      ema: p.ema,
      latest: message.lastFrame?.faces ? p.latest : null,
      state: p.state,
      faces: message.faces.map((f) => ({ id: f.id, latest: f.latest, aggregate: f.aggregate })),
    });
    this.prune(message.at - keepMs);
  }

  noteState(at: number, from: VerdictState, to: VerdictState, aggregate: number | null): void {
    this.#states.push({ at, from, to, aggregate });
    if (this.#states.length > MAX_STATE_CHANGES) this.#states.splice(0, this.#states.length - MAX_STATE_CHANGES);
  }

  states(): StateChange[] {
    return [...this.#states];
  }

  points(): TimelinePoint[] {
    return [...this.#points];
  }

  /** Forgets points and state changes older than `cutoff` (ms). */
  prune(cutoff: number): void {
    let drop = 0;
    while (drop < this.#points.length && this.#points[drop]!.t < cutoff) drop++;
    if (drop > 0) this.#points.splice(0, drop);
    drop = 0;
    while (drop < this.#states.length && this.#states[drop]!.at < cutoff) drop++;
    if (drop > 0) this.#states.splice(0, drop);
  }

  history(): ParticipantHistory {
    return {
      participantId: this.participantId,
      name: this.name,
      source: this.source,
      points: this.points(),
      states: this.states(),
      snapshots: this.snapshotRefs(),
    };
  }
}

// A room's evidence for the dashboard: each participant's ParticipantEvidence (kept while the participant is
// away too, until it ages out), and the room's alerts: entering suspicious or likely-fake raises one, observers
// acknowledge or dismiss it (who and when recorded), every observer of the room is told. Bounded by
// historyMinutes and by counts.
import type { AlertRecord, HistoryMessage, ObserverIdentity, ParticipantSource } from "../../protocol/evidenceProtocol.js";
import type { ServerMessage } from "../../protocol/protocolTypes.js";
import type { VerdictState } from "../../verdict/verdictTypes.js";
import type { SessionEvidence } from "../ParticipantSession.js";
import { MAX_ALERTS_PER_ROOM, MAX_PARTICIPANTS_KEPT, type EvidenceSettings } from "./evidenceSettings.js";
import { ParticipantEvidence, type EvidenceHooks } from "./ParticipantEvidence.js";

/** The states that raise an alert when a participant enters them. */
const ALERT_STATES: ReadonlySet<VerdictState> = new Set(["suspicious", "likely-fake"]);

export class RoomEvidence {
  readonly #participants = new Map<string, ParticipantEvidence>();
  readonly #alerts: AlertRecord[] = [];
  #nextAlertId = 1;
  lastActive = Date.now();

  constructor(
    readonly room: string,
    private readonly settings: EvidenceSettings,
    /** Sends to the room's observers (none when the room is empty). */
    private readonly toObservers: (message: ServerMessage) => void,
    private readonly encodeJpeg: EvidenceHooks["encodeJpeg"],
    private readonly failed: EvidenceHooks["failed"],
  ) {}

  get keepMs(): number {
    return this.settings.historyMinutes * 60_000;
  }

  /** The participant's evidence, made on first use. */
  participant(id: string): ParticipantEvidence {
    let evidence = this.#participants.get(id);
    if (!evidence) {
      // Ids that come and go (reconnects, churn) must not pile up: the longest idle goes first.
      if (this.#participants.size >= MAX_PARTICIPANTS_KEPT) {
        const idle = [...this.#participants.values()].sort((a, b) => a.lastActive - b.lastActive)[0]!;
        this.#participants.delete(idle.participantId);
      }
      evidence = new ParticipantEvidence(id, this.settings, {
        encodeJpeg: this.encodeJpeg,
        failed: this.failed,
        snapshotsChanged: (e) =>
          this.toObservers({ type: "snapshots", room: this.room, participantId: e.participantId, snapshots: e.snapshotRefs() }),
      });
      this.#participants.set(id, evidence);
    }
    this.lastActive = Date.now();
    return evidence;
  }

  /** A participant (re)joined: what its session reports goes to its evidence; observers learn its source. */
  sessionJoined(id: string, name: string | undefined, source: ParticipantSource): SessionEvidence {
    const evidence = this.participant(id);
    evidence.name = name ?? evidence.name;
    evidence.source = source;
    this.#announce(evidence);
    return {
      wantsCrops: (now) => evidence.wantsCrops(now),
      addFrame: (at, faces) => evidence.addFrame(at, faces),
      addPoint: (message) => evidence.addPoint(message, this.keepMs),
      stateChanged: (at, from, to, aggregate) => this.stateChanged(id, at, from, to, aggregate),
    };
  }

  #announce(evidence: ParticipantEvidence): void {
    this.toObservers({ type: "participant-info", room: this.room, participantId: evidence.participantId, source: evidence.source, states: evidence.states() });
  }

  find(id: string): ParticipantEvidence | undefined {
    return this.#participants.get(id);
  }

  /** A participant's state changed: recorded, told to observers, and an alert when it entered a flagged state. */
  stateChanged(id: string, at: number, from: VerdictState, to: VerdictState, aggregate: number | null): void {
    const evidence = this.participant(id);
    evidence.noteState(at, from, to, aggregate);
    this.#announce(evidence);
    if (!ALERT_STATES.has(to) || (ALERT_STATES.has(from) && to === "suspicious")) return; // likely-fake -> suspicious is not news
    const alert: AlertRecord = { id: this.#nextAlertId++, participantId: id, name: evidence.name, at, from, to, aggregate };
    this.#alerts.push(alert);
    if (this.#alerts.length > MAX_ALERTS_PER_ROOM) this.#alerts.splice(0, this.#alerts.length - MAX_ALERTS_PER_ROOM);
    this.toObservers({ type: "alert", room: this.room, alert });
  }

  /** An observer acknowledged or dismissed an alert: null when there is no such alert. */
  actOnAlert(alertId: number, action: "acknowledge" | "dismiss", by: ObserverIdentity, at: number): AlertRecord | null {
    const alert = this.#alerts.find((a) => a.id === alertId);
    if (!alert) return null;
    if (action === "acknowledge") alert.acknowledged ??= { by, at };
    else alert.dismissed ??= { by, at };
    this.toObservers({ type: "alert", room: this.room, alert });
    return alert;
  }

  alertsOf(participantId: string): AlertRecord[] {
    return this.#alerts.filter((a) => a.participantId === participantId);
  }

  /** What an observer gets on joining: `present` first (the others' evidence is kept for a returning participant). */
  history(now: number, present: Iterable<string>): HistoryMessage {
    const ids = new Set(present);
    this.prune(now, ids);
    return {
      type: "history",
      room: this.room,
      serverNow: now,
      minutes: this.settings.historyMinutes,
      participants: [...this.#participants.values()].filter((p) => ids.has(p.participantId)).map((p) => p.history()),
      alerts: [...this.#alerts],
    };
  }

  /** Forgets what is older than historyMinutes, and participants away for that long. */
  prune(now: number, present: Iterable<string>): void {
    const cutoff = now - this.keepMs;
    const here = new Set(present);
    for (const [id, evidence] of this.#participants) {
      if (!here.has(id) && evidence.lastActive < cutoff) this.#participants.delete(id);
      else evidence.prune(cutoff);
    }
    let drop = 0;
    while (drop < this.#alerts.length && this.#alerts[drop]!.at < cutoff) drop++;
    if (drop > 0) this.#alerts.splice(0, drop);
  }

  get empty(): boolean {
    return this.#participants.size === 0 && this.#alerts.length === 0;
  }
}

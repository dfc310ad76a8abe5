// The dashboard's detail view of one participant (a modal <dialog>): where its video comes from, frames and
// latency with units, its state history with times, and per face track a timeline chart with axes and the
// thresholds, the kept snapshots (most suspicious and latest), an "explain" action that overlays the server's
// occlusion map on the snapshot, and "export" of the incident bundle.
import type { ExplanationMessage, ParticipantSource, SnapshotRef, StateChange } from "../protocol/evidenceProtocol.js";
import type { ScoreMessage } from "../protocol/protocolTypes.js";
import type { VerdictState } from "../verdict/verdictTypes.js";
import { ScoreChart, type ScorePoint } from "./common/chart.js";
import type { EvidenceFetcher } from "./common/evidenceFetch.js";
import { StateBadge, byId, el, formatClock, formatDuration, formatRate, formatScore, lookOf, setText } from "./common/format.js";
import { drawHeatmap } from "./common/heatmap.js";

/** What the detail view shows of a participant (kept by the dashboard, times already on the local clock). */
export interface DetailSubject {
  id: string;
  name: string | undefined;
  state: VerdictState;
  message: ScoreMessage | null;
  /** Local time the message arrived. */
  receivedAt: number;
  source: ParticipantSource | null;
  states: StateChange[];
  snapshots: SnapshotRef[];
  /** Per face track id: its scores over time (local times). */
  faceSeries: Map<number, ScorePoint[]>;
}

export const EXPLAIN_TEXT =
  "Red cells: greying out that part of the face lowered the fake score the most, so these are the regions the model " +
  "relied on for this score (blue: greying it raised the score). It shows where the model looked, not proof of manipulation.";

export function describeSource(source: ParticipantSource | null): string {
  if (!source) return "unknown";
  if (source.kind === "rtp") return `RTP stream ${source.streamId} (${source.codec}) forwarded by an SFU`;
  return source.client === "browser" ? "a browser (WebSocket, participant page)" : "a WebSocket client (SDK)";
}

class FaceSection {
  readonly element = el("section", "face");
  readonly chart: ScoreChart;
  readonly #summary = el("p", "face-summary");
  readonly #gallery = el("div", "face-gallery");
  readonly #explainButton = el("button", "small", "Explain");
  readonly #explainBox = el("div", "explain");
  readonly #heatmap = el("canvas", "heatmap");
  readonly #explainText = el("p", "explain-text");
  #galleryKey = "";
  pendingRequest: string | null = null;

  constructor(
    readonly participantId: string,
    readonly faceId: number,
    windowMs: number,
    private readonly fetcher: EvidenceFetcher,
    private readonly explain: (faceId: number) => string | null,
  ) {
    this.element.dataset.face = String(faceId);
    const head = el("div", "face-head");
    head.append(el("h3", undefined, `Face ${faceId}`), this.#summary);
    const canvas = el("canvas", "face-chart");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `fake score of face ${faceId} of ${participantId} over time, with the thresholds`);
    this.chart = new ScoreChart(canvas, { axes: true, windowMs });
    this.#explainButton.type = "button";
    this.#explainButton.setAttribute("aria-label", `Explain face ${faceId}: show which regions the model relied on`);
    this.#explainButton.addEventListener("click", () => {
      const id = this.explain(faceId);
      if (!id) return this.explainFailed("not connected: try again when live");
      this.pendingRequest = id;
      this.#explainButton.disabled = true;
      this.#explainText.textContent = "Computing the occlusion map (64 re-scored variants of the crop)…";
      this.#explainBox.hidden = false;
    });
    this.#heatmap.setAttribute("role", "img");
    this.#heatmap.hidden = true;
    this.#explainBox.hidden = true;
    this.#explainBox.append(this.#heatmap, this.#explainText);
    const evidence = el("div", "face-evidence");
    evidence.append(this.#gallery, this.#explainButton, this.#explainBox);
    this.element.append(head, canvas, evidence);
  }

  update(score: ScoreMessage["faces"][number] | undefined, points: ScorePoint[], snapshots: SnapshotRef[], toLocal: (t: number) => number): void {
    setText(this.#summary, score
      ? `latest ${formatScore(score.latest)} · rolling ${formatScore(score.aggregate)} · ${score.samples} samples in the window · ${score.total} scored`
      : "not in the last frames");
    for (const p of points) if (!this.chart.points.length || p.t > this.chart.points.at(-1)!.t) this.chart.push(p);
    const key = snapshots.map((s) => s.id).join(",");
    if (key === this.#galleryKey) return;
    this.#galleryKey = key;
    this.#gallery.replaceChildren(
      ...snapshots.map((s) => {
        const figure = el("figure", "snapshot");
        figure.dataset.snapshot = String(s.id);
        figure.dataset.kind = s.kind;
        const img = el("img");
        img.width = 96;
        img.height = 96;
        img.alt = `face ${s.faceId}, ${s.kind === "latest" ? "latest kept frame" : "one of its most suspicious frames"}, fake score ${formatScore(s.fake)}`;
        void this.fetcher.snapshotUrl(this.participantId, s.id).then((url) => (img.src = url), () => (img.alt += " (could not be loaded)"));
        const caption = el("figcaption", undefined, `${s.kind === "latest" ? "latest" : "suspicious"} ${formatScore(s.fake)} · ${formatClock(toLocal(s.at))}`);
        figure.append(img, caption);
        return figure;
      }),
    );
    if (snapshots.length === 0) this.#gallery.append(el("p", "muted", "No snapshot kept yet."));
  }

  async explained(message: ExplanationMessage): Promise<void> {
    this.pendingRequest = null;
    this.#explainButton.disabled = false;
    const image = new Image();
    image.src = await this.fetcher.snapshotUrl(this.participantId, message.snapshotId);
    await image.decode();
    drawHeatmap(this.#heatmap, image, message.grid, message.drops);
    this.#heatmap.hidden = false;
    this.#heatmap.setAttribute("aria-label", `occlusion heatmap over snapshot ${message.snapshotId} of face ${message.faceId}`);
    this.#heatmap.dataset.snapshot = String(message.snapshotId);
    this.#explainText.textContent = `Snapshot ${message.snapshotId}, fake score ${formatScore(message.baseFake)}. ${EXPLAIN_TEXT}`;
  }

  explainFailed(text: string): void {
    this.pendingRequest = null;
    this.#explainButton.disabled = false;
    this.#explainBox.hidden = false;
    this.#explainText.textContent = `Explain failed: ${text}`;
  }
}

/** The span a detail chart shows: from its oldest point, in whole minutes, between 1 minute and the history kept. */
function visibleWindow(points: readonly ScorePoint[], now: number, historyMs: number): number {
  const span = points.length ? now - points[0]!.t : 0;
  return Math.min(historyMs, Math.max(60_000, Math.ceil(span / 60_000) * 60_000));
}

export class DetailView {
  readonly #dialog = byId<HTMLDialogElement>("detail");
  readonly #title = byId("detail-title");
  readonly #id = byId("detail-id");
  readonly #badge = new StateBadge();
  readonly #facts = byId<HTMLDListElement>("detail-facts");
  readonly #states = byId<HTMLOListElement>("detail-states");
  readonly #faces = byId("detail-faces");
  readonly #exportStatus = byId("detail-export-status");
  readonly #sections = new Map<number, FaceSection>();
  #subject: DetailSubject | null = null;
  #statesKey = "";

  constructor(
    private readonly fetcher: EvidenceFetcher,
    private readonly requestExplain: (participantId: string, faceId: number) => string | null,
    private readonly toLocal: (serverMs: number) => number,
    private readonly windowMs: () => number,
  ) {
    byId("detail-badge").replaceChildren(this.#badge.element);
    byId("detail-close").addEventListener("click", () => this.#dialog.close());
    this.#dialog.addEventListener("close", () => {
      this.#subject = null;
    });
    byId("detail-export").addEventListener("click", () => {
      const subject = this.#subject;
      if (!subject) return;
      this.#exportStatus.textContent = "Exporting…";
      this.fetcher.downloadIncident(subject.id).then(
        (name) => (this.#exportStatus.textContent = `Downloaded ${name}`),
        (error: Error) => (this.#exportStatus.textContent = error.message),
      );
    });
  }

  get openId(): string | null {
    return this.#subject?.id ?? null;
  }

  open(subject: DetailSubject): void {
    if (this.#subject?.id !== subject.id) {
      this.#sections.clear();
      this.#faces.replaceChildren();
      this.#statesKey = "";
      this.#exportStatus.textContent = "";
    }
    this.#subject = subject;
    if (!this.#dialog.open) this.#dialog.showModal();
    this.update(Date.now());
  }

  update(now: number): void {
    const s = this.#subject;
    if (!s) return;
    setText(this.#title, s.name || s.id);
    setText(this.#id, s.name && s.name !== s.id ? s.id : "");
    this.#badge.set(s.state);
    this.#renderFacts(s, now);
    this.#renderStates(s);
    const faceIds = new Set([...s.faceSeries.keys(), ...s.snapshots.map((x) => x.faceId)]);
    for (const faceId of [...faceIds].sort((a, b) => a - b)) {
      let section = this.#sections.get(faceId);
      if (!section) {
        section = new FaceSection(s.id, faceId, this.windowMs(), this.fetcher, (face) => this.requestExplain(s.id, face));
        this.#sections.set(faceId, section);
        this.#faces.append(section.element);
      }
      const score = s.message?.faces.find((f) => f.id === faceId);
      section.update(score, s.faceSeries.get(faceId) ?? [], s.snapshots.filter((x) => x.faceId === faceId), this.toLocal);
      const canvas = section.chart.canvas;
      section.chart.resize(canvas.clientWidth, canvas.clientHeight);
      section.chart.draw(now, visibleWindow(section.chart.points, now, this.windowMs()));
    }
    if (faceIds.size === 0 && !this.#faces.querySelector(".muted")) this.#faces.append(el("p", "muted", "No face scored yet."));
    else if (faceIds.size > 0) this.#faces.querySelector(":scope > .muted")?.remove();
  }

  #renderFacts(s: DetailSubject, now: number): void {
    const m = s.message;
    const f = m?.frames;
    const last = m?.lastFrame;
    const inState = m ? m.at - m.participant.stateSince + (now - s.receivedAt) : null;
    const rows: Array<[string, string]> = [
      ["Participant id", s.id],
      ["Source", describeSource(s.source)],
      ["State", `${lookOf(s.state).label}${inState !== null ? ` for ${formatDuration(inState)}` : ""}`],
      ["Rolling fake score", m ? `${formatScore(m.participant.aggregate)} (${m.participant.aggregateMethod ?? "no scores"}, ${m.participant.samples} samples)` : "–"],
      ["Frames", f ? `${f.received} received, ${f.scored} scored, ${f.droppedSuperseded + f.droppedRate} dropped (${f.droppedSuperseded} superseded, ${f.droppedRate} over the rate), ${f.rejected} rejected` : "–"],
      ["Scoring rate", f ? `${formatRate(f.fps)} frames/s (last 5 s)` : "–"],
      ["Latency", last ? `${Math.round(last.latencyMs)} ms (received → scored, last frame)` : "–"],
      ["Faces in the last frame", last ? `${last.faces} scored${last.facesCut ? `, ${last.facesCut} more cut (maxFaces)` : ""}` : "–"],
    ];
    const key = rows.map((r) => r.join("=")).join("|");
    if (this.#facts.dataset.key === key) return;
    this.#facts.dataset.key = key;
    this.#facts.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", undefined, k), el("dd", undefined, v)]));
  }

  #renderStates(s: DetailSubject): void {
    const key = s.states.map((c) => c.at).join(",");
    if (key === this.#statesKey) return;
    this.#statesKey = key;
    const items = [...s.states].reverse().map((c) => {
      const li = el("li");
      const time = el("time", "alert-time", formatClock(this.toLocal(c.at)));
      time.dateTime = new Date(this.toLocal(c.at)).toISOString();
      li.dataset.state = c.to;
      li.append(time, ` ${lookOf(c.from).label} → ${lookOf(c.to).icon} ${lookOf(c.to).label}${c.aggregate !== null ? ` (${formatScore(c.aggregate)})` : ""}`);
      return li;
    });
    this.#states.replaceChildren(...(items.length ? items : [el("li", "muted", "No state change in the kept history.")]));
  }

  explanation(message: ExplanationMessage): void {
    if (message.participantId !== this.#subject?.id) return;
    void this.#sections.get(message.faceId)?.explained(message);
  }

  explainError(requestId: string, text: string): boolean {
    for (const section of this.#sections.values()) {
      if (section.pendingRequest === requestId) {
        section.explainFailed(text);
        return true;
      }
    }
    return false;
  }
}

// The live dashboard (served at /): watches one room as an observer and shows a tile per participant with
// its verdict (badge with text + icon), a thumbnail of its most suspicious kept face, latest / rolling / EMA fake
// scores, a chart of the last minutes, frame rates and faces; the server's alerts to acknowledge or dismiss
// (dashboardAlerts.ts), an activity feed of state changes, and a detail view per participant (dashboardDetail.ts).
// The server's history fills the charts on joining, so a reload keeps the past. Open /?room=NAME (and
// #token=... when the server needs tokens: common/pageToken.ts).
//
// Messages only update state; the DOM is touched once per animation frame, and only for the tiles whose data
// changed (plus a once-a-second pass for durations and the charts' scrolling time axis).
import type { MesoguardClient } from "../client/MesoguardClient.js";
import type {
  ExplanationMessage,
  HistoryMessage,
  ParticipantHistory,
  ParticipantSource,
  SnapshotRef,
  StateChange,
} from "../protocol/evidenceProtocol.js";
import { ID_RULE, isValidId } from "../protocol/ids.js";
import type {
  ErrorMessage,
  ParticipantSummary,
  RoomStateMessage,
  ScoreMessage,
  WelcomeMessage,
} from "../protocol/protocolTypes.js";
import type { VerdictState } from "../verdict/verdictTypes.js";
import { applyVerdictSettings, ScoreChart, VERDICT_THRESHOLDS, type ScorePoint } from "./common/chart.js";
import { EvidenceFetcher } from "./common/evidenceFetch.js";
import {
  STATES,
  StateBadge,
  byId,
  el,
  formatClock,
  formatDuration,
  formatRate,
  formatScore,
  isVerdictState,
  lookOf,
  setText,
} from "./common/format.js";
import { QUERY_TOKEN_REFUSED, pageToken, withPageToken } from "./common/pageToken.js";
import { ReconnectingClient, describeStatus, type LinkStatus } from "./common/reconnect.js";
import { AlertPanel } from "./dashboardAlerts.js";
import { DetailView, describeSource, type DetailSubject } from "./dashboardDetail.js";

/** No score message for this long: the tile is marked idle (the participant is not sending). */
const IDLE_MS = 10_000;
const MAX_ALERTS = 300;

// ---- one participant's tile ----------------------------------------------------------------------------------

class Tile implements DetailSubject {
  readonly element: HTMLElement;
  readonly #thumb: HTMLImageElement;
  #thumbId = 0;
  readonly #source: HTMLElement;
  readonly badge = new StateBadge();
  readonly chart: ScoreChart;
  readonly #name: HTMLElement;
  readonly #id: HTMLElement;
  readonly #latest: HTMLElement;
  readonly #aggregate: HTMLElement;
  readonly #ema: HTMLElement;
  readonly #fps: HTMLElement;
  readonly #drops: HTMLElement;
  readonly #faces: HTMLElement;
  readonly #facesLabel: Text;
  readonly #latency: HTMLElement;
  readonly #since: HTMLElement;

  state: VerdictState;
  name: string | undefined;
  message: ScoreMessage | null = null;
  /** Local time of the last score message. */
  receivedAt = 0;
  textDirty = true;
  chartDirty = true;
  source: ParticipantSource | null = null;
  /** State changes (server times). */
  states: StateChange[] = [];
  snapshots: SnapshotRef[] = [];
  readonly faceSeries = new Map<number, ScorePoint[]>();

  constructor(
    readonly id: string,
    summary: { name?: string; state: VerdictState },
    private readonly fetcher: EvidenceFetcher,
    openDetail: (tile: Tile) => void,
  ) {
    this.state = summary.state;
    this.name = summary.name;
    this.element = el("article", "tile");
    this.element.dataset.participant = id;
    this.element.setAttribute("aria-label", `participant ${id}`);

    const head = el("header", "tile-head");
    this.#thumb = el("img", "tile-thumb");
    this.#thumb.width = 52;
    this.#thumb.height = 52;
    this.#thumb.alt = `no face snapshot of ${id} yet`;
    const names = el("div", "tile-names");
    this.#name = el("h3", "tile-name");
    this.#id = el("span", "tile-id");
    this.#source = el("span", "tile-source");
    const meta = el("div", "tile-meta");
    meta.append(this.#id, this.#source);
    names.append(this.#name, meta);
    const details = el("button", "small tile-details", "Details");
    details.type = "button";
    details.setAttribute("aria-label", `Details of ${id}: face tracks, snapshots, history, export`);
    details.addEventListener("click", () => openDetail(this));
    const side = el("div", "tile-side");
    side.append(this.badge.element, details);
    head.append(this.#thumb, names, side);

    const scores = el("div", "tile-scores");
    const metric = (label: string, help: string, className = "metric") => {
      const box = el("div", className);
      box.title = help;
      const value = el("span", "metric-value", "–");
      box.append(el("span", "metric-label", label), value);
      scores.append(box);
      return value;
    };
    this.#latest = metric("latest", "fake score of the last scored frame (1 − MesoNet P(REAL))");
    this.#aggregate = metric("rolling", "the rolling score the state is based on (aggregate over the window)", "metric metric-main");
    this.#ema = metric("EMA", "exponential moving average of the fake score");

    const canvas = el("canvas", "tile-chart");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `rolling fake score of ${id} over the last minutes`);
    this.chart = new ScoreChart(canvas, { labels: true });

    const stats = el("div", "tile-stats");
    const stat = (label: string, help: string) => {
      const box = el("span", "stat");
      box.title = help;
      const value = el("b", undefined, "–");
      const text = document.createTextNode(` ${label}`);
      box.append(value, text);
      stats.append(box);
      return value;
    };
    this.#fps = stat("frames/s", "frames scored per second (last 5 s)");
    this.#drops = stat("dropped", "frames dropped: superseded by a newer frame or over the rate limit; plus rejected");
    this.#faces = stat("faces", "face tracks seen in the window");
    this.#facesLabel = this.#faces.nextSibling as Text;
    this.#latency = stat("ms latency", "server latency of the last frame (received to scored)");
    this.#since = el("span", "stat stat-since");
    stats.append(this.#since);

    this.element.append(head, scores, canvas, stats);
    this.badge.set(this.state);
  }

  /** A score message arrived; returns the previous state when the state changed. */
  apply(message: ScoreMessage, now: number): VerdictState | null {
    const previous = this.state;
    this.message = message;
    this.receivedAt = now;
    if (message.name) this.name = message.name;
    const p = message.participant;
    this.state = isVerdictState(p.state) ? p.state : "no-face";
    this.chart.push({ t: now, aggregate: p.aggregate, ema: p.ema, latest: message.lastFrame?.faces ? p.latest : null });
    for (const face of message.faces) this.addFacePoint(face.id, { t: now, aggregate: face.aggregate, ema: face.ema, latest: face.latest }, now);
    this.textDirty = true;
    this.chartDirty = true;
    return previous !== this.state ? previous : null;
  }

  /** A face track's score at local time `point.t`; points older than the history window are dropped. */
  addFacePoint(faceId: number, point: ScorePoint, now: number): void {
    let series = this.faceSeries.get(faceId);
    if (!series) this.faceSeries.set(faceId, (series = []));
    if (series.length && point.t <= series.at(-1)!.t) return;
    series.push(point);
    const cutoff = now - historyWindowMs;
    while (series.length > 1 && series[0]!.t < cutoff) series.shift();
  }

  /** The tile's thumbnail: the most suspicious kept snapshot (snapshots come sorted that way). */
  setSnapshots(snapshots: SnapshotRef[]): void {
    this.snapshots = snapshots;
    this.fetcher.forget(this.id, new Set(snapshots.map((s) => s.id)));
    const top = snapshots[0];
    if (!top || top.id === this.#thumbId) return;
    this.#thumbId = top.id;
    this.#thumb.alt = `face ${top.faceId} of ${this.name || this.id}, fake score ${formatScore(top.fake)}`;
    this.#thumb.dataset.snapshot = String(top.id);
    void this.fetcher.snapshotUrl(this.id, top.id).then((url) => {
      if (this.#thumbId === top.id) this.#thumb.src = url;
    }, () => undefined);
  }

  render(now: number): void {
    this.textDirty = false;
    // The oldest point charted (local ms): after a reload it shows the server's history reached the chart.
    this.chart.canvas.dataset.oldest = String(this.chart.points[0]?.t ?? "");
    setText(this.#source, this.source ? sourceLabel(this.source) : "");
    this.#source.title = `source: ${describeSource(this.source)}`;
    this.badge.set(this.state);
    this.element.dataset.state = this.state;
    setText(this.#name, this.name || this.id);
    this.#name.classList.toggle("is-id", !this.name); // an id is never clamped
    if (this.#name.title !== (this.name ? `${this.name} (${this.id})` : this.id)) this.#name.title = this.name ? `${this.name} (${this.id})` : this.id;
    setText(this.#id, this.name && this.name !== this.id ? this.id : "");
    const m = this.message;
    if (!m) {
      setText(this.#since, "no scores yet");
      return;
    }
    const p = m.participant;
    setText(this.#latest, formatScore(p.latest));
    setText(this.#aggregate, formatScore(p.aggregate));
    setText(this.#ema, formatScore(p.ema));
    const box = this.#aggregate.parentElement!;
    box.dataset.level = levelOf(p.aggregate);
    box.dataset.method = p.aggregateMethod ?? "";
    box.title = `rolling score the state is based on: ${METHOD_TEXT[p.aggregateMethod ?? "none"]} over ${p.samples} scored faces`;
    const f = m.frames;
    setText(this.#fps, formatRate(f.fps));
    setText(this.#drops, String(f.droppedSuperseded + f.droppedRate + f.rejected));
    setText(this.#faces, String(m.faces.length));
    setText(this.#facesLabel, m.faces.length === 1 ? " face" : " faces");
    setText(this.#latency, m.lastFrame ? String(Math.round(m.lastFrame.latencyMs)) : "–");
    const idle = now - this.receivedAt > IDLE_MS;
    this.element.classList.toggle("idle", idle);
    // stateSince is on the server's clock, like `at`: the time in state is at - stateSince plus the time since.
    const inState = m.at - p.stateSince + (now - this.receivedAt);
    // A pause says for how long and what the verdict was; a raised flag shows until dismissed or authentic again.
    const paused = p.paused ? `paused ${formatDuration(m.at - p.paused.since + (now - this.receivedAt))}, was ${lookOf(p.paused.lastState).label}` : null;
    const flag = p.flag ? ` · flagged ${lookOf(p.flag.state).label}` : "";
    this.element.dataset.flag = p.flag?.state ?? "";
    setText(
      this.#since,
      (idle ? `idle ${formatDuration(now - this.receivedAt)}` : (paused ?? `${p.samples} samples · ${formatDuration(inState)} in state`)) + flag,
    );
  }
}

/** How long the detail charts and face series reach back: the server's history (set from its history message). */
let historyWindowMs = 15 * 60_000;

function sourceLabel(source: ParticipantSource): string {
  return source.kind === "rtp" ? `RTP ${source.codec}` : source.client === "browser" ? "browser" : "WebSocket";
}

const METHOD_TEXT: Record<string, string> = {
  mean: "mean of the fake scores",
  "confident-fake": "mean of the confidently fake frames (many are)",
  "confident-real": "mean of the confidently real frames (nearly all are)",
  none: "no scores",
};

function levelOf(score: number | null): string {
  if (score === null) return "none";
  if (score >= VERDICT_THRESHOLDS.likelyFake) return "high";
  if (score >= VERDICT_THRESHOLDS.suspicious) return "mid";
  return "low";
}

// ---- the page --------------------------------------------------------------------------------------------------

class Dashboard {
  readonly #tiles = new Map<string, Tile>();
  readonly #grid = byId("grid");
  readonly #empty = byId("empty");
  readonly #alerts = byId<HTMLOListElement>("alerts");
  readonly #summary = byId("summary");
  readonly #status = byId("status");
  readonly #retry = byId<HTMLButtonElement>("retry");
  readonly #notice = byId("notice");
  readonly #model = byId("model");
  readonly #flaggedFirst = byId<HTMLInputElement>("flagged-first");
  readonly #warningsOnly = byId<HTMLInputElement>("warnings-only");
  readonly #resize: ResizeObserver;
  #link: ReconnectingClient | null = null;
  #status_: LinkStatus = { kind: "connecting", attempt: 1 };
  #frame = 0;
  #summaryDirty = true;
  #joinOrder = 0;
  /** Local clock minus the server's (from the latest message that carried the server's time). */
  #clockOffset = 0;
  #explainSeq = 0;
  readonly #fetcher: EvidenceFetcher;
  readonly #alertPanel: AlertPanel;
  readonly #detail: DetailView;

  constructor(
    readonly room: string,
    token: string | undefined,
  ) {
    this.#fetcher = new EvidenceFetcher(room, token);
    const toLocal = (t: number) => t + this.#clockOffset;
    this.#alertPanel = new AlertPanel(
      (alertId, action) => this.#sendToServer({ type: "alert-action", alertId, action }),
      toLocal,
      (id) => {
        const tile = this.#tiles.get(id);
        if (tile) this.#detail.open(tile);
      },
    );
    this.#detail = new DetailView(
      this.#fetcher,
      (participantId, faceId) => {
        const requestId = `explain-${++this.#explainSeq}`;
        return this.#sendToServer({ type: "explain", requestId, participantId, faceId }) ? requestId : null;
      },
      toLocal,
      () => historyWindowMs,
    );
    this.#resize = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const tile = this.#tiles.get((entry.target.closest(".tile") as HTMLElement | null)?.dataset.participant ?? "");
        if (!tile) continue;
        const box = entry.contentRect;
        tile.chart.resize(box.width, box.height);
        tile.chartDirty = true;
      }
      this.#schedule();
    });
    this.#flaggedFirst.addEventListener("change", () => {
      for (const tile of this.#tiles.values()) this.#order(tile);
    });
    this.#warningsOnly.addEventListener("change", () => {
      this.#alerts.classList.toggle("warnings-only", this.#warningsOnly.checked);
    });
    this.#alerts.classList.toggle("warnings-only", this.#warningsOnly.checked);
    this.#retry.addEventListener("click", () => this.#link?.retryNow());
    setInterval(() => this.#tick(), 1000);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.#tick();
    });
    this.#setEmptyText(room);
  }

  /** Sends an observer request; false when not connected. */
  #sendToServer(message: Parameters<MesoguardClient["send"]>[0]): boolean {
    const client = this.#link?.client;
    if (!client) return false;
    client.send(message);
    return true;
  }

  #setEmptyText(room: string): void {
    const link = joinLink(room || "ROOM", "alice");
    this.#empty.replaceChildren(
      `No participants in room “${room || "(from token)"}” yet. A participant joins with `,
      Object.assign(el("a", "mono"), { href: link, textContent: link }),
      ".",
    );
  }

  connect(token: string | undefined): void {
    this.#link = new ReconnectingClient(
      { url: location.origin, role: "observer", room: token ? undefined : this.room, token },
      {
        status: (status) => this.#setStatus(status),
        joined: (client, welcome) => this.#joined(client, welcome),
        serverError: (error) => this.#serverError(error),
      },
    );
    this.#link.start();
  }

  #joined(client: MesoguardClient, welcome: WelcomeMessage): void {
    applyVerdictSettings(welcome.verdict);
    for (const el of document.querySelectorAll<HTMLElement>("[data-threshold]")) {
      const value = el.dataset.threshold === "likelyFake" ? VERDICT_THRESHOLDS.likelyFake : VERDICT_THRESHOLDS.suspicious;
      el.textContent = String(value);
    }
    this.#notice.hidden = true;
    this.#fetcher.room = welcome.room;
    setText(byId("room-name"), welcome.room);
    if (welcome.room !== this.room) this.#setEmptyText(welcome.room);
    const model = welcome.model;
    setText(
      this.#model,
      `${model.name}${model.detector ? ` + ${model.detector}` : ""} on ${model.provider} · scores ≤ ${welcome.limits.scoreRateHz}/s per participant` +
        (welcome.devMode ? " · development mode (no tokens)" : ""),
    );
    this.#model.classList.toggle("dev", welcome.devMode);
    client.on("room-state", (m) => this.#roomState(m));
    client.on("error", (m) => {
      if (m.requestId) this.#detail.explainError(m.requestId, m.message);
    });
    client.on("participant-joined", (m) => {
      const tile = this.#ensure(m.participant.participantId, m.participant);
      this.#alert(Date.now(), tile, null, tile.state, "joined");
    });
    client.on("participant-left", (m) => this.#remove(m.participantId, true));
    client.on("score", (m) => this.#score(m));
    client.on("history", (m) => this.#history(m));
    client.on("snapshots", (m) => {
      this.#tiles.get(m.participantId)?.setSnapshots(m.snapshots);
      this.#schedule();
    });
    client.on("participant-info", (m) => {
      const tile = this.#tiles.get(m.participantId);
      if (!tile) return;
      tile.source = m.source;
      tile.states = m.states;
      tile.textDirty = true;
      this.#schedule();
    });
    client.on("alert", (m) => this.#alertPanel.show(m.alert, false));
    client.on("explanation", (m: ExplanationMessage) => this.#detail.explanation(m));
  }

  /** The room's recent past from the server: charts, face series, snapshots, state changes and alerts. */
  #history(message: HistoryMessage): void {
    const now = Date.now();
    this.#clockOffset = now - message.serverNow;
    historyWindowMs = message.minutes * 60_000;
    const changes: Array<{ tile: Tile; change: StateChange }> = [];
    for (const past of message.participants) {
      const tile = this.#tiles.get(past.participantId);
      if (!tile) continue;
      this.#replay(tile, past, now);
      for (const change of past.states) changes.push({ tile, change });
    }
    changes.sort((a, b) => a.change.at - b.change.at);
    for (const { tile, change } of changes) {
      if (!this.#alerts.querySelector(`li[data-participant="${CSS.escape(tile.id)}"][data-at="${change.at}"]`)) {
        this.#alert(change.at + this.#clockOffset, tile, change.from, change.to, "change", change.aggregate, change.at);
      }
    }
    for (const alert of message.alerts) this.#alertPanel.show(alert, true);
    this.#schedule();
  }

  #replay(tile: Tile, past: ParticipantHistory, now: number): void {
    tile.source = past.source;
    tile.states = past.states;
    if (past.name) tile.name = past.name;
    tile.setSnapshots(past.snapshots);
    for (const p of past.points) {
      const t = p.t + this.#clockOffset;
      tile.chart.push({ t, aggregate: p.aggregate, ema: p.ema, latest: p.latest });
      for (const f of p.faces) tile.addFacePoint(f.id, { t, aggregate: f.aggregate, ema: null, latest: f.latest }, now);
    }
    tile.textDirty = true;
    tile.chartDirty = true;
  }

  #roomState(message: RoomStateMessage): void {
    const present = new Set(message.participants.map((p) => p.participantId));
    for (const id of [...this.#tiles.keys()]) if (!present.has(id)) this.#remove(id, false);
    for (const summary of message.participants) {
      const known = this.#tiles.has(summary.participantId);
      const tile = this.#ensure(summary.participantId, summary);
      if (!known && lookOf(tile.state).severity >= 3) this.#alert(Date.now(), tile, null, tile.state, "already");
    }
  }

  #ensure(id: string, summary: Pick<ParticipantSummary, "name" | "state">): Tile {
    let tile = this.#tiles.get(id);
    if (tile) return tile;
    tile = new Tile(id, { name: summary.name, state: isVerdictState(summary.state) ? summary.state : "no-face" }, this.#fetcher, (t) => this.#detail.open(t));
    tile.element.dataset.joinOrder = String(this.#joinOrder++);
    this.#tiles.set(id, tile);
    this.#grid.append(tile.element);
    this.#resize.observe(tile.chart.canvas);
    this.#order(tile);
    this.#summaryDirty = true;
    this.#schedule();
    return tile;
  }

  #remove(id: string, announce: boolean): void {
    const tile = this.#tiles.get(id);
    if (!tile) return;
    this.#resize.unobserve(tile.chart.canvas);
    tile.element.remove();
    this.#tiles.delete(id);
    if (announce) this.#alert(Date.now(), tile, null, null, "left");
    this.#summaryDirty = true;
    this.#schedule();
  }

  #score(message: ScoreMessage): void {
    const now = Date.now();
    const isNew = !this.#tiles.has(message.participantId);
    const tile = this.#ensure(message.participantId, { name: message.name, state: message.participant.state });
    this.#clockOffset = now - message.at;
    const previous = tile.apply(message, now);
    if (previous !== null) {
      const p = message.participant;
      // When the state changed, on the server's clock (stateSince), shown in local time.
      const at = Math.abs(p.stateSince - message.at) < 86_400_000 ? now - (message.at - p.stateSince) : now;
      this.#alert(at, tile, previous, tile.state, "change", p.aggregate, p.stateSince);
      this.#order(tile);
      this.#summaryDirty = true;
    } else if (isNew && lookOf(tile.state).severity >= 3) {
      this.#alert(now, tile, null, tile.state, "already", message.participant.aggregate);
    }
    this.#schedule();
  }

  #order(tile: Tile): void {
    // CSS order sorts without moving DOM nodes: most alarming first, then join order.
    // A flag raised before a pause or a lost face keeps the tile among the flagged.
    const flag = tile.message?.participant.flag;
    const severity = Math.max(lookOf(tile.state).severity, flag ? lookOf(flag.state).severity : 0);
    tile.element.style.order = this.#flaggedFirst.checked ? String(4 - severity) : "0";
  }

  #alert(
    at: number,
    tile: Tile,
    from: VerdictState | null,
    to: VerdictState | null,
    kind: "change" | "joined" | "left" | "already",
    score?: number | null,
    /** The change's server time, so the history replayed after a reconnect does not list it twice. */
    serverAt?: number,
  ): void {
    const item = el("li", "alert");
    item.dataset.participant = tile.id;
    if (serverAt !== undefined) item.dataset.at = String(serverAt);
    const severity = to ? lookOf(to).severity : 0;
    item.dataset.kind = kind;
    if (to) item.dataset.state = to;
    item.classList.toggle("warning", severity >= 3);
    const time = el("time", "alert-time", formatClock(at));
    time.dateTime = new Date(at).toISOString();
    const who = el("b", "alert-who", tile.name || tile.id);
    const what = el("span", "alert-what");
    if (kind === "joined") what.textContent = "joined";
    else if (kind === "left") what.textContent = "left";
    else {
      const target = lookOf(to!);
      const text = kind === "already"
        ? `is ${target.icon} ${target.label}`
        : `${lookOf(from!).label} → ${target.icon} ${target.label}`;
      what.textContent = score !== undefined && score !== null ? `${text} (${formatScore(score)})` : text;
    }
    item.append(time, " ", who, " ", what);
    this.#alerts.prepend(item);
    while (this.#alerts.childElementCount > MAX_ALERTS) this.#alerts.lastElementChild?.remove();
  }

  #serverError(error: ErrorMessage): void {
    if (error.requestId) return; // an explain request's answer: shown in the detail view
    if (error.code === "unauthorized") {
      this.#showNotice(
        `The server refused the dashboard: ${error.message}. ` +
          "This server needs a join token: open /?room=ROOM#token=TOKEN with an observer token (mesoguard token --role observer).",
      );
    } else {
      this.#showNotice(`Server error (${error.code}): ${error.message}`);
    }
  }

  #showNotice(text: string): void {
    this.#notice.textContent = text;
    this.#notice.hidden = false;
  }

  #setStatus(status: LinkStatus): void {
    this.#status_ = status;
    this.#status.dataset.status = status.kind;
    setText(this.#status, describeStatus(status));
    this.#status.title = statusDetail(status);
    this.#retry.hidden = !(status.kind === "waiting" || status.kind === "stopped");
    for (const tile of this.#tiles.values()) tile.element.classList.toggle("offline", status.kind !== "live");
    if (status.kind === "stopped" && status.code !== "unauthorized") this.#showNotice(`Disconnected: ${status.reason}`);
  }

  #tick(): void {
    if (this.#status_.kind === "waiting") setText(this.#status, describeStatus(this.#status_));
    for (const tile of this.#tiles.values()) {
      tile.textDirty = true;
      tile.chartDirty = true;
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#frame || document.hidden) return;
    this.#frame = requestAnimationFrame(() => {
      this.#frame = 0;
      this.#render();
    });
  }

  #render(): void {
    const now = Date.now();
    for (const tile of this.#tiles.values()) if (tile.textDirty) tile.render(now);
    for (const tile of this.#tiles.values()) {
      if (!tile.chartDirty || !tile.chart.hasSize) continue;
      tile.chartDirty = false;
      tile.chart.draw(now);
    }
    this.#detail.update(now);
    if (this.#summaryDirty) this.#renderSummary();
  }

  #renderSummary(): void {
    this.#summaryDirty = false;
    const counts = new Map<VerdictState, number>(STATES.map((s) => [s, 0]));
    for (const tile of this.#tiles.values()) counts.set(tile.state, (counts.get(tile.state) ?? 0) + 1);
    this.#summary.replaceChildren(el("span", "summary-total", `${this.#tiles.size} participant${this.#tiles.size === 1 ? "" : "s"}`));
    for (const state of STATES) {
      const n = counts.get(state) ?? 0;
      const look = lookOf(state);
      const chip = el("span", "summary-chip", `${look.icon} ${n} ${look.label.toLowerCase()}`);
      chip.dataset.state = state;
      chip.classList.toggle("zero", n === 0);
      chip.title = `${n} ${look.label.toLowerCase()}`;
      this.#summary.append(chip);
    }
    this.#empty.hidden = this.#tiles.size > 0;
    // Few participants get larger tiles and charts; many get compact ones (styles.css).
    this.#grid.dataset.size = this.#tiles.size <= 4 ? "few" : this.#tiles.size <= 12 ? "some" : "many";
    const flagged = (counts.get("likely-fake") ?? 0) + (counts.get("suspicious") ?? 0);
    document.title = `${flagged ? `(${flagged} ⚠) ` : ""}${this.room} · mesoguard`;
  }
}

function statusDetail(status: LinkStatus): string {
  return status.kind === "waiting" || status.kind === "stopped" ? status.reason : describeStatus(status);
}

function joinLink(room: string, participant: string): string {
  return `${location.origin}/join?room=${encodeURIComponent(room)}&participant=${encodeURIComponent(participant)}`;
}

// ---- start -------------------------------------------------------------------------------------------------------

function main(): void {
  const params = new URLSearchParams(location.search);
  const room = (params.get("room") ?? "").trim();
  const { token, refusedQueryToken } = pageToken();
  const form = byId<HTMLFormElement>("room-form");
  const roomInput = byId<HTMLInputElement>("room-input");
  const tokenInput = byId<HTMLInputElement>("token-input");
  roomInput.value = room;
  tokenInput.value = token ?? "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const nextRoom = roomInput.value.trim();
    const nextToken = tokenInput.value.trim();
    if (!isValidId(nextRoom)) {
      roomInput.setCustomValidity(ID_RULE);
      roomInput.reportValidity();
      return;
    }
    const url = new URL(location.href);
    url.search = "";
    url.searchParams.set("room", nextRoom);
    location.assign(withPageToken(url, nextToken || undefined).toString());
    if (url.search === location.search) location.reload(); // only the fragment changed: navigate anyway
  });
  roomInput.addEventListener("input", () => roomInput.setCustomValidity(""));
  if (refusedQueryToken) {
    const notice = byId("notice");
    notice.textContent = QUERY_TOKEN_REFUSED;
    notice.hidden = false;
  }

  if (!room && !token) {
    document.body.classList.add("no-room");
    byId("status").dataset.status = "idle";
    setText(byId("status"), "Choose a room");
    roomInput.focus();
    return;
  }
  if (room && !isValidId(room)) {
    const notice = byId("notice");
    notice.textContent = `“${room}” is not a valid room name (${ID_RULE}).`;
    notice.hidden = false;
    return;
  }
  setText(byId("room-name"), room || "(from token)");
  document.title = `${room || "room"} · mesoguard`;
  const dashboard = new Dashboard(room, token);
  dashboard.connect(token);
  (globalThis as { mesoguardDashboard?: Dashboard }).mesoguardDashboard = dashboard;
}

main();

// The participant page (served at /join): takes the camera, samples frames at a fixed rate and size onto a
// canvas, encodes them as JPEG in the browser and sends them to mesoguard with the client SDK; shows that it is
// connected and sending (receipts), and its own verdict only when the server sends it (participantSeesVerdict).
//
//   /join?room=R&participant=ID[&name=N][&fps=5][&width=640][&content=scene|face-crop][&quality=0.85][#token=T]
//
// It sends nothing while the tab is hidden or the camera track is muted or ended (and tells the server why, so the
// participant shows as paused), and skips a frame while the socket still has unsent data (the network is the
// bottleneck then) or the previous frame is still encoding.
import { ID_RULE, isValidId } from "../protocol/ids.js";
import type { FrameContent, FrameCounts, PauseMessage, ReceiptMessage, ScoreMessage, WelcomeMessage } from "../protocol/protocolTypes.js";
import { applyVerdictSettings, ScoreChart } from "./common/chart.js";
import { StateBadge, byId, formatRate, formatScore, isVerdictState, setText } from "./common/format.js";
import { QUERY_TOKEN_REFUSED, pageToken } from "./common/pageToken.js";
import { ReconnectingClient, describeStatus, type LinkStatus } from "./common/reconnect.js";

/** Face-crop frames are sent at most this size (MesoNet's input is 256x256). */
const FACE_CROP_MAX = 256;
/** Skip a frame while more than this many bytes wait in the socket (and more than one frame's worth). */
const MAX_BUFFERED_BYTES = 256 * 1024;

interface JoinConfig {
  room?: string;
  participant?: string;
  name?: string;
  token?: string;
  fps: number;
  width: number;
  content: FrameContent;
  quality: number;
}

function clamp(value: number, min: number, max: number, fallback: number): number {
  return Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

function readConfig(params: URLSearchParams, token: string | undefined): JoinConfig {
  const text = (key: string) => params.get(key)?.trim() || undefined;
  const content = text("content");
  return {
    room: text("room"),
    participant: text("participant"),
    name: text("name")?.slice(0, 80),
    token,
    fps: clamp(Number(params.get("fps") ?? 5), 0.2, 30, 5),
    width: Math.round(clamp(Number(params.get("width") ?? 640), 64, 1920, 640)),
    content: content === "face-crop" ? "face-crop" : "scene",
    quality: clamp(Number(params.get("quality") ?? 0.85), 0.3, 1, 0.85),
  };
}

type Pause = "hidden" | "muted" | "ended" | "user" | "camera" | "nocamera" | "offline";

/** What the server is told for each pause with a connection (null: nothing to tell, the link is down). */
const PAUSE_REASON: Record<Pause, PauseMessage["reason"] | null> = {
  hidden: "hidden",
  muted: "camera-muted",
  ended: "camera-ended",
  user: "user",
  camera: "camera-ended",
  nocamera: "camera-ended",
  offline: null,
};

const PAUSE_TEXT: Record<Pause, string> = {
  hidden: "Paused: this tab is hidden (sending resumes when it is visible)",
  muted: "Paused: the camera is muted",
  ended: "Stopped: the camera track ended (unplugged, or the permission was revoked)",
  user: "Paused by you",
  camera: "Waiting for the camera",
  nocamera: "No camera",
  offline: "Not connected to the server",
};

class ParticipantPage {
  readonly #badge = new StateBadge("badge badge-large");
  readonly #chart = new ScoreChart(byId<HTMLCanvasElement>("chart"), { labels: true, windowMs: 2 * 60_000 });
  readonly #video = byId<HTMLVideoElement>("preview");
  readonly #status = byId("status");
  readonly #sending = byId("sending");
  readonly #error = byId("error");
  readonly #warning = byId("warning");
  readonly #toggle = byId<HTMLButtonElement>("toggle");
  readonly #retry = byId<HTMLButtonElement>("retry");
  #link: ReconnectingClient | null = null;
  #stream: MediaStream | null = null;
  #track: MediaStreamTrack | null = null;
  #userPaused = false;
  #encoding = false;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #nextAt = 0;
  #lastFrameBytes = 0;
  #linkStatus: LinkStatus = { kind: "connecting", attempt: 1 };
  readonly #counts = { sent: 0, skippedNetwork: 0, skippedBusy: 0, bytes: 0 };
  #canvas: OffscreenCanvas | HTMLCanvasElement | null = null;
  #cameraFailed = false;
  #serverErrors = 0;
  /** The pause reason the server was last told on this connection (null: sending). */
  #announced: PauseMessage["reason"] | null = null;

  constructor(readonly config: JoinConfig) {
    byId("badge-slot").append(this.#badge.element);
    this.#badge.pending("Not scored yet");
    new ResizeObserver(([entry]) => {
      this.#chart.resize(entry.contentRect.width, entry.contentRect.height);
      this.#chart.draw();
    }).observe(this.#chart.canvas);
    this.#toggle.addEventListener("click", () => {
      this.#userPaused = !this.#userPaused;
      this.#toggle.textContent = this.#userPaused ? "Resume sending" : "Pause sending";
      this.#renderSending();
    });
    this.#retry.addEventListener("click", () => {
      if (!this.#stream || this.#track?.readyState === "ended") {
        void this.startCamera().then((ok) => {
          if (ok && !this.#link) this.connect();
        });
      } else {
        this.#link?.retryNow();
      }
    });
    document.addEventListener("visibilitychange", () => this.#renderSending());
    setText(byId("who"), `${config.name ?? config.participant ?? "(from token)"} in ${config.room ?? "(from token)"}`);
    setText(
      byId("settings"),
      `${formatRate(config.fps)} frames/s · ${config.content === "face-crop" ? `face crops ≤ ${FACE_CROP_MAX}px` : `${config.width}px wide`} · JPEG q${Math.round(config.quality * 100)}`,
    );
  }

  async startCamera(): Promise<boolean> {
    this.#hideError();
    this.#retry.hidden = true;
    const media = navigator.mediaDevices;
    if (!media?.getUserMedia) {
      this.#showError(
        "This browser gives no camera access here: the page needs https (or localhost) and a browser with getUserMedia.",
      );
      return false;
    }
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#stream = null;
    this.#track = null;
    try {
      const stream = await media.getUserMedia({
        audio: false,
        video: {
          width: { ideal: this.config.width },
          height: { ideal: Math.round((this.config.width * 3) / 4) },
          frameRate: { ideal: Math.max(15, this.config.fps) },
        },
      });
      this.#stream = stream;
      const [track] = stream.getVideoTracks();
      this.#track = track ?? null;
      if (track) {
        track.addEventListener("ended", () => this.#renderSending());
        track.addEventListener("mute", () => this.#renderSending());
        track.addEventListener("unmute", () => this.#renderSending());
      }
      this.#cameraFailed = false;
      this.#video.srcObject = stream;
      await this.#video.play().catch(() => undefined);
      document.body.classList.add("camera-on");
      this.#renderSending();
      return true;
    } catch (error) {
      this.#cameraFailed = true;
      this.#showError(cameraErrorText(error));
      if (!this.#link) {
        this.#status.dataset.status = "stopped";
        this.#status.textContent = "No camera: not joined";
      }
      this.#retry.hidden = false;
      this.#retry.textContent = "Try the camera again";
      this.#renderSending();
      return false;
    }
  }

  connect(): void {
    const { room, participant, name, token, content } = this.config;
    this.#link = new ReconnectingClient(
      { url: location.origin, role: "participant", room, participantId: participant, name, token, frameContent: content },
      {
        status: (status) => this.#setLinkStatus(status),
        joined: (client, welcome) => {
          this.#hideWarning();
          this.#welcome(welcome);
          this.#announced = null; // a new connection starts unpaused on the server
          client.on("score", (m) => this.#score(m));
          client.on("receipt", (m) => this.#receipt(m));
          this.#renderSending();
        },
        serverError: (error) => {
          this.#serverErrors++;
          if (error.code === "unauthorized" || error.code === "bad-message" || error.code === "room-full" || error.code === "server-full") {
            this.#showError(`The server refused to join: ${error.message} (${error.code})`);
          } else {
            this.#showWarning(`Server: ${error.message} (${error.code}; ${this.#serverErrors} so far)`);
          }
        },
      },
    );
    this.#link.start();
    this.#loop();
  }

  #welcome(welcome: WelcomeMessage): void {
    applyVerdictSettings(welcome.verdict);
    document.body.dataset.verdict = welcome.participantSeesVerdict ? "shown" : "hidden";
    setText(byId("who"), `${this.config.name ?? welcome.participantId ?? ""} in ${welcome.room}`);
    setText(byId("model"), `${welcome.model.name} on ${welcome.model.provider}${welcome.devMode ? " · development mode" : ""}`);
    if (this.config.fps > welcome.limits.maxFps) {
      this.#showWarning(`fps=${this.config.fps} is above the server's limit of ${welcome.limits.maxFps}: extra frames are dropped.`);
    }
  }

  #setLinkStatus(status: LinkStatus): void {
    this.#linkStatus = status;
    this.#status.dataset.status = status.kind;
    setText(this.#status, describeStatus(status));
    this.#status.title = status.kind === "waiting" || status.kind === "stopped" ? status.reason : "";
    if (status.kind === "stopped" && !this.#error.textContent) this.#showError(`Disconnected: ${status.reason}`);
    if (status.kind === "stopped") {
      this.#retry.hidden = false;
      this.#retry.textContent = "Reconnect";
    } else if (status.kind === "live" && this.#stream) {
      this.#retry.hidden = true;
    }
    this.#renderSending();
  }

  /** What the server received, with or without a verdict. */
  #serverCounts(frames: FrameCounts, paused: boolean): void {
    setText(
      byId("server-link"),
      paused ? "Connected: the server counts you as paused (no frames)" : `Connected: the server has received ${frames.received} frames`,
    );
    setText(byId("received"), String(frames.received));
    setText(byId("server-fps"), formatRate(frames.fps));
    setText(byId("server-drops"), String(frames.droppedRate + frames.droppedSuperseded + frames.rejected));
  }

  #receipt(message: ReceiptMessage): void {
    this.#serverCounts(message.frames, message.paused);
  }

  #score(message: ScoreMessage): void {
    const p = message.participant;
    const state = isVerdictState(p.state) ? p.state : "no-face";
    this.#badge.set(state);
    document.body.dataset.state = state;
    this.#serverCounts(message.frames, state === "paused");
    setText(byId("latest"), formatScore(p.latest));
    setText(byId("rolling"), formatScore(p.aggregate));
    setText(byId("ema"), formatScore(p.ema));
    // The state and the face count agree: while paused the count is the last frame's, before the pause.
    const faces = message.lastFrame ? String(message.lastFrame.faces) : "–";
    setText(byId("faces"), state === "paused" && message.lastFrame ? `${faces} (before the pause)` : faces);
    setText(byId("latency"), message.lastFrame ? `${Math.round(message.lastFrame.latencyMs)} ms` : "–");
    setText(byId("samples"), `${p.samples} in window, ${p.total} total`);
    this.#chart.push({ t: Date.now(), aggregate: p.aggregate, ema: p.ema, latest: message.lastFrame?.faces ? p.latest : null });
    this.#chart.draw();
  }

  /** Why frames are not being sent right now, or null when they are. */
  #pause(): Pause | null {
    if (this.#track?.readyState === "ended") return "ended";
    if (!this.#stream) return this.#cameraFailed ? "nocamera" : "camera";
    if (this.#userPaused) return "user";
    if (document.hidden) return "hidden";
    if (this.#track?.muted) return "muted";
    if (!this.#link?.client) return "offline";
    return null;
  }

  /** Tells the server when sending stops or starts again, so that it shows this participant as paused. */
  #announce(pause: Pause | null): void {
    const client = this.#link?.client;
    const reason = pause === null ? null : PAUSE_REASON[pause];
    if (!client?.connected || (pause !== null && reason === null) || reason === this.#announced) return;
    if (reason === null) client.resume();
    else client.pause(reason);
    this.#announced = reason;
  }

  #renderSending(): void {
    const pause = this.#pause();
    this.#announce(pause);
    this.#sending.dataset.sending = pause === null ? "yes" : "no";
    setText(
      this.#sending,
      pause === null
        ? `Sending ${formatRate(this.config.fps)} frames/s`
        : PAUSE_TEXT[pause] + (pause === "offline" && this.#linkStatus.kind !== "live" ? ` (${describeStatus(this.#linkStatus)})` : ""),
    );
    this.#toggle.disabled = !this.#stream || pause === "ended";
    if (pause === "ended") {
      this.#retry.hidden = false;
      this.#retry.textContent = "Restart the camera";
    }
    setText(byId("sent"), String(this.#counts.sent));
    setText(byId("skipped"), String(this.#counts.skippedNetwork + this.#counts.skippedBusy));
    setText(byId("kbps"), this.#counts.sent ? `${Math.round(this.#counts.bytes / this.#counts.sent / 1024)} KiB/frame` : "–");
  }

  /** A drift-free timer at the configured rate. */
  #loop(): void {
    const interval = 1000 / this.config.fps;
    const now = performance.now();
    this.#nextAt = Math.max(this.#nextAt + interval, now);
    this.#timer = setTimeout(() => {
      this.#loop();
      void this.#sample();
    }, Math.max(0, this.#nextAt - now));
  }

  async #sample(): Promise<void> {
    if (this.#linkStatus.kind === "waiting") setText(this.#status, describeStatus(this.#linkStatus));
    const client = this.#link?.client;
    if (this.#pause() !== null || !client) {
      this.#renderSending();
      return;
    }
    if (this.#encoding) {
      this.#counts.skippedBusy++;
      return;
    }
    if (client.bufferedAmount > Math.max(this.#lastFrameBytes, MAX_BUFFERED_BYTES)) {
      this.#counts.skippedNetwork++;
      this.#renderSending();
      return;
    }
    const video = this.#video;
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!vw || !vh || video.readyState < 2) return;
    this.#encoding = true;
    try {
      const capturedAt = Date.now();
      const jpeg = await this.#encode(video, vw, vh);
      // The link may have dropped while encoding.
      const live = this.#link?.client;
      if (!live || this.#pause() !== null) return;
      live.sendFrame({ kind: "jpeg", data: jpeg, capturedAt });
      this.#lastFrameBytes = jpeg.byteLength;
      this.#counts.sent++;
      this.#counts.bytes += jpeg.byteLength;
    } catch (error) {
      this.#showWarning(`Could not send a frame: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.#encoding = false;
      this.#renderSending();
    }
  }

  /** Draws the frame (scaled, or the centre square for face crops) and encodes it as JPEG. */
  async #encode(video: HTMLVideoElement, vw: number, vh: number): Promise<Uint8Array> {
    let sx = 0, sy = 0, sw = vw, sh = vh, ow: number, oh: number;
    if (this.config.content === "face-crop") {
      const side = Math.min(vw, vh);
      sx = Math.floor((vw - side) / 2);
      sy = Math.floor((vh - side) / 2);
      sw = sh = side;
      ow = oh = Math.min(side, this.config.width, FACE_CROP_MAX);
    } else {
      ow = Math.min(vw, this.config.width);
      oh = Math.max(1, Math.round((ow * vh) / vw));
    }
    const quality = this.config.quality;
    if (typeof OffscreenCanvas !== "undefined") {
      let canvas = this.#canvas instanceof OffscreenCanvas ? this.#canvas : null;
      if (!canvas || canvas.width !== ow || canvas.height !== oh) this.#canvas = canvas = new OffscreenCanvas(ow, oh);
      const ctx = canvas.getContext("2d");
      if (!ctx) throw new Error("no 2D canvas context");
      ctx.drawImage(video, sx, sy, sw, sh, 0, 0, ow, oh);
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality });
      return new Uint8Array(await blob.arrayBuffer());
    }
    let canvas = this.#canvas instanceof HTMLCanvasElement ? this.#canvas : null;
    if (!canvas) this.#canvas = canvas = document.createElement("canvas");
    if (canvas.width !== ow) canvas.width = ow;
    if (canvas.height !== oh) canvas.height = oh;
    const ctx = canvas.getContext("2d");
    if (!ctx) throw new Error("no 2D canvas context");
    ctx.drawImage(video, sx, sy, sw, sh, 0, 0, ow, oh);
    const blob = await new Promise<Blob | null>((resolve) => canvas!.toBlob(resolve, "image/jpeg", quality));
    if (!blob) throw new Error("the browser could not encode the frame as JPEG");
    return new Uint8Array(await blob.arrayBuffer());
  }

  #showError(text: string): void {
    this.#error.textContent = text;
    this.#error.hidden = false;
    document.body.classList.add("has-error");
  }

  #hideError(): void {
    this.#error.textContent = "";
    this.#error.hidden = true;
    document.body.classList.remove("has-error");
  }

  #showWarning(text: string): void {
    this.#warning.textContent = text;
    this.#warning.hidden = false;
  }

  #hideWarning(): void {
    this.#warning.hidden = true;
  }
}

function cameraErrorText(error: unknown): string {
  const name = error instanceof DOMException || error instanceof Error ? error.name : "";
  const detail = error instanceof Error && error.message ? ` (${error.message})` : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return `Camera access was denied. Allow the camera for this site (the camera icon in the address bar), then try again.${detail}`;
    case "NotFoundError":
    case "OverconstrainedError":
      return `No suitable camera was found. Connect a camera, then try again.${detail}`;
    case "NotReadableError":
    case "AbortError":
      return `The camera could not be started: another application may be using it.${detail}`;
    default:
      return `The camera could not be started: ${name || "error"}${detail}`;
  }
}

// ---- the form shown when the URL lacks the room or the participant --------------------------------------------

function showForm(config: JoinConfig): void {
  document.body.classList.add("needs-form");
  const form = byId<HTMLFormElement>("join-form");
  form.hidden = false;
  const field = (id: string) => byId<HTMLInputElement | HTMLSelectElement>(id);
  field("f-room").value = config.room ?? "";
  field("f-participant").value = config.participant ?? "";
  field("f-name").value = config.name ?? "";
  field("f-content").value = config.content;
  field("f-fps").value = String(config.fps);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const room = field("f-room").value.trim();
    const participant = field("f-participant").value.trim();
    for (const [id, value] of [["f-room", room], ["f-participant", participant]] as const) {
      const input = field(id) as HTMLInputElement;
      input.setCustomValidity(isValidId(value) ? "" : ID_RULE);
      if (!input.reportValidity()) return;
    }
    const url = new URL(location.href);
    url.search = "";
    url.searchParams.set("room", room);
    url.searchParams.set("participant", participant);
    const name = field("f-name").value.trim();
    if (name) url.searchParams.set("name", name);
    url.searchParams.set("content", field("f-content").value);
    url.searchParams.set("fps", field("f-fps").value);
    location.assign(url.toString());
  });
}

async function main(): Promise<void> {
  const { token, refusedQueryToken } = pageToken();
  const config = readConfig(new URLSearchParams(location.search), token);
  const status = byId("status");
  if (refusedQueryToken) {
    const error = byId("error");
    error.textContent = QUERY_TOKEN_REFUSED;
    error.hidden = false;
  }
  if (!config.token && (!config.room || !config.participant)) {
    status.dataset.status = "idle";
    status.textContent = "Not joined";
    showForm(config);
    return;
  }
  for (const [label, value] of [["room", config.room], ["participant", config.participant]] as const) {
    if (value !== undefined && !isValidId(value)) {
      const error = byId("error");
      error.textContent = `The ${label} “${value}” is not valid: use ${ID_RULE}.`;
      error.hidden = false;
      return;
    }
  }
  const page = new ParticipantPage(config);
  (globalThis as { mesoguardParticipant?: ParticipantPage }).mesoguardParticipant = page;
  status.dataset.status = "idle";
  status.textContent = "Waiting for the camera…";
  if (await page.startCamera()) page.connect();
}

void main();

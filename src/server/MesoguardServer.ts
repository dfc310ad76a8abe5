// The live call server: one node:http server with a WebSocket endpoint (signalling + frame ingest + score
// stream), /healthz and /metrics. The event loop only routes messages: decoding, detection and MesoNet run
// in the addon's threads.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { Logger } from "pino";
import { WebSocketServer, type RawData, type WebSocket } from "ws";

import { TokenError, verifyToken } from "../auth/tokens.js";
import { ClusterNode } from "../cluster/ClusterNode.js";
import type { ServerConfig } from "../config/serverConfig.js";
import { ApiKeyGuard } from "../http/ApiKeyGuard.js";
import { requestPath } from "../http/requestPath.js";
import { decodeFrame, FrameFormatError } from "../protocol/binaryFrame.js";
import type { ObserverIdentity, ParticipantSource } from "../protocol/evidenceProtocol.js";
import { loadAddon } from "../native/loadAddon.js";
import { ID_RULE, isValidId } from "../protocol/ids.js";
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  WS_PATH,
  type ClientMessage,
  type FrameContent,
  type JoinMessage,
  type Role,
  type WelcomeMessage,
} from "../protocol/protocolTypes.js";
import { PAUSE_REASONS, type PauseReason, type VerdictFlag } from "../verdict/verdictTypes.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { RtpControlApi } from "../sfu/RtpControlApi.js";
import { RtpStreamRegistry } from "../sfu/RtpStreamRegistry.js";
import { AuditTrail } from "./auditTrail.js";
import { ClientConnection, type CloseReason } from "./ClientConnection.js";
import { EvidenceService } from "./evidence/EvidenceService.js";
import { ParticipantSession, type ParticipantSessionOptions } from "./ParticipantSession.js";
import type { Room } from "./Room.js";
import { AdmissionError, RoomRegistry } from "./RoomRegistry.js";
import { ServerMetrics } from "./serverMetrics.js";
import { WebhookSender } from "./webhooks.js";
import { toFrameInput } from "./wireFrame.js";

/** Extra HTTP routes (the dashboard) mounted beside /healthz and /metrics. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

const JOIN_TIMEOUT_MS = 10_000;

/** What a connection joined: a room, as its participant or (no participant) as an observer. */
interface Joined {
  room: Room;
  participant?: ParticipantSession;
  /** An observer: who it is (from its token, else its join message), as recorded on its alert actions. */
  observer?: ObserverIdentity;
}

export class MesoguardServer {
  readonly #rooms: RoomRegistry;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly metrics: ServerMetrics;
  /** Who may use the RTP control API and read /healthz's details. */
  readonly #operators: ApiKeyGuard;
  #nextConnectionId = 1;
  /** Participants started so far: each gets the next detection offset, so their detector frames take turns. */
  #sessionsStarted = 0;
  #draining = false;
  #startedAt = Date.now();
  #tick: NodeJS.Timeout | null = null;
  readonly #extraRoutes: HttpHandler[] = [];
  #rtp: { streams: RtpStreamRegistry<ParticipantSession>; api: RtpControlApi } | null = null;
  readonly #webhooks: WebhookSender | null;
  readonly #audit: AuditTrail;
  /** Snapshots, history, alerts and explanations for observers. */
  readonly #evidence: EvidenceService;
  /** The cluster on Redis (--redis-url); null: this process alone. */
  #cluster: ClusterNode | null = null;

  private constructor(
    readonly config: ServerConfig,
    readonly scorer: MesoNetScorer,
    private readonly log: Logger,
  ) {
    this.metrics = new ServerMetrics({
      queueDepth: () => this.scorer.stats().pending,
      participantStates: () => [...this.#rooms.participants()].map((p) => p.state),
      nativeHeap: () => loadAddon().nativeHeap(),
    });
    this.#operators = new ApiKeyGuard(config.rtpApiKey, config.devMode);
    this.#webhooks = config.webhooks.urls.length > 0
      ? new WebhookSender(config.webhooks, { outcome: (o) => this.metrics.webhookEvents.inc({ outcome: o }), retry: () => this.metrics.webhookRetries.inc() }, log)
      : null;
    this.#audit = new AuditTrail(log, this.#webhooks);
    // A participant whose video came over RTP stops its stream when it leaves.
    this.#rooms = new RoomRegistry(config.rooms, this.metrics, log, (session) => {
      if (!session.connection) this.#rtp?.streams.participantRemoved(session);
    }, (room, message) => this.#cluster?.relay(room, message));
    this.#evidence = new EvidenceService(config, scorer, log, (name) => this.#rooms.room(name));
    this.#http = createServer((req, res) => void this.#route(req, res));
    // Node's 5 s keep-alive closes an idle connection about when a client reuses it (a load balancer's idle
    // timeout is 60 s; undici's is the server's hint less 1 s, so a late client timer loses the race), and the
    // request fails with "other side closed". Idle connections stay 65 s; headers must still come before that.
    this.#http.keepAliveTimeout = 65_000;
    this.#http.headersTimeout = 66_000;
    // Oversized messages up to 4x the limit are read and answered with an error (the connection stays);
    // beyond that ws closes the connection (1009) without buffering the rest.
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: config.maxMessageBytes * 4 });
    this.#http.on("upgrade", (req, socket, head) => {
      const path = requestPath(req);
      if (path !== WS_PATH || this.#draining) {
        const status = this.#draining ? "503 Service Unavailable" : path === null ? "400 Bad Request" : "404 Not Found";
        socket.end(`HTTP/1.1 ${status}\r\n\r\n`);
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, webSocketSource(req)));
    });
  }

  /** Loads the models (off the event loop), then listens. */
  static async start(config: ServerConfig, log: Logger): Promise<MesoguardServer> {
    const scorer = await MesoNetScorer.create(config.scorer);
    const server = new MesoguardServer(config, scorer, log);
    await new Promise<void>((resolve, reject) => {
      server.#http.once("error", reject);
      server.#http.listen(config.port, config.host, () => resolve());
    });
    if (config.cluster.redisUrl) {
      try {
        server.#cluster = await server.#joinCluster(config.cluster.redisUrl);
      } catch (error) {
        server.#http.close();
        await scorer.close();
        throw error;
      }
    }
    server.#tick = setInterval(() => server.#onTick(), 1000);
    server.#tick.unref();
    const info = scorer.info();
    server.metrics.setInfo({ model: info.model, detector: info.detectorName ?? "none", provider: info.provider });
    log.info(
      {
        url: server.url,
        port: server.port,
        model: info.model,
        detector: info.detectorName,
        provider: info.provider,
        providerAttempts: info.attempts,
        auth: config.devMode ? "development (no tokens)" : "tokens",
      },
      "listening",
    );
    return server;
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  get url(): string {
    const host = this.config.host === "0.0.0.0" || this.config.host === "::" ? "127.0.0.1" : this.config.host;
    return `http://${host.includes(":") ? `[${host}]` : host}:${this.port}`;
  }

  /** Registers this node in the cluster and relays its rooms (src/cluster/ClusterNode.ts); mounts GET /cluster. */
  async #joinCluster(redisUrl: string): Promise<ClusterNode> {
    const info = this.scorer.info();
    const cluster = await ClusterNode.join({ ...this.config.cluster, redisUrl }, {
      deliver: (room, message) => this.#rooms.room(room)?.toLocalObservers(message),
      observed: (room) => (this.#rooms.room(room)?.observers.size ?? 0) > 0,
      load: async () => {
        const { rooms, participants, observers } = this.#rooms.counts;
        const framesTotal = (await this.metrics.framesReceived.get()).values[0]?.value ?? 0;
        return { rooms, participants, observers, queueDepth: this.scorer.stats().pending, rtpStreams: this.#rtp?.streams.size ?? 0, framesTotal };
      },
      info: () => ({
        url: this.config.cluster.advertisedUrl ?? this.url,
        provider: info.provider,
        capacity: { maxRooms: this.config.rooms.maxRooms, maxParticipantsPerRoom: this.config.rooms.maxParticipantsPerRoom, rtpIngest: this.#rtp !== null, rtpMaxStreams: this.config.rtp.maxStreams },
      }),
    }, this.#operators, this.log, this.metrics.registry);
    this.addRoute((req, res) => cluster.handleHttp(req, res));
    return cluster;
  }

  /** Mounts an HTTP handler tried before the 404 (returns true when it handled the request). */
  addRoute(handler: HttpHandler): void {
    this.#extraRoutes.push(handler);
  }

  // ---- participants without a WebSocket (RTP ingest, src/sfu/) ----------------------------------------------

  /**
   * Starts the RTP ingest (a UDP port per registered stream) and mounts its control API at /rtp/streams
   * (guarded by the operator key, src/http/ApiKeyGuard.ts). Idempotent.
   */
  enableRtpIngest(): RtpStreamRegistry<ParticipantSession> {
    if (this.#rtp) return this.#rtp.streams;
    const streams = new RtpStreamRegistry<ParticipantSession>(
      this,
      { ...this.config.rtp, maxFramePixels: this.config.scorer.maxFramePixels }, // one cap for frames and RTP pictures
      this.metrics.registry,
      this.log,
    );
    const api = new RtpControlApi(streams, this.#operators, this.#cluster?.rtpPlacement(this.config.rooms.maxParticipantsPerRoom) ?? null);
    this.#rtp = { streams, api };
    this.addRoute((req, res) => api.handleHttp(req, res));
    return streams;
  }

  /**
   * Adds a participant whose video does not come over a WebSocket (an RTP stream): it is scored like any other
   * and its scores go to the room's observers. Throws AdmissionError: conflict (the id is taken in that room),
   * room-full, server-full, shutting-down.
   */
  addStreamParticipant(options: { room: string; participantId: string; name?: string; source?: ParticipantSource }): ParticipantSession {
    if (this.#draining) throw new AdmissionError("shutting-down", "the server is shutting down");
    const { participantId, name } = options;
    const { room, session } = this.#rooms.addParticipant({
      room: options.room,
      participantId,
      ifTaken: "refuse",
      create: (room) => this.#newSession(room, { participantId, name, frameContent: "scene" }, null, options.source ?? { kind: "rtp", streamId: "(unknown)", codec: "(unknown)" }),
    });
    this.log.info({ room: room.name, participant: session.id, source: "rtp" }, "participant joined");
    return session;
  }

  /** Removes a participant added with addStreamParticipant (participant-left to the observers). */
  removeStreamParticipant(session: ParticipantSession): void {
    this.#rooms.removeParticipant(session);
  }

  #newSession(
    room: Room,
    who: Pick<ParticipantSessionOptions, "participantId" | "name" | "frameContent">,
    connection: ClientConnection | null,
    source: ParticipantSource,
  ): ParticipantSession {
    const detectOffset = this.#sessionsStarted++ % this.config.session.detectEvery;
    const options = { room: room.name, ...who, ...this.config.session, detectOffset, verdict: this.config.verdict };
    const evidence = this.#evidence.room(room.name).sessionJoined(who.participantId, who.name, source);
    return new ParticipantSession(options, connection, this.scorer, this.metrics, this.log, this.#audit, (score) => room.toObservers(score), evidence);
  }

  /**
   * An operator dismissed a participant's flag (`by` names the operator; it goes to the audit trail and the
   * webhooks): the participant stops counting as flagged until it reaches a flagged state again. Returns the flag
   * dismissed, or null when the participant is not in the room or has no flag.
   */
  dismissFlag(room: string, participantId: string, by: string): VerdictFlag | null {
    if (typeof by !== "string" || by.trim() === "") throw new TypeError("dismissFlag: `by` must name who dismissed the flag");
    return this.#rooms.participant(room, participantId)?.dismissFlag(by) ?? null;
  }

  // ---- HTTP -------------------------------------------------------------------------------------------------

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = requestPath(req);
    try {
      if (path === null) return this.#json(res, 400, { error: "malformed request path" });
      if ((path === "/healthz" || path === "/metrics") && req.method !== "GET" && req.method !== "HEAD") {
        res.setHeader("allow", "GET, HEAD");
        return this.#json(res, 405, { error: `${req.method} is not allowed on ${path}` });
      }
      if (path === "/healthz") {
        // The details (file paths, provider errors) are for operators; anyone may see whether it is up.
        const body = this.#operators.allows(req)
          ? this.health()
          : { status: this.#status(), devMode: this.config.devMode, details: this.#operators.describe() };
        return this.#json(res, this.#draining ? 503 : 200, body);
      }
      if (path === "/metrics") {
        res.writeHead(200, { "content-type": this.metrics.registry.contentType });
        res.end(await this.metrics.registry.metrics());
        return;
      }
      if (await this.#evidence.handleHttp(req, res)) return;
      for (const handler of this.#extraRoutes) if (await handler(req, res)) return;
      this.#json(res, 404, { error: "not found" });
    } catch (error) {
      this.log.error({ err: error, path }, "http handler failed");
      if (!res.headersSent) this.#json(res, 500, { error: "internal error" });
      else res.destroy();
    }
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  }

  health() {
    const info = this.scorer.info();
    const { rooms, participants, observers } = this.#rooms.counts;
    return {
      status: this.#status(),
      uptimeSeconds: Math.round((Date.now() - this.#startedAt) / 1000),
      auth: this.config.devMode ? "development (no tokens): anyone can join any room" : "tokens",
      models: {
        mesonet: { name: info.model, architecture: info.architecture, path: info.modelPath, loaded: true },
        detector: info.detector ? { name: info.detectorName, path: info.detector.modelPath, inputSize: info.detector.inputSize, loaded: true } : null,
      },
      provider: {
        requested: info.requestedProvider,
        chosen: info.provider,
        why: info.attempts.map((a) => `${a.provider}: ${a.chosen ? "chosen" : "not chosen"} (${a.reason})`),
        preprocess: info.preprocess,
        // Device batches on the GPU and the startup canary that may turn them off, with the reason.
        deviceBatches: info.deviceBatches,
      },
      queue: { depth: this.scorer.stats().pending, maxBatch: info.maxBatch },
      rooms,
      participants,
      observers,
      rtp: this.#rtp
        ? { streams: this.#rtp.streams.size, controlApi: this.#operators.describe(), decoder: this.#rtp.streams.decoderStatus() }
        : null,
      cluster: this.#cluster ? { node: this.#cluster.id, redis: this.#cluster.connected ? "up" : "down" } : null,
    };
  }

  /** "degraded": in a cluster whose Redis is unreachable (local calls go on; no new participants). */
  #status(): "ok" | "draining" | "degraded" {
    if (this.#draining) return "draining";
    return this.#cluster && !this.#cluster.connected ? "degraded" : "ok";
  }

  // ---- WebSocket --------------------------------------------------------------------------------------------

  #onConnection(ws: WebSocket, source: ParticipantSource): void {
    const connection = new ClientConnection(ws, this.#nextConnectionId++, this.config, (reason: CloseReason) =>
      this.metrics.connectionsClosed.inc({ reason }),
    );
    let joined: Joined | null = null;
    let joining = false;
    const joinTimer = setTimeout(() => {
      if (!joined) connection.close(CLOSE_CODES.unauthorized, "no join within 10 s", "join-timeout");
    }, JOIN_TIMEOUT_MS);
    joinTimer.unref();

    ws.on("message", (data: RawData, isBinary: boolean) => {
      const bytes = toBytes(data);
      if (bytes.byteLength > this.config.maxMessageBytes) {
        connection.error("too-large", `message of ${bytes.byteLength} bytes exceeds maxMessageBytes ${this.config.maxMessageBytes}`);
        if (joined?.participant) joined.participant.onRejectedFrame("too-large");
        return;
      }
      if (isBinary) {
        if (!joined) return connection.error("not-joined", "send join before frames");
        if (!joined.participant) {
          this.metrics.framesRejected.inc({ reason: "not-participant" });
          return connection.error("not-participant", "observers do not send frames");
        }
        let frame;
        try {
          frame = decodeFrame(bytes);
        } catch (error) {
          joined.participant.onRejectedFrame("malformed");
          const message = error instanceof FrameFormatError ? error.message : "malformed frame";
          return connection.error("bad-frame", message);
        }
        if (this.#draining) {
          this.metrics.framesDropped.inc({ reason: "shutdown" });
          return connection.error("shutting-down", "the server is shutting down", frame.seq);
        }
        joined.participant.onFrame({ seq: frame.seq, capturedAt: frame.capturedAt, input: toFrameInput(frame) });
        return;
      }
      let message: ClientMessage;
      try {
        message = JSON.parse(Buffer.from(bytes).toString("utf8")) as ClientMessage;
        if (!message || typeof message !== "object" || typeof message.type !== "string") throw new Error("no type");
      } catch {
        return connection.error("bad-message", "text messages must be JSON objects with a type");
      }
      if (message.type === "join") {
        if (joined || joining) return connection.error("already-joined", "this connection has already joined");
        const admitted = this.#join(connection, message, source);
        if (!(admitted instanceof Promise)) {
          joined = admitted;
          if (joined) clearTimeout(joinTimer);
          return;
        }
        joining = true; // a cluster asks Redis first
        void admitted.then((result) => {
          joining = false;
          if (!result) return;
          if (connection.closed) return this.#leave(connection, result);
          joined = result;
          clearTimeout(joinTimer);
        });
        return;
      }
      if (message.type === "leave") {
        connection.close(CLOSE_CODES.normal, "left");
        return;
      }
      if (message.type === "pause" || message.type === "resume") {
        if (!joined) return connection.error("not-joined", "send join first");
        if (!joined.participant) return connection.error("not-participant", "only participants pause and resume");
        if (message.type === "resume") return joined.participant.resumeSending();
        const reason: string = message.reason ?? "user";
        if (reason === "silence" || !(PAUSE_REASONS as readonly string[]).includes(reason)) {
          const reasons = PAUSE_REASONS.filter((r) => r !== "silence").join(", ");
          return connection.error("bad-message", `pause reason must be one of ${reasons}`);
        }
        return joined.participant.pauseSending(reason as Exclude<PauseReason, "silence">);
      }
      if (message.type === "alert-action" || message.type === "explain") {
        if (!joined) return connection.error("not-joined", "send join first");
        if (!joined.observer) return connection.error("not-observer", `${message.type} is for observers`);
        if (message.type === "alert-action") {
          const alert = this.#evidence.alertAction(connection, joined.room, joined.observer, message);
          // Dismissing the alert dismisses the participant's flag too (a paused flagged participant stays flagged until then).
          if (alert && message.action === "dismiss") this.dismissFlag(joined.room.name, alert.participantId, joined.observer.id);
          return;
        }
        void this.#evidence.explain(connection, joined.room, message);
        return;
      }
      connection.error("bad-message", `unknown message type "${String((message as { type: unknown }).type)}"`);
    });
    ws.on("close", () => {
      clearTimeout(joinTimer);
      if (joined) this.#leave(connection, joined);
    });
    ws.on("error", (error) => this.log.debug({ err: error, connection: connection.id }, "socket error"));
  }

  /** Admits the connection; in a cluster asynchronously (the id and the room limit are checked in Redis first). */
  #join(connection: ClientConnection, message: JoinMessage, source: ParticipantSource): Joined | null | Promise<Joined | null> {
    if (this.#draining) {
      connection.error("shutting-down", "the server is shutting down");
      connection.close(CLOSE_CODES.goingAway, "server shutting down", "shutdown");
      return null;
    }
    let room: string, role: Role, participantId: string | undefined;
    if (this.config.devMode && message.token === undefined) {
      room = message.room as string;
      role = message.role as Role;
      participantId = message.participantId;
      if (!isValidId(room) || (role !== "participant" && role !== "observer") || (role === "participant" && !isValidId(participantId))) {
        connection.error("bad-message", `join needs room, role (participant|observer) and, for participants, participantId (${ID_RULE})`);
        return null;
      }
    } else {
      try {
        const claims = verifyToken(this.config.secret ?? "", message.token);
        room = claims.room;
        role = claims.role;
        participantId = claims.participantId;
        if ((message.room && message.room !== room) || (message.role && message.role !== role) ||
            (message.participantId && message.participantId !== participantId)) {
          throw new TokenError("join fields do not match the token");
        }
      } catch (error) {
        const reason = error instanceof TokenError ? error.message : "bad token";
        connection.error("unauthorized", this.config.devMode ? reason : `${reason}: a valid token is required`);
        connection.close(CLOSE_CODES.unauthorized, "unauthorized", "unauthorized");
        return null;
      }
    }
    const name = typeof message.name === "string" ? message.name.slice(0, 80) : undefined;
    const frameContent = message.frameContent ?? "scene";
    if (frameContent !== "scene" && frameContent !== "face-crop") {
      connection.error("bad-message", 'frameContent must be "scene" or "face-crop"');
      return null;
    }

    const welcome: WelcomeMessage = {
      type: "welcome",
      protocol: PROTOCOL_VERSION,
      room,
      role,
      limits: { maxMessageBytes: this.config.maxMessageBytes, maxFps: this.config.session.maxFps, scoreRateHz: this.config.session.scoreRateHz },
      model: { name: this.scorer.model.name, detector: this.scorer.detectorName, provider: this.scorer.info().provider },
      devMode: this.config.devMode,
      ...(role === "participant" && { participantSeesVerdict: this.config.session.participantSeesVerdict }),
      verdict: {
        suspiciousAt: this.config.verdict.suspiciousAt,
        likelyFakeAt: this.config.verdict.likelyFakeAt,
        windowSeconds: this.config.verdict.windowSeconds,
        minScoredFaces: this.config.verdict.minScoredFaces,
        noFaceSeconds: this.config.verdict.noFaceSeconds,
      },
    };
    const admit = () => this.#admit(connection, welcome, { room, role, participantId, name, frameContent, source });
    const cluster = this.#cluster;
    if (!cluster) return admit();
    const ready = role === "observer" ? cluster.watch(room) : cluster.claim(room, participantId!, this.config.rooms.maxParticipantsPerRoom);
    return ready.then(
      () => {
        if (!connection.closed) return admit();
        if (role === "participant") cluster.unclaim(room, participantId!);
        return null;
      },
      (error: unknown) => this.#refuse(connection, error),
    );
  }

  #admit(
    connection: ClientConnection,
    welcome: WelcomeMessage,
    who: { room: string; role: Role; participantId: string | undefined; name: string | undefined; frameContent: FrameContent; source: ParticipantSource },
  ): Joined | null {
    const { room, role, participantId, name, frameContent, source } = who;
    try {
      if (role === "observer") {
        const joined = this.#rooms.addObserver(room, connection);
        const remote = this.#cluster?.remoteParticipants(room) ?? { summaries: [], scores: [] };
        connection.send(welcome);
        connection.send({ type: "room-state", room, participants: [...[...joined.participants.values()].map((p) => p.summary()), ...remote.summaries] });
        this.#evidence.observerJoined(connection, joined);
        for (const p of joined.participants.values()) connection.send(p.scoreMessage());
        for (const score of remote.scores) connection.send(score);
        const observer = { id: isValidId(participantId) ? participantId : `observer-${connection.id}`, name };
        this.log.info({ room, connection: connection.id, observer }, "observer joined");
        return { room: joined, observer };
      }
      const { room: joined, session } = this.#rooms.addParticipant({
        room,
        participantId: participantId!,
        ifTaken: "replace",
        create: (target) => this.#newSession(target, { participantId: participantId!, name, frameContent }, connection, source),
      });
      connection.send({ ...welcome, participantId: session.id, frameContent });
      this.log.info({ room, participant: session.id, connection: connection.id }, "participant joined");
      return { room: joined, participant: session };
    } catch (error) {
      return this.#refuse(connection, error);
    }
  }

  /** An AdmissionError to the client (server-full, room-full; in a cluster also conflict, unavailable). */
  #refuse(connection: ClientConnection, error: unknown): null {
    if (!(error instanceof AdmissionError) || error.code === "shutting-down") throw error;
    connection.error(error.code, error.message);
    connection.close(CLOSE_CODES.full, error.code, "full");
    return null;
  }

  #leave(connection: ClientConnection, joined: Joined): void {
    if (joined.participant) this.#rooms.removeParticipant(joined.participant);
    else this.#rooms.removeObserver(joined.room, connection);
  }

  #onTick(): void {
    for (const p of this.#rooms.participants()) p.tick();
    this.#evidence.tick(Date.now());
  }

  // ---- shutdown ---------------------------------------------------------------------------------------------

  /**
   * Drains: stops accepting connections and frames, finishes the frames in flight, sends final scores, closes
   * every socket with a reason, closes the scorer. Resolves when done (or after shutdownTimeoutMs).
   */
  async shutdown(reason = "server shutting down"): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.log.info({ reason }, "draining");
    if (this.#tick) clearInterval(this.#tick);
    await this.#rtp?.streams.close(); // no more RTP: its participants drain below like the others
    const closed = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    const participants = [...this.#rooms.participants()];
    const drained = Promise.all(participants.map((p) => p.drain())).then(() => {
      for (const p of participants) p.push();
    });
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, this.config.shutdownTimeoutMs).unref());
    await Promise.race([drained, timeout]);
    for (const p of this.#rooms.participants()) p.connection?.close(CLOSE_CODES.goingAway, reason, "shutdown");
    for (const o of this.#rooms.observers()) o.close(CLOSE_CODES.goingAway, reason, "shutdown");
    for (const ws of this.#wss.clients) ws.close(CLOSE_CODES.goingAway, reason);
    this.#http.closeAllConnections?.();
    await Promise.race([closed, timeout]);
    // Whoever is still in a room leaves now, before "stopped": an RTP participant has no socket whose close removes
    // it, and a socket's close event can come after the scorer has closed.
    for (const p of [...this.#rooms.participants()]) this.#rooms.removeParticipant(p);
    this.#webhooks?.close();
    await this.#cluster?.close();
    await this.scorer.close();
    this.log.info("stopped");
  }
}

/** A WebSocket participant's source: a browser page (its User-Agent says Mozilla/...) or another client. */
function webSocketSource(req: IncomingMessage): ParticipantSource {
  const userAgent = req.headers["user-agent"]?.slice(0, 200);
  return { kind: "websocket", client: userAgent && /^Mozilla\//.test(userAgent) ? "browser" : "other", userAgent };
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

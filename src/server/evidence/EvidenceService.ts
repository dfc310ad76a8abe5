// The server's evidence for observers (issue 13): one RoomEvidence per room, the history an observer gets on
// joining, observers' alert actions and explain requests over the WebSocket, and the HTTP routes for snapshot
// JPEGs and incident bundles:
//   GET /rooms/ROOM/participants/ID/snapshots/N.jpg   one kept snapshot (image/jpeg)
//   GET /rooms/ROOM/participants/ID/incident.zip      the incident bundle (a stored ZIP: incident.json + snapshots/)
// Both take the observer's join token as `Authorization: Bearer TOKEN` (its room must be ROOM, its role observer);
// in development mode no header is needed, as for the WebSocket join.
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

import type { Logger } from "pino";

import { TokenError, verifyToken } from "../../auth/tokens.js";
import type { ServerConfig } from "../../config/serverConfig.js";
import { requestPath } from "../../http/requestPath.js";
import { packageRoot } from "../../models/paths.js";
import { loadAddon } from "../../native/loadAddon.js";
import type { AlertActionMessage, AlertRecord, ExplainMessage, ObserverIdentity } from "../../protocol/evidenceProtocol.js";
import { isValidId } from "../../protocol/ids.js";
import { occlusionMap } from "../../scan/occlusion.js";
import type { MesoNetScorer } from "../../scoring/MesoNetScorer.js";
import type { ClientConnection } from "../ClientConnection.js";
import type { Room } from "../Room.js";
import { SNAPSHOT_JPEG_QUALITY } from "./evidenceSettings.js";
import { RoomEvidence } from "./RoomEvidence.js";
import { storedZip } from "./storedZip.js";
import { renderWholeFrameCrop } from "./wholeFrameCrop.js";

const ROUTE = /^\/rooms\/([^/]+)\/participants\/([^/]+)\/(?:snapshots\/(\d{1,9})\.jpg|(incident\.zip))$/;
const CROP_SIDE = 256;

export class EvidenceService {
  readonly #rooms = new Map<string, RoomEvidence>();
  /** Per observer connection: when its explain requests were made (last minute), and whether one is running. */
  readonly #explains = new WeakMap<ClientConnection, { times: number[]; running: boolean }>();
  readonly #version: string;

  constructor(
    private readonly config: ServerConfig,
    private readonly scorer: MesoNetScorer,
    private readonly log: Logger,
    /** The live room of that name, if any (its observers and participants). */
    private readonly liveRoom: (name: string) => Room | undefined,
  ) {
    this.#version = (JSON.parse(readFileSync(path.join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
  }

  /** The room's evidence, made on first use. */
  room(name: string): RoomEvidence {
    let evidence = this.#rooms.get(name);
    if (!evidence) {
      evidence = new RoomEvidence(
        name,
        this.config.evidence,
        (message) => this.liveRoom(name)?.toObservers(message),
        (rgb) => loadAddon().encodeJpeg(rgb, CROP_SIDE, CROP_SIDE, SNAPSHOT_JPEG_QUALITY),
        (error) => this.log.warn({ err: error, room: name }, "snapshot encoding failed"),
      );
      this.#rooms.set(name, evidence);
    }
    return evidence;
  }

  /** Sends a joining observer the room's history (after room-state, before the current scores). */
  observerJoined(connection: ClientConnection, room: Room): void {
    connection.send(this.room(room.name).history(Date.now(), room.participants.keys()));
  }

  /** Every second: forget what aged out, and rooms with nothing left. */
  tick(now: number): void {
    for (const [name, evidence] of this.#rooms) {
      const live = this.liveRoom(name);
      evidence.prune(now, live ? live.participants.keys() : []);
      if (!live && evidence.empty) this.#rooms.delete(name);
    }
  }

  // ---- observers' messages --------------------------------------------------------------------------------------

  /** An observer acknowledged or dismissed an alert: the alert, or null (the observer was told why). */
  alertAction(connection: ClientConnection, room: Room, who: ObserverIdentity, message: AlertActionMessage): AlertRecord | null {
    if (!Number.isInteger(message.alertId) || (message.action !== "acknowledge" && message.action !== "dismiss")) {
      connection.error("bad-message", 'alert-action needs an integer alertId and action "acknowledge" or "dismiss"');
      return null;
    }
    const alert = this.room(room.name).actOnAlert(message.alertId, message.action, who, Date.now());
    if (!alert) connection.error("not-found", `no alert ${message.alertId} in room ${room.name}`);
    else this.log.info({ room: room.name, alert: alert.id, participant: alert.participantId, action: message.action, by: who }, "alert action");
    return alert;
  }

  async explain(connection: ClientConnection, room: Room, message: ExplainMessage): Promise<void> {
    const requestId = typeof message.requestId === "string" ? message.requestId.slice(0, 64) : "";
    const fail = (code: "bad-message" | "not-found" | "rate-limited" | "explain-failed", text: string): void => {
      connection.send({ type: "error", code, message: text, requestId });
    };
    if (!requestId || !isValidId(message.participantId) || !Number.isInteger(message.faceId) ||
        (message.which !== undefined && message.which !== "suspicious" && message.which !== "latest")) {
      return fail("bad-message", 'explain needs requestId, participantId, an integer faceId and optionally which: "suspicious" | "latest"');
    }
    const now = Date.now();
    const state = this.#explains.get(connection) ?? { times: [], running: false };
    this.#explains.set(connection, state);
    state.times = state.times.filter((t) => now - t < 60_000);
    if (state.running || state.times.length >= this.config.evidence.explainPerMinute) {
      return fail("rate-limited", `at most one explanation at a time and ${this.config.evidence.explainPerMinute} a minute (explainPerMinute)`);
    }
    const snapshot = this.room(room.name).find(message.participantId)?.snapshotOfFace(message.faceId, message.which ?? "suspicious");
    if (!snapshot) return fail("not-found", `no snapshot of face ${message.faceId} of ${message.participantId}`);
    state.times.push(now);
    state.running = true;
    try {
      // The kept JPEG is what the observer sees: render it back to the crop the model takes, then occlude it.
      const { rgb } = await renderWholeFrameCrop(this.scorer, { kind: "jpeg", data: snapshot.jpeg });
      const map = await occlusionMap(this.scorer, rgb);
      connection.send({
        type: "explanation",
        room: room.name,
        requestId,
        participantId: message.participantId,
        faceId: message.faceId,
        snapshotId: snapshot.id,
        grid: map.grid,
        baseFake: map.baseFake,
        drops: map.drops,
      });
    } catch (error) {
      this.log.warn({ err: error, room: room.name, participant: message.participantId }, "explain failed");
      fail("explain-failed", `the explanation failed: ${(error as Error).message}`);
    } finally {
      state.running = false;
    }
  }

  // ---- HTTP -------------------------------------------------------------------------------------------------------

  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const match = ROUTE.exec(requestPath(req) ?? "");
    if (!match) return false;
    const [, room, participantId, snapshotId, bundle] = match as unknown as [string, string, string, string | undefined, string | undefined];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return json(res, 405, { error: `${req.method} is not allowed here` });
    }
    if (!isValidId(room) || !isValidId(participantId)) return json(res, 400, { error: "malformed room or participant id" });
    const who = this.#authorize(req, room);
    if ("status" in who) return json(res, who.status, { error: who.error });
    const evidence = this.#rooms.get(room)?.find(participantId);
    if (snapshotId !== undefined) {
      const snapshot = evidence?.snapshot(Number(snapshotId));
      if (!snapshot) return json(res, 404, { error: `no snapshot ${snapshotId} of ${participantId} in room ${room}` });
      return send(res, req, "image/jpeg", snapshot.jpeg);
    }
    if (!evidence || !bundle) return json(res, 404, { error: `nothing is kept about ${participantId} in room ${room}` });
    const zip = this.incidentBundle(room, participantId, who);
    res.setHeader("content-disposition", `attachment; filename="incident-${room}-${participantId}.zip"`);
    return send(res, req, "application/zip", zip);
  }

  /** The observer the request comes from, or why it is refused. */
  #authorize(req: IncomingMessage, room: string): ObserverIdentity | { status: number; error: string } {
    const header = req.headers.authorization;
    if (header === undefined && this.config.devMode) return { id: "development-mode" };
    const token = /^Bearer (\S+)$/.exec(header ?? "")?.[1];
    if (!token) return { status: 401, error: "an observer token is required: Authorization: Bearer TOKEN" };
    try {
      const claims = verifyToken(this.config.secret ?? "", token);
      if (claims.role !== "observer" || claims.room !== room) return { status: 403, error: `the token is not an observer token of room ${room}` };
      return { id: claims.participantId ?? "observer" };
    } catch (error) {
      return { status: 401, error: error instanceof TokenError ? error.message : "bad token" };
    }
  }

  /** The incident bundle: incident.json (timeline, states, alerts, model, thresholds, versions) and the snapshots. */
  incidentBundle(room: string, participantId: string, exportedBy: ObserverIdentity): Buffer {
    const roomEvidence = this.room(room);
    const evidence = roomEvidence.find(participantId)!;
    const live = this.liveRoom(room)?.participants.get(participantId);
    const info = this.scorer.info();
    const now = new Date();
    const snapshots = evidence.snapshots().map((s) => ({
      file: `snapshots/${String(s.id).padStart(4, "0")}-face${s.faceId}-${s.kind}.jpg`,
      snapshot: s,
    }));
    const incident = {
      format: "mesoguard-incident",
      formatVersion: 1,
      exportedAt: now.toISOString(),
      exportedBy,
      room,
      participant: { id: participantId, name: evidence.name, source: evidence.source, present: Boolean(live) },
      versions: { mesoguard: this.#version, node: process.version, onnxruntime: loadAddon().runtimeInfo().ortVersion },
      model: { name: info.model, architecture: info.architecture, detector: info.detectorName, provider: info.provider, crop: info.crop },
      thresholds: this.config.verdict,
      current: live ? live.scoreMessage() : null,
      states: evidence.states(),
      alerts: roomEvidence.alertsOf(participantId),
      timeline: evidence.points(),
      snapshots: snapshots.map(({ file, snapshot: { jpeg: _jpeg, ...ref } }) => ({ file, ...ref, width: CROP_SIDE, height: CROP_SIDE })),
      note: "Fake scores are 1 - MesoNet's P(REAL). A flag means look closer; it is not proof of manipulation.",
    };
    return storedZip([
      { name: "incident.json", data: Buffer.from(JSON.stringify(incident, null, 2)), date: now },
      ...snapshots.map(({ file, snapshot }) => ({ name: file, data: snapshot.jpeg, date: new Date(snapshot.at) })),
    ]);
  }
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
  return true;
}

function send(res: ServerResponse, req: IncomingMessage, type: string, body: Buffer): true {
  res.writeHead(200, { "content-type": type, "content-length": body.byteLength, "cache-control": "no-store", "x-content-type-options": "nosniff" });
  res.end(req.method === "HEAD" ? undefined : body);
  return true;
}

// The RTP ingest: other SFUs (Janus rtp_forward, GStreamer, ffmpeg, a mediasoup PlainTransport) forward each
// participant's video as RTP to a UDP port the server opens per stream. The control API (HTTP JSON on the main
// server) registers and removes streams:
//
//   POST   /rtp/streams      {ssrc, payloadType, codec: "VP8"|"H264", clockRate?, room, participantId, name?,
//                             fir?, spropParameterSets?}  -> 201 {id, host, port, rtcpMux: true, ...}
//   GET    /rtp/streams      -> 200 {streams: [...]} with per-stream counters
//   GET    /rtp/streams/:id  -> 200 one stream
//   DELETE /rtp/streams/:id  -> 204
//
// With a server secret the API needs `Authorization: Bearer <secret>`; in development mode it is open. A
// stream becomes a room participant without a WebSocket: its scores go to the room's observers. A stream
// that sends nothing for streamTimeoutSeconds is removed.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIPv6 } from "node:net";

import type { Logger } from "pino";
import type { Registry } from "prom-client";

import { isValidId } from "../auth/tokens.js";
import type { NativeVideoDecoder, VideoCodecName } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import { AdmissionError } from "../server/RoomRegistry.js";
import type { StreamFrame } from "../scoring/scoringTypes.js";
import { H264ParameterSets } from "./h264.js";
import { RtpMetrics, type CloseReason } from "./rtpMetrics.js";
import { DEFAULT_TUNING, RtpStream, type RtpStreamInfo, type RtpStreamSpec, type RtpStreamTuning } from "./RtpStream.js";

export const RTP_STREAMS_PATH = "/rtp/streams";
const MAX_BODY_BYTES = 64 * 1024;

/** A participant the ingest feeds: MesoguardServer's ParticipantSession. */
export interface StreamParticipant {
  onFrame(frame: StreamFrame): void;
}

/** What the ingest needs from the server (MesoguardServer implements it). */
export interface StreamParticipantHost<P extends StreamParticipant = StreamParticipant> {
  /** Throws AdmissionError (its code maps to the HTTP status: conflict 409, the others 503). */
  addStreamParticipant(options: { room: string; participantId: string; name?: string }): P;
  removeStreamParticipant(participant: P): void;
}

/** The ingest's settings (ServerConfig.rtp). */
export interface RtpIngestSettings {
  /** Interface the UDP ports bind to. */
  host: string;
  /** Host told to senders; default `host`, or the control request's Host name when `host` is a wildcard. */
  advertisedHost?: string;
  /** UDP port range (inclusive); 0 and 0 = any free port. */
  portMin: number;
  portMax: number;
  maxStreams: number;
  streamTimeoutSeconds: number;
  /** Every stream's tuning; what is not given keeps DEFAULT_TUNING. */
  tuning?: Partial<RtpStreamTuning>;
}

export interface RtpIngestOptions extends RtpIngestSettings {
  /** Server secret: when set the control API needs `Authorization: Bearer <secret>`. */
  secret?: string;
  /** Makes a decoder per stream; default the addon's VideoDecoder. */
  createDecoder?: (codec: VideoCodecName, maxPending: number) => NativeVideoDecoder;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REGISTER_FIELDS = ["ssrc", "payloadType", "codec", "clockRate", "room", "participantId", "name", "fir", "spropParameterSets"];

/** Validates a POST /rtp/streams body; throws HttpError 400 with the reason. */
export function parseStreamSpec(body: unknown): RtpStreamSpec {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object");
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !REGISTER_FIELDS.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field(s) ${unknown.join(", ")}; known: ${REGISTER_FIELDS.join(", ")}`);
  const { ssrc, payloadType, codec, room, participantId, name, fir, spropParameterSets } = o;
  const clockRate = o.clockRate ?? 90000;
  if (!Number.isInteger(ssrc) || (ssrc as number) < 0 || (ssrc as number) > 0xffffffff) {
    throw new HttpError(400, "ssrc must be an integer 0..4294967295");
  }
  if (!Number.isInteger(payloadType) || (payloadType as number) < 0 || (payloadType as number) > 127) {
    throw new HttpError(400, "payloadType must be an integer 0..127");
  }
  if ((payloadType as number) >= 64 && (payloadType as number) <= 95) {
    throw new HttpError(400, "payloadType 64..95 collides with RTCP on a muxed port (RFC 5761); use a dynamic type 96..127");
  }
  const codecName = typeof codec === "string" ? codec.toUpperCase().replace("H.264", "H264") : "";
  if (codecName !== "VP8" && codecName !== "H264") throw new HttpError(400, 'codec must be "VP8" or "H264"');
  if (!Number.isInteger(clockRate) || (clockRate as number) < 1000 || (clockRate as number) > 10_000_000) {
    throw new HttpError(400, "clockRate must be an integer (video: 90000)");
  }
  if (!isValidId(room)) throw new HttpError(400, "room must be 1-64 of A-Z a-z 0-9 . _ ~ -");
  if (!isValidId(participantId)) throw new HttpError(400, "participantId must be 1-64 of A-Z a-z 0-9 . _ ~ -");
  if (name !== undefined && typeof name !== "string") throw new HttpError(400, "name must be a string");
  if (fir !== undefined && typeof fir !== "boolean") throw new HttpError(400, "fir must be a boolean");
  if (spropParameterSets !== undefined) {
    if (codecName !== "H264" || typeof spropParameterSets !== "string") {
      throw new HttpError(400, "spropParameterSets is a string, for H264 only");
    }
    try {
      H264ParameterSets.fromSprop(spropParameterSets);
    } catch (error) {
      throw new HttpError(400, (error as Error).message);
    }
  }
  return {
    ssrc: ssrc as number,
    payloadType: payloadType as number,
    codec: codecName,
    clockRate: clockRate as number,
    room,
    participantId,
    name: typeof name === "string" ? name.slice(0, 80) : undefined,
    fir: fir ?? false,
    spropParameterSets: spropParameterSets as string | undefined,
  };
}

function bindUdp(host: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(host) ? "udp6" : "udp4" });
  return new Promise<Socket>((resolve, reject) => {
    const onError = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once("error", onError);
    socket.bind(port, host, () => {
      socket.off("error", onError);
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024); // key frames arrive as bursts of tens of packets
      } catch {
        // the kernel keeps its own limit
      }
      resolve(socket);
    });
  });
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

interface Entry<P> {
  stream: RtpStream;
  participant: P;
}

export class RtpIngest<P extends StreamParticipant = StreamParticipant> {
  readonly metrics: RtpMetrics;
  readonly #streams = new Map<string, Entry<P>>();
  readonly #host: StreamParticipantHost<P>;
  readonly #options: RtpIngestOptions;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #nextPort: number;
  #closing = false;

  constructor(host: StreamParticipantHost<P>, options: RtpIngestOptions, registry: Registry, log: Logger) {
    if (options.portMin > options.portMax) throw new Error("mesoguard: rtpPortMin must not be above rtpPortMax");
    this.#host = host;
    this.#options = options;
    this.#log = log;
    this.metrics = new RtpMetrics(registry);
    this.#nextPort = options.portMin;
    this.#timer = setInterval(() => this.#expireIdle(), 1000);
    this.#timer.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  get authMode(): "bearer" | "open" {
    return this.#options.secret ? "bearer" : "open";
  }

  list(): RtpStreamInfo[] {
    return [...this.#streams.values()].map((e) => e.stream.info());
  }

  get(id: string): RtpStreamInfo | undefined {
    return this.#streams.get(id)?.stream.info();
  }

  /** Opens a port for a stream and adds its participant. Throws HttpError-like errors (status, message). */
  async register(spec: RtpStreamSpec, requestHost?: string): Promise<RtpStreamInfo> {
    if (this.#closing) throw new HttpError(503, "the server is shutting down");
    if (this.#streams.size >= this.#options.maxStreams) {
      throw new HttpError(503, `the server has ${this.#options.maxStreams} RTP streams (rtpMaxStreams)`);
    }
    const socket = await this.#bind();
    if (this.#closing || this.#streams.size >= this.#options.maxStreams) {
      socket.close(); // another registration or the shutdown came first while the port was being bound
      throw new HttpError(503, this.#closing ? "the server is shutting down" : `the server has ${this.#options.maxStreams} RTP streams (rtpMaxStreams)`);
    }
    let participant: P;
    try {
      participant = this.#host.addStreamParticipant({ room: spec.room, participantId: spec.participantId, name: spec.name });
    } catch (error) {
      socket.close();
      if (error instanceof AdmissionError) throw new HttpError(error.code === "conflict" ? 409 : 503, error.message);
      throw error;
    }
    const id = randomBytes(8).toString("hex");
    const maxDecodeQueue = this.#options.tuning?.maxDecodeQueue ?? DEFAULT_TUNING.maxDecodeQueue;
    let decoder: NativeVideoDecoder;
    try {
      decoder = this.#options.createDecoder
        ? this.#options.createDecoder(spec.codec, maxDecodeQueue + 4)
        : new (loadAddon().VideoDecoder)({ codec: spec.codec, maxPending: maxDecodeQueue + 4 });
    } catch (error) {
      socket.close();
      this.#host.removeStreamParticipant(participant);
      throw error;
    }
    const stream = new RtpStream({
      id,
      spec,
      socket,
      advertisedHost: this.#advertisedHost(requestHost),
      decoder,
      tuning: this.#options.tuning,
      metrics: this.metrics,
      log: this.#log,
      onPicture: (frame) => participant.onFrame(frame),
    });
    this.#streams.set(id, { stream, participant });
    this.metrics.streams.set(this.#streams.size);
    this.#log.info(
      { stream: id, port: stream.port, ssrc: spec.ssrc, payloadType: spec.payloadType, codec: spec.codec, room: spec.room, participant: spec.participantId },
      "rtp stream registered",
    );
    return stream.info();
  }

  /** Stops a stream; its participant leaves the room (unless it already has). */
  async unregister(id: string, reason: CloseReason): Promise<boolean> {
    const entry = this.#streams.get(id);
    if (!entry) return false;
    this.#streams.delete(id);
    this.metrics.streams.set(this.#streams.size);
    this.metrics.streamsClosed.inc({ reason });
    const info = entry.stream.info();
    this.#log.info({ stream: id, reason, room: info.room, participant: info.participantId, counters: info.counters }, "rtp stream removed");
    // Shutdown leaves the participants to the server's drain (final scores go out first).
    if (reason !== "replaced" && reason !== "shutdown") this.#host.removeStreamParticipant(entry.participant);
    await entry.stream.close();
    return true;
  }

  /** The server removed this participant (a WebSocket participant with the same id replaced it). */
  participantRemoved(participant: P): void {
    for (const [id, entry] of this.#streams) if (entry.participant === participant) void this.unregister(id, "replaced");
  }

  /** Closes every stream (server shutdown). */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#timer);
    await Promise.all([...this.#streams.keys()].map((id) => this.unregister(id, "shutdown")));
  }

  #expireIdle(): void {
    const now = Date.now();
    const limit = this.#options.streamTimeoutSeconds * 1000;
    for (const [id, { stream }] of this.#streams) {
      if (now - (stream.lastPacketAt ?? stream.createdAt) > limit) void this.unregister(id, "timeout");
    }
  }

  async #bind(): Promise<Socket> {
    const { host, portMin, portMax } = this.#options;
    if (portMin === 0 && portMax === 0) return bindUdp(host, 0);
    const inUse = new Set([...this.#streams.values()].map((e) => e.stream.port));
    const size = portMax - portMin + 1;
    // Round robin through the range: a port just freed is taken last, so a stopped sender's stray packets
    // do not land on a new stream.
    for (let i = 0; i < size; i++) {
      const port = portMin + ((this.#nextPort - portMin + i) % size);
      if (inUse.has(port)) continue;
      try {
        const socket = await bindUdp(host, port);
        this.#nextPort = port + 1 > portMax ? portMin : port + 1;
        return socket;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "EADDRINUSE" && code !== "EACCES") throw error;
      }
    }
    throw new HttpError(503, `no free UDP port in ${portMin}-${portMax} on ${host} (rtpPortMin, rtpPortMax)`);
  }

  #advertisedHost(requestHost?: string): string {
    if (this.#options.advertisedHost) return this.#options.advertisedHost;
    const { host } = this.#options;
    if (host !== "0.0.0.0" && host !== "::") return host;
    if (requestHost) {
      try {
        return new URL(`http://${requestHost}`).hostname.replace(/^\[(.*)\]$/, "$1");
      } catch {
        // fall through
      }
    }
    return host === "::" ? "::1" : "127.0.0.1";
  }

  // ---- control API ------------------------------------------------------------------------------------------

  #authorized(req: IncomingMessage): boolean {
    const secret = this.#options.secret;
    if (!secret) return true; // development mode: open, like joins
    const header = req.headers.authorization ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match) return false;
    return timingSafeEqual(digest(match[1]!), digest(secret));
  }

  /** HTTP handler for MesoguardServer.addRoute: answers /rtp/streams[/:id], passes on anything else. */
  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path !== RTP_STREAMS_PATH && !path.startsWith(RTP_STREAMS_PATH + "/")) return false;
    try {
      if (!this.#authorized(req)) {
        req.resume();
        res.setHeader("www-authenticate", 'Bearer realm="mesoguard"');
        throw new HttpError(401, "the RTP control API needs Authorization: Bearer <server secret>");
      }
      if (path === RTP_STREAMS_PATH || path === RTP_STREAMS_PATH + "/") {
        if (req.method === "GET") return json(res, 200, { streams: this.list() });
        if (req.method === "POST") {
          const spec = parseStreamSpec(await readJson(req));
          const info = await this.register(spec, req.headers.host);
          res.setHeader("location", `${RTP_STREAMS_PATH}/${info.id}`);
          return json(res, 201, { ...info, rtcpMux: true });
        }
        res.setHeader("allow", "GET, POST");
        throw new HttpError(405, `${req.method} is not allowed on ${RTP_STREAMS_PATH}`);
      }
      const id = decodeURIComponent(path.slice(RTP_STREAMS_PATH.length + 1));
      if (req.method === "GET") {
        const info = this.get(id);
        if (!info) throw new HttpError(404, `no RTP stream ${id}`);
        return json(res, 200, info);
      }
      if (req.method === "DELETE") {
        if (!(await this.unregister(id, "deleted"))) throw new HttpError(404, `no RTP stream ${id}`);
        res.writeHead(204, { "cache-control": "no-store" });
        res.end();
        return true;
      }
      res.setHeader("allow", "GET, DELETE");
      throw new HttpError(405, `${req.method} is not allowed on ${RTP_STREAMS_PATH}/:id`);
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      req.resume();
      return json(res, error.status, { error: error.message });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
  return true;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk); // past the limit: read on (so the answer can be sent), keep nothing
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) return reject(new HttpError(413, `the body is over ${MAX_BODY_BYTES} bytes`));
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpError(400, "the body is not valid JSON"));
      }
    });
  });
}

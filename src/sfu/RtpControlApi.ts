// The RTP ingest's control API (HTTP JSON on the main server) over the stream registry (RtpStreamRegistry.ts):
//
//   POST   /rtp/streams      {ssrc, payloadType, codec: "VP8"|"H264", clockRate?, room, participantId, name?,
//                             fir?, spropParameterSets?}  -> 201 {id, host, port, rtcpMux: true, ...}
//   GET    /rtp/streams      -> 200 {streams: [...]} with per-stream counters
//   GET    /rtp/streams/:id  -> 200 one stream
//   DELETE /rtp/streams/:id  -> 204
//
// Who may use it is src/http/ApiKeyGuard.ts's call: `Authorization: Bearer <rtpApiKey>`; open in development mode
// without a key; closed (403) on a server with a join-token secret and no key.
import type { IncomingMessage, ServerResponse } from "node:http";

import type { ApiKeyGuard } from "../http/ApiKeyGuard.js";
import { decodeSegment, requestPath } from "../http/requestPath.js";
import { ID_RULE, isValidId } from "../protocol/ids.js";
import { H264ParameterSets } from "./h264.js";
import type { RtpStreamInfo, RtpStreamSpec } from "./RtpStream.js";
import { StreamRefusedError, type RtpStreamRegistry } from "./RtpStreamRegistry.js";

export const RTP_STREAMS_PATH = "/rtp/streams";
const MAX_BODY_BYTES = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const REGISTER_FIELDS = ["ssrc", "payloadType", "codec", "clockRate", "room", "participantId", "name", "fir", "spropParameterSets", "placement"];
/** How long a forwarded registration may take before this node registers the stream itself. */
const FORWARD_TIMEOUT_MS = 5000;

/**
 * In a cluster (src/cluster/ClusterNode.ts): where a new stream goes, and the participant id claimed cluster-wide
 * before a stream registers here.
 */
export interface RtpPlacement {
  /** This node, as the answer names it. */
  self: { id: string; url: string };
  /** The least-loaded node with RTP ingest: null = this one. */
  choose(): { id: string; url: string } | null;
  /** Throws AdmissionError (conflict, room-full, unavailable). */
  claim(room: string, participantId: string): Promise<void>;
  unclaim(room: string, participantId: string): void;
}

/** Validates a POST /rtp/streams body; throws HttpError 400 with the reason. */
export function parseStreamSpec(body: unknown): RtpStreamSpec {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the body must be a JSON object");
  const o = body as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !REGISTER_FIELDS.includes(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown field(s) ${unknown.join(", ")}; known: ${REGISTER_FIELDS.join(", ")}`);
  const { ssrc, payloadType, codec, room, participantId, name, fir, spropParameterSets, placement } = o;
  if (placement !== undefined && placement !== "least-loaded" && placement !== "local") {
    throw new HttpError(400, 'placement must be "least-loaded" or "local"');
  }
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
  if (!isValidId(room)) throw new HttpError(400, `room must be ${ID_RULE}`);
  if (!isValidId(participantId)) throw new HttpError(400, `participantId must be ${ID_RULE}`);
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

export class RtpControlApi {
  readonly #streams: RtpStreamRegistry;
  readonly #guard: ApiKeyGuard;

  readonly #placement: RtpPlacement | null;

  constructor(streams: RtpStreamRegistry, guard: ApiKeyGuard, placement: RtpPlacement | null = null) {
    this.#streams = streams;
    this.#guard = guard;
    this.#placement = placement;
  }

  /**
   * POST /rtp/streams. In a cluster, unless the body asks for `"placement": "local"`, the stream goes to the
   * least-loaded node with RTP ingest: the request is forwarded there (same operator key) and its answer returned.
   */
  async #post(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const body = (await readJson(req)) as Record<string, unknown>;
    const spec = parseStreamSpec(body);
    const placement = this.#placement;
    if (!placement) {
      const info = await this.#register(spec, req.headers.host);
      res.setHeader("location", `${RTP_STREAMS_PATH}/${info.id}`);
      return json(res, 201, { ...info, rtcpMux: true });
    }
    const target = body.placement === "local" ? null : placement.choose();
    if (target) {
      try {
        const answer = await fetch(`${target.url}${RTP_STREAMS_PATH}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(req.headers.authorization && { authorization: req.headers.authorization }) },
          body: JSON.stringify({ ...body, placement: "local" }),
          signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
        });
        const location = answer.headers.get("location"); // absolute: that node's URL
        if (location) res.setHeader("location", location);
        return json(res, answer.status, await answer.json());
      } catch {
        // that node did not answer: this one takes the stream
      }
    }
    try {
      await placement.claim(spec.room, spec.participantId);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "conflict") throw new HttpError(409, (error as Error).message);
      if (code === "room-full" || code === "unavailable") throw new HttpError(503, (error as Error).message);
      throw error;
    }
    let info: RtpStreamInfo;
    try {
      info = await this.#register(spec, req.headers.host);
    } catch (error) {
      placement.unclaim(spec.room, spec.participantId);
      throw error;
    }
    res.setHeader("location", `${placement.self.url}${RTP_STREAMS_PATH}/${info.id}`);
    return json(res, 201, { ...info, rtcpMux: true, node: placement.self });
  }

  /** Registers a stream; a refusal is 409 (the participant id is taken) or 503. */
  async #register(spec: RtpStreamSpec, requestHost: string | undefined): Promise<RtpStreamInfo> {
    try {
      return await this.#streams.register(spec, requestHost);
    } catch (error) {
      if (error instanceof StreamRefusedError) throw new HttpError(error.reason === "conflict" ? 409 : 503, error.message);
      throw error;
    }
  }

  /** HTTP handler for MesoguardServer.addRoute: answers /rtp/streams[/:id], passes on anything else. */
  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = requestPath(req);
    if (path === null || (path !== RTP_STREAMS_PATH && !path.startsWith(RTP_STREAMS_PATH + "/"))) return false;
    try {
      if (!this.#guard.allows(req)) {
        req.resume();
        if (this.#guard.mode === "closed") throw new HttpError(403, `the RTP control API is ${this.#guard.describe()}`);
        res.setHeader("www-authenticate", 'Bearer realm="mesoguard"');
        throw new HttpError(401, `the RTP control API needs ${this.#guard.describe()}`);
      }
      if (path === RTP_STREAMS_PATH || path === RTP_STREAMS_PATH + "/") {
        if (req.method === "GET") return json(res, 200, { streams: this.#streams.list() });
        if (req.method === "POST") return await this.#post(req, res);
        res.setHeader("allow", "GET, POST");
        throw new HttpError(405, `${req.method} is not allowed on ${RTP_STREAMS_PATH}`);
      }
      const id = decodeSegment(path.slice(RTP_STREAMS_PATH.length + 1));
      if (id === null) throw new HttpError(400, "malformed stream id (bad percent escapes)");
      if (req.method === "GET") {
        const info = this.#streams.get(id);
        if (!info) throw new HttpError(404, `no RTP stream ${id}`);
        return json(res, 200, info);
      }
      if (req.method === "DELETE") {
        if (!(await this.#streams.unregister(id, "deleted"))) throw new HttpError(404, `no RTP stream ${id}`);
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

// The mediasoup integration: scores every video producer of a mediasoup Router with a mesoguard server over
// RTP. It runs in the mediasoup app's own process, with the app's Router; mesoguard's side is the RTP ingest
// and its control API (RtpControlApi.ts, POST/DELETE/GET /rtp/streams).
//
// Per video producer (one its `identify` maps to a room and participant, by default `appData.mesoguard`):
//   1. a PlainTransport on the router (comedia false, rtcpMux true, no SRTP);
//   2. a paused consumer of the producer on it, its codecs limited to what mesoguard decodes (VP8, H.264
//      packetization-mode 1), without RTX or header extensions;
//   3. POST /rtp/streams with the consumer's ssrc, payload type, codec and clock rate and the participant;
//   4. transport.connect() to the host and port in the answer; for simulcast/SVC the preferred spatial layer
//      (the lowest whose height reaches `minHeight`); resume; consumer.requestKeyFrame().
// Key frames later: mesoguard sends RTCP PLI/FIR from that port to where the RTP comes from, that is to the
// PlainTransport's tuple; the mediasoup worker hands PLI/FIR received on a transport to the consumer with that
// media SSRC, which asks its producer for a key frame (the worker's Transport::HandleRtcpPacket ->
// Consumer::ReceiveKeyFrameRequest -> RequestKeyFrame), so nothing needs polling.
// Clean-up: producer close, the transport's router closing or detach() close the transport (and consumer) and
// DELETE the stream. A stream mesoguard dropped (no packets for rtpStreamTimeoutSeconds, e.g. while the
// producer was paused) is registered again, on a new transport, when the producer resumes or the periodic
// check (`checkIntervalMs`) finds it gone; one that expired without mesoguard ever hearing its RTP only after a
// backoff (`retryMinMs` doubling up to `retryMaxMs`, one warning), so the participant does not join and leave
// every stream timeout.
//
// mediasoup is a peer dependency: types only are imported here, so mesoguard does not load mediasoup unless the
// app hands it a Router. Only the mediasoup 3 public API is used (Router.createPlainTransport, Transport.consume,
// PlainTransport.connect, Consumer.setPreferredLayers/resume/requestKeyFrame, the observer events).
import { EventEmitter } from "node:events";

import type { types } from "mediasoup";

import type { RtpStreamInfo } from "./RtpStream.js";

/** Who a producer is in mesoguard. */
export interface MesoguardParticipant {
  room: string;
  participantId: string;
  name?: string;
}

/** A mesoguard server: base URL (http://host:port) and its RTP API key (rtpApiKey; never the join-token secret). */
export interface MesoguardEndpoint {
  url: string;
  apiKey?: string;
}

export interface MesoguardLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface MesoguardMediasoupOptions {
  /** The mesoguard server (its base URL, or URL and API key). */
  mesoguard: string | MesoguardEndpoint;
  /**
   * Maps a producer to its participant; null/undefined skips the producer. Default: `producer.appData.mesoguard`
   * when it is an object with string `room` and `participantId` (and optional `name`).
   */
  identify?: (producer: types.Producer) => MesoguardParticipant | null | undefined;
  /** Interface of the PlainTransports mesoguard's RTP comes from (default 127.0.0.1: mesoguard on this host). */
  listenIp?: string;
  /** Lowest picture height the detector wants (default 240): the simulcast/SVC layer picked is the lowest at least this tall. */
  minHeight?: number;
  /** Height of the top simulcast/SVC layer when the app does not say (appData.mesoguard.height); default 720. */
  sourceHeight?: number;
  /** Picks the layers to consume instead of the height rule. */
  preferredLayers?: (producer: types.Producer, consumer: types.Consumer) => types.ConsumerLayers | undefined;
  /** How often the streams are checked against GET /rtp/streams (0 = never); default 5000 ms. */
  checkIntervalMs?: number;
  /**
   * A stream that expired without mesoguard ever receiving its RTP (a firewall, a wrong listenIp) is registered
   * again after this long, doubling each time up to retryMaxMs; default 10000 ms (a resume retries at once).
   */
  retryMinMs?: number;
  /** Longest wait between two such registrations; default 300000 ms. */
  retryMaxMs?: number;
  log?: MesoguardLogger;
}

/** One producer being scored. */
export interface MesoguardAttachment {
  producerId: string;
  participant: MesoguardParticipant;
  /** The mesoguard RTP stream id (GET/DELETE /rtp/streams/:id). */
  streamId: string;
  transportId: string;
  consumerId: string;
  ssrc: number;
  payloadType: number;
  codec: "VP8" | "H264";
  /** host:port mesoguard receives on. */
  target: string;
  /** The mesoguard node whose control API holds the stream: in a cluster the one the stream was placed on. */
  nodeUrl: string;
}

export interface MesoguardMediasoupEvents {
  /** A producer's video now goes to mesoguard. */
  attached: [MesoguardAttachment];
  /** It stopped (`reason`: producer-closed, router-closed, transport-closed, detached, expired). */
  detached: [MesoguardAttachment, string];
  /** Attaching or a control API call failed (the producer is left unscored, or retried on resume). */
  error: [Error, types.Producer | undefined];
}

const DEFAULT_MIN_HEIGHT = 240;
const DEFAULT_SOURCE_HEIGHT = 720;
/** The app data our PlainTransports carry, so the router observer leaves them alone. */
const OWN_TRANSPORT = "mesoguardSfuBridge";

/** The default `identify`: producer.appData.mesoguard = {room, participantId, name?}. */
export function participantFromAppData(producer: types.Producer): MesoguardParticipant | undefined {
  const value = (producer.appData as Record<string, unknown> | undefined)?.mesoguard as Record<string, unknown> | undefined;
  if (!value || typeof value !== "object") return undefined;
  const { room, participantId, name } = value;
  if (typeof room !== "string" || typeof participantId !== "string") return undefined;
  return { room, participantId, name: typeof name === "string" ? name : undefined };
}

/**
 * Router RTP capabilities cut to what mesoguard decodes: VP8 and H.264 packetization-mode 1, no RTX, no header
 * extensions, no transport-cc/REMB feedback (mesoguard sends only PLI/FIR).
 */
export function mesoguardRtpCapabilities(routerCapabilities: types.RtpCapabilities): types.RtpCapabilities {
  const codecs = (routerCapabilities.codecs ?? []).filter((codec) => {
    if (codec.kind !== "video") return false;
    const mime = codec.mimeType.toLowerCase();
    if (mime === "video/vp8") return true;
    if (mime === "video/h264") return Number(codec.parameters?.["packetization-mode"] ?? 0) === 1;
    return false;
  });
  return {
    codecs: codecs.map((codec) => ({
      ...codec,
      rtcpFeedback: (codec.rtcpFeedback ?? []).filter((fb) => (fb.type === "nack" && fb.parameter === "pli") || (fb.type === "ccm" && fb.parameter === "fir")),
    })),
    headerExtensions: [],
  };
}

/** The spatial layer count and each layer's scale-down factor (top layer 1), from the producer's encodings. */
function spatialScales(producer: types.Producer, consumer: types.Consumer): number[] {
  const encodings = producer.rtpParameters.encodings ?? [];
  if (consumer.type === "simulcast" && encodings.length > 1) {
    // Simulcast encodings are ordered low to high; scaleResolutionDownBy when the app gave it, else 2x per layer.
    return encodings.map((e, i) => {
      const scale = (e as { scaleResolutionDownBy?: number }).scaleResolutionDownBy;
      return typeof scale === "number" && scale >= 1 ? scale : 2 ** (encodings.length - 1 - i);
    });
  }
  const mode = encodings[0]?.scalabilityMode;
  const match = mode ? /^[LS](\d+)T\d+/.exec(mode) : null;
  const layers = match ? Number(match[1]) : 1;
  return Array.from({ length: layers }, (_, i) => 2 ** (layers - 1 - i));
}

/**
 * The lowest spatial layer at least `minHeight` tall (else the top one), the highest temporal layer. Heights
 * are `sourceHeight` / the layer's scale-down factor.
 */
export function pickSpatialLayer(scales: number[], sourceHeight: number, minHeight: number): number {
  for (let i = 0; i < scales.length; i++) if (sourceHeight / scales[i]! >= minHeight) return i;
  return Math.max(0, scales.length - 1);
}

interface Entry {
  producer: types.Producer;
  participant: MesoguardParticipant;
  transport?: types.PlainTransport;
  consumer?: types.Consumer;
  attachment?: MesoguardAttachment;
  /** The attach in flight (one at a time per producer). */
  pending?: Promise<void>;
  closed: boolean;
  /** When its attachment was made (#generation then): a check that started before does not judge it. */
  generation: number;
  /** Its codec is not one mesoguard decodes. */
  unsupported?: boolean;
  /** An #ensure in progress. */
  ensuring?: boolean;
  /** A check saw its current stream receive RTP. */
  heard: boolean;
  /** Streams in a row that expired unheard: the backoff's exponent. */
  unheard: number;
  /** No registration before this time (Date.now() ms). */
  retryAt: number;
  /** The unheard warning was given (once until it is heard again). */
  warned: boolean;
  unsubscribe: () => void;
}

/** mesoguard's streams as one GET /rtp/streams listed them, and the attachment generation when it was asked. */
interface KnownStreams {
  streams: Map<string, RtpStreamInfo>;
  generation: number;
}

class ControlApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Scores a mediasoup Router's video producers with mesoguard. Producers of transports created after the
 * bridge are found through the router's observer; add ones that existed before with addProducer().
 */
export class MesoguardMediasoup extends EventEmitter<MesoguardMediasoupEvents> {
  readonly router: types.Router;
  readonly #endpoint: MesoguardEndpoint;
  readonly #options: MesoguardMediasoupOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #onNewTransport: (transport: types.Transport) => void;
  readonly #onRouterClose: () => void;
  #closed = false;
  #generation = 0;
  #checking = false;

  constructor(router: types.Router, options: MesoguardMediasoupOptions) {
    super();
    this.router = router;
    this.#options = options;
    const endpoint = typeof options.mesoguard === "string" ? { url: options.mesoguard } : options.mesoguard;
    this.#endpoint = { ...endpoint, url: endpoint.url.replace(/\/+$/, "") };
    // An 'error' with no listener would throw from EventEmitter: log instead.
    this.on("error", (error, producer) => this.#options.log?.warn({ err: error.message, producer: producer?.id }, "mesoguard: mediasoup bridge error"));

    this.#onNewTransport = (transport) => {
      if ((transport.appData as Record<string, unknown>)[OWN_TRANSPORT]) return;
      transport.observer.on("newproducer", (producer: types.Producer) => void this.addProducer(producer));
    };
    this.#onRouterClose = () => void this.close("router-closed");
    router.observer.on("newtransport", this.#onNewTransport);
    router.observer.once("close", this.#onRouterClose);

    const interval = options.checkIntervalMs ?? 5000;
    if (interval > 0) {
      this.#timer = setInterval(() => void this.#check(), interval);
      this.#timer.unref();
    }
  }

  /** What is being scored now. */
  attachments(): MesoguardAttachment[] {
    return [...this.#entries.values()].flatMap((e) => (e.attachment ? [e.attachment] : []));
  }

  /**
   * Starts scoring `producer` (a video producer of this router) as `participant` (default: the `identify`
   * option). Resolves with the attachment, or undefined when the producer is skipped (audio, no participant).
   */
  async addProducer(producer: types.Producer, participant?: MesoguardParticipant): Promise<MesoguardAttachment | undefined> {
    if (this.#closed || producer.closed || producer.kind !== "video") return undefined;
    const existing = this.#entries.get(producer.id);
    if (existing) {
      await existing.pending;
      return existing.attachment;
    }
    const who = participant ?? (this.#options.identify ?? participantFromAppData)(producer);
    if (!who) return undefined;

    const onProducerClose = () => void this.#remove(producer.id, "producer-closed");
    const onResume = () => {
      entry.retryAt = 0; // the producer sends again: no reason to wait
      void this.#ensure(producer.id);
    };
    producer.observer.once("close", onProducerClose);
    producer.observer.on("resume", onResume);
    const entry: Entry = {
      producer,
      participant: who,
      closed: false,
      generation: 0,
      heard: false,
      unheard: 0,
      retryAt: 0,
      warned: false,
      unsubscribe: () => {
        producer.observer.off("close", onProducerClose);
        producer.observer.off("resume", onResume);
      },
    };
    this.#entries.set(producer.id, entry);
    entry.pending = this.#attach(entry);
    await entry.pending;
    return entry.attachment;
  }

  /** Stops scoring one producer (DELETE its stream). */
  async removeProducer(producerId: string): Promise<void> {
    await this.#remove(producerId, "detached");
  }

  /** Stops scoring everything and leaves the router alone. */
  async close(reason = "detached"): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.router.observer.off("newtransport", this.#onNewTransport);
    this.router.observer.off("close", this.#onRouterClose);
    await Promise.all([...this.#entries.keys()].map((id) => this.#remove(id, reason)));
  }

  // ---- per producer ---------------------------------------------------------------------------------------

  async #attach(entry: Entry): Promise<void> {
    const { producer, participant } = entry;
    const log = this.#options.log;
    let transport: types.PlainTransport | undefined;
    let streamId: string | undefined;
    let nodeUrl = this.#endpoint.url;
    try {
      const rtpCapabilities = mesoguardRtpCapabilities(this.router.rtpCapabilities);
      if (!this.router.canConsume({ producerId: producer.id, rtpCapabilities })) {
        entry.unsupported = true; // not retried
        throw new Error(`producer ${producer.id}: its codec is not one mesoguard decodes (VP8, H.264 packetization-mode 1)`);
      }
      transport = await this.router.createPlainTransport({
        listenIp: this.#options.listenIp ?? "127.0.0.1",
        rtcpMux: true,
        comedia: false,
        appData: { [OWN_TRANSPORT]: true },
      });
      entry.transport = transport;
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities, paused: true });
      entry.consumer = consumer;

      const codec = consumer.rtpParameters.codecs[0]!;
      const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
      if (ssrc === undefined) throw new Error(`consumer of producer ${producer.id} has no ssrc`);
      const codecName = codec.mimeType.toLowerCase() === "video/vp8" ? "VP8" : "H264";
      const created = (await this.#api("POST", "/rtp/streams", {
        ssrc,
        payloadType: codec.payloadType,
        codec: codecName,
        clockRate: codec.clockRate,
        room: participant.room,
        participantId: participant.participantId,
        ...(participant.name ? { name: participant.name } : {}),
      })) as RtpStreamInfo & { node?: { url: string } };
      streamId = created.id;
      nodeUrl = created.node?.url ?? nodeUrl; // a cluster placed it on that node
      if (entry.closed || this.#closed) throw new Error("closed while attaching");

      await transport.connect({ ip: created.host, port: created.port });
      if (consumer.type === "simulcast" || consumer.type === "svc") {
        const chosen =
          this.#options.preferredLayers?.(producer, consumer) ??
          (() => {
            const appHeight = (producer.appData as { mesoguard?: { height?: unknown } }).mesoguard?.height;
            const height = typeof appHeight === "number" && appHeight > 0 ? appHeight : this.#options.sourceHeight ?? DEFAULT_SOURCE_HEIGHT;
            return { spatialLayer: pickSpatialLayer(spatialScales(producer, consumer), height, this.#options.minHeight ?? DEFAULT_MIN_HEIGHT) };
          })();
        await consumer.setPreferredLayers(chosen);
      }
      await consumer.resume();
      await consumer.requestKeyFrame();

      // The transport may go with the router; the consumer with its producer (observer 'close' covers both).
      const attached = transport;
      attached.observer.once("close", () => {
        if (entry.transport === attached) void this.#remove(producer.id, "transport-closed");
      });
      const attachment: MesoguardAttachment = {
        producerId: producer.id,
        participant,
        streamId: created.id,
        transportId: transport.id,
        consumerId: consumer.id,
        ssrc,
        payloadType: codec.payloadType,
        codec: codecName,
        target: `${created.host}:${created.port}`,
        nodeUrl,
      };
      entry.generation = ++this.#generation;
      entry.attachment = attachment;
      entry.heard = false; // a new stream: not heard yet
      log?.info({ producer: producer.id, stream: created.id, room: participant.room, participant: participant.participantId, target: attachment.target }, "mesoguard: producer attached");
      this.emit("attached", attachment);
    } catch (error) {
      entry.transport = undefined;
      entry.consumer = undefined;
      if (transport && !transport.closed) transport.close();
      if (streamId) await this.#api("DELETE", `/rtp/streams/${encodeURIComponent(streamId)}`, undefined, nodeUrl).catch(() => undefined);
      if (!entry.closed && !this.#closed) this.emit("error", error as Error, producer);
    }
  }

  /** Registers the producer again when mesoguard no longer has its stream (or it never attached). */
  async #ensure(producerId: string, known?: KnownStreams): Promise<void> {
    const entry = this.#entries.get(producerId);
    if (!entry || entry.ensuring || entry.unsupported || entry.closed || this.#closed || entry.producer.closed || entry.producer.paused) return;
    entry.ensuring = true;
    try {
      await this.#ensureEntry(entry, known);
    } finally {
      entry.ensuring = false;
    }
  }

  async #ensureEntry(entry: Entry, known?: KnownStreams): Promise<void> {
    await entry.pending;
    if (known && entry.generation > known.generation) return; // attached after the list was asked for
    if (entry.attachment) {
      const stream = known?.streams.get(entry.attachment.streamId);
      if (stream?.lastPacketAt != null) {
        entry.heard = true;
        entry.unheard = 0;
        entry.warned = false;
      }
      const gone = known
        ? !stream
        : await this.#api("GET", `/rtp/streams/${encodeURIComponent(entry.attachment.streamId)}`, undefined, entry.attachment.nodeUrl).then(
            () => false,
            (error: unknown) => error instanceof ControlApiError && error.status === 404,
          );
      if (!gone) return;
      if (!entry.heard) this.#backOff(entry);
      this.#detachTransport(entry, "expired");
    }
    if (entry.closed || this.#closed || Date.now() < entry.retryAt) return;
    entry.pending = this.#attach(entry);
    await entry.pending;
  }

  /**
   * Its stream expired without mesoguard hearing any RTP: registering again at once would only repeat that every
   * stream timeout (the participant joining and leaving), so wait, twice as long each time, and say so once.
   */
  #backOff(entry: Entry): void {
    const min = this.#options.retryMinMs ?? 10_000;
    const delay = Math.min(this.#options.retryMaxMs ?? 300_000, min * 2 ** entry.unheard);
    entry.unheard++;
    entry.retryAt = Date.now() + delay;
    if (entry.warned) return;
    entry.warned = true;
    const { producer, participant } = entry;
    this.#options.log?.warn(
      { producer: producer.id, room: participant.room, participant: participant.participantId, retryInMs: delay },
      "mesoguard: no RTP of this producer reached mesoguard before its stream expired (firewall? listenIp?); registering again with backoff",
    );
  }

  async #check(): Promise<void> {
    if (this.#closed || this.#checking || this.#entries.size === 0) return;
    this.#checking = true;
    try {
      await this.#checkAll();
    } finally {
      this.#checking = false;
    }
  }

  async #checkAll(): Promise<void> {
    let known: KnownStreams;
    try {
      const generation = this.#generation;
      // Every node holding one of the streams (in a cluster they are placed on several); a node that does not
      // answer has lost them, and they are registered again (placed on a live node).
      const nodes = new Set([this.#endpoint.url, ...[...this.#entries.values()].flatMap((e) => (e.attachment ? [e.attachment.nodeUrl] : []))]);
      const lists = await Promise.all([...nodes].map((url) =>
        (this.#api("GET", "/rtp/streams", undefined, url) as Promise<{ streams: RtpStreamInfo[] }>).then(
          (list) => list.streams,
          (error: unknown) => {
            if (url === this.#endpoint.url) throw error;
            this.emit("error", error as Error, undefined);
            return [];
          },
        )));
      known = { streams: new Map(lists.flat().map((s) => [s.id, s])), generation };
    } catch (error) {
      this.emit("error", error as Error, undefined);
      return;
    }
    await Promise.all([...this.#entries.keys()].map((id) => this.#ensure(id, known)));
  }

  /** Closes the transport of an entry and forgets its attachment (without DELETE). */
  #detachTransport(entry: Entry, reason: string): MesoguardAttachment | undefined {
    const attachment = entry.attachment;
    entry.attachment = undefined;
    const transport = entry.transport;
    entry.transport = undefined;
    entry.consumer = undefined;
    if (transport && !transport.closed) transport.close();
    if (attachment) {
      this.#options.log?.info({ producer: entry.producer.id, stream: attachment.streamId, reason }, "mesoguard: producer detached");
      this.emit("detached", attachment, reason);
    }
    return attachment;
  }

  async #remove(producerId: string, reason: string): Promise<void> {
    const entry = this.#entries.get(producerId);
    if (!entry || entry.closed) return;
    entry.closed = true;
    this.#entries.delete(producerId);
    entry.unsubscribe();
    await entry.pending;
    const attachment = this.#detachTransport(entry, reason);
    if (!attachment) return;
    try {
      await this.#api("DELETE", `/rtp/streams/${encodeURIComponent(attachment.streamId)}`, undefined, attachment.nodeUrl);
    } catch (error) {
      if (!(error instanceof ControlApiError && error.status === 404)) this.emit("error", error as Error, entry.producer);
    }
  }

  /** One control API call, to the configured server or (`base`) to the cluster node holding a stream. */
  async #api(method: string, route: string, body?: unknown, base = this.#endpoint.url): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (this.#endpoint.apiKey) headers.authorization = `Bearer ${this.#endpoint.apiKey}`;
    const res = await fetch(base + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        // not JSON
      }
      throw new ControlApiError(res.status, `mesoguard ${method} ${route}: ${res.status} ${message}`);
    }
    return text ? JSON.parse(text) : undefined;
  }
}

/** Attaches mesoguard to a mediasoup Router: every video producer with a participant is scored. */
export function attachMesoguard(router: types.Router, options: MesoguardMediasoupOptions): MesoguardMediasoup {
  return new MesoguardMediasoup(router, options);
}

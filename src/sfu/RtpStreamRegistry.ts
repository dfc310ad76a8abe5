// The RTP streams: other SFUs (Janus rtp_forward, GStreamer, ffmpeg, a mediasoup PlainTransport) forward each
// participant's video as RTP to a UDP port the server opens per stream. Each registered stream gets a port from
// the range (round robin), its RtpStream and decoder, and a participant in its room without a WebSocket (its
// scores go to the room's observers). A stream that sends nothing for streamTimeoutSeconds is removed; a
// participant that leaves stops its stream. The decoders run in the decoder process (DecoderProcess.ts) unless
// the settings say in-process. The HTTP control API over it is RtpControlApi.ts.
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";

import type { Logger } from "pino";
import type { Registry } from "prom-client";

import type { NativeVideoDecoder, VideoCodecName } from "../native/addonTypes.js";
import { loadAddon } from "../native/loadAddon.js";
import { SCORER_DEFAULTS } from "../scoring/scorerOptions.js";
import type { StreamFrame } from "../scoring/scoringTypes.js";
import { AdmissionError } from "../server/RoomRegistry.js";
import { DecoderProcess } from "./DecoderProcess.js";
import type { DecoderProcessStatus } from "./decoderProcessTypes.js";
import { RtpMetrics, type CloseReason } from "./rtpMetrics.js";
import { DEFAULT_TUNING, RtpStream, type RtpStreamInfo, type RtpStreamSpec, type RtpStreamTuning } from "./RtpStream.js";

/**
 * The decoder's maxPending for a stream with this tuning: a little above the stream's own decode queue, so the
 * stream's overload drop (which asks for a key frame) comes before the decoder's ERR_QUEUE_FULL.
 */
export function decoderMaxPending(tuning?: Partial<RtpStreamTuning>): number {
  return (tuning?.maxDecodeQueue ?? DEFAULT_TUNING.maxDecodeQueue) + 4;
}

/** A participant the ingest feeds: MesoguardServer's ParticipantSession. */
export interface StreamParticipant {
  onFrame(frame: StreamFrame): void;
}

/** What the ingest needs from the server (MesoguardServer implements it). */
export interface StreamParticipantHost<P extends StreamParticipant = StreamParticipant> {
  /** Throws AdmissionError: "conflict" when the id is taken in the room, else why the room or server is closed to it. */
  addStreamParticipant(options: { room: string; participantId: string; name?: string; source?: { kind: "rtp"; streamId: string; codec: string } }): P;
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
  /**
   * Where libavcodec runs: "process" (the decoder process: a crash in it ends that process, which restarts, and
   * not the server) or "in-process" (the addon's threads in this process).
   */
  decoder: "process" | "in-process";
}

/** Where the streams' decoders run, as /healthz shows it. */
export type RtpDecoderStatus = { mode: "in-process" } | ({ mode: "process" } & DecoderProcessStatus);

export interface RtpStreamRegistryOptions extends RtpIngestSettings {
  /** Pictures over this many pixels are refused before decoding (default the scorer's). */
  maxFramePixels?: number;
  /** Makes a decoder per stream; default as `decoder` says. */
  createDecoder?: (codec: VideoCodecName, maxPending: number) => NativeVideoDecoder;
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

interface Entry<P> {
  stream: RtpStream;
  participant: P;
}

/**
 * Why a stream was not registered: "conflict" (its participant id is taken in the room) or "unavailable" (the
 * server is shutting down or full, or no UDP port is free).
 */
export class StreamRefusedError extends Error {
  constructor(
    readonly reason: "conflict" | "unavailable",
    message: string,
  ) {
    super(message);
  }
}

export class RtpStreamRegistry<P extends StreamParticipant = StreamParticipant> {
  readonly metrics: RtpMetrics;
  readonly #streams = new Map<string, Entry<P>>();
  readonly #host: StreamParticipantHost<P>;
  readonly #options: RtpStreamRegistryOptions;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #decoderProcess: DecoderProcess | null;
  #nextPort: number;
  #closing = false;

  constructor(host: StreamParticipantHost<P>, options: RtpStreamRegistryOptions, registry: Registry, log: Logger) {
    if (options.portMin > options.portMax) throw new Error("mesoguard: rtpPortMin must not be above rtpPortMax");
    this.#host = host;
    this.#options = options;
    this.#log = log;
    this.metrics = new RtpMetrics(registry);
    this.#nextPort = options.portMin;
    this.#decoderProcess =
      options.decoder === "process" && !options.createDecoder
        ? new DecoderProcess({
            maxFramePixels: this.#maxFramePixels,
            log,
            onExit: (exit) => this.metrics.decoderProcessRestarts.inc({ cause: exit.cause }),
          })
        : null;
    this.#timer = setInterval(() => this.#expireIdle(), 1000);
    this.#timer.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  list(): RtpStreamInfo[] {
    return [...this.#streams.values()].map((e) => e.stream.info());
  }

  decoderStatus(): RtpDecoderStatus {
    return this.#decoderProcess ? { mode: "process", ...this.#decoderProcess.status() } : { mode: "in-process" };
  }

  get(id: string): RtpStreamInfo | undefined {
    return this.#streams.get(id)?.stream.info();
  }

  /** Opens a port for a stream and adds its participant. Throws StreamRefusedError. */
  async register(spec: RtpStreamSpec, requestHost?: string): Promise<RtpStreamInfo> {
    if (this.#closing) throw new StreamRefusedError("unavailable", "the server is shutting down");
    if (this.#streams.size >= this.#options.maxStreams) {
      throw new StreamRefusedError("unavailable", `the server has ${this.#options.maxStreams} RTP streams (rtpMaxStreams)`);
    }
    const socket = await this.#bind();
    if (this.#closing || this.#streams.size >= this.#options.maxStreams) {
      socket.close(); // another registration or the shutdown came first while the port was being bound
      throw new StreamRefusedError("unavailable", this.#closing ? "the server is shutting down" : `the server has ${this.#options.maxStreams} RTP streams (rtpMaxStreams)`);
    }
    const id = randomBytes(8).toString("hex");
    let participant: P;
    try {
      const source = { kind: "rtp" as const, streamId: id, codec: spec.codec };
      participant = this.#host.addStreamParticipant({ room: spec.room, participantId: spec.participantId, name: spec.name, source });
    } catch (error) {
      socket.close();
      if (error instanceof AdmissionError) throw new StreamRefusedError(error.code === "conflict" ? "conflict" : "unavailable", error.message);
      throw error;
    }
    const maxPending = decoderMaxPending(this.#options.tuning);
    let decoder: NativeVideoDecoder;
    try {
      decoder = this.#options.createDecoder
        ? this.#options.createDecoder(spec.codec, maxPending)
        : this.#decoderProcess
          ? this.#decoderProcess.createDecoder(spec.codec, maxPending)
          : new (loadAddon().VideoDecoder)({ codec: spec.codec, maxPending, maxFramePixels: this.#maxFramePixels });
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
    await this.#decoderProcess?.close();
  }

  get #maxFramePixels(): number {
    return this.#options.maxFramePixels ?? SCORER_DEFAULTS.maxFramePixels;
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
    throw new StreamRefusedError("unavailable", `no free UDP port in ${portMin}-${portMax} on ${host} (rtpPortMin, rtpPortMax)`);
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
}

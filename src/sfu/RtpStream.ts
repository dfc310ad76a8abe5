// One registered RTP video stream: its UDP socket (RTP and RTCP muxed on one port), header checks, reordering,
// frame assembly, depacketization, keyframe requests (RTCP PLI or FIR, rate-limited) and the native decoder.
// Every frame is decoded, in order, on the decoder's thread; pixels come back only for the frames sampled for
// scoring (scoreFps, by RTP timestamp), which go to `onPicture` as i420 frames (the scorer's FrameInput).
import type { RemoteInfo, Socket } from "node:dgram";
import { randomInt } from "node:crypto";

import type { Logger } from "pino";

import type { NativeDecodedVideoFrame, NativeVideoDecoder, VideoCodecName } from "../native/addonTypes.js";
import type { StreamFrame } from "../scoring/scoringTypes.js";
import { FrameAssembler, type AssembledFrame } from "./frameAssembler.js";
import { H264ParameterSets, depacketizeH264 } from "./h264.js";
import { ReorderBuffer, type ReorderEvent } from "./reorderBuffer.js";
import { buildFir, buildPli, isRtcp, parseRtcpCompound, parseRtp, type RtpPacket } from "./rtp.js";
import { FRAME_RESULTS, PACKET_RESULTS, type FrameResult, type PacketResult, type RtpMetrics } from "./rtpMetrics.js";
import { SourceLatch } from "./sourceLatch.js";
import { DepacketizeError, depacketizeVp8, type DepacketizedFrame } from "./vp8.js";

export interface RtpStreamSpec {
  ssrc: number;
  payloadType: number;
  codec: VideoCodecName;
  clockRate: number;
  room: string;
  participantId: string;
  name?: string;
  /** Ask for key frames with FIR (RFC 5104) instead of PLI (RFC 4585). */
  fir: boolean;
  /** H.264 only: the SDP's sprop-parameter-sets (base64 SPS/PPS), when the sender sends them out of band. */
  spropParameterSets?: string;
}

export interface RtpStreamTuning {
  /** Frames per second decoded with pixels and scored (by RTP timestamp). */
  scoreFps: number;
  /** Longest wait for a missing packet before it counts as lost. */
  reorderMs: number;
  /** Most packets held behind a missing one. */
  reorderPackets: number;
  /** Least time between two keyframe requests. */
  keyframeRequestIntervalMs: number;
  /** Frames waiting for the decoder before new ones are dropped. */
  maxDecodeQueue: number;
  /** How long the latched sender must be silent before another may take the stream over (src/sfu/sourceLatch.ts). */
  sourceTimeoutMs: number;
  /** In-sequence packets that other sender sends before it is believed. */
  sourceProbationPackets: number;
}

export const DEFAULT_TUNING: RtpStreamTuning = {
  scoreFps: 5,
  reorderMs: 40,
  reorderPackets: 128,
  keyframeRequestIntervalMs: 500,
  maxDecodeQueue: 16,
  sourceTimeoutMs: 2000,
  sourceProbationPackets: 3,
};

export interface RtpStreamCounters {
  /** Datagrams received on the port, of any kind. */
  datagrams: number;
  bytes: number;
  packets: Record<PacketResult, number>;
  /** Packets never received (sequence gaps not filled within the reorder window). */
  lost: number;
  frames: Record<FrameResult, number>;
  keyframes: number;
  /** Decoded frames handed to scoring. */
  sampled: number;
  pli: number;
  fir: number;
}

/** A stream as the control API lists it: its registration (less the SDP parameter sets) and its state. */
export interface RtpStreamInfo extends Omit<RtpStreamSpec, "spropParameterSets"> {
  id: string;
  host: string;
  port: number;
  createdAt: number;
  lastPacketAt: number | null;
  /** Where its RTP comes from, and where keyframe requests go. */
  source: string | null;
  feedbackTo: string | null;
  waitingForKeyframe: boolean;
  width: number | null;
  height: number | null;
  counters: RtpStreamCounters;
}

export interface RtpStreamOptions {
  id: string;
  spec: RtpStreamSpec;
  socket: Socket;
  /** The address told to senders (the response's host). */
  advertisedHost: string;
  decoder: NativeVideoDecoder;
  tuning?: Partial<RtpStreamTuning>;
  metrics?: RtpMetrics;
  log?: Logger;
  /** A decoded frame sampled for scoring. */
  onPicture: (frame: StreamFrame) => void;
  /** Clock for reordering and rate limits (ms); default performance.now. */
  now?: () => number;
}

/** Every result at 0: the counters list them all from the start. */
function zeros<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function address(r: { address: string; port: number }): string {
  return r.address.includes(":") ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`;
}

export class RtpStream {
  readonly id: string;
  readonly spec: RtpStreamSpec;
  readonly createdAt = Date.now();
  readonly counters: RtpStreamCounters = {
    datagrams: 0,
    bytes: 0,
    packets: zeros(PACKET_RESULTS),
    lost: 0,
    frames: zeros(FRAME_RESULTS),
    keyframes: 0,
    sampled: 0,
    pli: 0,
    fir: 0,
  };
  lastPacketAt: number | null = null;
  readonly #socket: Socket;
  readonly #advertisedHost: string;
  readonly #decoder: NativeVideoDecoder;
  readonly #tuning: RtpStreamTuning;
  readonly #metrics?: RtpMetrics;
  readonly #log?: Logger;
  readonly #onPicture: (frame: StreamFrame) => void;
  readonly #now: () => number;
  readonly #reorder: ReorderBuffer<RtpPacket>;
  readonly #latch: SourceLatch;
  readonly #assembler = new FrameAssembler();
  readonly #parameterSets: H264ParameterSets | undefined;
  /** Our own SSRC as the sender of RTCP feedback. */
  readonly #senderSsrc = randomInt(1, 0xffffffff);
  #rtcpSource: RemoteInfo | null = null;
  #waitingForKeyframe = true;
  #lastKeyframeRequest = -Infinity;
  #firSequence = 0;
  #lastSampledTimestamp: number | null = null;
  #decodeQueue = 0;
  #pictureSeq = 0;
  #expiryTimer: NodeJS.Timeout | null = null;
  #width: number | null = null;
  #height: number | null = null;
  #closed = false;

  constructor(options: RtpStreamOptions) {
    this.id = options.id;
    this.spec = options.spec;
    this.#socket = options.socket;
    this.#advertisedHost = options.advertisedHost;
    this.#decoder = options.decoder;
    this.#tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#onPicture = options.onPicture;
    this.#now = options.now ?? (() => performance.now());
    this.#reorder = new ReorderBuffer<RtpPacket>({ windowPackets: this.#tuning.reorderPackets, maxDelayMs: this.#tuning.reorderMs });
    this.#latch = new SourceLatch({ timeoutMs: this.#tuning.sourceTimeoutMs, probationPackets: this.#tuning.sourceProbationPackets });
    this.#parameterSets =
      this.spec.codec === "H264"
        ? this.spec.spropParameterSets
          ? H264ParameterSets.fromSprop(this.spec.spropParameterSets)
          : new H264ParameterSets()
        : undefined;
    this.#socket.on("message", (datagram, rinfo) => this.onDatagram(datagram, rinfo));
    this.#socket.on("error", (error) => this.#log?.warn({ err: error, stream: this.id }, "rtp socket error"));
  }

  get port(): number {
    return this.#socket.address().port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get waitingForKeyframe(): boolean {
    return this.#waitingForKeyframe;
  }

  info(): RtpStreamInfo {
    const feedback = this.#feedbackTarget();
    return {
      id: this.id,
      host: this.#advertisedHost,
      port: this.#closed ? 0 : this.port,
      ssrc: this.spec.ssrc,
      payloadType: this.spec.payloadType,
      codec: this.spec.codec,
      clockRate: this.spec.clockRate,
      room: this.spec.room,
      participantId: this.spec.participantId,
      name: this.spec.name,
      fir: this.spec.fir,
      createdAt: this.createdAt,
      lastPacketAt: this.lastPacketAt,
      source: this.#latch.source ? address(this.#latch.source) : null,
      feedbackTo: feedback ? address(feedback) : null,
      waitingForKeyframe: this.#waitingForKeyframe,
      width: this.#width,
      height: this.#height,
      counters: structuredClone(this.counters),
    };
  }

  /** One datagram from the socket (public for tests that feed packets without a network). */
  onDatagram(datagram: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.counters.datagrams++;
    this.counters.bytes += datagram.length;
    if (isRtcp(datagram)) {
      try {
        parseRtcpCompound(datagram);
      } catch {
        return this.#count("malformed");
      }
      this.#count("rtcp");
      // RTCP tells where the sender listens for feedback (it may send RTCP from another port than its RTP, as
      // ffmpeg does, or send a packet just for that, as Janus does to rtcp_port): any RTCP from the host its
      // latched RTP comes from (another host cannot redirect our keyframe requests).
      const source = this.#latch.source;
      if (!source || source.address === rinfo.address) this.#rtcpSource = rinfo;
      return;
    }
    let packet: RtpPacket;
    try {
      packet = parseRtp(datagram);
    } catch {
      return this.#count("malformed");
    }
    if (packet.ssrc !== this.spec.ssrc) return this.#count("unknown-ssrc");
    if (packet.payloadType !== this.spec.payloadType) return this.#count("wrong-payload-type");
    const now = this.#now();
    const decision = this.#latch.decide(rinfo, packet.sequenceNumber, now);
    if (decision === "refused") return this.#count("other-source");
    if (decision === "moved") {
      this.#rtcpSource = null; // the sender moved: its old RTCP address is stale
      this.#log?.warn({ stream: this.id, source: address(rinfo) }, "rtp stream: a new sender took over after the old one fell silent");
    }
    this.lastPacketAt = Date.now();
    const { events, dropped } = this.#reorder.push(packet, now);
    if (dropped) this.#count(dropped);
    else this.#count("ok");
    this.#handle(events, now);
  }

  #count(result: PacketResult): void {
    this.counters.packets[result]++;
    this.#metrics?.packets.inc({ result });
  }

  #countFrame(result: FrameResult): void {
    this.counters.frames[result]++;
    this.#metrics?.frames.inc({ result });
  }

  #handle(events: ReorderEvent<RtpPacket>[], now: number): void {
    for (const event of events) {
      if (event.kind === "loss") {
        this.counters.lost += event.count;
        this.#assembler.onLoss();
        // The reference chain is broken whichever frame the packets belonged to.
        this.#needKeyframe("loss");
        continue;
      }
      for (const frame of this.#assembler.onPacket(event.packet, event.extendedSeq, now)) this.#onFrame(frame);
    }
    this.#scheduleExpiry();
  }

  #scheduleExpiry(): void {
    if (this.#expiryTimer || this.#closed) return;
    const deadline = this.#reorder.nextDeadline();
    if (deadline === null) return;
    this.#expiryTimer = setTimeout(() => {
      this.#expiryTimer = null;
      if (this.#closed) return;
      const now = this.#now();
      this.#handle(this.#reorder.expire(now), now);
    }, Math.max(1, Math.ceil(deadline - this.#now())));
    this.#expiryTimer.unref();
  }

  /** Frames handed to the decoder so far, and the index of the last key frame among them. */
  #submitted = 0;
  #lastKeyframeIndex = -1;

  #onFrame(frame: AssembledFrame): void {
    if (!frame.complete) {
      this.#countFrame("incomplete");
      return this.#needKeyframe("incomplete frame");
    }
    let unit: DepacketizedFrame;
    try {
      unit =
        this.spec.codec === "VP8"
          ? depacketizeVp8(frame.payloads)
          : depacketizeH264(frame.payloads, { afterGap: frame.afterGap, parameterSets: this.#parameterSets });
    } catch (error) {
      this.#countFrame("incomplete");
      this.#log?.debug({ stream: this.id, err: (error as Error).message }, "rtp frame dropped");
      if (!(error instanceof DepacketizeError)) throw error;
      return this.#needKeyframe("bad frame");
    }
    if (this.#waitingForKeyframe && !unit.keyframe) {
      this.#countFrame("waiting-keyframe");
      return this.#requestKeyframe();
    }
    if (unit.keyframe) {
      this.counters.keyframes++;
      this.#waitingForKeyframe = false;
    }
    if (this.#decodeQueue >= this.#tuning.maxDecodeQueue) {
      this.#countFrame("overload");
      return this.#needKeyframe("decoder overloaded");
    }
    const returnPixels = this.#sample(frame.timestamp);
    const receivedAt = Date.now();
    const index = this.#submitted++;
    if (unit.keyframe) this.#lastKeyframeIndex = index;
    this.#decodeQueue++;
    this.#decoder.decode(unit.data, { returnPixels }).then(
      (result) => {
        this.#decodeQueue--;
        this.#onDecoded(result, receivedAt);
      },
      (error: NodeJS.ErrnoException) => {
        this.#decodeQueue--;
        this.#onDecodeError(error, index);
      },
    );
  }

  /** Whether this frame is due for scoring: at most scoreFps frames per second of RTP time. */
  #sample(timestamp: number): boolean {
    const last = this.#lastSampledTimestamp;
    if (last !== null) {
      const elapsed = ((timestamp - last) | 0) / this.spec.clockRate; // 32-bit wrap-around difference
      // A jump backwards or far ahead (a restart) resets the sampler.
      if (elapsed >= 0 && elapsed < 1 / this.#tuning.scoreFps - 1e-6 && elapsed < 60) return false;
    }
    this.#lastSampledTimestamp = timestamp;
    return true;
  }

  #onDecoded(result: NativeDecodedVideoFrame, receivedAt: number): void {
    if (this.#closed || !result.decoded) return;
    this.#countFrame("decoded");
    this.#width = result.width;
    this.#height = result.height;
    if (!result.i420) return;
    this.counters.sampled++;
    this.#onPicture({
      seq: this.#pictureSeq++,
      capturedAt: receivedAt,
      input: { kind: "i420", data: result.i420, width: result.width, height: result.height },
    });
  }

  /** `index` is the failed frame's place in decode order. */
  #onDecodeError(error: NodeJS.ErrnoException, index: number): void {
    if (this.#closed || error.code === "ERR_CLOSED") return;
    // Errors arrive asynchronously: when a later key frame is already queued, the decoder recovers with it,
    // and waiting for yet another key frame would drop good frames. The sender is asked for one either way.
    const recovering = this.#lastKeyframeIndex > index;
    const waitForKeyframe = (why: string) => (recovering ? this.#requestKeyframe() : this.#needKeyframe(why));
    if (error.code === "ERR_VIDEO_NEED_KEYFRAME") {
      // Queued behind a frame that failed: the decoder was reset and waits for a key frame, as we do.
      this.#countFrame("waiting-keyframe");
      return waitForKeyframe("decoder needs a key frame");
    }
    if (error.code === "ERR_VIDEO_DECODER_PROCESS") {
      // The decoder process died (DecoderProcess logs it, once): this stream's decoder starts over at a key frame.
      this.#countFrame("decoder-lost");
      return this.#needKeyframe("decoder process lost");
    }
    if (error.code === "ERR_QUEUE_FULL") {
      this.#countFrame("overload");
      return waitForKeyframe("decoder overloaded");
    }
    this.#countFrame("decode-error");
    this.#log?.info({ stream: this.id, participant: this.spec.participantId, code: error.code, err: error.message }, "rtp decode error: waiting for a key frame");
    waitForKeyframe("decode error");
  }

  #needKeyframe(why: string): void {
    if (!this.#waitingForKeyframe) this.#log?.debug({ stream: this.id, why }, "rtp stream waits for a key frame");
    this.#waitingForKeyframe = true;
    this.#requestKeyframe();
  }

  /** Where feedback goes: the address the sender's RTCP comes from, else its RTP's (rtcp-mux). */
  #feedbackTarget(): RemoteInfo | null {
    return this.#rtcpSource ?? this.#latch.source;
  }

  /** Sends a PLI (or FIR) to the sender, at most once per keyframeRequestIntervalMs. */
  #requestKeyframe(): void {
    const target = this.#feedbackTarget();
    if (!target || this.#closed) return;
    const now = this.#now();
    if (now - this.#lastKeyframeRequest < this.#tuning.keyframeRequestIntervalMs) return;
    this.#lastKeyframeRequest = now;
    const packet = this.spec.fir
      ? buildFir(this.#senderSsrc, this.spec.ssrc, this.#firSequence++)
      : buildPli(this.#senderSsrc, this.spec.ssrc);
    const type = this.spec.fir ? "fir" : "pli";
    this.counters[type]++;
    this.#metrics?.keyframeRequests.inc({ type });
    this.#socket.send(packet, target.port, target.address, (error) => {
      if (error) this.#log?.debug({ err: error, stream: this.id }, "rtcp send failed");
    });
  }

  /** Stops: closes the socket and the decoder (frames still queued are dropped). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    await new Promise<void>((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
    await this.#decoder.close({ drain: false }).catch(() => undefined);
  }
}

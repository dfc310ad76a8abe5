// Prometheus metrics of the RTP ingest, on the server's registry (served at /metrics beside the others).
import { Counter, Gauge, type Registry } from "prom-client";

import { DECODER_EXIT_CAUSES } from "./decoderProcessTypes.js";

/** What became of a datagram that reached a stream's port. */
export const PACKET_RESULTS = [
  "ok", // RTP of the stream: taken
  "rtcp", // RTCP (sender reports and the like, rtcp-mux)
  "malformed", // not RTP/RTCP version 2, truncated, bad padding or extension
  "unknown-ssrc", // RTP of another SSRC
  "wrong-payload-type", // the stream's SSRC with another payload type
  "late", // arrived after its place in the sequence was given up as lost
  "duplicate", // a copy of a packet waiting in the reorder buffer or already released
  "other-source", // the stream's SSRC from another sender than the latched one (src/sfu/sourceLatch.ts)
] as const;
export type PacketResult = (typeof PACKET_RESULTS)[number];

/** What became of an assembled frame. */
export const FRAME_RESULTS = [
  "decoded", // decoded (and scored when it was sampled)
  "incomplete", // packets lost or its head/tail missing: dropped
  "waiting-keyframe", // a delta frame while waiting for a key frame: dropped
  "decode-error", // the decoder refused it: that stream's decoder is reset
  "overload", // too many frames waiting for the decoder: dropped
  "decoder-lost", // the decoder process died (or was restarting) before decoding it: the stream waits for a key frame
] as const;
export type FrameResult = (typeof FRAME_RESULTS)[number];

export const CLOSE_REASONS = ["deleted", "timeout", "replaced", "shutdown"] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export class RtpMetrics {
  readonly packets: Counter<"result">;
  readonly frames: Counter<"result">;
  readonly keyframeRequests: Counter<"type">;
  readonly streamsClosed: Counter<"reason">;
  readonly streams: Gauge;
  readonly decoderProcessRestarts: Counter<"cause">;

  constructor(registry: Registry) {
    this.packets = new Counter({
      name: "mesoguard_rtp_packets_total",
      help: `Datagrams received on RTP ingest ports, by result (${PACKET_RESULTS.join(", ")})`,
      labelNames: ["result"],
      registers: [registry],
    });
    this.frames = new Counter({
      name: "mesoguard_rtp_frames_total",
      help: `Video frames assembled from RTP, by result (${FRAME_RESULTS.join(", ")})`,
      labelNames: ["result"],
      registers: [registry],
    });
    this.keyframeRequests = new Counter({
      name: "mesoguard_rtp_keyframe_requests_total",
      help: "RTCP keyframe requests sent to RTP senders, by type (pli, fir)",
      labelNames: ["type"],
      registers: [registry],
    });
    this.streamsClosed = new Counter({
      name: "mesoguard_rtp_streams_closed_total",
      help: `RTP streams ended, by reason (${CLOSE_REASONS.join(", ")})`,
      labelNames: ["reason"],
      registers: [registry],
    });
    this.streams = new Gauge({ name: "mesoguard_rtp_streams", help: "Registered RTP streams", registers: [registry] });
    this.decoderProcessRestarts = new Counter({
      name: "mesoguard_decoder_process_restarts_total",
      help: `Decoder processes that ended unasked and were restarted, by cause (${DECODER_EXIT_CAUSES.join(", ")})`,
      labelNames: ["cause"],
      registers: [registry],
    });
    // Export every label from the start, so a dashboard sees zeros rather than missing series.
    for (const result of PACKET_RESULTS) this.packets.inc({ result }, 0);
    for (const result of FRAME_RESULTS) this.frames.inc({ result }, 0);
    for (const type of ["pli", "fir"]) this.keyframeRequests.inc({ type }, 0);
    for (const reason of CLOSE_REASONS) this.streamsClosed.inc({ reason }, 0);
    for (const cause of DECODER_EXIT_CAUSES) this.decoderProcessRestarts.inc({ cause }, 0);
  }
}

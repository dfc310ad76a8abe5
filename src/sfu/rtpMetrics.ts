// Prometheus metrics of the RTP ingest, on the server's registry (served at /metrics beside the others).
import { Counter, Gauge, type Registry } from "prom-client";

/** What became of a datagram that reached a stream's port. */
export type PacketResult =
  | "ok" // RTP of the stream: taken
  | "rtcp" // RTCP (sender reports and the like, rtcp-mux)
  | "malformed" // not RTP/RTCP version 2, truncated, bad padding or extension
  | "unknown-ssrc" // RTP of another SSRC
  | "wrong-payload-type" // the stream's SSRC with another payload type
  | "late" // arrived after its place in the sequence was passed (or was declared lost)
  | "duplicate" // a copy of a packet waiting in the reorder buffer or already released
  | "other-source"; // the stream's SSRC from another sender than the latched one (src/sfu/sourceLatch.ts)

/** What became of an assembled frame. */
export type FrameResult =
  | "decoded" // decoded (and scored when it was sampled)
  | "incomplete" // packets lost or its head/tail missing: dropped
  | "waiting-keyframe" // a delta frame while waiting for a key frame: dropped
  | "decode-error" // the decoder refused it: that stream's decoder is reset
  | "overload"; // too many frames waiting for the decoder: dropped

export type CloseReason = "deleted" | "timeout" | "replaced" | "shutdown";

export class RtpMetrics {
  readonly packets: Counter<"result">;
  readonly frames: Counter<"result">;
  readonly keyframeRequests: Counter<"type">;
  readonly streamsClosed: Counter<"reason">;
  readonly streams: Gauge;

  constructor(registry: Registry) {
    this.packets = new Counter({
      name: "mesoguard_rtp_packets_total",
      help: "Datagrams received on RTP ingest ports, by result (ok, rtcp, malformed, unknown-ssrc, wrong-payload-type, late, duplicate, other-source)",
      labelNames: ["result"],
      registers: [registry],
    });
    this.frames = new Counter({
      name: "mesoguard_rtp_frames_total",
      help: "Video frames assembled from RTP, by result (decoded, incomplete, waiting-keyframe, decode-error, overload)",
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
      help: "RTP streams ended, by reason (deleted, timeout, replaced, shutdown)",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.streams = new Gauge({ name: "mesoguard_rtp_streams", help: "Registered RTP streams", registers: [registry] });
    // Export every label from the start, so a dashboard sees zeros rather than missing series.
    for (const result of ["ok", "rtcp", "malformed", "unknown-ssrc", "wrong-payload-type", "late", "duplicate"]) this.packets.inc({ result }, 0);
    for (const result of ["decoded", "incomplete", "waiting-keyframe", "decode-error", "overload"]) this.frames.inc({ result }, 0);
    for (const type of ["pli", "fir"]) this.keyframeRequests.inc({ type }, 0);
  }
}

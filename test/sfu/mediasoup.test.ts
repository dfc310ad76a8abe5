// The mediasoup integration end to end, all real: a mediasoup 3.12.16 worker (built from source against Debian's
// libraries, test/helpers/mediasoup.ts), a Router with VP8 and H.264, a PlainTransport producer fed by Debian's
// ffmpeg with RTP made from grace_hopper.jpg, src/sfu/mediasoup.ts attaching the router to a real
// `mesoguard serve` (child process), and an observer (the SDK over `ws`) that must get the producer's scores
// with a face. Closing the producer must unregister its stream.
import path from "node:path";

import type { types } from "mediasoup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { attachMesoguard, mesoguardRtpCapabilities, pickSpatialLayer, type MesoguardAttachment, type MesoguardMediasoup } from "../../src/sfu/mediasoup.js";
import { loadMediasoup, ROUTER_CODECS } from "../helpers/mediasoup.js";
import { ffmpegProcess } from "../helpers/tools.js";
import { closeAllClients, joinClient, SHARED, sleep, startServer, stopAllServers, waitFor, type RunningServer } from "../helpers/server.js";

const PHOTO = path.join(SHARED, "photos/grace_hopper.jpg");

let server: RunningServer;
let worker: types.Worker;
let router: types.Router;
let bridge: MesoguardMediasoup;
const detached: Array<[MesoguardAttachment, string]> = [];

beforeAll(async () => {
  const mediasoup = await loadMediasoup(); // builds the worker when it is not cached yet (minutes)
  server = await startServer(["--rtp-port-min", "46200", "--rtp-port-max", "46239"]);
  worker = await mediasoup.createWorker({ logLevel: "warn", rtcMinPort: 46300, rtcMaxPort: 46399 });
  router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
  bridge = attachMesoguard(router, { mesoguard: server.url, checkIntervalMs: 1000, retryMinMs: 1000 });
  bridge.on("detached", (attachment, reason) => detached.push([attachment, reason]));
}, 30 * 60_000);

afterAll(async () => {
  await bridge?.close();
  worker?.close();
  closeAllClients();
  await stopAllServers();
});

async function streams(): Promise<Array<Record<string, any>>> {
  const res = await fetch(`${server.url}/rtp/streams`);
  return ((await res.json()) as { streams: Array<Record<string, any>> }).streams;
}

/**
 * grace_hopper.jpg as RTP to 127.0.0.1:port (RTCP to rtcpPort) for `seconds`, real time, from local ports
 * localPort (RTP) and localPort + 1 (RTCP): ffmpeg sends the two from different ports.
 */
function ffmpegRtp(options: {
  codec: "VP8" | "H264";
  port: number;
  rtcpPort: number;
  localPort: number;
  ssrc: number;
  payloadType: number;
  seconds: number;
}): Promise<void> {
  const encoder =
    options.codec === "VP8"
      ? ["-c:v", "libvpx", "-deadline", "realtime", "-b:v", "1M", "-g", "25"]
      : ["-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-b:v", "1M", "-maxrate", "1M", "-bufsize", "1M", "-g", "25"];
  const args = [
    "-re", "-loop", "1", "-i", PHOTO, "-t", String(options.seconds),
    "-vf", "scale=640:-2,format=yuv420p", ...encoder,
    "-ssrc", String(options.ssrc), "-payload_type", String(options.payloadType),
    "-f", "rtp", `rtp://127.0.0.1:${options.port}?rtcpport=${options.rtcpPort}&localrtpport=${options.localPort}&localrtcpport=${options.localPort + 1}`,
  ];
  return ffmpegProcess(args);
}

describe("helpers of the integration", () => {
  it("consumer capabilities keep VP8 and H.264 mode 1 only, without RTX, extensions or congestion feedback", () => {
    const caps = mesoguardRtpCapabilities(router.rtpCapabilities);
    expect(caps.codecs!.map((c) => c.mimeType)).toEqual(["video/VP8", "video/H264"]);
    expect(caps.headerExtensions).toEqual([]);
    for (const codec of caps.codecs!) {
      for (const fb of codec.rtcpFeedback ?? []) expect(`${fb.type} ${fb.parameter}`).toMatch(/^(nack pli|ccm fir)$/);
    }
  });

  it("picks the lowest spatial layer at least minHeight tall", () => {
    expect(pickSpatialLayer([4, 2, 1], 720, 240)).toBe(1); // 180, 360, 720
    expect(pickSpatialLayer([4, 2, 1], 1080, 240)).toBe(0); // 270 already
    expect(pickSpatialLayer([2, 1], 360, 480)).toBe(1); // none is tall enough: the top one
    expect(pickSpatialLayer([1], 720, 240)).toBe(0);
  });
});

describe.each([
  { codec: "VP8" as const, mimeType: "video/VP8", payloadType: 101, ssrc: 0x1a2b3c4d, participantId: "carol-vp8", parameters: {}, ffmpegPort: 46250 },
  {
    codec: "H264" as const,
    mimeType: "video/H264",
    payloadType: 107,
    ssrc: 0x2b3c4d5e,
    participantId: "dave-h264",
    parameters: { "packetization-mode": 1, "profile-level-id": "42e01f" },
    ffmpegPort: 46252,
  },
])("a $codec producer of a mediasoup router", ({ codec, mimeType, payloadType, ssrc, participantId, parameters, ffmpegPort }) => {
  const room = `mediasoup-${codec.toLowerCase()}`;

  it("is scored by mesoguard (an observer gets scores with a face); closing the producer unregisters it", async () => {
    const observer = await joinClient(server.url, { room, role: "observer" });
    // The app's ingress: ffmpeg -> PlainTransport -> Producer. ffmpeg sends RTP and RTCP from two ports (comedia
    // would learn only the first), so the transport is connected to ffmpeg's ports instead.
    const ingress = await router.createPlainTransport({ listenIp: "127.0.0.1", rtcpMux: false, comedia: false });
    await ingress.connect({ ip: "127.0.0.1", port: ffmpegPort, rtcpPort: ffmpegPort + 1 });
    const producer = await ingress.produce({
      kind: "video",
      rtpParameters: {
        codecs: [{ mimeType, payloadType, clockRate: 90000, parameters, rtcpFeedback: [{ type: "nack", parameter: "pli" }] }],
        encodings: [{ ssrc }],
      },
      appData: { mesoguard: { room, participantId, name: `${codec} via mediasoup` } },
    });

    // The router observer found the producer: its consumer on a PlainTransport is registered with mesoguard.
    const attachment = await waitFor(() => bridge.attachments().find((a) => a.producerId === producer.id), "the producer attached");
    expect(attachment).toMatchObject({ participant: { room, participantId }, codec });
    const registered = (await streams()).find((s) => s.id === attachment.streamId);
    expect(registered).toMatchObject({ room, participantId, codec, ssrc: attachment.ssrc, payloadType: attachment.payloadType, clockRate: 90000 });
    expect(attachment.target).toBe(`127.0.0.1:${registered!.port}`);
    await waitFor(() => observer.events["participant-joined"].some((m) => m.participant.participantId === participantId), "participant-joined");
    try {
      await scoredThenClosed();
    } finally {
      if (!producer.closed) producer.close();
      ingress.close();
    }

    async function scoredThenClosed(): Promise<void> {
      await ffmpegRtp({ codec, port: ingress.tuple.localPort, rtcpPort: ingress.rtcpTuple!.localPort, localPort: ffmpegPort, ssrc, payloadType, seconds: 4 });
      const scored = await waitFor(
        () => observer.events.score.find((s) => s.participantId === participantId && s.faces.length > 0 && s.participant.state !== "no-face"),
        `a score for ${participantId} with a face`,
      );
      expect(scored).toMatchObject({ type: "score", room, participantId, name: `${codec} via mediasoup` });
      expect(scored.faces[0]!.box).not.toBeNull();

      const info = (await streams()).find((s) => s.id === attachment.streamId)!;
      // The RTP came from the bridge's PlainTransport (mediasoup rewrote ssrc and payload type to the consumer's).

      expect(info).toMatchObject({ width: 640, height: 750, waitingForKeyframe: false });
      expect(info.counters.frames.decoded).toBeGreaterThanOrEqual(60);
      expect(info.counters.lost).toBe(0);
      expect(info.counters.packets["unknown-ssrc"]).toBe(0);
      expect(info.counters.packets["wrong-payload-type"]).toBe(0);

      // Closing the producer: the consumer goes, its transport is closed and the stream deleted.
      producer.close();
      await waitFor(async () => (await streams()).every((s) => s.id !== attachment.streamId), "the stream unregistered");
      await waitFor(() => observer.events["participant-left"].some((m) => m.participantId === participantId), "participant-left");
      expect(detached).toContainEqual([attachment, "producer-closed"]);
      expect(bridge.attachments().some((a) => a.producerId === producer.id)).toBe(false);
    }
  });
});

describe("a producer whose RTP never reaches mesoguard", () => {
  it("is registered again with exponential backoff, not every stream timeout, and warned about once", async () => {
    const quick = await startServer(["--rtp-port-min", "46240", "--rtp-port-max", "46249", "--rtp-stream-timeout-seconds", "1"]);
    const deafRouter = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
    const warnings: Array<Record<string, unknown>> = [];
    const log = { info: () => undefined, warn: (obj: object, msg: string) => void warnings.push({ ...obj, msg }) };
    const deaf = attachMesoguard(deafRouter, { mesoguard: quick.url, checkIntervalMs: 200, retryMinMs: 1500, log });
    const attached: MesoguardAttachment[] = [];
    deaf.on("attached", (a) => attached.push(a));
    try {
      const observer = await joinClient(quick.url, { room: "deaf", role: "observer" });
      // A producer nobody sends to: its consumer forwards nothing, so mesoguard never hears the stream and
      // drops it after the 1 s stream timeout.
      const ingress = await deafRouter.createPlainTransport({ listenIp: "127.0.0.1", rtcpMux: true, comedia: true });
      await ingress.produce({
        kind: "video",
        rtpParameters: { codecs: [{ mimeType: "video/VP8", payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: 0x0deaf00d }] },
        appData: { mesoguard: { room: "deaf", participantId: "mute" } },
      });
      await sleep(7000);
      // Registering again at once would repeat every ~1-2 s (timeout + checks): 4 or more joins in 7 s. With the
      // backoff (1.5 s, then 3 s, ...) after each unheard expiry: 2 or 3.
      expect(attached.length).toBeGreaterThanOrEqual(2);
      expect(attached.length).toBeLessThanOrEqual(3);
      const joins = observer.events["participant-joined"].filter((m) => m.participant.participantId === "mute");
      expect(joins.length).toBe(attached.length);
      const unheard = warnings.filter((w) => /no RTP of this producer reached mesoguard/.test(String(w.msg)));
      expect(unheard).toHaveLength(1);
      expect(unheard[0]).toMatchObject({ participant: "mute", retryInMs: 1500 });
    } finally {
      await deaf.close();
      deafRouter.close();
      await quick.stop();
    }
  }, 60_000);
});

describe("clean-up", () => {
  it("a stream mesoguard no longer has is registered again; closing the router deletes every stream", async () => {
    const ingress = await router.createPlainTransport({ listenIp: "127.0.0.1", rtcpMux: true, comedia: true });
    const producer = await ingress.produce({
      kind: "video",
      rtpParameters: { codecs: [{ mimeType: "video/VP8", payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: 0x0badcafe }] },
      appData: { mesoguard: { room: "mediasoup-cleanup", participantId: "erin" } },
    });
    const first = await waitFor(() => bridge.attachments().find((a) => a.producerId === producer.id), "the producer attached");
    // Someone (an operator, or the idle timeout) removes the stream on mesoguard's side: the check finds it gone.
    expect((await fetch(`${server.url}/rtp/streams/${first.streamId}`, { method: "DELETE" })).status).toBe(204);
    const second = await waitFor(
      () => bridge.attachments().find((a) => a.producerId === producer.id && a.streamId !== first.streamId),
      "the producer attached again",
    );
    expect(detached).toContainEqual([first, "expired"]);
    expect((await streams()).map((s) => s.id)).toEqual([second.streamId]);

    router.close();
    await waitFor(async () => (await streams()).length === 0, "every stream unregistered");
    expect(bridge.attachments()).toEqual([]);
  });
});

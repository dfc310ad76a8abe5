// The RTP ingest end to end on the real server (`mesoguard serve` in a child process): streams registered over
// the control API, real RTP from Debian's ffmpeg (VP8 with libvpx, H.264 with libx264) made from
// grace_hopper.jpg, a real observer (the SDK over `ws`) that must receive the RTP participant's scores with
// faces found; garbage datagrams counted (per stream and in /metrics) without breaking the stream; DELETE,
// the idle timeout and a WebSocket participant taking the same id all stop a stream; a lossy UDP relay between
// ffmpeg and the server gets a PLI back; the API wants its own key (rtpApiKey), never the token secret.
import { spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ScoreMessage } from "../../src/protocol/protocolTypes.js";
import { serializeRtp } from "../helpers/rtpPackets.js";
import {
  BIN,
  closeAllClients,
  getText,
  joinClient,
  metricValue,
  sleep,
  startServer,
  stopAllServers,
  TEST_API_KEY,
  TEST_SECRET,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";
import { ffmpegRtp } from "../helpers/videos.js";

const PORT_MIN = 46100;
const PORT_MAX = 46139;

let server: RunningServer;

beforeAll(async () => {
  server = await startServer(["--rtp-port-min", String(PORT_MIN), "--rtp-port-max", String(PORT_MAX), "--rtp-stream-timeout-seconds", "5"]);
});

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

interface ApiResult {
  status: number;
  body: Record<string, any> | null;
  headers: Headers;
}

async function api(base: string, method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null, headers: res.headers };
}

function udpSocket(): Promise<Socket> {
  const socket = createSocket("udp4");
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

function sendTo(socket: Socket, port: number, datagram: Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.send(datagram, port, "127.0.0.1", (e) => (e ? reject(e) : resolve())));
}

const scoresFor = (observer: TestClient, participantId: string): ScoreMessage[] => observer.events.score.filter((s) => s.participantId === participantId);

async function metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  return metricValue((await getText(`${server.url}/metrics`)).text, name, labels);
}

describe("control API", () => {
  it.each<[string, unknown, RegExp]>([
    ["not JSON", "{nope", /not valid JSON/],
    ["an array", [], /JSON object/],
    ["no ssrc", { payloadType: 96, codec: "VP8", room: "r", participantId: "p" }, /ssrc/],
    ["an ssrc past 32 bits", { ssrc: 2 ** 32, payloadType: 96, codec: "VP8", room: "r", participantId: "p" }, /ssrc/],
    ["a payload type over 127", { ssrc: 1, payloadType: 128, codec: "VP8", room: "r", participantId: "p" }, /payloadType/],
    ["a payload type that collides with RTCP", { ssrc: 1, payloadType: 72, codec: "VP8", room: "r", participantId: "p" }, /RTCP/],
    ["an unknown codec", { ssrc: 1, payloadType: 96, codec: "VP9", room: "r", participantId: "p" }, /codec/],
    ["a bad room", { ssrc: 1, payloadType: 96, codec: "VP8", room: "no spaces", participantId: "p" }, /room/],
    ["no participant", { ssrc: 1, payloadType: 96, codec: "VP8", room: "r" }, /participantId/],
    ["a non-boolean fir", { ssrc: 1, payloadType: 96, codec: "VP8", room: "r", participantId: "p", fir: "yes" }, /fir/],
    ["an odd clock rate", { ssrc: 1, payloadType: 96, codec: "VP8", room: "r", participantId: "p", clockRate: 1.5 }, /clockRate/],
    ["sprop for VP8", { ssrc: 1, payloadType: 96, codec: "VP8", room: "r", participantId: "p", spropParameterSets: "Z0LAH9k=" }, /H264 only/],
    ["a typo'd field", { ssrc: 1, payloadType: 96, codec: "VP8", room: "r", participantId: "p", roomId: "x" }, /unknown field.*roomId/],
  ])("POST with %s: 400 with the reason", async (_, body, message) => {
    const { status, body: answer } = await api(server.url, "POST", "/rtp/streams", body);
    expect(status).toBe(400);
    expect(answer!.error).toMatch(message);
  });

  it("GET lists nothing yet; unknown ids are 404; other methods 405", async () => {
    expect(await api(server.url, "GET", "/rtp/streams")).toMatchObject({ status: 200, body: { streams: [] } });
    expect((await api(server.url, "GET", "/rtp/streams/nope")).status).toBe(404);
    expect((await api(server.url, "DELETE", "/rtp/streams/nope")).status).toBe(404);
    const put = await api(server.url, "PUT", "/rtp/streams", {});
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
  });

  it("/healthz tells the control API is open in development mode", async () => {
    const health = (await api(server.url, "GET", "/healthz")).body!;
    expect(health.rtp).toMatchObject({ streams: 0, controlApi: "open (development mode)", decoder: { mode: "process", state: "idle", pid: null, restarts: 0 } });
  });
});

describe.each([
  { codec: "VP8" as const, payloadType: 96, ssrc: 0x11223344, participantId: "alice-vp8" },
  { codec: "H264" as const, payloadType: 102, ssrc: 0x55667788, participantId: "bob-h264" },
])("$codec over RTP from ffmpeg", ({ codec, payloadType, ssrc, participantId }) => {
  const room = `sfu-${codec.toLowerCase()}`;
  it("an observer gets the participant's scores with a face found; garbage is counted and dropped; DELETE stops it", async () => {
    const observer = await joinClient(server.url, { room, role: "observer" });
    const created = await api(server.url, "POST", "/rtp/streams", { ssrc, payloadType, codec, room, participantId, name: `${codec} sender` });
    expect(created.status).toBe(201);
    const stream = created.body!;
    expect(stream).toMatchObject({ host: "127.0.0.1", ssrc, payloadType, codec, clockRate: 90000, room, participantId, rtcpMux: true, fir: false });
    expect(stream.id).toMatch(/^[0-9a-f]{16}$/);
    expect(stream.port).toBeGreaterThanOrEqual(PORT_MIN);
    expect(stream.port).toBeLessThanOrEqual(PORT_MAX);
    expect(created.headers.get("location")).toBe(`/rtp/streams/${stream.id}`);
    await waitFor(() => observer.events["participant-joined"].some((m) => m.participant.participantId === participantId), "participant-joined");

    // Registering the same participant twice is a conflict.
    const again = await api(server.url, "POST", "/rtp/streams", { ssrc: 1, payloadType, codec, room, participantId });
    expect(again.status).toBe(409);

    // Noise from another socket while ffmpeg streams: garbage, truncated, another SSRC, another payload type.
    const noise = await udpSocket();
    const noiseSent = { malformed: 0, unknownSsrc: 0, wrongPt: 0 };
    let noiseTimer: NodeJS.Timeout | undefined;
    const sending = ffmpegRtp({ codec, port: stream.port, ssrc, payloadType });
    noiseTimer = setInterval(() => {
      void sendTo(noise, stream.port, Buffer.from("garbage \u0000\u00ff datagram"));
      void sendTo(noise, stream.port, Buffer.from([0x80, 0x60, 0x01]));
      void sendTo(noise, stream.port, serializeRtp({ payloadType, sequenceNumber: 9, timestamp: 9, ssrc: ssrc ^ 1, payload: Buffer.from([1, 2, 3]) }));
      void sendTo(noise, stream.port, serializeRtp({ payloadType: payloadType + 1, sequenceNumber: 9, timestamp: 9, ssrc, payload: Buffer.from([1, 2, 3]) }));
      noiseSent.malformed += 2;
      noiseSent.unknownSsrc++;
      noiseSent.wrongPt++;
    }, 100);
    try {
      await sending;
    } finally {
      clearInterval(noiseTimer);
      noise.close();
    }

    const scored = await waitFor(
      () => scoresFor(observer, participantId).find((s) => s.faces.length > 0 && s.participant.state !== "no-face" && (s.lastFrame?.faces ?? 0) > 0),
      `a score for ${participantId} with a face`,
    );
    expect(scored).toMatchObject({ type: "score", room, participantId, name: `${codec} sender` });
    expect(scored.faces[0]!.box).not.toBeNull();
    expect(["gathering", "authentic", "suspicious", "likely-fake"]).toContain(scored.participant.state);

    const info = (await api(server.url, "GET", `/rtp/streams/${stream.id}`)).body!;
    expect(info).toMatchObject({ id: stream.id, width: 640, height: 750, waitingForKeyframe: false });
    const c = info.counters;
    // 4 s at 25 fps: ~100 frames, every one decoded; ~5 a second sampled for scoring.
    expect(c.frames.decoded).toBeGreaterThanOrEqual(80);
    expect(c.frames).toMatchObject({ "decode-error": 0, incomplete: 0 });
    expect(c.sampled).toBeGreaterThanOrEqual(12);
    expect(c.sampled).toBeLessThanOrEqual(25);
    expect(c.lost).toBe(0);
    expect(c.keyframes).toBeGreaterThanOrEqual(2);
    expect(c.packets.malformed).toBe(noiseSent.malformed);
    expect(c.packets["unknown-ssrc"]).toBe(noiseSent.unknownSsrc);
    expect(c.packets["wrong-payload-type"]).toBe(noiseSent.wrongPt);
    expect(c.packets.rtcp).toBeGreaterThanOrEqual(1); // ffmpeg's sender reports, muxed on the port
    expect(c.pli + c.fir).toBe(0);
    expect(scored.frames.scored).toBeGreaterThan(0);

    // The server-wide counters include this stream's.
    expect(await metric("mesoguard_rtp_packets_total", { result: "malformed" })).toBeGreaterThanOrEqual(noiseSent.malformed);
    expect(await metric("mesoguard_rtp_packets_total", { result: "unknown-ssrc" })).toBeGreaterThanOrEqual(noiseSent.unknownSsrc);
    expect(await metric("mesoguard_rtp_packets_total", { result: "ok" })).toBeGreaterThanOrEqual(c.packets.ok);
    expect(await metric("mesoguard_rtp_frames_total", { result: "decoded" })).toBeGreaterThanOrEqual(c.frames.decoded);

    const listed = (await api(server.url, "GET", "/rtp/streams")).body!.streams as Array<{ id: string }>;
    expect(listed.map((s) => s.id)).toContain(stream.id);

    // DELETE: the participant leaves the room, the stream is gone and its port closed.
    expect((await api(server.url, "DELETE", `/rtp/streams/${stream.id}`)).status).toBe(204);
    await waitFor(() => observer.events["participant-left"].some((m) => m.participantId === participantId), "participant-left");
    expect((await api(server.url, "GET", `/rtp/streams/${stream.id}`)).status).toBe(404);
    expect(await metric("mesoguard_rtp_streams_closed_total", { reason: "deleted" })).toBeGreaterThanOrEqual(1);
  });
});

describe("loss", () => {
  it("packets dropped by a relay between ffmpeg and the server bring a PLI back to the relay; decoding resumes", async () => {
    const ssrc = 0x0badcafe;
    const room = "sfu-loss";
    const observer = await joinClient(server.url, { room, role: "observer" });
    const stream = (await api(server.url, "POST", "/rtp/streams", { ssrc, payloadType: 96, codec: "VP8", room, participantId: "lossy" })).body!;
    // The relay: one socket that takes ffmpeg's RTP and RTCP, forwards all but a few RTP packets to the server,
    // and records what the server sends back.
    const relay = await udpSocket();
    const feedback: Buffer[] = [];
    let rtpSeen = 0;
    const dropped: number[] = [];
    relay.on("message", (datagram, rinfo) => {
      if (rinfo.port === stream.port) {
        feedback.push(datagram);
        return;
      }
      const isRtp = datagram.length >= 12 && !(datagram[1]! >= 192 && datagram[1]! <= 223);
      if (isRtp) {
        rtpSeen++;
        // Drop three packets after the first key frame has gone through, and three more a second later.
        if ((rtpSeen >= 120 && rtpSeen < 123) || (rtpSeen >= 260 && rtpSeen < 263)) {
          dropped.push(datagram.readUInt16BE(2));
          return;
        }
      }
      relay.send(datagram, stream.port, "127.0.0.1");
    });
    const relayPort = relay.address().port;
    try {
      await ffmpegRtp({ codec: "VP8", port: relayPort, rtcpPort: relayPort, ssrc, payloadType: 96 });
      await waitFor(() => feedback.length > 0, "RTCP feedback at the relay");
      await sleep(300);
    } finally {
      relay.close();
    }
    expect(dropped).toHaveLength(6);
    const plis = feedback.filter((d) => d.length === 12 && d[0] === 0x81 && d[1] === 206);
    expect(plis.length).toBeGreaterThanOrEqual(1);
    expect(plis.length).toBe(feedback.length); // nothing else comes back
    for (const pli of plis) {
      expect(pli.readUInt16BE(2)).toBe(2);
      expect(pli.readUInt32BE(8)).toBe(ssrc);
    }
    const info = (await api(server.url, "GET", `/rtp/streams/${stream.id}`)).body!;
    expect(info.counters.lost).toBe(6);
    expect(info.counters.pli).toBe(plis.length);
    expect(info.feedbackTo).toBe(`127.0.0.1:${relayPort}`);
    // Frames after each loss were dropped until the next key frame (every 25 frames), then decoded again.
    expect(info.counters.frames.incomplete + info.counters.frames["waiting-keyframe"]).toBeGreaterThan(0);
    expect(info.counters.frames.decoded).toBeGreaterThanOrEqual(40);
    expect(info.waitingForKeyframe).toBe(false);
    expect(await metric("mesoguard_rtp_keyframe_requests_total", { type: "pli" })).toBeGreaterThanOrEqual(plis.length);
    await waitFor(() => scoresFor(observer, "lossy").some((s) => s.faces.length > 0), "scores despite the loss");
    await api(server.url, "DELETE", `/rtp/streams/${stream.id}`);
  });
});

describe("stream lifetime", () => {
  it("a stream without packets for rtpStreamTimeoutSeconds is removed, and its participant leaves", async () => {
    const observer = await joinClient(server.url, { room: "sfu-idle", role: "observer" });
    const stream = (await api(server.url, "POST", "/rtp/streams", { ssrc: 5, payloadType: 96, codec: "VP8", room: "sfu-idle", participantId: "quiet" })).body!;
    await waitFor(() => observer.events["participant-joined"].some((m) => m.participant.participantId === "quiet"), "participant-joined");
    await waitFor(() => observer.events["participant-left"].some((m) => m.participantId === "quiet"), "participant-left after the timeout", 12_000);
    expect((await api(server.url, "GET", `/rtp/streams/${stream.id}`)).status).toBe(404);
    expect(await metric("mesoguard_rtp_streams_closed_total", { reason: "timeout" })).toBeGreaterThanOrEqual(1);
  });

  it("a WebSocket participant taking the same id replaces the RTP participant and stops its stream", async () => {
    const stream = (await api(server.url, "POST", "/rtp/streams", { ssrc: 6, payloadType: 96, codec: "VP8", room: "sfu-swap", participantId: "carol" })).body!;
    await joinClient(server.url, { room: "sfu-swap", role: "participant", participantId: "carol" });
    await waitFor(async () => (await api(server.url, "GET", `/rtp/streams/${stream.id}`)).status === 404, "the stream removed");
    expect(await metric("mesoguard_rtp_streams_closed_total", { reason: "replaced" })).toBe(1);
    // The other way round: the id is taken by a WebSocket participant, so the registration is refused.
    const refused = await api(server.url, "POST", "/rtp/streams", { ssrc: 7, payloadType: 96, codec: "VP8", room: "sfu-swap", participantId: "carol" });
    expect(refused.status).toBe(409);
    expect(refused.body!.error).toMatch(/already in room/);
  });
});

describe("with a secret", () => {
  let secured: RunningServer;
  let keyless: RunningServer;
  beforeAll(async () => {
    [secured, keyless] = await Promise.all([
      startServer(["--rtp-port-min", "0", "--rtp-port-max", "0"], { MESOGUARD_SECRET: TEST_SECRET, MESOGUARD_RTP_API_KEY: TEST_API_KEY }),
      startServer(["--rtp-port-min", "0", "--rtp-port-max", "0"], { MESOGUARD_SECRET: TEST_SECRET }),
    ]);
  });

  it("the control API wants Authorization: Bearer <rtpApiKey>; the join-token secret does not open it", async () => {
    const body = { ssrc: 9, payloadType: 96, codec: "VP8", room: "sec", participantId: "dave" };
    const none = await api(secured.url, "POST", "/rtp/streams", body);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await api(secured.url, "GET", "/rtp/streams")).status).toBe(401);
    expect((await api(secured.url, "POST", "/rtp/streams", body, { authorization: "Bearer wrong-secret-0123456789" })).status).toBe(401);
    expect((await api(secured.url, "POST", "/rtp/streams", body, { authorization: `Bearer ${TEST_SECRET}` })).status).toBe(401);
    expect((await api(secured.url, "POST", "/rtp/streams", body, { authorization: `Basic ${TEST_API_KEY}` })).status).toBe(401);
    const auth = { authorization: `Bearer ${TEST_API_KEY}` };
    const created = await api(secured.url, "POST", "/rtp/streams", body, auth);
    expect(created.status).toBe(201);
    expect(created.body!.port).toBeGreaterThan(0);
    expect((await api(secured.url, "GET", "/rtp/streams", undefined, auth)).body!.streams).toHaveLength(1);
    expect((await api(secured.url, "DELETE", `/rtp/streams/${created.body!.id}`)).status).toBe(401);
    expect((await api(secured.url, "DELETE", `/rtp/streams/${created.body!.id}`, undefined, auth)).status).toBe(204);
    expect((await api(secured.url, "GET", "/healthz", undefined, auth)).body!.rtp).toMatchObject({ streams: 0, controlApi: "Authorization: Bearer <rtpApiKey>" });
  });

  it("a server with a secret and no rtpApiKey keeps the control API closed (403, saying which setting opens it)", async () => {
    const body = { ssrc: 10, payloadType: 96, codec: "VP8", room: "sec", participantId: "erin" };
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${TEST_SECRET}` }, { authorization: `Bearer ${TEST_API_KEY}` }]) {
      const refused = await api(keyless.url, "POST", "/rtp/streams", body, headers);
      expect(refused.status).toBe(403);
      expect(refused.body!.error).toMatch(/no rtpApiKey \(MESOGUARD_RTP_API_KEY\)/);
    }
    expect((await api(keyless.url, "GET", "/rtp/streams")).status).toBe(403);
  });

  it("/healthz without the key is minimal (status, devMode): no file paths, no provider errors; with it, everything", async () => {
    const open = await api(secured.url, "GET", "/healthz");
    expect(open.status).toBe(200);
    expect(open.body).toEqual({ status: "ok", devMode: false, details: "Authorization: Bearer <rtpApiKey>" });
    const wrong = await api(secured.url, "GET", "/healthz", undefined, { authorization: `Bearer ${TEST_SECRET}` });
    expect(Object.keys(wrong.body!).sort()).toEqual(["details", "devMode", "status"]);
    const full = await api(secured.url, "GET", "/healthz", undefined, { authorization: `Bearer ${TEST_API_KEY}` });
    expect(full.body).toMatchObject({ status: "ok", auth: "tokens", models: { mesonet: { loaded: true } } });
    expect(full.body!.models.mesonet.path).toMatch(/\.onnx$/);
    expect(Object.keys((await api(keyless.url, "GET", "/healthz")).body!).sort()).toEqual(["details", "devMode", "status"]);
    // The key is never logged.
    expect(JSON.stringify(secured.logs)).not.toContain(TEST_API_KEY);
  });

  it("refuses to start with an rtpApiKey equal to the secret, or shorter than 16 characters", () => {
    for (const key of [TEST_SECRET, "short-key"]) {
      const run = spawnSync(process.execPath, [BIN, "serve", "--port", "0"], {
        env: { ...process.env, MESOGUARD_SECRET: TEST_SECRET, MESOGUARD_RTP_API_KEY: key },
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.status, key).not.toBe(0);
      expect(run.stderr).toMatch(/RTP API key/);
    }
  });
});

describe("shutdown", () => {
  it("SIGTERM with a stream registered: the stream is closed (reason shutdown) and the server exits 0", async () => {
    const stream = (await api(server.url, "POST", "/rtp/streams", { ssrc: 8, payloadType: 96, codec: "H264", room: "sfu-bye", participantId: "erin" })).body!;
    expect(stream.port).toBeGreaterThan(0);
    expect(await server.stop("SIGTERM")).toBe(0);
    const removed = server.logs.find((l) => l.msg === "rtp stream removed" && l.stream === stream.id);
    expect(removed).toMatchObject({ reason: "shutdown", participant: "erin" });
    // Every participant left before the server said it stopped, the RTP one included (no socket closes it).
    const stopped = server.logs.findIndex((l) => l.msg === "stopped");
    expect(stopped).toBe(server.logs.length - 1);
    const left = server.logs.findIndex((l) => l.msg === "participant left" && l.participant === "erin");
    expect(left).toBeGreaterThan(-1);
    expect(left).toBeLessThan(stopped);
  });
});

// Running the server: /healthz and /metrics say what an operator needs, and SIGTERM drains (frames in flight
// are finished, clients get a final score and a 1001 close with a reason, nobody new gets in, exit code 0).
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  closeAllClients,
  dfCrops,
  getJson,
  getText,
  joinClient,
  makeClient,
  metricValue,
  rawClient,
  rawHttp,
  graceHopper,
  ROOT,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from "../helpers/server.js";

const PROVIDERS = ["tensorrt", "cuda", "cpu"];
const EXPECT_GPU = process.env.MESOGUARD_EXPECT_GPU === "1";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(["--participant-sees-verdict"]);
});
afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

describe("keep-alive", () => {
  it("keeps an idle connection past Node's 5 s default (65 s, advertised), so a client reusing it is not cut off", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reused: boolean; keepAlive: string | undefined }>((resolve, reject) => {
        const req = http.get(`${server.url}/healthz`, { agent }, (res) => {
          res.resume();
          const header = res.headers["keep-alive"];
          res.on("end", () => resolve({ status: res.statusCode!, reused: req.reusedSocket, keepAlive: Array.isArray(header) ? header.join(", ") : header }));
        });
        req.on("error", reject);
      });
    try {
      const first = await get();
      expect(first).toMatchObject({ status: 200, reused: false, keepAlive: "timeout=65" });
      await new Promise((resolve) => setTimeout(resolve, 6000));
      expect(await get()).toMatchObject({ status: 200, reused: true }); // the same connection, still open
    } finally {
      agent.destroy();
    }
  }, 20_000);
});

describe("/healthz", () => {
  it("reports the models loaded, the provider chosen and why, the queue and auth", async () => {
    const { status, body } = await getJson(`${server.url}/healthz`);
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
    expect(body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    expect(body.auth).toMatch(/^development/);
    expect(body.models.mesonet).toMatchObject({ name: "meso4-df", architecture: expect.any(String), loaded: true });
    expect(existsSync(body.models.mesonet.path)).toBe(true);
    expect(body.models.detector).toMatchObject({ name: "blazeface-back", loaded: true });
    expect(existsSync(body.models.detector.path)).toBe(true);
    expect(body.models.detector.inputSize).toBeGreaterThan(0);
    expect(body.provider.requested).toBe("auto");
    expect(PROVIDERS).toContain(body.provider.chosen);
    if (EXPECT_GPU) expect(body.provider.chosen).not.toBe("cpu");
    expect(Array.isArray(body.provider.why)).toBe(true);
    // One line per provider tried, the chosen one last, each with its reason.
    expect(body.provider.why.at(-1)).toMatch(new RegExp(`^${body.provider.chosen}: chosen \\(.+\\)$`, "s"));
    for (const line of body.provider.why.slice(0, -1)) expect(line).toMatch(/^(tensorrt|cuda|cpu): not chosen \(.+\)$/s);
    // Device batches: on the GPU only where a GPU provider runs MesoNet; otherwise off, and why.
    if (body.provider.chosen === "cpu") {
      expect(body.provider.deviceBatches).toMatchObject({ mode: "off", active: false, reason: expect.stringMatching(/CPU provider/) });
    } else {
      expect(body.provider.deviceBatches).toMatchObject({ mode: "cuda", active: true, canary: { tolerance: 1e-3 } });
    }
    expect(body.queue).toEqual({ depth: expect.any(Number), maxBatch: 8 });
    expect(body.queue.depth).toBeGreaterThanOrEqual(0);
    expect(body).toMatchObject({ rooms: 0, participants: 0, observers: 0 });
    // The listening log line says the same about the provider.
    const listening = server.logs.find((l) => l.msg === "listening")!;
    expect(listening.provider).toBe(body.provider.chosen);
    expect(listening.port).toBe(server.port);
  });

  it("counts rooms, participants and observers", async () => {
    const observer = await joinClient(server.url, { room: "ops", role: "observer" });
    const p = await joinClient(server.url, { room: "ops", role: "participant", participantId: "p" });
    expect((await getJson(`${server.url}/healthz`)).body).toMatchObject({ rooms: 1, participants: 1, observers: 1 });
    p.client.close();
    observer.client.close();
    await waitFor(async () => (await getJson(`${server.url}/healthz`)).body.rooms === 0, "the room gone");
  });

  it("an unknown path is a JSON 404, and so is a WebSocket upgrade anywhere but /ws", async () => {
    const res = await fetch(`${server.url}/no/such/path`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
    const { WebSocket } = await import("ws");
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/not-ws`);
    const status = await new Promise<number>((resolve) => {
      ws.once("unexpected-response", (_req, r) => resolve(r.statusCode ?? 0));
      ws.once("error", () => resolve(-1));
    });
    expect(status === 404 || status === -1).toBe(true);
  });
});

describe("/metrics", () => {
  it("every labelled counter is there from the start, at 0; the info metric names the models, provider and version", async () => {
    const { text } = await getText(`${server.url}/metrics`);
    for (const reason of ["superseded", "rate", "shutdown"]) expect(metricValue(text, "mesoguard_frames_dropped_total", { reason }), reason).toBe(0);
    for (const reason of ["malformed", "too-large", "decode", "failed", "not-participant"]) expect(metricValue(text, "mesoguard_frames_rejected_total", { reason }), reason).toBe(0);
    for (const reason of ["slow-consumer", "abuse", "unauthorized", "full", "shutdown", "join-timeout"]) {
      expect(metricValue(text, "mesoguard_connections_closed_total", { reason }), reason).toBeGreaterThanOrEqual(0);
    }
    for (const result of ["ok", "other-source", "duplicate", "late"]) expect(metricValue(text, "mesoguard_rtp_packets_total", { result }), result).toBe(0);
    for (const reason of ["deleted", "timeout", "replaced", "shutdown"]) expect(metricValue(text, "mesoguard_rtp_streams_closed_total", { reason }), reason).toBe(0);
    for (const stage of ["decode", "detect", "crop", "wait", "mesonet", "server_total"]) {
      expect(metricValue(text, "mesoguard_stage_seconds_count", { stage }), stage).toBe(0);
    }
    expect(metricValue(text, "mesoguard_state_transitions_total", { from: "gathering", to: "likely-fake" })).toBe(0);
    expect(metricValue(text, "mesoguard_faces_cut_total")).toBe(0);
    const version = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
    const health = (await getJson(`${server.url}/healthz`)).body;
    expect(metricValue(text, "mesoguard_info", { model: "meso4-df", detector: "blazeface-back", provider: health.provider.chosen, version })).toBe(1);
  });

  it("per-stage histograms (decode, detect, crop, wait, mesonet), participants per state and state transitions", async () => {
    const scene = await joinClient(server.url, { room: "stages", role: "participant", participantId: "scene" });
    const seq = scene.client.sendFrame({ kind: "jpeg", data: graceHopper() });
    await scene.client.next("score", (s) => s.lastFrame?.seq === seq && s.lastFrame.faces === 1, 20_000);
    const fake = await joinClient(server.url, { room: "stages", role: "participant", participantId: "fake", frameContent: "face-crop" });
    const crops = dfCrops();
    for (let i = 0; i < 10; i++) {
      const sent = fake.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] });
      await fake.client.next("score", (s) => s.lastFrame?.seq === sent, 20_000);
    }
    const last = fake.events.score.at(-1)!.participant.state;
    expect(["suspicious", "likely-fake"]).toContain(last);
    const { text } = await getText(`${server.url}/metrics`);
    for (const stage of ["decode", "detect", "crop"]) expect(metricValue(text, "mesoguard_stage_seconds_count", { stage }), stage).toBeGreaterThanOrEqual(1);
    for (const stage of ["wait", "mesonet"]) expect(metricValue(text, "mesoguard_stage_seconds_count", { stage }), stage).toBeGreaterThanOrEqual(11);
    expect(metricValue(text, "mesoguard_stage_seconds_sum", { stage: "mesonet" })).toBeGreaterThan(0);
    expect(metricValue(text, "mesoguard_participants_by_state", { state: last })).toBe(1);
    expect(metricValue(text, "mesoguard_participants_by_state", { state: "gathering" })).toBe(1); // the scene: one face so far
    expect(metricValue(text, "mesoguard_state_transitions_total", { from: "gathering", to: last })).toBe(1);
    scene.client.close();
    fake.client.close();
    await waitFor(async () => metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_participants_by_state", { state: last }) === 0, "the state gauge back to 0");
  });

  it("exposes frame counters, stage latency buckets, the queue depth and the participants gauge", async () => {
    const p = await joinClient(server.url, { room: "m", role: "participant", participantId: "p", frameContent: "face-crop" });
    const crops = dfCrops();
    for (let i = 0; i < 3; i++) {
      const seq = p.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] });
      await p.client.next("score", (s) => (s.lastFrame?.seq ?? 0) >= seq, 20_000);
    }
    const { status, text, contentType } = await getText(`${server.url}/metrics`);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain/);
    expect(metricValue(text, "mesoguard_frames_received_total")).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "mesoguard_frames_scored_total")).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "mesoguard_faces_scored_total")).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "mesoguard_participants")).toBe(1);
    expect(metricValue(text, "mesoguard_observers")).toBe(0);
    expect(metricValue(text, "mesoguard_rooms")).toBe(1);
    expect(metricValue(text, "mesoguard_queue_depth")).toBeGreaterThanOrEqual(0);
    // glibc's heap, in use and kept: the model and the frames live there, and it is part of the process's RSS.
    const nativeInUse = metricValue(text, "mesoguard_native_heap_bytes", { state: "in_use" })!;
    expect(nativeInUse).toBeGreaterThan(2 ** 20);
    expect(nativeInUse).toBeLessThan(metricValue(text, "mesoguard_process_resident_memory_bytes")! * 2);
    expect(metricValue(text, "mesoguard_native_heap_bytes", { state: "free" })).toBeGreaterThanOrEqual(0);
    expect(text).toMatch(/^# TYPE mesoguard_stage_seconds histogram$/m);
    expect(text).toMatch(/^# HELP mesoguard_frames_dropped_total /m);
    // Buckets: cumulative, ending in +Inf = count.
    const buckets = [...text.matchAll(/^mesoguard_stage_seconds_bucket\{le="([^"]+)",stage="server_total"\} (\S+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets.at(-1)![0]).toBe("+Inf");
    for (let i = 1; i < buckets.length; i++) expect(buckets[i][1]).toBeGreaterThanOrEqual(buckets[i - 1][1]);
    expect(buckets.at(-1)![1]).toBe(metricValue(text, "mesoguard_stage_seconds_count", { stage: "server_total" }));
    expect(buckets.at(-1)![1]).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, "mesoguard_stage_seconds_sum", { stage: "server_total" })).toBeGreaterThan(0);
    // Process metrics under the server's prefix.
    expect(text).toMatch(/^mesoguard_process_resident_memory_bytes \d+/m);

    p.client.close();
    await waitFor(async () => metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_participants") === 0, "the participants gauge back to 0");
  });
});

describe("HTTP edges", () => {
  it("/healthz and /metrics answer other methods than GET and HEAD with 405 and Allow", async () => {
    for (const path of ["/healthz", "/metrics"]) {
      for (const method of ["PUT", "DELETE", "TRACE", "POST", "PATCH"]) {
        const res = await rawHttp(server.url, path, method);
        expect(res.status, `${method} ${path}`).toBe(405);
        expect(res.headers.allow, `${method} ${path}`).toBe("GET, HEAD");
      }
      const head = await rawHttp(server.url, path, "HEAD");
      expect(head.status).toBe(200);
      expect(head.body).toBe("");
    }
  });

  it("malformed paths are a 400, never a 500 with a stack in the log, nor a crash", async () => {
    const logged = server.logs.length;
    const rtp = await rawHttp(server.url, "/rtp/streams/%E0%A4%A");
    expect(rtp.status).toBe(400);
    expect(JSON.parse(rtp.body).error).toMatch(/malformed/);
    // "//" and "//[" are no valid URL paths: new URL throws on them.
    for (const target of ["//", "//[", "http://"]) {
      expect((await rawHttp(server.url, target)).status, target).toBe(400);
      const upgrade = await rawHttp(server.url, target, "GET", { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" });
      expect(upgrade.status, `upgrade ${target}`).toBe(400);
    }
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200);
    expect(server.process.exitCode).toBeNull();
    const errors = server.logs.slice(logged).filter((l) => (l.level ?? 0) >= 50);
    expect(errors).toEqual([]);
  });

  it("source maps are not served (dist/web may still hold them from an older build)", async () => {
    expect((await rawHttp(server.url, "/dashboard.js")).status).toBe(200);
    for (const name of ["/dashboard.js.map", "/join.js.map", "/styles.css.map"]) expect((await rawHttp(server.url, name)).status, name).toBe(404);
  });
});

describe("SIGTERM", () => {
  it("drains: frames in flight are finished, clients get a final score and close 1001 with a reason, nobody new gets in, exit 0", async () => {
    const observer = await joinClient(server.url, { room: "drain", role: "observer" });
    const scene = await joinClient(server.url, { room: "drain", role: "participant", participantId: "scene" });
    const crop = await joinClient(server.url, { room: "drain", role: "participant", participantId: "crop", frameContent: "face-crop" });
    // An observer that never reads: its socket cannot finish the close handshake, so the server stays in its
    // draining phase for the ~2 s it gives such a peer; long enough to see new connections refused.
    const stuck = await rawClient(server.url);
    stuck.ws.send(JSON.stringify({ type: "join", room: "drain", role: "observer" }));
    await waitFor(() => stuck.messages.some((m) => m.type === "welcome"), "the stuck observer's welcome");
    (stuck.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const priorFrames = metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_frames_received_total")!;
    const photo = graceHopper();
    const crops = dfCrops();
    // Work the pipeline, then keep frames coming right up to the signal so some are in flight when it lands.
    const warmUp = crop.client.sendFrame({ kind: "jpeg", data: crops[0] });
    await crop.client.next("score", (s) => s.lastFrame?.seq === warmUp, 20_000);
    for (let i = 0; i < 10; i++) {
      scene.client.sendFrame({ kind: "jpeg", data: photo });
      crop.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] });
    }
    await waitFor(() => scene.events.score.length > 0, "the scene participant's first score");
    for (let i = 0; i < 5; i++) {
      scene.client.sendFrame({ kind: "jpeg", data: photo });
      crop.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] });
    }
    // Every frame has reached the server (so none is refused as "shutting-down") before the signal.
    await waitFor(async () => metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_frames_received_total")! >= 31 + priorFrames, "all frames received");
    const marks = { scene: scene.events.score.length, crop: crop.events.score.length, observer: observer.events.score.length };
    const scoredBefore = { scene: scene.events.score.at(-1)?.frames.scored ?? 0, crop: crop.events.score.at(-1)?.frames.scored ?? 0 };
    const exitCode = server.stop("SIGTERM");

    await waitFor(() => server.logs.some((l) => l.msg === "draining"), "the draining log line");
    // New connections are refused while it drains.
    const late = makeClient(server.url, { room: "drain", role: "observer" });
    const lateError = await late.client.connect().then(() => null, (e: Error) => e);
    expect(lateError, "a join during draining must fail").not.toBeNull();
    expect(late.client.welcome).toBeNull();
    const health = await fetch(`${server.url}/healthz`).then((r) => r.status, () => "refused");
    expect([503, "refused"]).toContain(health);
    expect(server.process.exitCode, "still draining when the late client was refused").toBeNull();

    expect(await exitCode).toBe(0);

    for (const [name, c] of [["scene", scene], ["crop", crop]] as const) {
      await waitFor(() => c.events.close.length > 0, `${name}'s close`);
      expect(c.events.close[0]).toEqual({ code: 1001, reason: "server shutting down (SIGTERM)" });
      // A final score after the signal, accounting for every frame sent: the one in flight was scored, the
      // one waiting dropped, none lost.
      const after = c.events.score.slice(marks[name]);
      expect(after.length, `${name}: a score after SIGTERM`).toBeGreaterThan(0);
      const final = after.at(-1)!.frames;
      expect(final.scored, `${name}: frames scored after the last score before SIGTERM`).toBeGreaterThan(scoredBefore[name]);
      expect(final.received).toBe(name === "scene" ? 15 : 16);
      expect(final.scored + final.droppedSuperseded + final.droppedRate + final.rejected).toBe(final.received);
    }
    await waitFor(() => observer.events.close.length > 0, "the observer's close");
    expect(observer.events.close[0]).toEqual({ code: 1001, reason: "server shutting down (SIGTERM)" });
    const observerAfter = observer.events.score.slice(marks.observer);
    expect(new Set(observerAfter.map((s) => s.participantId))).toEqual(new Set(["scene", "crop"]));

    const messages = server.logs.map((l) => l.msg);
    expect(messages).toContain("draining");
    expect(messages).toContain("stopped");
    expect(messages.indexOf("draining")).toBeLessThan(messages.indexOf("stopped"));
    expect(server.logs.find((l) => l.msg === "draining")!.reason).toBe("server shutting down (SIGTERM)");
    expect(server.logs.filter((l) => (l.level ?? 0) >= 50)).toEqual([]);
  });
});

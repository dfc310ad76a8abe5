// The server-side policy of issue 13 against the real server (`mesoguard serve` in a child process): participants
// get receipts, not verdicts, by default; a participant that pauses or goes silent is "paused" and stays flagged;
// every state change is a structured log line (the audit trail) and a signed webhook POST to real HTTP receivers
// in this test (one that fails the first attempts, one that never answers).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ReceiptMessage, ScoreMessage } from "../../src/protocol/protocolTypes.js";
import { verifyWebhook } from "../../src/server/webhooks.js";
import {
  closeAllClients,
  dfCrops,
  getText,
  joinClient,
  metricValue,
  pace,
  realCrop,
  sleep,
  startServer,
  stopAllServers,
  waitFor,
  type LogLine,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

const ROOM = "policy";
const WEBHOOK_SECRET = "webhook-secret-0123456789";
/** The receiver answers 503 to the first attempts of every event: the sender must retry. */
const FAILED_ATTEMPTS = 2;
const QUEUE_SIZE = 4;

interface Delivery {
  id: string;
  event: string;
  body: string;
  timestamp: string;
  signature: string;
  signatureValid: boolean;
  status: number;
}

/** A webhook receiver as a platform would write it: verifies the signature over "<timestamp>.<raw body>". */
function signatureValid(headers: IncomingHttpHeaders, body: string): boolean {
  const timestamp = String(headers["x-mesoguard-timestamp"] ?? "");
  const signature = String(headers["x-mesoguard-signature"] ?? "");
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = Buffer.from("sha256=" + createHmac("sha256", WEBHOOK_SECRET).update(`${timestamp}.${body}`).digest("hex"));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

let server: RunningServer;
let receiver: Server;
let dead: ReturnType<typeof createTcpServer>;
const deadSockets = new Set<Socket>();
const deliveries: Delivery[] = [];
let observer: TestClient;
let df: TestClient;
const receipts: ReceiptMessage[] = [];

const listen = (s: Server | ReturnType<typeof createTcpServer>) =>
  new Promise<number>((resolve) => s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port)));

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const id = String(req.headers["x-mesoguard-delivery"]);
      const attempt = deliveries.filter((d) => d.id === id).length;
      const status = attempt < FAILED_ATTEMPTS ? 503 : 204;
      deliveries.push({
        id,
        event: String(req.headers["x-mesoguard-event"]),
        body,
        timestamp: String(req.headers["x-mesoguard-timestamp"]),
        signature: String(req.headers["x-mesoguard-signature"]),
        signatureValid: req.method === "POST" && req.headers["content-type"] === "application/json" && signatureValid(req.headers, body),
        status,
      });
      res.writeHead(status).end();
    });
  });
  // A receiver that takes connections and never answers: its events wait, retry and overflow its queue.
  dead = createTcpServer((socket) => {
    deadSockets.add(socket);
    socket.on("close", () => deadSockets.delete(socket));
    socket.on("error", () => undefined);
  });
  const [goodPort, deadPort] = await Promise.all([listen(receiver), listen(dead)]);
  server = await startServer(
    [
      "--score-rate-hz", "5",
      "--webhooks-urls", `http://127.0.0.1:${goodPort}/hooks/mesoguard,http://127.0.0.1:${deadPort}/never`,
      "--webhooks-retries", "3",
      "--webhooks-backoff-ms", "20",
      "--webhooks-timeout-ms", "1500",
      "--webhooks-queue-size", String(QUEUE_SIZE),
    ],
    { MESOGUARD_WEBHOOKS_SECRET: WEBHOOK_SECRET },
  );
  observer = await joinClient(server.url, { room: ROOM, role: "observer" });
  df = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "df", name: "Deep Fake", frameContent: "face-crop" });
  df.client.on("receipt", (m) => receipts.push(m));
}, 90_000);

afterAll(async () => {
  stopDf?.();
  closeAllClients();
  await stopAllServers();
  for (const socket of deadSockets) socket.destroy();
  await Promise.all([new Promise((r) => receiver.close(r)), new Promise((r) => dead.close(r))]);
});

/** Stops df's frames (set while it publishes; the pause test stops it). */
let stopDf: (() => void) | undefined;

const latestFor = (client: TestClient, participantId: string): ScoreMessage | undefined =>
  client.events.score.filter((s) => s.participantId === participantId).at(-1);
const auditLines = (participant: string, msg = "verdict state changed"): LogLine[] =>
  server.logs.filter((l) => l.msg === msg && l.participant === participant);

describe("participants see receipts, not verdicts, by default", () => {
  it("a participant publishing deepfake crops turns flagged for the observer; its own socket gets no score", async () => {
    expect(df.client.welcome).toMatchObject({ role: "participant", participantSeesVerdict: false });
    expect(observer.client.welcome!.participantSeesVerdict).toBeUndefined();
    const crops = dfCrops();
    // df keeps sending until the next test pauses it: a gap longer than noFaceSeconds (a loaded machine between two
    // tests) would pause it by silence first, and the pause the next test checks would not be the one it sent.
    stopDf = pace(10, (i) => df.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] }));
    await waitFor(() => {
      const s = latestFor(observer, "df")?.participant.state;
      return s === "suspicious" || s === "likely-fake";
    }, "df flagged for the observer", 40_000);
    const p = latestFor(observer, "df")!.participant;
    expect(p.flag).toMatchObject({ state: p.state });
    expect(p.flag!.peak).toBeGreaterThanOrEqual(0.5);

    // The participant's socket: receipts only, with frame counts and nothing of the scores.
    expect(df.events.score).toEqual([]);
    expect(receipts.length).toBeGreaterThan(3);
    for (const r of receipts) {
      expect(Object.keys(r).sort()).toEqual(["at", "frames", "participantId", "paused", "room", "type"]);
      expect(Object.keys(r.frames).sort()).toEqual(["droppedRate", "droppedSuperseded", "fps", "received", "rejected", "scored"]);
    }
    await waitFor(() => (receipts.at(-1)?.frames.received ?? 0) >= 8, "a receipt counting the frames");
    expect(receipts.at(-1)!.paused).toBe(false);
  }, 60_000);
});

describe("paused is a state, and a flag survives it", () => {
  it("a flagged participant that pauses shows as paused with its last verdict, and stays flagged", async () => {
    stopDf?.(); // the pause follows the last frame well within noFaceSeconds (3 s): no silence pause first
    stopDf = undefined;
    await sleep(800); // the last frames' scores reach the observer: `before` is the state the pause keeps
    const before = latestFor(observer, "df")!.participant;
    df.client.pause("user");
    const paused = await waitFor(() => {
      const s = latestFor(observer, "df");
      return s?.participant.state === "paused" ? s : null;
    }, "df paused for the observer");
    expect(paused.participant.paused).toMatchObject({ reason: "user", lastState: before.state });
    expect(paused.participant.flag).toMatchObject({ state: expect.stringMatching(/^(suspicious|likely-fake)$/), since: before.flag!.since });
    await waitFor(() => receipts.at(-1)?.paused === true, "a receipt saying paused");

    // Past noFaceSeconds (3 s) it is still paused and flagged: a late observer sees both in room-state.
    await sleep(3500);
    const late = await joinClient(server.url, { room: ROOM, role: "observer" });
    const roomState = await waitFor(() => late.events["room-state"][0], "the late observer's room-state");
    const summary = roomState.participants.find((s) => s.participantId === "df")!;
    expect(summary).toMatchObject({ state: "paused", paused: { reason: "user" }, flag: { since: before.flag!.since } });
    late.client.close();
  }, 30_000);

  it("a participant that just stops sending is paused by the silence, with the time of its last frame", async () => {
    const quiet = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "quiet", frameContent: "face-crop" });
    const crop = realCrop();
    const stop = pace(10, () => quiet.client.sendFrame({ kind: "jpeg", data: crop }));
    await waitFor(() => latestFor(observer, "quiet")?.participant.state === "authentic", "quiet authentic", 30_000);
    stop();
    const lastSent = Date.now();
    const paused = await waitFor(() => {
      const s = latestFor(observer, "quiet");
      return s?.participant.state === "paused" ? s : null;
    }, "quiet paused by silence", 15_000);
    expect(paused.participant.paused).toMatchObject({ reason: "silence", lastState: "authentic" });
    expect(paused.participant.paused!.since).toBeLessThanOrEqual(lastSent + 500);
    expect(paused.participant.flag).toBeNull();
    // Never "no-face" on the way: its frames had faces until they stopped.
    expect(observer.events.score.some((s) => s.participantId === "quiet" && s.participant.state === "no-face" && s.frames.scored > 0)).toBe(false);
  }, 45_000);
});

describe("bad pause messages", () => {
  it("get a clear error and change nothing", async () => {
    const p = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "odd", frameContent: "face-crop" });
    p.client.sendRaw(JSON.stringify({ type: "pause", reason: "silence" }));
    p.client.sendRaw(JSON.stringify({ type: "pause", reason: 42 }));
    observer.client.sendRaw(JSON.stringify({ type: "pause", reason: "user" }));
    await waitFor(() => p.events.error.length === 2 && observer.events.error.length === 1, "the errors");
    expect(p.events.error.map((e) => [e.code, e.message])).toEqual([
      ["bad-message", "pause reason must be one of user, hidden, camera-muted, camera-ended"],
      ["bad-message", "pause reason must be one of user, hidden, camera-muted, camera-ended"],
    ]);
    expect(observer.events.error[0]).toMatchObject({ code: "not-participant", message: "only participants pause and resume" });
    expect(auditLines("odd", "participant paused")).toEqual([]);
    p.client.close();
  });
});

describe("audit trail and webhooks", () => {
  it("every state change is one structured log line: participant, room, from, to, aggregate, method, time", () => {
    const lines = auditLines("df");
    expect(lines.length).toBeGreaterThanOrEqual(3); // no-face -> gathering -> flagged -> paused at least
    let from = "no-face";
    for (const line of lines) {
      expect(line).toMatchObject({ audit: "verdict.state-changed", room: ROOM, participant: "df", name: "Deep Fake", from });
      expect(typeof line.to).toBe("string");
      expect(new Date(String(line.at)).toISOString()).toBe(line.at);
      expect(typeof line.time).toBe("number");
      expect(typeof line.id).toBe("string");
      expect("aggregate" in line).toBe(true);
      from = String(line.to);
    }
    const flagged = lines.find((l) => l.to === "suspicious" || l.to === "likely-fake")!;
    expect(flagged.aggregate as number).toBeGreaterThanOrEqual(0.5);
    expect(["mean", "confident-fake", "confident-real"]).toContain(flagged.method);
    expect(lines.at(-1)).toMatchObject({ to: "paused", paused: { reason: "user" }, flag: { state: expect.stringMatching(/suspicious|likely-fake/) } });
    expect(auditLines("df", "participant paused")).toHaveLength(1);
    expect(auditLines("df", "participant paused")[0]).toMatchObject({ audit: "participant.paused", reason: "user", state: "paused" });
    expect(auditLines("quiet").at(-1)).toMatchObject({ from: "authentic", to: "paused", paused: { reason: "silence" } });
  });

  it("each event reaches the receiver signed, after failed attempts were retried, once per id", async () => {
    const logged = [...auditLines("df"), ...auditLines("df", "participant paused"), ...auditLines("quiet")];
    const ids = logged.map((l) => String(l.id));
    await waitFor(() => ids.every((id) => deliveries.some((d) => d.id === id && d.status === 204)), "every logged event delivered", 30_000);
    for (const line of logged) {
      const attempts = deliveries.filter((d) => d.id === line.id);
      expect(attempts.map((d) => d.status)).toEqual([503, 503, 204]);
      expect(attempts.every((d) => d.signatureValid && d.body === attempts[0]!.body && d.event === line.audit)).toBe(true);
      const event = JSON.parse(attempts[0]!.body) as Record<string, unknown>;
      expect(event).toMatchObject({ id: line.id, type: line.audit, room: ROOM, participantId: line.participant, at: line.at });
      if (event.type === "verdict.state-changed") expect(event).toMatchObject({ from: line.from, to: line.to, aggregate: line.aggregate });
    }
    // The package's verifyWebhook agrees; a body altered in transit, another secret or an old timestamp do not verify.
    const one = deliveries.find((d) => d.status === 204)!;
    expect(verifyWebhook(WEBHOOK_SECRET, one.body, one.timestamp, one.signature)).toBe(true);
    expect(verifyWebhook(WEBHOOK_SECRET, one.body.replace(ROOM, "other"), one.timestamp, one.signature)).toBe(false);
    expect(verifyWebhook("another-secret-0123456789", one.body, one.timestamp, one.signature)).toBe(false);
    expect(verifyWebhook(WEBHOOK_SECRET, one.body, one.timestamp, one.signature, { nowSeconds: Number(one.timestamp) + 301 })).toBe(false);
    expect(signatureValid({ "x-mesoguard-timestamp": one.timestamp, "x-mesoguard-signature": "sha256=00" }, one.body)).toBe(false);
    const metrics = (await getText(`${server.url}/metrics`)).text;
    expect(metricValue(metrics, "mesoguard_webhook_events_total", { outcome: "sent" })).toBeGreaterThanOrEqual(ids.length);
    expect(metricValue(metrics, "mesoguard_webhook_retries_total")).toBeGreaterThanOrEqual(ids.length * FAILED_ATTEMPTS);
  }, 40_000);

  it("a receiver that never answers costs a bounded queue: the oldest events are dropped and counted", async () => {
    const droppedBefore = metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_webhook_events_total", { outcome: "dropped" })!;
    // A burst of pauses and resumes: two events each, more than a queue holds. Beyond the burst a participant may
    // make (10 changes) they are refused as rate-limited, and repeats change nothing.
    const errorsBefore = df.events.error.length;
    df.client.pause("hidden"); // already paused: nothing
    for (let i = 0; i < 5; i++) {
      df.client.resume();
      df.client.pause("hidden");
    }
    df.client.resume();
    await waitFor(() => df.events.error.length > errorsBefore, "a rate-limited pause");
    expect(df.events.error.slice(errorsBefore).map((e) => e.code)).toEqual(["rate-limited"]);
    await waitFor(() => auditLines("df", "participant resumed").length === 5, "the burst in the audit log");
    expect(auditLines("df", "participant paused")).toHaveLength(1 + 5);
    const lastResume = String(auditLines("df", "participant resumed").at(-1)!.id);
    // The live receiver gets the newest events (a full queue drops its oldest)...
    await waitFor(() => deliveries.some((d) => d.id === lastResume && d.status === 204), "the last resume delivered", 30_000);
    // ...and the dead one's queue overflowed: dropped events counted and logged with its URL, the server unharmed.
    const metrics = (await getText(`${server.url}/metrics`)).text;
    const dropped = metricValue(metrics, "mesoguard_webhook_events_total", { outcome: "dropped" })! - droppedBefore;
    expect(dropped).toBeGreaterThanOrEqual(20 - 2 * (QUEUE_SIZE + 1)); // the dead URL alone holds queue + one in flight
    const full = server.logs.filter((l) => l.msg === "webhook queue full: oldest event dropped");
    expect(full.some((l) => String(l.url).endsWith("/never"))).toBe(true);
    const health = await getText(`${server.url}/healthz`);
    expect(health.status).toBe(200);
  }, 60_000);
});

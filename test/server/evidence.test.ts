// The dashboard's evidence on a real server over real WebSockets and HTTP: a participant publishing the shared
// deepfake crops raises an alert, its face snapshots are kept (bounded) and served as JPEGs behind the observer's
// token, a later observer gets the history, an acknowledgement is seen by every observer with who and when, the
// incident bundle is a ZIP whose JSON and JPEGs check out, and an explanation is an occlusion map (rate-limited).
import { readFileSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { AlertMessage, ExplanationMessage, HistoryMessage, SnapshotsMessage } from "../../src/protocol/evidenceProtocol.js";
import {
  TEST_SECRET,
  closeAllClients,
  dfCrops,
  joinClient,
  mintWithCli,
  pace,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";
import { decodeJpeg } from "../helpers/jpeg.js";
import { readZip } from "../helpers/zip.js";

const ROOM = "evidence";
const SNAPSHOT_BYTES = 60_000;
let server: RunningServer;
let first: TestClient;
let fake: TestClient;
let stopSending: () => void;

const received = <T>(client: TestClient, type: string) => client.events.all.filter((m) => m.type === type) as T[];

beforeAll(async () => {
  server = await startServer(["--score-rate-hz", "5", "--snapshot-bytes-per-participant", String(SNAPSHOT_BYTES)]);
  first = await joinClient(server.url, { room: ROOM, role: "observer", participantId: "ops-ann", name: "Ann (ops)" });
  fake = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "fake", name: "Fake Fiona", frameContent: "face-crop" });
  const crops = dfCrops();
  stopSending = pace(6, (i) => fake.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length]! }));
}, 60_000);

afterAll(async () => {
  stopSending?.();
  closeAllClients();
  await stopAllServers();
});

describe("evidence for observers", () => {
  it("a deepfake participant raises an alert and its face snapshots are kept, bounded, and served as 256x256 JPEGs", async () => {
    const alert = await waitFor(() => received<AlertMessage>(first, "alert").find((a) => a.alert.participantId === "fake"), "an alert", 30_000);
    expect(["suspicious", "likely-fake"]).toContain(alert.alert.to);
    expect(alert.alert).toMatchObject({ participantId: "fake", name: "Fake Fiona" });
    expect(alert.alert.aggregate).toBeGreaterThan(0.5);

    const update = await waitFor(
      () => received<SnapshotsMessage>(first, "snapshots").filter((m) => m.participantId === "fake").find((m) => m.snapshots.length >= 2),
      "two snapshots", 30_000,
    );
    const kinds = update.snapshots.map((s) => s.kind);
    expect(kinds).toContain("suspicious");
    expect(kinds.filter((k) => k === "latest").length).toBeLessThanOrEqual(1);
    expect(kinds.filter((k) => k === "suspicious").length).toBeLessThanOrEqual(3);
    for (const s of update.snapshots) expect(s.faceId).toBe(1);
    const res = await fetch(`${server.url}/rooms/${ROOM}/participants/fake/snapshots/${update.snapshots[0]!.id}.jpg`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/jpeg");
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect(jpeg.length).toBe(update.snapshots[0]!.bytes);
    expect(decodeJpeg(jpeg)).toEqual({ width: 256, height: 256, rgbBytes: 256 * 256 * 3 });
    expect((await fetch(`${server.url}/rooms/${ROOM}/participants/fake/snapshots/999999.jpg`)).status).toBe(404);

    // The byte bound holds however long it streams: every update stays under it.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    for (const m of received<SnapshotsMessage>(first, "snapshots")) {
      expect(m.snapshots.reduce((sum, s) => sum + s.bytes, 0)).toBeLessThanOrEqual(SNAPSHOT_BYTES);
    }
  }, 60_000);

  it("a later observer gets the room's history; an acknowledgement reaches every observer with who and when", async () => {
    const second = await joinClient(server.url, { room: ROOM, role: "observer", participantId: "ops-bob" });
    const history = await waitFor(() => received<HistoryMessage>(second, "history")[0], "history");
    // It comes before the current scores, so charts start from the past.
    expect(second.events.all.findIndex((m) => m.type === "history")).toBeLessThan(second.events.all.findIndex((m) => m.type === "score"));
    const fiona = history.participants.find((p) => p.participantId === "fake")!;
    expect(fiona.points.length).toBeGreaterThanOrEqual(4);
    expect(fiona.points.at(-1)!.t).toBeLessThanOrEqual(history.serverNow);
    expect(fiona.points.some((p) => p.faces.some((f) => f.id === 1 && (f.latest ?? 0) > 0.5))).toBe(true);
    expect(fiona.states.map((s) => s.to)).toContain(history.alerts[0]!.to);
    expect(fiona.source).toEqual({ kind: "websocket", client: "other", userAgent: undefined });
    expect(fiona.snapshots.length).toBeGreaterThan(0);
    expect(history.minutes).toBe(15);

    const alertId = history.alerts[0]!.id;
    const before = Date.now();
    first.client.send({ type: "alert-action", alertId, action: "acknowledge" });
    const seen = await waitFor(() => received<AlertMessage>(second, "alert").find((m) => m.alert.id === alertId && m.alert.acknowledged), "the ack");
    expect(seen.alert.acknowledged!.by).toEqual({ id: "ops-ann", name: "Ann (ops)" });
    expect(seen.alert.acknowledged!.at).toBeGreaterThanOrEqual(before - 1000);
    second.client.send({ type: "alert-action", alertId, action: "dismiss" });
    const dismissed = await waitFor(() => received<AlertMessage>(first, "alert").find((m) => m.alert.id === alertId && m.alert.dismissed), "the dismissal");
    expect(dismissed.alert.dismissed!.by.id).toBe("ops-bob");
    expect(dismissed.alert.acknowledged!.by.id).toBe("ops-ann"); // the first action stays recorded
    // Dismissing the alert dismisses the participant's flag, named in the audit trail.
    await waitFor(() => server.logs.find((l) => l.audit === "flag.dismissed" && l.participant === "fake" && l.by === "ops-bob"), "the flag dismissed");
    second.client.send({ type: "alert-action", alertId: 424242, action: "dismiss" });
    await waitFor(() => second.events.error.find((e) => e.code === "not-found"), "not-found for an unknown alert");
    // Participants may not act on alerts.
    fake.client.send({ type: "alert-action", alertId, action: "dismiss" });
    await waitFor(() => fake.events.error.find((e) => e.code === "not-observer"), "not-observer");
  }, 30_000);

  it("exports an incident bundle: a ZIP with incident.json (timeline, states, alerts, model, thresholds, versions) and the JPEGs", async () => {
    const res = await fetch(`${server.url}/rooms/${ROOM}/participants/fake/incident.zip`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="incident-evidence-fake.zip"');
    const files = readZip(Buffer.from(await res.arrayBuffer()));
    const incident = JSON.parse(files.get("incident.json")!.data.toString("utf8")) as Record<string, any>;
    expect(incident).toMatchObject({ format: "mesoguard-incident", formatVersion: 1, room: ROOM, participant: { id: "fake", name: "Fake Fiona", present: true } });
    expect(incident.model).toMatchObject({ name: "meso4-df", detector: "blazeface-back" });
    expect(incident.thresholds).toMatchObject({ suspiciousAt: 0.5, likelyFakeAt: 0.75 });
    expect(incident.versions.mesoguard).toBe(JSON.parse(readFileSync("package.json", "utf8")).version);
    expect(incident.versions.onnxruntime).toMatch(/^\d+\.\d+/);
    expect(incident.timeline.length).toBeGreaterThan(4);
    expect(incident.alerts[0].acknowledged.by.id).toBe("ops-ann");
    expect(incident.states.length).toBeGreaterThan(0);
    expect(incident.snapshots.length).toBeGreaterThan(0);
    for (const s of incident.snapshots as Array<{ file: string; bytes: number; width: number }>) {
      const file = files.get(s.file)!;
      expect(file.method).toBe(0);
      expect(file.data.length).toBe(s.bytes);
      expect(decodeJpeg(file.data)).toEqual({ width: 256, height: 256, rgbBytes: 256 * 256 * 3 });
    }
    expect(files.size).toBe(1 + incident.snapshots.length);
    expect((await fetch(`${server.url}/rooms/${ROOM}/participants/nobody/incident.zip`)).status).toBe(404);
    expect((await fetch(`${server.url}/rooms/${ROOM}/participants/fake/incident.zip`, { method: "POST" })).status).toBe(405);
  }, 30_000);

  it("explains a face with an occlusion map of its most suspicious snapshot, one at a time and a few a minute", async () => {
    // The snapshots as they were when asked: the most suspicious of them is the one explained.
    const asked = received<SnapshotsMessage>(first, "snapshots").at(-1)!.snapshots;
    first.client.send({ type: "explain", requestId: "r1", participantId: "fake", faceId: 1 });
    first.client.send({ type: "explain", requestId: "r2", participantId: "fake", faceId: 1 });
    const explanation = await waitFor(() => received<ExplanationMessage>(first, "explanation").find((m) => m.requestId === "r1"), "the explanation", 60_000);
    expect(explanation.grid).toBe(8);
    expect(explanation.drops).toHaveLength(64);
    expect(explanation.baseFake).toBeGreaterThan(0.5);
    expect(explanation.drops.some((d) => d !== 0)).toBe(true);
    // (A snapshot kept while the request travelled can only be more suspicious still.)
    const top = Math.max(...asked.filter((s) => s.faceId === 1 && s.kind === "suspicious").map((s) => s.fake));
    const explained = received<SnapshotsMessage>(first, "snapshots").flatMap((m) => m.snapshots).find((s) => s.id === explanation.snapshotId)!;
    expect(explained).toMatchObject({ faceId: 1, kind: "suspicious" });
    expect(explained.fake).toBeGreaterThanOrEqual(top);
    expect(first.events.error.find((e) => e.requestId === "r2")?.code).toBe("rate-limited");
    first.client.send({ type: "explain", requestId: "r3", participantId: "fake", faceId: 99 });
    await waitFor(() => first.events.error.find((e) => e.requestId === "r3" && e.code === "not-found"), "not-found for an unknown face");
  }, 90_000);
});

describe("evidence behind tokens", () => {
  it("snapshots and bundles need an observer token of that room", async () => {
    const secure = await startServer([], { MESOGUARD_SECRET: TEST_SECRET });
    const observer = mintWithCli(TEST_SECRET, ["--room", "locked", "--role", "observer", "--participant", "ops-cy"]);
    const otherRoom = mintWithCli(TEST_SECRET, ["--room", "elsewhere", "--role", "observer"]);
    const participant = mintWithCli(TEST_SECRET, ["--room", "locked", "--role", "participant", "--participant", "p1"]);
    const p1 = await joinClient(secure.url, { token: participant, frameContent: "face-crop" });
    const watcher = await joinClient(secure.url, { token: observer });
    const crops = dfCrops();
    const stop = pace(6, (i) => p1.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length]! }));
    try {
      const update = await waitFor(() => received<SnapshotsMessage>(watcher, "snapshots").find((m) => m.snapshots.length > 0), "a snapshot", 30_000);
      const url = `${secure.url}/rooms/locked/participants/p1/snapshots/${update.snapshots[0]!.id}.jpg`;
      const status = async (headers: Record<string, string>) => (await fetch(url, { headers })).status;
      expect(await status({})).toBe(401);
      expect(await status({ authorization: "Bearer nonsense" })).toBe(401);
      expect(await status({ authorization: `Bearer ${participant}` })).toBe(403);
      expect(await status({ authorization: `Bearer ${otherRoom}` })).toBe(403);
      expect(await status({ authorization: `Bearer ${observer}` })).toBe(200);
      const bundle = await fetch(`${secure.url}/rooms/locked/participants/p1/incident.zip`, { headers: { authorization: `Bearer ${observer}` } });
      const incident = JSON.parse(readZip(Buffer.from(await bundle.arrayBuffer())).get("incident.json")!.data.toString("utf8"));
      expect(incident.exportedBy).toEqual({ id: "ops-cy" });
    } finally {
      stop();
      await secure.stop();
    }
  }, 60_000);
});

// Rooms on a real server: participants and observers in two rooms, streaming real images over real
// WebSockets. Scores reach only their own participant and the observers of its room; observers follow the
// room (room-state, participant-joined, participant-left); a deepfake face-crop stream becomes likely-fake
// while a real scene stream stays authentic; score messages are rate-limited; face tracks carry ids and boxes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ScoreMessage } from "../../src/protocol/protocolTypes.js";
import type { VerdictState } from "../../src/verdict/verdictTypes.js";
import {
  closeAllClients,
  dfCrops,
  graceHopper,
  joinClient,
  maxInWindow,
  pace,
  realCrop,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

const STATES: VerdictState[] = ["no-face", "gathering", "authentic", "suspicious", "likely-fake"];

let server: RunningServer;
// Room "a": observer, deepfake face-crop participant, real scene participant. Room "b": observer, participant.
let obsA: TestClient;
let obsB: TestClient;
let fake: TestClient;
let real: TestClient;
let b1: TestClient;
let streamStartedAt = 0;
let streamStoppedAt = 0;

beforeAll(async () => {
  server = await startServer(["--participant-sees-verdict", "--score-rate-hz", "5"]);
  obsA = await joinClient(server.url, { room: "a", role: "observer" });
  obsB = await joinClient(server.url, { room: "b", role: "observer" });
  fake = await joinClient(server.url, { room: "a", role: "participant", participantId: "fake", name: "Fake Fiona", frameContent: "face-crop" });
  real = await joinClient(server.url, { room: "a", role: "participant", participantId: "real", name: "Real Rita" });
  b1 = await joinClient(server.url, { room: "b", role: "participant", participantId: "b1", frameContent: "face-crop" });
});

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

const latestFor = (client: TestClient, participantId: string): ScoreMessage | undefined =>
  client.events.score.filter((s) => s.participantId === participantId).at(-1);

describe("rooms", () => {
  it("welcome tells each client its room, role, participant id, frame content and the limits", () => {
    expect(fake.client.welcome).toMatchObject({ type: "welcome", protocol: 1, room: "a", role: "participant", participantId: "fake", frameContent: "face-crop", devMode: true });
    expect(fake.client.welcome!.limits).toEqual({ maxMessageBytes: 4 * 1024 * 1024, maxFps: 30, scoreRateHz: 5 });
    expect(fake.client.welcome!.model).toMatchObject({ name: "meso4-df", detector: "blazeface-back" });
    expect(typeof fake.client.welcome!.model.provider).toBe("string");
    expect(real.client.welcome).toMatchObject({ room: "a", role: "participant", participantId: "real", frameContent: "scene" });
    expect(obsA.client.welcome).toMatchObject({ room: "a", role: "observer" });
    expect(obsA.client.welcome!.participantId).toBeUndefined();
  });

  it("an observer gets the room's state on joining, then participant-joined for its own room only", async () => {
    // Joined before anyone else: an empty room.
    expect(obsA.events["room-state"]).toEqual([{ type: "room-state", room: "a", participants: [] }]);
    expect(obsB.events["room-state"]).toEqual([{ type: "room-state", room: "b", participants: [] }]);
    await waitFor(() => obsA.events["participant-joined"].length >= 2 && obsB.events["participant-joined"].length >= 1, "participant-joined");
    const joinedA = obsA.events["participant-joined"];
    expect(joinedA.map((m) => [m.room, m.participant.participantId, m.participant.name])).toEqual([
      ["a", "fake", "Fake Fiona"],
      ["a", "real", "Real Rita"],
    ]);
    for (const m of joinedA) {
      expect(STATES).toContain(m.participant.state);
      expect(Math.abs(m.participant.joinedAt - Date.now())).toBeLessThan(60_000);
    }
    expect(obsB.events["participant-joined"].map((m) => [m.room, m.participant.participantId])).toEqual([["b", "b1"]]);
    // Participants are not told about each other.
    for (const p of [fake, real, b1]) {
      expect(p.events["participant-joined"]).toEqual([]);
      expect(p.events["room-state"]).toEqual([]);
    }
  });

  it("a deepfake face-crop stream becomes likely-fake while a real scene stream stays authentic", async () => {
    const crops = dfCrops();
    const photo = graceHopper();
    const realFace = realCrop();
    streamStartedAt = Date.now();
    const stops = [
      pace(10, (i) => fake.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] })),
      pace(5, () => real.client.sendFrame({ kind: "jpeg", data: photo })),
      pace(5, () => b1.client.sendFrame({ kind: "jpeg", data: realFace })),
    ];
    try {
      await waitFor(
        () =>
          latestFor(obsA, "fake")?.participant.state === "likely-fake" &&
          latestFor(obsA, "real")?.participant.state === "authentic" &&
          latestFor(fake, "fake")?.participant.state === "likely-fake" &&
          latestFor(real, "real")?.participant.state === "authentic" &&
          (latestFor(obsB, "b1")?.frames.scored ?? 0) >= 3,
        "fake likely-fake and real authentic, seen by the observer and by each participant",
        40_000,
      );
      // Keep streaming a little longer for the rate checks.
      await new Promise((resolve) => setTimeout(resolve, 1500));
    } finally {
      for (const stop of stops) stop();
      streamStoppedAt = Date.now();
    }

    const fakeScore = latestFor(obsA, "fake")!;
    expect(fakeScore.participant.aggregate!).toBeGreaterThan(0.75);
    expect(fakeScore.participant.samples).toBeGreaterThanOrEqual(8);
    expect(fakeScore.name).toBe("Fake Fiona");
    const realScore = latestFor(obsA, "real")!;
    expect(realScore.participant.aggregate!).toBeLessThan(0.5);
    expect(realScore.participant.samples).toBeGreaterThanOrEqual(8);
    // Each participant sees its own verdict, the same one the observer sees.
    expect(latestFor(fake, "fake")!.participant.state).toBe("likely-fake");
    expect(latestFor(real, "real")!.participant.state).toBe("authentic");
    // The states went through gathering to get there.
    expect(obsA.events.score.some((s) => s.participantId === "fake" && s.participant.state === "gathering")).toBe(true);
  });

  it("scores reach only their own participant and the observers of that room", () => {
    const ids = (c: TestClient) => new Set(c.events.score.map((s) => `${s.room}/${s.participantId}`));
    expect(ids(fake)).toEqual(new Set(["a/fake"]));
    expect(ids(real)).toEqual(new Set(["a/real"]));
    expect(ids(b1)).toEqual(new Set(["b/b1"]));
    expect(ids(obsA)).toEqual(new Set(["a/fake", "a/real"]));
    expect(ids(obsB)).toEqual(new Set(["b/b1"]));
    // The observer gets every push its participant gets (same messages, same order).
    const atsFor = (c: TestClient, id: string) => c.events.score.filter((s) => s.participantId === id).map((s) => s.at);
    expect(atsFor(obsA, "fake")).toEqual(atsFor(fake, "fake"));
    expect(atsFor(obsB, "b1")).toEqual(atsFor(b1, "b1"));
    // Nobody got an error.
    for (const c of [obsA, obsB, fake, real, b1]) expect(c.events.error).toEqual([]);
  });

  it("score messages go out at most scoreRateHz (5) times a second per participant, and do go out", () => {
    const streamSeconds = (streamStoppedAt - streamStartedAt) / 1000;
    for (const [client, id] of [[fake, "fake"], [real, "real"], [b1, "b1"], [obsA, "fake"], [obsA, "real"], [obsB, "b1"]] as const) {
      const ats = client.events.score.filter((s) => s.participantId === id).map((s) => s.at);
      expect(maxInWindow(ats, 1000), `${id} -> ${client.client.welcome!.role}`).toBeLessThanOrEqual(6);
      // And are not starved: frames arrive at 5-10 fps, so pushes come at close to the limit.
      expect(ats.length / streamSeconds, `${id} messages per second`).toBeGreaterThan(1.5);
    }
    // The 10 fps stream was scored more often than messages went out: pushes are capped, not per frame.
    const last = latestFor(fake, "fake")!;
    expect(last.frames.scored).toBeGreaterThan(fake.events.score.length);
  });

  it("face tracks carry an id and a box: detected boxes for scene frames, the whole crop for face-crop frames", () => {
    const realScore = latestFor(real, "real")!;
    expect(realScore.faces.length).toBeGreaterThanOrEqual(1);
    expect(realScore.lastFrame!.faces).toBe(1); // grace_hopper.jpg has one face
    for (const face of realScore.faces) {
      expect(Number.isInteger(face.id) && face.id >= 1).toBe(true);
      expect(face.box).not.toBeNull();
      const [x1, y1, x2, y2] = face.box!;
      // grace_hopper.jpg is 512x600; the face is in the upper middle.
      expect(0 <= x1 && x1 < x2 && x2 <= 512 && 0 <= y1 && y1 < y2 && y2 <= 600).toBe(true);
      expect(x2 - x1).toBeGreaterThan(50);
      expect(STATES).toContain(face.state);
      expect(face.samples).toBeGreaterThan(0);
    }
    // The tracker keeps one id for the one face over the whole stream.
    expect(new Set(real.events.score.flatMap((s) => s.faces.map((f) => f.id))).size).toBe(1);

    const fakeScore = latestFor(fake, "fake")!;
    expect(fakeScore.faces.map((f) => f.id)).toEqual([1]);
    const box = fakeScore.faces[0].box!;
    expect(box.slice(0, 2)).toEqual([0, 0]);
    expect(box[2]).toBeGreaterThan(32);
    expect(box[3]).toBeGreaterThan(32);
    expect(fakeScore.faces[0].state).toBe("likely-fake");
  });

  it("lastFrame and frame counts describe the stream", () => {
    for (const [c, id] of [[fake, "fake"], [real, "real"], [b1, "b1"]] as const) {
      const scores = c.events.score.filter((s) => s.lastFrame);
      const seqs = scores.map((s) => s.lastFrame!.seq);
      expect(seqs, id).toEqual([...seqs].sort((x, y) => x - y));
      const last = scores.at(-1)!;
      expect(last.lastFrame!.scoredAt).toBeGreaterThanOrEqual(last.lastFrame!.capturedAt - 1000);
      expect(last.lastFrame!.latencyMs).toBeGreaterThanOrEqual(0);
      expect(last.lastFrame!.latencyMs).toBeLessThan(10_000);
      const f = last.frames;
      expect(f.received).toBeGreaterThanOrEqual(f.scored);
      expect(f.rejected).toBe(0);
      expect(f.droppedRate).toBe(0); // 5-10 fps is under the default maxFps 30
      expect(f.fps).toBeGreaterThan(0);
    }
  });

  it("an observer joining later gets the room's participants with their states, then each one's latest score", async () => {
    const late = await joinClient(server.url, { room: "a", role: "observer" });
    await waitFor(() => late.events.score.length >= 2, "the late observer's initial scores");
    const [state] = late.events["room-state"];
    expect(state.room).toBe("a");
    const byId = Object.fromEntries(state.participants.map((p) => [p.participantId, p]));
    expect(Object.keys(byId).sort()).toEqual(["fake", "real"]);
    expect(byId.fake).toMatchObject({ name: "Fake Fiona", state: "likely-fake" });
    expect(byId.real).toMatchObject({ name: "Real Rita", state: "authentic" });
    // room-state came first, then the scores.
    expect(late.events.all[0].type).toBe("room-state");
    expect(new Set(late.events.score.map((s) => s.participantId))).toEqual(new Set(["fake", "real"]));
    late.client.close();
  });

  it("a participant leaving is announced to its room's observers only", async () => {
    b1.client.close();
    await waitFor(() => obsB.events["participant-left"].length >= 1, "participant-left in room b");
    expect(obsB.events["participant-left"]).toEqual([{ type: "participant-left", room: "b", participantId: "b1" }]);
    real.client.close();
    await waitFor(() => obsA.events["participant-left"].length >= 1, "participant-left in room a");
    expect(obsA.events["participant-left"]).toEqual([{ type: "participant-left", room: "a", participantId: "real" }]);
    expect(obsB.events["participant-left"]).toHaveLength(1);
    expect(fake.events["participant-left"]).toEqual([]);
  });

  it("the same participant id joining again replaces the old connection (closed 1008); observers see it leave and rejoin", async () => {
    const leftBefore = obsA.events["participant-left"].length;
    const joinedBefore = obsA.events["participant-joined"].length;
    const again = await joinClient(server.url, { room: "a", role: "participant", participantId: "fake", frameContent: "face-crop" });
    await waitFor(() => fake.events.close.length > 0, "the old connection's close");
    expect(fake.events.close[0]).toEqual({ code: 1008, reason: "replaced by a newer connection" });
    await waitFor(() => obsA.events["participant-joined"].length > joinedBefore, "participant-joined for the new connection");
    expect(obsA.events["participant-left"].slice(leftBefore)).toEqual([{ type: "participant-left", room: "a", participantId: "fake" }]);
    // A fresh session: its verdict starts over.
    const joined = obsA.events["participant-joined"].at(-1)!;
    expect(joined.participant.participantId).toBe("fake");
    again.client.sendFrame({ kind: "jpeg", data: dfCrops()[0] });
    const score = await again.client.next("score");
    expect(score.frames.received).toBe(1);
    expect(score.participant.state).toBe("gathering");
  });
});

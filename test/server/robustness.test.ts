// Misbehaving clients on a real server: each bad message gets a precise error and costs the sender at most
// its own connection; the other participants keep being scored and the process keeps serving.
// One server, small limits: 64 KiB messages, 5 errors a minute, 2 participants a room, 1 room.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { encodeFrame } from "../../src/protocol/binaryFrame.js";
import {
  closeAllClients,
  dfCrops,
  getJson,
  graceHopper,
  joinClient,
  makeClient,
  pace,
  rawClient,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

const MAX_MESSAGE_BYTES = 65536;
const MAX_ERRORS = 5;

let server: RunningServer;
const crop = dfCrops()[0];

beforeAll(async () => {
  server = await startServer([
    "--participant-sees-verdict",
    "--max-message-bytes", String(MAX_MESSAGE_BYTES),
    "--max-errors-per-minute", String(MAX_ERRORS),
    "--max-participants-per-room", "2",
    "--max-rooms", "1",
  ]);
});

// Every test starts from an empty server: the room limit is 1, so the last test's room must be gone.
afterEach(async () => {
  closeAllClients();
  await waitFor(async () => {
    const { body } = await getJson(`${server.url}/healthz`);
    return body.rooms === 0 && body.participants === 0 && body.observers === 0;
  }, "an empty server after the test");
});

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

const participant = (id: string, frameContent: "scene" | "face-crop" = "face-crop") =>
  joinClient(server.url, { room: "main", role: "participant", participantId: id, frameContent });

/** A participant streaming df crops at 5 fps; returns it and a stop(). */
async function bystander(): Promise<{ c: TestClient; stop: () => void }> {
  const c = await participant("bystander");
  const stop = pace(5, () => c.client.sendFrame({ kind: "jpeg", data: crop }));
  return { c, stop };
}

/** Sends a good frame and resolves with the first score whose lastFrame is that frame. */
async function scoredAfter(c: TestClient, data: Uint8Array = crop) {
  const seq = c.client.sendFrame({ kind: "jpeg", data });
  const score = await c.client.next("score", (s) => (s.lastFrame?.seq ?? 0) >= seq, 20_000);
  expect(score.lastFrame!.seq).toBe(seq);
  return score;
}

/** The bystander is scored again after `since` (its count of scored frames grows). */
async function stillScored(b: TestClient): Promise<void> {
  const before = b.events.score.at(-1)?.frames.scored ?? 0;
  await waitFor(() => (b.events.score.at(-1)?.frames.scored ?? 0) > before, "the bystander's next scored frame");
  expect(b.events.error).toEqual([]);
  expect(b.events.close).toEqual([]);
}

describe("bad frames", () => {
  it("a malformed binary frame is a bad-frame error; the connection stays and its next frame is scored; others carry on", async () => {
    const { c: other, stop } = await bystander();
    try {
      const victim = await participant("victim");
      const good = encodeFrame({ kind: "jpeg", seq: 1, capturedAt: Date.now(), width: 0, height: 0, payload: crop });
      const badVersion = Uint8Array.from(good);
      badVersion[4] = 9;
      const noSize = encodeFrame({ kind: "rgb", seq: 2, capturedAt: Date.now(), width: 0, height: 0, payload: crop });
      victim.client.sendRaw(Uint8Array.from({ length: 100 }, (_, i) => (i * 7) & 255));
      victim.client.sendRaw(badVersion);
      victim.client.sendRaw(noSize);
      await waitFor(() => victim.events.error.length >= 3, "three bad-frame errors");
      expect(victim.events.error.map((e) => e.code)).toEqual(["bad-frame", "bad-frame", "bad-frame"]);
      expect(victim.events.error[0].message).toMatch(/MGF1/);
      expect(victim.events.error[1].message).toMatch(/version 9/);
      expect(victim.events.error[2].message).toMatch(/rgb frames need width and height/);
      const score = await scoredAfter(victim);
      expect(score.frames.scored).toBe(1);
      expect(victim.events.close).toEqual([]);
      await stillScored(other);
    } finally {
      stop();
    }
  });

  it("an undecodable image is an error naming the frame's seq; the connection stays", async () => {
    const { c: other, stop } = await bystander();
    try {
      // A scene participant: the server reads the frame's size before detecting faces.
      const scene = await participant("scene", "scene");
      // One at a time: a frame sent while another is in flight waits, and a newer one would supersede it.
      const errorFor = async (frame: Parameters<typeof scene.client.sendFrame>[0]) => {
        const seq = scene.client.sendFrame(frame);
        const error = await scene.client.next("error", (e) => e.seq === seq, 20_000);
        expect(error.code).toBe("bad-frame");
        expect(error.message).toMatch(new RegExp(`^frame ${seq}: `));
        return error;
      };
      expect((await errorFor({ kind: "jpeg", data: Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 255) })).message).toMatch(/jpeg/);
      await errorFor({ kind: "jpeg", data: graceHopper().subarray(0, 2000) }); // truncated
      expect((await errorFor({ kind: "rgb", width: 64, height: 64, data: new Uint8Array(100) })).message).toMatch(/12288 bytes/);
      // A uint32-max stride is the frame's fault too (it was frame-failed once).
      const strided = { kind: "rgb", width: 64, height: 64, data: new Uint8Array(64 * 64 * 3), strides: [0xffffffff, 0, 0] } as const;
      expect((await errorFor({ ...strided, strides: [...strided.strides] })).message).toMatch(/stride/);
      const score = await scoredAfter(scene, graceHopper());
      expect(score.frames.rejected).toBe(4);
      expect(score.lastFrame!.faces).toBe(1);

      // A face-crop participant: the JPEG goes straight to the scorer (the room holds two participants).
      scene.client.close();
      await waitFor(async () => (await getJson(`${server.url}/healthz`)).body.participants === 1, "the scene participant gone");
      const victim = await participant("victim");
      const seq = victim.client.sendFrame({ kind: "jpeg", data: Uint8Array.from({ length: 3000 }, (_, i) => (i * 31) & 255) });
      const error = await victim.client.next("error");
      expect(error).toMatchObject({ code: "bad-frame", seq });
      expect((await scoredAfter(victim)).frames).toMatchObject({ scored: 1, rejected: 1 });
      await stillScored(other);
    } finally {
      stop();
    }
  });
});

describe("bad messages", () => {
  it("text that is not a JSON message is bad-message; binary before join is not-joined; the connection can still join", async () => {
    const raw = await rawClient(server.url);
    raw.ws.send("hello");
    raw.ws.send("{}");
    raw.ws.send(JSON.stringify({ type: "dance" }));
    raw.ws.send(encodeFrame({ kind: "jpeg", seq: 1, capturedAt: Date.now(), width: 0, height: 0, payload: crop }));
    await waitFor(() => raw.messages.length >= 4, "four errors");
    expect(raw.messages.map((m) => [m.type, m.code])).toEqual([
      ["error", "bad-message"],
      ["error", "bad-message"],
      ["error", "bad-message"],
      ["error", "not-joined"],
    ]);
    expect(raw.messages[2].message).toMatch(/dance/);
    raw.ws.send(JSON.stringify({ type: "join", room: "main", role: "participant", participantId: "late" }));
    await waitFor(() => raw.messages.some((m) => m.type === "welcome"), "welcome");
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);
  });

  it("an observer sending frames gets not-participant, joining twice gets already-joined; it stays connected", async () => {
    const observer = await joinClient(server.url, { room: "main", role: "observer" });
    observer.client.sendFrame({ kind: "jpeg", data: crop });
    observer.client.sendRaw(JSON.stringify({ type: "join", room: "main", role: "observer" }));
    await waitFor(() => observer.events.error.length >= 2, "two errors");
    expect(observer.events.error.map((e) => e.code)).toEqual(["not-participant", "already-joined"]);
    // Still an observer of the room: it sees a participant's scores.
    const p = await participant("p");
    await scoredAfter(p);
    await waitFor(() => observer.events.score.some((s) => s.participantId === "p"), "the observer's score");
    expect(observer.events.close).toEqual([]);
  });

  it(`a message over maxMessageBytes is too-large and the connection stays; over 4x it is closed (1009); others carry on`, async () => {
    const { c: other, stop } = await bystander();
    try {
      const victim = await participant("victim");
      victim.client.sendFrame({ kind: "jpeg", data: new Uint8Array(100 * 1024) });
      const error = await victim.client.next("error");
      expect(error.code).toBe("too-large");
      expect(error.message).toMatch(new RegExp(`${100 * 1024 + 36} bytes exceeds maxMessageBytes ${MAX_MESSAGE_BYTES}`));
      victim.client.sendRaw("x".repeat(MAX_MESSAGE_BYTES + 1));
      expect((await victim.client.next("error")).code).toBe("too-large");
      await scoredAfter(victim);

      victim.client.sendFrame({ kind: "jpeg", data: new Uint8Array(4 * MAX_MESSAGE_BYTES + 1) });
      await waitFor(() => victim.events.close.length > 0, "the close");
      expect(victim.events.close[0].code).toBe(1009);
      await stillScored(other);
      await waitFor(async () => (await getJson(`${server.url}/healthz`)).body.participants === 1, "the victim's session removed");
    } finally {
      stop();
    }
  });

  it(`more than maxErrorsPerMinute (${MAX_ERRORS}) errors close the connection with 4008; others carry on`, async () => {
    const { c: other, stop } = await bystander();
    try {
      const raw = await rawClient(server.url);
      raw.ws.send(JSON.stringify({ type: "join", room: "main", role: "participant", participantId: "noisy" }));
      await waitFor(() => raw.messages.some((m) => m.type === "welcome"), "welcome");
      for (let i = 0; i < MAX_ERRORS; i++) raw.ws.send(new Uint8Array(10)); // each a bad-frame
      await waitFor(() => raw.messages.filter((m) => m.type === "error").length >= MAX_ERRORS, `${MAX_ERRORS} errors`);
      expect(raw.ws.readyState).toBe(raw.ws.OPEN); // at the limit, not over it
      raw.ws.send("one too many");
      const closed = await raw.closed;
      expect(closed).toEqual({ code: 4008, reason: "too many protocol errors" });
      expect(raw.messages.filter((m) => m.type === "error").map((m) => m.code)).toEqual([...Array(MAX_ERRORS).fill("bad-frame"), "bad-message"]);
      await stillScored(other);
    } finally {
      stop();
    }
  });
});

describe("capacity", () => {
  it("a third participant in a room of maxParticipantsPerRoom 2 gets room-full and close 4003; observers still fit", async () => {
    await participant("one");
    await participant("two");
    const third = makeClient(server.url, { room: "main", role: "participant", participantId: "three" });
    const error = await third.client.connect().then(() => null, (e: Error & { code?: string }) => e);
    expect(error?.code).toBe("room-full");
    expect(error!.message).toMatch(/2 participants/);
    await waitFor(() => third.events.close.length > 0, "the close");
    expect(third.events.close[0]).toEqual({ code: 4003, reason: "room-full" });
    const observer = await joinClient(server.url, { room: "main", role: "observer" });
    await waitFor(() => observer.events["room-state"].length > 0, "room-state");
    expect(observer.events["room-state"][0].participants.map((p) => p.participantId).sort()).toEqual(["one", "two"]);
  });

  it("a participant reconnecting to a full room replaces its older connection instead of getting room-full", async () => {
    await participant("one");
    const old = await participant("two");
    const again = await participant("two");
    await waitFor(() => old.events.close.length > 0, "the older connection's close");
    expect(old.events.close[0]).toEqual({ code: 1008, reason: "replaced by a newer connection" });
    await scoredAfter(again);
    expect((await getJson(`${server.url}/healthz`)).body.participants).toBe(2);
  });

  it("a new room beyond maxRooms 1 gets server-full and close 4003; the existing room works on", async () => {
    const p = await participant("one");
    for (const role of ["participant", "observer"] as const) {
      const other = makeClient(server.url, { room: "elsewhere", role, participantId: "x" });
      const error = await other.client.connect().then(() => null, (e: Error & { code?: string }) => e);
      expect(error?.code).toBe("server-full");
      await waitFor(() => other.events.close.length > 0, "the close");
      expect(other.events.close[0]).toEqual({ code: 4003, reason: "server-full" });
    }
    await scoredAfter(p);
    expect((await getJson(`${server.url}/healthz`)).body.rooms).toBe(1);
  });

  it("after all that the process is alive and /healthz is ok", async () => {
    expect(server.process.exitCode).toBeNull();
    expect(server.process.signalCode).toBeNull();
    const { status, body } = await getJson(`${server.url}/healthz`);
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
    expect(server.logs.filter((l) => (l.level ?? 0) >= 50)).toEqual([]); // no error/fatal log lines
  });
});

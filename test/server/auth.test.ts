// Joining with tokens on a real server started with MESOGUARD_SECRET, tokens minted by the `mesoguard token`
// command; and the same server without a secret, in development mode, saying so loudly.
import { createHmac } from "node:crypto";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { mintToken } from "../../src/auth/tokens.js";
import {
  API_KEY_AUTH,
  TEST_API_KEY,
  TEST_SECRET,
  closeAllClients,
  dfCrops,
  getJson,
  joinClient,
  makeClient,
  mintWithCli,
  rawSocket,
  closeOf,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

/** Joins with `options` and expects error "unauthorized" then close 4001. */
async function expectUnauthorized(url: string, options: Parameters<typeof makeClient>[1]): Promise<TestClient> {
  const c = makeClient(url, options);
  const error = await c.client.connect().then(
    () => null,
    (e: Error & { code?: string }) => e,
  );
  expect(error, "connect() should reject").not.toBeNull();
  expect(error!.code).toBe("unauthorized");
  await waitFor(() => c.events.close.length > 0, "the close after unauthorized");
  expect(c.events.close[0].code).toBe(4001);
  expect(c.events.close[0].reason).toBe("unauthorized");
  expect(c.events.error).toHaveLength(1);
  expect(c.events.error[0]).toMatchObject({ type: "error", code: "unauthorized" });
  return c;
}

describe("with MESOGUARD_SECRET set", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(["--participant-sees-verdict"], { MESOGUARD_SECRET: TEST_SECRET, MESOGUARD_RTP_API_KEY: TEST_API_KEY });
  });

  it("/healthz says tokens, and the server logs no development-mode warning", async () => {
    const { status, body } = await getJson(`${server.url}/healthz`);
    expect(status).toBe(200);
    expect(body.devMode).toBe(false); // the details need the RTP API key (test/sfu/ingest.test.ts)
    expect(server.logs.find((l) => l.msg === "listening")!.auth).toBe("tokens");
    expect(server.logs.some((l) => /DEVELOPMENT MODE/.test(String(l.msg)))).toBe(false);
    expect(server.stderr()).not.toMatch(/DEVELOPMENT MODE/);
    // The secret is never logged.
    expect(JSON.stringify(server.logs)).not.toContain(TEST_SECRET);
    expect(server.logs.find((l) => l.msg === "configuration")!.config).toMatchObject({ secret: "******** (env)" });
  });

  it("a join without a token is refused: unauthorized, close 4001", async () => {
    const c = await expectUnauthorized(server.url, { room: "r1", role: "participant", participantId: "alice" });
    expect(c.events.error[0].message).toMatch(/token/);
    await expectUnauthorized(server.url, { room: "r1", role: "observer" });
  });

  it("a malformed token, a forged one and one signed with another secret are refused", async () => {
    await expectUnauthorized(server.url, { token: "not-a-token" });
    const good = mintToken(TEST_SECRET, { room: "r1", role: "observer", exp: inAnHour() });
    const [, signature] = good.split(".");
    const forgedBody = Buffer.from(JSON.stringify({ room: "r2", role: "observer", exp: inAnHour() })).toString("base64url");
    await expectUnauthorized(server.url, { token: `${forgedBody}.${signature}` });
    await expectUnauthorized(server.url, { token: mintToken("some-other-secret-123456", { room: "r1", role: "observer", exp: inAnHour() }) });
  });

  it("an expired token is refused", async () => {
    const expired = mintToken(TEST_SECRET, { room: "r1", role: "participant", participantId: "alice", exp: Math.floor(Date.now() / 1000) - 5 });
    const c = await expectUnauthorized(server.url, { token: expired });
    expect(c.events.error[0].message).toMatch(/expired/);
  });

  it("a correctly signed token with exp 1e309 (Infinity) is refused, not taken as one that never expires", async () => {
    const body = Buffer.from('{"room":"r1","role":"observer","exp":1e309}').toString("base64url");
    const token = `${body}.${createHmac("sha256", TEST_SECRET).update(body).digest("base64url")}`;
    const c = await expectUnauthorized(server.url, { token });
    expect(c.events.error[0].message).toMatch(/finite/);
  });

  it("a valid token with join fields that do not match it (another room, role or id) is refused", async () => {
    const token = mintWithCli(TEST_SECRET, ["--room", "r1", "--role", "participant", "--participant", "alice"]);
    const c = await expectUnauthorized(server.url, { token, room: "r2" });
    expect(c.events.error[0].message).toMatch(/do not match/);
    await expectUnauthorized(server.url, { token, role: "observer" });
    await expectUnauthorized(server.url, { token, participantId: "mallory" });
    const observerToken = mintWithCli(TEST_SECRET, ["--room", "r1", "--role", "observer"]);
    await expectUnauthorized(server.url, { token: observerToken, room: "other-room" });
  });

  it("a valid participant token and a valid observer token from `mesoguard token` work", async () => {
    const participantToken = mintWithCli(TEST_SECRET, ["--room", "standup", "--role", "participant", "--participant", "alice", "--ttl", "60"]);
    const observerToken = mintWithCli(TEST_SECRET, ["--room", "standup", "--role", "observer"]);
    const observer = await joinClient(server.url, { token: observerToken });
    expect(observer.client.welcome).toMatchObject({ room: "standup", role: "observer", devMode: false });
    // The token's fields may be repeated in the join as long as they agree.
    const alice = await joinClient(server.url, { token: participantToken, room: "standup", role: "participant", participantId: "alice", frameContent: "face-crop" });
    expect(alice.client.welcome).toMatchObject({ room: "standup", role: "participant", participantId: "alice", devMode: false });
    await waitFor(() => observer.events["participant-joined"].length > 0, "participant-joined");
    expect(observer.events["participant-joined"][0].participant.participantId).toBe("alice");
    alice.client.sendFrame({ kind: "jpeg", data: dfCrops()[0] });
    await waitFor(() => alice.events.score.length > 0 && observer.events.score.length > 0, "scores with token auth");
    expect(alice.events.score[0]).toMatchObject({ room: "standup", participantId: "alice" });
    expect(observer.events.score[0]).toMatchObject({ room: "standup", participantId: "alice" });
    expect((await getJson(`${server.url}/healthz`, API_KEY_AUTH)).body).toMatchObject({ participants: 1, observers: 1 });
    alice.client.close();
    observer.client.close();
  });

  it("a refused join leaves nothing behind, and a raw client sending garbage as its join is not let in", async () => {
    const ws = await rawSocket(server.url);
    const closed = closeOf(ws);
    ws.send(JSON.stringify({ type: "join", room: "r1", role: "observer", token: 42 }));
    expect((await closed).code).toBe(4001);
    await waitFor(async () => (await getJson(`${server.url}/healthz`, API_KEY_AUTH)).body.observers === 0, "no observers");
    const { body } = await getJson(`${server.url}/healthz`, API_KEY_AUTH);
    expect(body).toMatchObject({ rooms: 0, participants: 0, observers: 0 });
  });
});

describe("without a secret (development mode)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });

  it("/healthz says development, the log has a warning and stderr a banner", async () => {
    const { body } = await getJson(`${server.url}/healthz`);
    expect(body.auth).toMatch(/^development/);
    expect(server.logs.find((l) => l.msg === "listening")!.auth).toMatch(/^development/);
    const warning = server.logs.find((l) => l.level === 40 && /DEVELOPMENT MODE/.test(String(l.msg)));
    expect(warning, "a warn-level log line about development mode").toBeDefined();
    expect(warning!.msg).toMatch(/MESOGUARD_SECRET/);
    expect(server.stderr()).toMatch(/DEVELOPMENT MODE/);
  });

  it("joins need no token; welcome says devMode", async () => {
    const c = await joinClient(server.url, { room: "open", role: "participant", participantId: "bob" });
    expect(c.client.welcome).toMatchObject({ room: "open", role: "participant", participantId: "bob", devMode: true });
    c.client.close();
  });

  it("a join with a bad room, role or participant id is a bad-message (the connection may try again)", async () => {
    const ws = await rawSocket(server.url);
    const messages: Array<Record<string, unknown>> = [];
    ws.on("message", (data) => messages.push(JSON.parse(String(data))));
    for (const join of [
      { type: "join", room: "bad room", role: "observer" },
      { type: "join", room: "r", role: "admin" },
      { type: "join", room: "r", role: "participant" },
      { type: "join", room: "r", role: "participant", participantId: "x".repeat(65) },
    ]) {
      ws.send(JSON.stringify(join));
    }
    await waitFor(() => messages.length >= 4, "four errors");
    expect(messages.map((m) => [m.type, m.code])).toEqual(Array(4).fill(["error", "bad-message"]));
    ws.send(JSON.stringify({ type: "join", room: "r", role: "observer" }));
    await waitFor(() => messages.some((m) => m.type === "welcome"), "welcome after the retry");
    ws.close();
  });
});

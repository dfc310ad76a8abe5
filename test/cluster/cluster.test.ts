// A mesoguard cluster as operators run it: a real redis-server (test/helpers/redis.ts) and three `mesoguard serve`
// processes sharing it, with a join-token secret and an operator key. Participants on two nodes, observers on the
// third see all of them with their states; ids and room limits hold across nodes; duplicate and late relayed
// messages change nothing; a Redis restart is a gap for observers; a node killed with SIGKILL leaves with its
// participants within the heartbeat TTL; a node whose Redis is unreachable at start refuses to start.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { mintToken, type TokenClaims } from "../../src/auth/tokens.js";
import type { ScoreMessage } from "../../src/protocol/protocolTypes.js";
import { freePort, startRedis, type RunningRedis } from "../helpers/redis.js";
import {
  API_KEY_AUTH,
  TEST_API_KEY,
  TEST_SECRET,
  closeAllClients,
  dfCrops,
  getJson,
  getText,
  joinClient,
  makeClient,
  metricValue,
  pace,
  realCrop,
  sleep,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

const TTL_MS = 1500;
const ROOM = "standup";

let redis: RunningRedis;
let a: RunningServer;
let b: RunningServer;
let c: RunningServer;
let observerC: TestClient;
let fake: TestClient; // on a: deepfake face crops
let real: TestClient; // on b: a real face crop
const stops: Array<() => void> = [];

const token = (claims: Omit<TokenClaims, "exp">) => mintToken(TEST_SECRET, { ...claims, exp: Math.floor(Date.now() / 1000) + 3600 } as TokenClaims);
const participantToken = (participantId: string) => token({ room: ROOM, role: "participant", participantId });
const observerToken = () => token({ room: ROOM, role: "observer" });

function node(id: string, redisUrl: string): Promise<RunningServer> {
  return startServer(
    ["--redis-url", redisUrl, "--cluster-node-id", id, "--cluster-heartbeat-ttl-ms", String(TTL_MS), "--max-participants-per-room", "2", "--score-rate-hz", "5", "--rtp-port-min", "0", "--rtp-port-max", "0"],
    { MESOGUARD_SECRET: TEST_SECRET, MESOGUARD_RTP_API_KEY: TEST_API_KEY },
  );
}

const latest = (client: TestClient, participantId: string): ScoreMessage | undefined =>
  client.events.score.filter((s) => s.participantId === participantId).at(-1);

beforeAll(async () => {
  redis = await startRedis();
  [a, b, c] = await Promise.all([node("node-a", redis.url), node("node-b", redis.url), node("node-c", redis.url)]);
  observerC = await joinClient(c.url, { token: observerToken() });
  fake = await joinClient(a.url, { token: participantToken("fake"), name: "Fake Fiona", frameContent: "face-crop" });
  real = await joinClient(b.url, { token: participantToken("real"), name: "Real Rita", frameContent: "face-crop" });
  const crops = dfCrops();
  const realFace = realCrop();
  stops.push(pace(8, (i) => fake.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] })));
  stops.push(pace(8, () => real.client.sendFrame({ kind: "jpeg", data: realFace })));
}, 120_000);

afterAll(async () => {
  for (const stop of stops) stop();
  closeAllClients();
  await stopAllServers();
  await redis?.kill();
});

describe("a cluster of three nodes on one Redis", () => {
  it("an observer on a third node sees participants of two other nodes, with their states", async () => {
    await waitFor(() => latest(observerC, "fake")?.participant.state === "likely-fake", "fake (node a) likely-fake on node c", 60_000);
    await waitFor(() => latest(observerC, "real")?.participant.state === "authentic", "real (node b) authentic on node c", 60_000);
    const joined = observerC.events["participant-joined"].map((m) => [m.participant.participantId, m.participant.name]);
    expect(joined).toEqual(expect.arrayContaining([["fake", "Fake Fiona"], ["real", "Real Rita"]]));
  }, 90_000);

  it("an observer joining later on a participant's node gets a room-state assembled from every node", async () => {
    const late = await joinClient(a.url, { token: observerToken() });
    await waitFor(() => late.events["room-state"].length > 0, "room-state");
    const state = late.events["room-state"][0];
    const byId = Object.fromEntries(state.participants.map((p) => [p.participantId, p]));
    expect(Object.keys(byId).sort()).toEqual(["fake", "real"]);
    expect(byId.fake.state).toBe("likely-fake"); // local to a
    expect(byId.real).toMatchObject({ name: "Real Rita", state: "authentic" }); // from b, through Redis
    // ...and the latest scores of both right after it.
    await waitFor(() => latest(late, "real") && latest(late, "fake"), "scores of both on the late observer");
  });

  it("a participant id taken on one node is refused on another (conflict, 4003); the room limit counts every node", async () => {
    const twin = makeClient(c.url, { token: participantToken("fake") });
    await expect(twin.client.connect()).rejects.toThrow();
    expect(twin.events.error[0]).toMatchObject({ code: "conflict" });
    expect((await waitFor(() => twin.events.close[0], "the close")).code).toBe(4003);
    // Two participants are in the room (one on a, one on b): a third on c, which has none, is refused.
    const third = makeClient(c.url, { token: participantToken("third") });
    await expect(third.client.connect()).rejects.toThrow();
    expect(third.events.error[0]).toMatchObject({ code: "room-full" });
    expect(third.events.error[0].message).toMatch(/across the cluster/);
  });

  it("tokens minted with the shared secret are valid on every node", async () => {
    for (const server of [a, b, c]) {
      const o = await joinClient(server.url, { token: observerToken() });
      expect(o.client.welcome).toMatchObject({ room: ROOM, role: "observer" });
      o.client.close();
    }
  });

  it("GET /cluster lists every node with its load, behind the operator key", async () => {
    expect((await getJson(`${c.url}/cluster`)).status).toBe(401);
    const { status, body } = await getJson(`${c.url}/cluster`, API_KEY_AUTH);
    expect(status).toBe(200);
    expect(body.node).toBe("node-c");
    expect(body.redis).toBe("up");
    const nodes = body.nodes as Array<Record<string, any>>;
    expect(nodes.map((n) => n.id)).toEqual(["node-a", "node-b", "node-c"]);
    const nodeA = nodes.find((n) => n.id === "node-a")!;
    expect(nodeA.url).toBe(a.url);
    expect(nodeA.capacity).toMatchObject({ maxParticipantsPerRoom: 2, rtpIngest: true });
    expect(typeof nodeA.provider).toBe("string");
    await waitFor(async () => {
      const fresh = ((await getJson(`${c.url}/cluster`, API_KEY_AUTH)).body.nodes as Array<Record<string, any>>).find((n) => n.id === "node-a")!;
      return fresh.load.participants === 1 && fresh.load.framesPerSecond > 0;
    }, "node a's load: one participant, frames/s above 0", 10_000);
    // The same cluster view in /metrics, labelled by node; and this node's name.
    const metrics = (await getText(`${c.url}/metrics`)).text;
    expect(metricValue(metrics, "mesoguard_cluster_node_info", { node: "node-c", url: c.url })).toBe(1);
    expect(metricValue(metrics, "mesoguard_cluster_redis_up")).toBe(1);
    expect(metricValue(metrics, "mesoguard_cluster_nodes")).toBe(3);
    expect(metricValue(metrics, "mesoguard_cluster_node_participants", { node: "node-a" })).toBe(1);
    expect(metricValue(metrics, "mesoguard_cluster_node_participants", { node: "node-c" })).toBe(0);
    expect(metricValue(metrics, "mesoguard_cluster_messages_total", { outcome: "delivered" })).toBeGreaterThan(0);
  });

  it("duplicate and late relayed messages change nothing for observers", async () => {
    const spy = new Redis(redis.url);
    try {
      const captured: string[] = [];
      await spy.subscribe(`mesoguard:room:${ROOM}`);
      spy.on("message", (_channel: string, raw: string) => captured.push(raw));
      await waitFor(() => captured.filter((raw) => JSON.parse(raw).message.type === "score").length >= 3, "three relayed scores");
      const old = captured.find((raw) => JSON.parse(raw).message.type === "score")!;
      const oldScore = JSON.parse(old).message as ScoreMessage;
      await sleep(300);
      const publisher = new Redis(redis.url);
      await publisher.publish(`mesoguard:room:${ROOM}`, old); // late: older than what was relayed since
      await publisher.publish(`mesoguard:room:${ROOM}`, old); // and a duplicate
      await publisher.quit();
      await sleep(500);
      // By participant and time: two participants' scores can share one millisecond (one score-rate tick).
      const seen = observerC.events.score.filter((s) => s.participantId === oldScore.participantId && s.at === oldScore.at);
      expect(seen).toHaveLength(1); // the original only
      const metrics = (await getText(`${c.url}/metrics`)).text;
      expect(metricValue(metrics, "mesoguard_cluster_messages_total", { outcome: "stale" })).toBeGreaterThanOrEqual(2);
      expect(observerC.events["participant-joined"].filter((m) => m.participant.participantId === oldScore.participantId)).toHaveLength(1);
    } finally {
      spy.disconnect();
    }
  });

  it("the RTP control API on any node places a stream on the least-loaded node, or here when asked", async () => {
    const post = async (server: RunningServer, body: Record<string, unknown>) => {
      const res = await fetch(`${server.url}/rtp/streams`, { method: "POST", headers: { ...API_KEY_AUTH, "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, any>, location: res.headers.get("location") };
    };
    const stream = (participantId: string, ssrc: number) => ({ ssrc, payloadType: 96, codec: "VP8", room: "rtp-room", participantId });
    // a and b each score one participant, c none: c is the least loaded.
    const placed = await post(a, stream("cam1", 1111));
    expect(placed.status).toBe(201);
    expect(placed.body.node).toEqual({ id: "node-c", url: c.url });
    expect(placed.location).toBe(`${c.url}/rtp/streams/${placed.body.id}`);
    expect(typeof placed.body.port).toBe("number");
    const onC = (await getJson(`${c.url}/rtp/streams`, API_KEY_AUTH)).body.streams as Array<{ id: string }>;
    expect(onC.map((s) => s.id)).toContain(placed.body.id);
    // "local" registers on the node asked.
    const local = await post(a, { ...stream("cam2", 2222), placement: "local" });
    expect(local.status).toBe(201);
    expect(local.body.node).toEqual({ id: "node-a", url: a.url });
    // The participant id of a stream is claimed cluster-wide like any other.
    const twin = await post(b, { ...stream("cam1", 3333), placement: "local" });
    expect(twin.status).toBe(409);
    expect(twin.body.error).toMatch(/another node/);
    for (const s of [placed, local]) expect((await fetch(s.location!, { method: "DELETE", headers: API_KEY_AUTH })).status).toBe(204);
  });

  it("a Redis restart mid-call is a gap for observers: nodes reconnect and re-register, nobody leaves", async () => {
    // In another room, a participant on a who leaves during the outage: its leaving is told once Redis is back.
    const watcher = await joinClient(c.url, { token: token({ room: "outage2", role: "observer" }) });
    const leaver = await joinClient(a.url, { token: token({ room: "outage2", role: "participant", participantId: "leaver" }) });
    await waitFor(() => watcher.events["participant-joined"].some((m) => m.participant.participantId === "leaver"), "leaver joined, seen on c");
    await redis.kill();
    await waitFor(async () => (await getJson(`${a.url}/healthz`, API_KEY_AUTH)).body.status === "degraded", "/healthz degraded on node a");
    // Without Redis no new participant can be admitted (its id could not be checked): a clear refusal.
    const newcomer = makeClient(c.url, { token: participantToken("newcomer") });
    await expect(newcomer.client.connect()).rejects.toThrow();
    expect(newcomer.events.error[0]).toMatchObject({ code: "unavailable" });
    // Observers still join, at once, seeing this node's participants (node c has none).
    const outageObserver = await joinClient(c.url, { token: token({ room: "outage-room", role: "observer" }) });
    expect(await waitFor(() => outageObserver.events["room-state"][0], "room-state during the outage", 3000)).toMatchObject({ room: "outage-room", participants: [] });
    leaver.client.close();
    await sleep(TTL_MS * 2); // longer than the TTL: still nobody may leave
    expect(watcher.events["participant-left"]).toEqual([]); // not told yet: Redis is down
    await redis.start();
    const back = Date.now();
    await waitFor(async () => (await getJson(`${a.url}/healthz`, API_KEY_AUTH)).body.status === "ok", "/healthz ok again on node a");
    await waitFor(() => observerC.events.score.some((s) => s.participantId === "fake" && s.at > back), "scores of node a relayed again", 15_000);
    await waitFor(() => observerC.events.score.some((s) => s.participantId === "real" && s.at > back), "scores of node b relayed again", 15_000);
    await waitFor(async () => ((await getJson(`${c.url}/cluster`, API_KEY_AUTH)).body.nodes as unknown[]).length === 3, "three nodes registered again");
    expect(observerC.events["participant-left"]).toEqual([]);
    expect(c.process.exitCode).toBeNull();
    await waitFor(() => watcher.events["participant-left"].some((m) => m.participantId === "leaver"), "leaver's leaving relayed after the outage");
    const lateWatcher = await joinClient(b.url, { token: token({ room: "outage2", role: "observer" }) }); // b reads the room from Redis
    expect((await waitFor(() => lateWatcher.events["room-state"][0], "room-state on b")).participants).toEqual([]);
    // The claims were put back: the id is still refused elsewhere.
    const twin = makeClient(c.url, { token: participantToken("fake") });
    await expect(twin.client.connect()).rejects.toThrow();
    expect(twin.events.error[0]).toMatchObject({ code: "conflict" });
  }, 60_000);

  it("a node killed with SIGKILL leaves the cluster with its participants within the heartbeat TTL", async () => {
    const killedAt = Date.now();
    await b.stop("SIGKILL");
    await waitFor(() => observerC.events["participant-left"].some((m) => m.participantId === "real"), "real (node b) left on node c", TTL_MS * 4);
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS * 4);
    await waitFor(async () => {
      const nodes = (await getJson(`${c.url}/cluster`, API_KEY_AUTH)).body.nodes as Array<{ id: string }>;
      return nodes.map((n) => n.id).join() === "node-a,node-c";
    }, "node b gone from /cluster", TTL_MS * 4);
    // Its id and its seat are free again: "real" may join on node c.
    const rejoined = await joinClient(c.url, { token: participantToken("real"), frameContent: "face-crop" });
    expect(rejoined.client.welcome).toMatchObject({ participantId: "real" });
  }, 30_000);

  it("a node id held by a live node is refused; the id of a killed node can be taken again", async () => {
    const error = await node("node-a", redis.url).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/cluster\.nodeId node-a is registered by a live node/);
    const again = await node("node-b", redis.url); // b was killed above and has left
    const o = await joinClient(again.url, { token: observerToken() });
    const state = await waitFor(() => o.events["room-state"][0], "room-state on the new node b");
    expect(state.participants.map((p) => p.participantId).sort()).toEqual(["fake", "real"]); // real now on c; nothing of the old b
  }, 60_000);

  it("a node whose Redis is unreachable at start refuses to start, saying so", async () => {
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const error = await node("node-x", nowhere).then(() => null, (e: Error) => e);
    expect(error?.message).toMatch(/exited \(code 1/);
    expect(error?.message).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
  }, 30_000);
});

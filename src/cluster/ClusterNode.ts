// One mesoguard node of a cluster that shares a Redis (--redis-url). Who talks to whom:
//   - each node PUBLISHes its own participants' room messages (joined, score, left) on the room's channel
//     `mesoguard:room:<room>` and keeps each one's latest summary and score in the hash of the same name;
//   - a node SUBSCRIBEs to a room's channel while it has observers in that room, and relays what other nodes
//     publish to them (a mirror of the room's remote participants, idempotent by epoch and sequence);
//   - each node renews `mesoguard:node:<id>` (its address, capacity and load, with a TTL) every third of the TTL;
//     a node whose entry lapses has left, and so have its participants (every observer's node drops them);
//   - participant ids are claimed cluster-wide (`mesoguard:claim:<room>:<id>`, renewed with the heartbeat), and a
//     room's participants counted across nodes, in one Lua step (redisScripts.ts).
// Pub/sub rather than Streams: these are live states where only the latest counts, and the hash holds that latest
// for an observer joining late; a Stream would keep (and need trimming of) a history nobody replays.
import type { IncomingMessage, ServerResponse } from "node:http";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";

import { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

import type { ApiKeyGuard } from "../http/ApiKeyGuard.js";
import { requestPath } from "../http/requestPath.js";
import type { ParticipantSummary, ScoreMessage, ServerMessage } from "../protocol/protocolTypes.js";
import { AdmissionError } from "../server/RoomRegistry.js";
import type { RtpPlacement } from "../sfu/RtpControlApi.js";
import type { ClusterEnvelope, ClusterSettings, NodeInfo, NodeLoad, RelayedMessage, RoomEntry } from "./clusterTypes.js";
import { ClusterMetrics } from "./clusterMetrics.js";
import { CLAIM_SCRIPT, RELEASE_SCRIPT } from "./redisScripts.js";

export const CLUSTER_PATH = "/cluster";
const KEY = {
  node: (id: string) => `mesoguard:node:${id}`,
  nodePrefix: "mesoguard:node:",
  nodes: "mesoguard:nodes",
  claim: (room: string, participantId: string) => `mesoguard:claim:${room}:${participantId}`,
  room: (room: string) => `mesoguard:room:${room}`,
};
/** How long the first connection to Redis may take before the server refuses to start. */
const CONNECT_TIMEOUT_MS = 5000;

/** What the node needs from its server. */
export interface ClusterHost {
  /** Sends a message from another node to this node's observers of `room` (none: nothing happens). */
  deliver(room: string, message: ServerMessage): void;
  /** Whether this node has observers in `room`. */
  observed(room: string): boolean;
  /** This node's load now; framesTotal is the running count of frames received. */
  load(): Promise<Omit<NodeLoad, "framesPerSecond"> & { framesTotal: number }>;
  info(): Omit<NodeInfo, "id" | "load" | "heartbeatAt" | "startedAt">;
}

/** A participant of this node, as relayed. */
interface LocalParticipant {
  epoch: string;
  seq: number;
  summary: ParticipantSummary;
  score: ScoreMessage | null;
}

/** A participant of another node, as this node's observers see it. */
interface RemoteParticipant extends RoomEntry {
  /** When this node learned of it (a node never seen alive is judged from here). */
  seenAt: number;
}

export class ClusterNode {
  readonly id: string;
  readonly #startedAt = Date.now();
  readonly #local = new Map<string, LocalParticipant>(); // "room/participant"
  readonly #mirrors = new Map<string, Map<string, RemoteParticipant>>(); // room -> participant -> entry
  /** Each relayed room's load (observers joining meanwhile wait for it) and when it started. */
  readonly #watches = new Map<string, { ready: Promise<void>; since: number }>();
  /** When each node was last seen in the registry (by this node's heartbeat). */
  readonly #nodesSeen = new Map<string, number>();
  #nodes: NodeInfo[] = [];
  #heartbeat: NodeJS.Timeout | null = null;
  #framesBefore: { total: number; at: number } | null = null;
  #epochCounter = 0;
  /** Participants that left while Redis was down: their leaving is published and their claims freed on reconnect. */
  #leftWhileDown: Array<{ room: string; participantId: string; envelope: ClusterEnvelope }> = [];
  /**
   * Those leavings, published again with the next heartbeats: another node's subscription may come back after this
   * node's first publication (pub/sub keeps nothing), and a repeat is a duplicate that changes nothing.
   */
  #leftRepeats: Array<{ room: string; envelope: ClusterEnvelope; times: number }> = [];
  /** After a reconnect, other nodes get a TTL to register again before their participants are judged gone. */
  #graceUntil = 0;
  #closed = false;
  readonly #metrics: ClusterMetrics;

  private constructor(
    readonly settings: ClusterSettings & { redisUrl: string },
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly host: ClusterHost,
    private readonly guard: ApiKeyGuard,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.id = settings.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.#metrics = new ClusterMetrics(registry, { id: this.id, url: host.info().url }, () => ({ connected: this.connected, nodes: this.#nodes }));
  }

  /**
   * Connects to Redis and registers this node. Throws a clear Error when Redis cannot be reached: a node that
   * cannot register is invisible to placement and cannot keep ids unique, so it does not start (see README).
   */
  static async join(settings: ClusterSettings & { redisUrl: string }, host: ClusterHost, guard: ApiKeyGuard, log: Logger, registry: Registry): Promise<ClusterNode> {
    const options = {
      lazyConnect: true,
      // While Redis is down commands fail at once (the calls go on locally) instead of queueing without bound.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: CONNECT_TIMEOUT_MS,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 2000),
    };
    const redis = new Redis(settings.redisUrl, options);
    const subscriber = new Redis(settings.redisUrl, { ...options, enableOfflineQueue: true });
    const where = safeUrl(settings.redisUrl);
    redis.on("error", () => undefined); // reported through the 'ready'/'close' transitions below
    subscriber.on("error", () => undefined);
    try {
      await Promise.all([redis.connect(), subscriber.connect()]);
    } catch (error) {
      redis.disconnect();
      subscriber.disconnect();
      throw new Error(`mesoguard: cannot reach Redis at ${where} (redis.url): ${(error as Error).message}`);
    }
    const node = new ClusterNode(settings, redis, subscriber, host, guard, log, registry);
    try {
      await node.#takeId();
    } catch (error) {
      redis.disconnect();
      subscriber.disconnect();
      throw error;
    }
    await node.#beat();
    node.#heartbeat = setInterval(() => void node.#beat(), Math.max(100, Math.floor(settings.heartbeatTtlMs / 3)));
    node.#heartbeat.unref();
    subscriber.on("message", (channel: string, raw: string) => node.#onMessage(channel, raw));
    redis.on("close", () => {
      if (!node.#closed) log.warn({ redis: where }, "cluster: Redis connection lost; serving local participants, reconnecting");
    });
    // ioredis reconnects (and resubscribes) by itself; a reconnected node puts back what a restarted Redis lost.
    redis.on("ready", () => {
      log.info({ redis: where }, "cluster: Redis connection ready");
      node.#graceUntil = Date.now() + settings.heartbeatTtlMs;
      void node.#restore();
    });
    log.info({ node: node.id, redis: where, url: host.info().url }, "cluster: node registered");
    return node;
  }

  /** Whether Redis answers now (/healthz says degraded when not). */
  get connected(): boolean {
    return this.redis.status === "ready";
  }

  // ---- admission --------------------------------------------------------------------------------------------

  /** Claims a participant id cluster-wide and checks the room limit. Throws AdmissionError. */
  async claim(room: string, participantId: string, maxParticipantsPerRoom: number): Promise<void> {
    if (!this.connected) throw new AdmissionError("unavailable", "the cluster's Redis is unreachable: no new participants until it is back");
    const placeholder = JSON.stringify({ node: this.id, epoch: "", seq: 0, summary: null, score: null });
    let answer: unknown;
    try {
      answer = await this.redis.eval(CLAIM_SCRIPT, 2, KEY.claim(room, participantId), KEY.room(room),
        this.id, this.settings.heartbeatTtlMs, maxParticipantsPerRoom, participantId, KEY.nodePrefix, placeholder);
    } catch (error) {
      throw new AdmissionError("unavailable", `the cluster's Redis did not answer: ${(error as Error).message}`);
    }
    if (answer === "conflict") throw new AdmissionError("conflict", `participant ${participantId} is already in room ${room} on another node`);
    if (answer === "room-full") throw new AdmissionError("room-full", `room ${room} has ${maxParticipantsPerRoom} participants across the cluster (maxParticipantsPerRoom)`);
  }

  /** Gives back a claim that was not used (the connection closed before it was admitted). */
  unclaim(room: string, participantId: string): void {
    if (this.#local.has(`${room}/${participantId}`)) return;
    this.#run(this.redis.eval(RELEASE_SCRIPT, 2, KEY.claim(room, participantId), KEY.room(room), this.id, participantId, ""));
  }

  /** Starts relaying `room`'s remote participants to this node's observers; resolves once they are loaded. */
  watch(room: string): Promise<void> {
    const watching = this.#watches.get(room);
    if (watching) return watching.ready;
    this.#mirrors.set(room, new Map());
    const ready = (async () => {
      try {
        const subscribed = this.subscriber.subscribe(KEY.room(room)); // first: nothing published from here on is missed
        if (!this.connected) {
          // Redis is down: the observer joins now with this node's participants; the subscription waits in the
          // client's queue, and the room is loaded when Redis is back (#restore).
          subscribed.catch((error: unknown) => this.log.debug({ err: error, room }, "cluster: subscribe failed"));
          return;
        }
        await subscribed;
        await this.#load(room);
      } catch (error) {
        this.log.warn({ err: error, room }, "cluster: could not load the room's remote participants (Redis down?)");
      }
    })();
    this.#watches.set(room, { ready, since: Date.now() });
    return ready;
  }

  /** The room's participants on other nodes, for room-state. */
  remoteParticipants(room: string): { summaries: ParticipantSummary[]; scores: ScoreMessage[] } {
    const entries = [...(this.#mirrors.get(room)?.values() ?? [])];
    return { summaries: entries.map((e) => e.summary), scores: entries.flatMap((e) => (e.score ? [e.score] : [])) };
  }

  // ---- RTP stream placement ---------------------------------------------------------------------------------

  /** For the RTP control API: the least-loaded node with RTP ingest, and claims for streams registered here. */
  rtpPlacement(maxParticipantsPerRoom: number): RtpPlacement {
    const self = { id: this.id, url: this.host.info().url };
    return {
      self,
      choose: () => {
        const chosen = this.#leastLoaded();
        if (!chosen) return null;
        chosen.load.rtpStreams++; // counted at once, so a burst of streams spreads before the next heartbeat
        return chosen.id === this.id ? null : { id: chosen.id, url: chosen.url };
      },
      claim: (room, participantId) => this.claim(room, participantId, maxParticipantsPerRoom),
      unclaim: (room, participantId) => this.unclaim(room, participantId),
    };
  }

  /** Fewest participants and streams first, then the shorter queue; this node wins a tie (no hop). */
  #leastLoaded(): NodeInfo | undefined {
    const fresh = Date.now() - this.settings.heartbeatTtlMs;
    const weight = (n: NodeInfo) => n.load.participants + n.load.rtpStreams;
    return this.#nodes
      .filter((n) => n.capacity.rtpIngest && n.heartbeatAt >= fresh)
      .sort((x, y) => weight(x) - weight(y) || x.load.queueDepth - y.load.queueDepth || Number(y.id === this.id) - Number(x.id === this.id))[0];
  }

  // ---- publishing this node's participants ------------------------------------------------------------------

  /** A message this node sent to its own observers of `room`: published for the other nodes' observers. */
  relay(room: string, message: ServerMessage): void {
    if (message.type !== "participant-joined" && message.type !== "score" && message.type !== "participant-left") return;
    const participantId = message.type === "participant-joined" ? message.participant.participantId : message.participantId;
    const key = `${room}/${participantId}`;
    if (message.type === "participant-joined") {
      // The epoch names this process too (its start), so a node restarted under the same id is told apart.
      this.#local.set(key, { epoch: `${this.id}/${this.#startedAt}/${++this.#epochCounter}`, seq: 0, summary: message.participant, score: null });
    }
    const local = this.#local.get(key);
    if (!local) return;
    local.seq++;
    if (message.type === "score") {
      const { state, paused, flag } = message.participant;
      local.summary = { ...local.summary, state, paused, flag };
      local.score = message;
    }
    const envelope: ClusterEnvelope & { summary: ParticipantSummary } = { node: this.id, epoch: local.epoch, seq: local.seq, summary: local.summary, message };
    if (message.type === "participant-left") {
      this.#local.delete(key);
      if (!this.connected) {
        this.#leftWhileDown.push({ room, participantId, envelope }); // told once Redis is back (#restore)
        return;
      }
      this.#publish(room, envelope);
      // A reconnect on this node replaces the session at once (left, then joined): its claim stays.
      setImmediate(() => this.#release(room, participantId, local.epoch));
      return;
    }
    if (!this.connected) return; // a gap for remote observers; #restore writes the latest state back
    this.#publish(room, envelope);
    this.#run(this.redis.hset(KEY.room(room), participantId, JSON.stringify(this.#entry(local))));
  }

  #publish(room: string, envelope: ClusterEnvelope): void {
    this.#run(this.redis.publish(KEY.room(room), JSON.stringify(envelope)));
    this.#metrics.relayed.inc({ outcome: "published" });
  }

  /** Frees a participant's claim and room entry, unless it joined again on this node meanwhile. */
  #release(room: string, participantId: string, epoch: string): Promise<unknown> {
    if (this.#local.has(`${room}/${participantId}`)) return Promise.resolve();
    const released = this.redis.eval(RELEASE_SCRIPT, 2, KEY.claim(room, participantId), KEY.room(room), this.id, participantId, epoch);
    this.#run(released);
    return released;
  }

  #entry(local: LocalParticipant): RoomEntry {
    return { node: this.id, epoch: local.epoch, seq: local.seq, summary: local.summary, score: local.score };
  }

  // ---- receiving other nodes' participants ------------------------------------------------------------------

  #onMessage(channel: string, raw: string): void {
    const room = channel.slice(KEY.room("").length);
    let envelope: ClusterEnvelope & { summary: ParticipantSummary };
    try {
      envelope = JSON.parse(raw) as ClusterEnvelope & { summary: ParticipantSummary };
    } catch {
      this.log.warn({ channel }, "cluster: a message that is not JSON was ignored");
      return;
    }
    if (envelope.node === this.id) return;
    this.#apply(room, envelope.message, { node: envelope.node, epoch: envelope.epoch, seq: envelope.seq, summary: envelope.summary, score: null });
  }

  /** Applies one remote message to the room's mirror and tells the observers; what is stale changes nothing. */
  #apply(room: string, message: RelayedMessage, entry: RoomEntry): void {
    const mirror = this.#mirrors.get(room);
    if (!mirror) return;
    const participantId = entry.summary.participantId;
    const known = mirror.get(participantId);
    const stale = () => this.#metrics.relayed.inc({ outcome: "stale" });
    if (message.type === "participant-left") {
      if (known?.epoch !== entry.epoch) return stale(); // a stay already replaced (or never seen)
      mirror.delete(participantId);
      this.host.deliver(room, message);
      this.#metrics.relayed.inc({ outcome: "delivered" });
      return;
    }
    if (known && known.epoch === entry.epoch && known.seq >= entry.seq) return stale(); // a duplicate or late message
    this.#metrics.relayed.inc({ outcome: "delivered" });
    const score = message.type === "score" ? message : known?.epoch === entry.epoch ? known.score : null;
    mirror.set(participantId, { ...entry, score, seenAt: Date.now() });
    if (!known || known.epoch !== entry.epoch) this.host.deliver(room, { type: "participant-joined", room, participant: entry.summary });
    if (message.type === "score") this.host.deliver(room, message);
  }

  /** Reads the room's hash into its mirror (after subscribing: the sequence numbers sort out any overlap). */
  async #load(room: string): Promise<void> {
    const entries = await this.redis.hgetall(KEY.room(room));
    for (const raw of Object.values(entries)) {
      const entry = JSON.parse(raw) as RoomEntry;
      if (entry.node === this.id || !entry.summary) continue; // ours, or admitted but not joined yet
      const joined: RelayedMessage = { type: "participant-joined", room, participant: entry.summary };
      this.#apply(room, entry.score ?? joined, entry);
    }
  }

  /**
   * Refuses an id a live node holds (two processes under one id would share claims and entries), then removes
   * what an earlier process under this id left behind (room entries and claims: it was killed).
   */
  async #takeId(): Promise<void> {
    if ((await this.redis.exists(KEY.node(this.id))) === 1) {
      throw new Error(`mesoguard: cluster.nodeId ${this.id} is registered by a live node; give each node its own id (or wait ${this.settings.heartbeatTtlMs} ms after it stopped)`);
    }
    for (const pattern of ["mesoguard:room:*", "mesoguard:claim:*"]) {
      let cursor = "0";
      do {
        const [next, keys] = await this.redis.scan(cursor, "MATCH", pattern, "COUNT", 200);
        cursor = next;
        for (const key of keys) {
          if (pattern.startsWith("mesoguard:claim")) {
            if ((await this.redis.get(key)) === this.id) await this.redis.del(key);
            continue;
          }
          const entries = await this.redis.hgetall(key);
          const ours = Object.entries(entries).filter(([, raw]) => (JSON.parse(raw) as RoomEntry).node === this.id).map(([field]) => field);
          if (ours.length > 0) await this.redis.hdel(key, ...ours);
        }
      } while (cursor !== "0");
    }
  }

  // ---- heartbeat, registry, faults --------------------------------------------------------------------------

  async #beat(): Promise<void> {
    if (this.#closed) return;
    const { framesTotal, ...load } = await this.host.load();
    const now = Date.now();
    const before = this.#framesBefore;
    const framesPerSecond = before && now > before.at ? ((framesTotal - before.total) * 1000) / (now - before.at) : 0;
    this.#framesBefore = { total: framesTotal, at: now };
    const info: NodeInfo = { id: this.id, ...this.host.info(), load: { ...load, framesPerSecond: Math.round(framesPerSecond * 10) / 10 }, startedAt: this.#startedAt, heartbeatAt: now };
    const ttl = this.settings.heartbeatTtlMs;
    try {
      const batch = this.redis.multi().set(KEY.node(this.id), JSON.stringify(info), "PX", ttl).sadd(KEY.nodes, this.id);
      for (const key of this.#local.keys()) {
        const [room, participantId] = splitKey(key);
        batch.pexpire(KEY.claim(room, participantId), ttl);
      }
      await batch.exec();
      await this.#readNodes();
      for (const repeat of this.#leftRepeats) this.#publish(repeat.room, repeat.envelope);
      this.#leftRepeats = this.#leftRepeats.filter((repeat) => --repeat.times > 0);
    } catch (error) {
      this.log.debug({ err: error }, "cluster: heartbeat failed (Redis down?)");
      return; // what the registry says is unknown: nobody is judged gone on it
    }
    if (now >= this.#graceUntil) this.#sweep(now);
  }

  /** Reads the registry; ids whose entry lapsed are taken out of the set. */
  async #readNodes(): Promise<void> {
    const ids = await this.redis.smembers(KEY.nodes);
    const values = ids.length > 0 ? await this.redis.mget(ids.map(KEY.node)) : [];
    const nodes: NodeInfo[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => (values[i] ? nodes.push(JSON.parse(values[i]!) as NodeInfo) : gone.push(id)));
    if (gone.length > 0) await this.redis.srem(KEY.nodes, ...gone);
    const now = Date.now();
    for (const node of nodes) this.#nodesSeen.set(node.id, now);
    this.#nodes = nodes.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Drops remote participants of nodes not seen in the registry for a TTL (killed, or cut off), and stops relaying
   * rooms this node no longer has observers in. A node missing only while Redis restarts is back within the TTL.
   */
  #sweep(now: number): void {
    const ttl = this.settings.heartbeatTtlMs;
    for (const [room, mirror] of this.#mirrors) {
      if (!this.host.observed(room) && now - (this.#watches.get(room)?.since ?? 0) > ttl) {
        this.#mirrors.delete(room);
        this.#watches.delete(room);
        this.#run(this.subscriber.unsubscribe(KEY.room(room)));
        continue;
      }
      for (const [participantId, entry] of mirror) {
        const seen = Math.max(this.#nodesSeen.get(entry.node) ?? 0, entry.seenAt);
        const restarted = this.#nodes.some((n) => n.id === entry.node && !entry.epoch.startsWith(`${n.id}/${n.startedAt}/`));
        if (now - seen <= ttl && !restarted) continue;
        mirror.delete(participantId);
        this.log.info({ room, participant: participantId, node: entry.node }, "cluster: participant left with its node");
        this.host.deliver(room, { type: "participant-left", room, participantId });
      }
    }
  }

  /** After a reconnect: registers again, claims this node's participants again, writes their latest state back. */
  async #restore(): Promise<void> {
    try {
      await this.#beat();
      for (const left of this.#leftWhileDown.splice(0)) {
        this.#publish(left.room, left.envelope);
        this.#leftRepeats.push({ room: left.room, envelope: left.envelope, times: 2 });
        await this.#release(left.room, left.participantId, left.envelope.epoch);
      }
      for (const [key, local] of this.#local) {
        const [room, participantId] = splitKey(key);
        const taken = await this.redis.set(KEY.claim(room, participantId), this.id, "PX", this.settings.heartbeatTtlMs, "NX");
        if (taken === null && (await this.redis.get(KEY.claim(room, participantId))) !== this.id) {
          this.log.warn({ room, participant: participantId }, "cluster: another node claimed this participant id during the Redis outage");
        }
        await this.redis.hset(KEY.room(room), participantId, JSON.stringify(this.#entry(local)));
      }
      for (const room of this.#mirrors.keys()) await this.#load(room);
    } catch (error) {
      this.log.warn({ err: error }, "cluster: restoring after a reconnect failed; the next heartbeat tries again");
    }
  }

  #run(command: Promise<unknown>): void {
    command.catch((error: unknown) => this.log.debug({ err: error }, "cluster: Redis command failed"));
  }

  // ---- GET /cluster -----------------------------------------------------------------------------------------

  /** The nodes as this node last read them (every heartbeat). */
  describe(): { node: string; redis: "up" | "down"; heartbeatTtlMs: number; nodes: NodeInfo[] } {
    return { node: this.id, redis: this.connected ? "up" : "down", heartbeatTtlMs: this.settings.heartbeatTtlMs, nodes: this.#nodes };
  }

  /** GET /cluster, behind the operator key. Returns false for other paths. */
  handleHttp(req: IncomingMessage, res: ServerResponse): boolean {
    if (requestPath(req) !== CLUSTER_PATH) return false;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      send(405, { error: `${req.method} is not allowed on ${CLUSTER_PATH}` });
    } else if (!this.guard.allows(req)) {
      if (this.guard.mode === "key") res.setHeader("www-authenticate", 'Bearer realm="mesoguard"');
      send(this.guard.mode === "closed" ? 403 : 401, { error: `${CLUSTER_PATH} needs ${this.guard.describe()}` });
    } else {
      send(200, this.describe());
    }
    return true;
  }

  /** Leaves the cluster: releases this node's participants and registry entry (a SIGKILL leaves them to the TTL). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    try {
      if (this.connected) {
        const batch = this.redis.multi().del(KEY.node(this.id)).srem(KEY.nodes, this.id);
        await batch.exec();
      }
    } catch (error) {
      this.log.debug({ err: error }, "cluster: could not deregister");
    }
    this.subscriber.disconnect();
    this.redis.disconnect();
  }
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/"); // ids never hold a '/' (src/protocol/ids.ts)
  return [key.slice(0, slash), key.slice(slash + 1)];
}

/** The Redis URL without its password, for logs and errors. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an invalid URL)";
  }
}

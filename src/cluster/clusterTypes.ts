// What mesoguard nodes tell each other through Redis (src/cluster/ClusterNode.ts): the node registry's entries,
// the room messages relayed between nodes, and the participant entries each room keeps for observers joining late.
import { isValidId } from "../protocol/ids.js";
import type { ParticipantJoinedMessage, ParticipantLeftMessage, ParticipantSummary, ScoreMessage } from "../protocol/protocolTypes.js";

/** ServerConfig.cluster: unset redisUrl = one process, no cluster. */
export interface ClusterSettings {
  redisUrl: string | undefined;
  /** This node's id in the registry; unset = hostname-pid-random. */
  nodeId: string | undefined;
  /** The URL other nodes and SFUs reach this node at; unset = the server's own URL. */
  advertisedUrl: string | undefined;
  /** A node that has not renewed its registry entry for this long has left (its participants with it). */
  heartbeatTtlMs: number;
}

/** What is wrong with the cluster settings, or null (the config loader throws it). */
export function clusterSettingsProblem(settings: ClusterSettings): string | null {
  if (settings.redisUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(settings.redisUrl);
    } catch {
      return "redis.url must be a URL such as redis://127.0.0.1:6379";
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") return `redis.url must start with redis:// or rediss://, got ${url.protocol}//`;
  }
  if (settings.nodeId !== undefined && !isValidId(settings.nodeId)) return "cluster.nodeId must be 1-64 characters of A-Z a-z 0-9 . _ ~ -";
  if (settings.advertisedUrl !== undefined && !/^https?:\/\/[^/]+\/?$/.test(settings.advertisedUrl)) {
    return `cluster.advertisedUrl must be http(s)://host:port, got ${settings.advertisedUrl}`;
  }
  return null;
}

/** A node's load, renewed with every heartbeat. */
export interface NodeLoad {
  participants: number;
  observers: number;
  rooms: number;
  /** Frames received per second over the last heartbeat period. */
  framesPerSecond: number;
  /** Frames waiting in the scorer's queue. */
  queueDepth: number;
  rtpStreams: number;
}

/** A node's entry in the registry (GET /cluster). */
export interface NodeInfo {
  id: string;
  url: string;
  provider: string;
  /** What the node admits: the room limits, and where RTP goes when it ingests RTP. */
  capacity: { maxRooms: number; maxParticipantsPerRoom: number; rtpIngest: boolean; rtpMaxStreams: number };
  load: NodeLoad;
  startedAt: number;
  /** When this entry was written (ms since epoch). */
  heartbeatAt: number;
}

/** The room messages a node relays for its own participants. */
export type RelayedMessage = ParticipantJoinedMessage | ScoreMessage | ParticipantLeftMessage;

/**
 * One relayed message. `epoch` names one stay of a participant on one node (a reconnect is a new epoch) and `seq`
 * counts its messages: a receiver drops what it has already seen, so duplicates and late messages change nothing.
 */
export interface ClusterEnvelope {
  node: string;
  epoch: string;
  seq: number;
  message: RelayedMessage;
}

/** A participant's entry in its room's Redis hash: what an observer joining on another node is shown. */
export interface RoomEntry {
  node: string;
  epoch: string;
  seq: number;
  summary: ParticipantSummary;
  score: ScoreMessage | null;
}

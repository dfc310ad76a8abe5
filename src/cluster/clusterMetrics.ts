// The cluster's part of /metrics: this node's name and link to Redis, the messages it relays, and the cluster
// view (every registered node's load, labelled by node) as this node last read the registry.
import { Counter, Gauge, type Registry } from "prom-client";

import type { NodeInfo } from "./clusterTypes.js";

export const RELAY_OUTCOMES = ["published", "delivered", "stale"] as const;
export type RelayOutcome = (typeof RELAY_OUTCOMES)[number];

/** The node-load fields exported per node. */
const LOAD_GAUGES = [
  ["participants", "participants"],
  ["frames_per_second", "framesPerSecond"],
  ["queue_depth", "queueDepth"],
  ["rtp_streams", "rtpStreams"],
] as const;

export class ClusterMetrics {
  readonly relayed: Counter<"outcome">;

  constructor(registry: Registry, self: { id: string; url: string }, view: () => { connected: boolean; nodes: NodeInfo[] }) {
    new Gauge({
      name: "mesoguard_cluster_node_info",
      help: "This node of the cluster (1), labelled with its id and URL",
      labelNames: ["node", "url"],
      registers: [registry],
    }).set({ node: self.id, url: self.url }, 1);
    new Gauge({
      name: "mesoguard_cluster_redis_up",
      help: "Whether this node reaches the cluster's Redis (1) or not (0)",
      registers: [registry],
      collect() {
        this.set(view().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: "mesoguard_cluster_nodes",
      help: "Nodes registered in the cluster, as this node last read the registry",
      registers: [registry],
      collect() {
        this.set(view().nodes.length);
      },
    });
    for (const [suffix, field] of LOAD_GAUGES) {
      new Gauge({
        name: `mesoguard_cluster_node_${suffix}`,
        help: `Each registered node's ${field} (its last heartbeat)`,
        labelNames: ["node"],
        registers: [registry],
        collect() {
          this.reset();
          for (const node of view().nodes) this.set({ node: node.id }, node.load[field]);
        },
      });
    }
    this.relayed = new Counter({
      name: "mesoguard_cluster_messages_total",
      help: "Room messages published for other nodes, delivered from them to this node's observers, or dropped as stale (duplicate or late)",
      labelNames: ["outcome"],
      registers: [registry],
    });
    for (const outcome of RELAY_OUTCOMES) this.relayed.inc({ outcome }, 0);
  }
}

// A room: its participants (each a ParticipantSession) and its observers (dashboards).
import type { ServerMessage } from "../protocol/protocolTypes.js";
import type { ClientConnection } from "./ClientConnection.js";
import type { ParticipantSession } from "./ParticipantSession.js";

export class Room {
  readonly participants = new Map<string, ParticipantSession>();
  readonly observers = new Set<ClientConnection>();

  constructor(
    readonly name: string,
    /** Hands what this node's own participants tell the room to the other nodes of a cluster (src/cluster/). */
    private readonly relay?: (room: string, message: ServerMessage) => void,
  ) {}

  get empty(): boolean {
    return this.participants.size === 0 && this.observers.size === 0;
  }

  toObservers(message: ServerMessage): void {
    this.toLocalObservers(message);
    this.relay?.(this.name, message);
  }

  /** To this node's observers only (a message from another node of the cluster). */
  toLocalObservers(message: ServerMessage): void {
    for (const observer of this.observers) observer.send(message);
  }
}

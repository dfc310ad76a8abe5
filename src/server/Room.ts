// A room: its participants (each a ParticipantSession) and its observers (dashboards).
import type { ServerMessage } from "../protocol/protocolTypes.js";
import type { ClientConnection } from "./ClientConnection.js";
import type { ParticipantSession } from "./ParticipantSession.js";

export class Room {
  readonly participants = new Map<string, ParticipantSession>();
  readonly observers = new Set<ClientConnection>();

  constructor(readonly name: string) {}

  get empty(): boolean {
    return this.participants.size === 0 && this.observers.size === 0;
  }

  toObservers(message: ServerMessage): void {
    for (const observer of this.observers) observer.send(message);
  }
}

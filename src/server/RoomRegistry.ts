// Who is in which room, for the WebSocket and the RTP paths alike: admission of participants and observers
// (rooms per server, participants and observers per room, one participant per id in a room), leaving, and
// dropping rooms that emptied. It keeps the room gauges of /metrics and tells a room's observers who joined and
// who left; what a participant or observer is sent on joining is the caller's.
import type { Logger } from "pino";

import { CLOSE_CODES, type ServerMessage } from "../protocol/protocolTypes.js";
import type { ClientConnection } from "./ClientConnection.js";
import type { ParticipantSession } from "./ParticipantSession.js";
import { Room } from "./Room.js";
import type { ServerMetrics } from "./serverMetrics.js";

/** How many rooms, and how many of each role per room, the server admits (ServerConfig.rooms). */
export interface RoomLimits {
  maxRooms: number;
  maxParticipantsPerRoom: number;
  maxObserversPerRoom: number;
}

/** Why a participant or observer was not admitted. */
export class AdmissionError extends Error {
  constructor(
    readonly code: "conflict" | "room-full" | "server-full" | "shutting-down" | "unavailable",
    message: string,
  ) {
    super(message);
  }
}

export interface ParticipantAdmission {
  room: string;
  participantId: string;
  /**
   * When the id is taken in the room: "replace" the older session (a WebSocket participant reconnecting, e.g. a
   * reload: the newer connection wins) or "refuse" (an AdmissionError "conflict").
   */
  ifTaken: "replace" | "refuse";
  /** Makes the participant's session, once it is admitted to `room`. */
  create: (room: Room) => ParticipantSession;
}

export class RoomRegistry {
  readonly #rooms = new Map<string, Room>();

  constructor(
    private readonly limits: RoomLimits,
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
    /** Called for every participant that leaves, whatever the reason (the RTP ingest stops its stream). */
    private readonly onParticipantLeft: (session: ParticipantSession) => void = () => undefined,
    /** A cluster's relay of the rooms' messages to the other nodes (src/cluster/); none alone. */
    private readonly relay?: (room: string, message: ServerMessage) => void,
  ) {}

  get counts(): { rooms: number; participants: number; observers: number } {
    let participants = 0;
    let observers = 0;
    for (const room of this.#rooms.values()) {
      participants += room.participants.size;
      observers += room.observers.size;
    }
    return { rooms: this.#rooms.size, participants, observers };
  }

  /** The participant with this id in this room, if any. */
  participant(room: string, participantId: string): ParticipantSession | undefined {
    return this.#rooms.get(room)?.participants.get(participantId);
  }

  /** The room of that name while it has anyone in it. */
  room(name: string): Room | undefined {
    return this.#rooms.get(name);
  }

  *participants(): IterableIterator<ParticipantSession> {
    for (const room of this.#rooms.values()) yield* room.participants.values();
  }

  *observers(): IterableIterator<ClientConnection> {
    for (const room of this.#rooms.values()) yield* room.observers;
  }

  /** Admits a participant and tells the room's observers. Throws AdmissionError: server-full, conflict, room-full. */
  addParticipant(admission: ParticipantAdmission): { room: Room; session: ParticipantSession } {
    const room = this.#open(admission.room);
    let session: ParticipantSession;
    try {
      const existing = room.participants.get(admission.participantId);
      if (existing) {
        if (admission.ifTaken === "refuse") {
          throw new AdmissionError("conflict", `participant ${admission.participantId} is already in room ${room.name}`);
        }
        existing.connection?.close(CLOSE_CODES.policy, "replaced by a newer connection");
        this.#remove(room, existing);
      }
      if (room.participants.size >= this.limits.maxParticipantsPerRoom) {
        throw new AdmissionError("room-full", `room ${room.name} has ${this.limits.maxParticipantsPerRoom} participants (maxParticipantsPerRoom)`);
      }
      session = admission.create(room);
    } catch (error) {
      this.#dropIfEmpty(room);
      throw error;
    }
    room.participants.set(session.id, session);
    this.metrics.participants.inc();
    room.toObservers({ type: "participant-joined", room: room.name, participant: session.summary() });
    return { room, session };
  }

  /** Admits an observer. Throws AdmissionError: server-full, room-full. */
  addObserver(roomName: string, connection: ClientConnection): Room {
    const room = this.#open(roomName);
    if (room.observers.size >= this.limits.maxObserversPerRoom) {
      this.#dropIfEmpty(room);
      throw new AdmissionError("room-full", `room ${room.name} has ${this.limits.maxObserversPerRoom} observers (maxObserversPerRoom)`);
    }
    room.observers.add(connection);
    this.metrics.observers.inc();
    return room;
  }

  /** The participant leaves (closing its session); nothing happens when it already has. */
  removeParticipant(session: ParticipantSession): void {
    const room = this.#rooms.get(session.options.room);
    if (!room || room.participants.get(session.id) !== session) return;
    this.#remove(room, session);
    this.#dropIfEmpty(room);
  }

  removeObserver(room: Room, connection: ClientConnection): void {
    if (room.observers.delete(connection)) this.metrics.observers.dec();
    this.#dropIfEmpty(room);
  }

  /** The room, made when it does not exist yet and the server has room for it. */
  #open(name: string): Room {
    let room = this.#rooms.get(name);
    if (!room) {
      if (this.#rooms.size >= this.limits.maxRooms) throw new AdmissionError("server-full", `the server has ${this.limits.maxRooms} rooms (maxRooms)`);
      room = new Room(name, this.relay);
      this.#rooms.set(name, room);
      this.metrics.rooms.set(this.#rooms.size);
    }
    return room;
  }

  #remove(room: Room, session: ParticipantSession): void {
    session.close();
    room.participants.delete(session.id);
    this.metrics.participants.dec();
    room.toObservers({ type: "participant-left", room: room.name, participantId: session.id });
    this.log.info({ room: room.name, participant: session.id }, "participant left");
    this.onParticipantLeft(session);
  }

  #dropIfEmpty(room: Room): void {
    if (room.empty && this.#rooms.get(room.name) === room) {
      this.#rooms.delete(room.name);
      this.metrics.rooms.set(this.#rooms.size);
    }
  }
}

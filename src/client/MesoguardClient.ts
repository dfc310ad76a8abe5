// Typed client for mesoguard's WebSocket protocol, for Node (pass the `ws` package's WebSocket) and browsers
// (uses the global WebSocket). Used by the dashboard, the participant page, the bench and the tests.
import { encodeFrame, type WireFrameKind } from "../protocol/binaryFrame.js";
import type {
  AlertMessage,
  EvidenceClientMessage,
  ExplanationMessage,
  HistoryMessage,
  ParticipantInfoMessage,
  SnapshotsMessage,
} from "../protocol/evidenceProtocol.js";
import {
  WS_PATH,
  type ClientMessage,
  type ErrorMessage,
  type FrameContent,
  type ParticipantJoinedMessage,
  type ParticipantLeftMessage,
  type PauseMessage,
  type ReceiptMessage,
  type ResumeMessage,
  type Role,
  type RoomStateMessage,
  type ScoreMessage,
  type ServerMessage,
  type WelcomeMessage,
} from "../protocol/protocolTypes.js";

/** The part of the WebSocket API the client needs; both the browser's and `ws` have it. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** Server base URL (http://host:port or ws://host:port); /ws is appended. */
  url: string;
  token?: string;
  /** Development mode (no token): the room, role and participant id to join as. */
  room?: string;
  role?: Role;
  participantId?: string;
  name?: string;
  frameContent?: FrameContent;
  /** Defaults to globalThis.WebSocket. */
  WebSocket?: WebSocketConstructor;
}

export interface ClientEvents {
  score: ScoreMessage;
  receipt: ReceiptMessage;
  error: ErrorMessage;
  "room-state": RoomStateMessage;
  "participant-joined": ParticipantJoinedMessage;
  "participant-left": ParticipantLeftMessage;
  history: HistoryMessage;
  snapshots: SnapshotsMessage;
  "participant-info": ParticipantInfoMessage;
  alert: AlertMessage;
  explanation: ExplanationMessage;
  close: { code: number; reason: string };
}

export interface OutgoingFrame {
  kind: WireFrameKind;
  data: Uint8Array;
  width?: number;
  height?: number;
  strides?: [number, number, number];
  /** Capture time, ms since epoch; default now. */
  capturedAt?: number;
}

type Listener<T> = (event: T) => void;

export function wsUrl(base: string): string {
  const url = new URL(base);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  url.pathname = WS_PATH;
  return url.toString();
}

export class MesoguardClient {
  #socket: WebSocketLike | null = null;
  #listeners = new Map<keyof ClientEvents, Set<Listener<never>>>();
  #seq = 0;
  welcome: WelcomeMessage | null = null;

  constructor(private readonly options: ClientOptions) {}

  /** Opens the socket and joins; resolves with the server's welcome, rejects with its error. */
  connect(): Promise<WelcomeMessage> {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error("mesoguard client: no WebSocket implementation (in Node pass the ws package's WebSocket)");
    const socket = new Ctor(wsUrl(this.options.url));
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    return new Promise<WelcomeMessage>((resolve, reject) => {
      let settled = false;
      socket.onopen = () => {
        const join: ClientMessage = {
          type: "join",
          token: this.options.token,
          room: this.options.room,
          role: this.options.role,
          participantId: this.options.participantId,
          name: this.options.name,
          frameContent: this.options.frameContent,
        };
        socket.send(JSON.stringify(join));
      };
      socket.onmessage = (event) => {
        if (typeof event.data !== "string") return;
        let message: ServerMessage;
        try {
          message = JSON.parse(event.data) as ServerMessage;
        } catch {
          return;
        }
        if (!settled && message.type === "welcome") {
          settled = true;
          this.welcome = message;
          resolve(message);
          return;
        }
        if (!settled && message.type === "error") {
          settled = true;
          reject(Object.assign(new Error(message.message), { code: message.code }));
        }
        this.#emit(message.type as keyof ClientEvents, message as never);
      };
      socket.onclose = (event) => {
        if (!settled) {
          settled = true;
          reject(Object.assign(new Error(`closed before joining: ${event.code} ${event.reason}`), { code: event.code }));
        }
        this.#emit("close", { code: event.code, reason: event.reason });
      };
      socket.onerror = () => {
        // onclose follows with the code; nothing to add here.
      };
    });
  }

  on<K extends keyof ClientEvents>(type: K, listener: Listener<ClientEvents[K]>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set!.delete(listener as Listener<never>);
  }

  /** Resolves with the next event of a type that passes `filter`, or rejects after `timeoutMs`. */
  next<K extends keyof ClientEvents>(type: K, filter: (event: ClientEvents[K]) => boolean = () => true, timeoutMs = 10_000): Promise<ClientEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`mesoguard client: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(type, (event) => {
        if (!filter(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  #emit<K extends keyof ClientEvents>(type: K, event: ClientEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) (listener as Listener<ClientEvents[K]>)(event);
  }

  /** Sends one frame; returns its sequence number. */
  sendFrame(frame: OutgoingFrame): number {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) throw new Error("mesoguard client: not connected");
    const seq = ++this.#seq;
    socket.send(
      encodeFrame({
        kind: frame.kind,
        seq,
        capturedAt: frame.capturedAt ?? Date.now(),
        width: frame.width ?? 0,
        height: frame.height ?? 0,
        strides: frame.strides,
        payload: frame.data,
      }),
    );
    return seq;
  }

  /**
   * Tells the server this participant stopped sending frames (and why): it shows as "paused" rather than as a
   * participant without a face. A frame, or resume(), ends the pause.
   */
  pause(reason: PauseMessage["reason"] = "user"): void {
    this.#sendMessage({ type: "pause", reason });
  }

  resume(): void {
    this.#sendMessage({ type: "resume" });
  }

  #sendMessage(message: PauseMessage | ResumeMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) throw new Error("mesoguard client: not connected");
    socket.send(JSON.stringify(message));
  }

  /** Bytes queued for sending: a sender should skip frames while this grows. */
  get bufferedAmount(): number {
    return this.#socket?.bufferedAmount ?? 0;
  }

  get connected(): boolean {
    return this.#socket?.readyState === 1;
  }

  /** Sends an observer's request (acknowledge or dismiss an alert, explain a face). */
  send(message: EvidenceClientMessage): void {
    const socket = this.#socket;
    if (!socket || socket.readyState !== 1) throw new Error("mesoguard client: not connected");
    socket.send(JSON.stringify(message));
  }

  /** Sends raw bytes or text (tests of the server's error handling use it). */
  sendRaw(data: string | Uint8Array): void {
    this.#socket?.send(data);
  }

  close(code = 1000, reason = "bye"): void {
    this.#socket?.close(code, reason);
  }
}

// Shared presentation helpers for the dashboard and the participant page: how each verdict state is shown
// (text + icon + colour class, never colour alone), number and time formatting, and small DOM helpers.
import type { VerdictState } from "../../verdict/verdictTypes.js";

export interface StateLook {
  /** Short text shown in the badge. */
  label: string;
  /** A symbol beside the text so the state reads without colour. */
  icon: string;
  /** What it means, for tooltips. */
  help: string;
  /** Higher = more alarming (used to sort tiles and to decide what is an alert). */
  severity: number;
}

export const STATE_LOOK: Record<VerdictState, StateLook> = {
  "likely-fake": { label: "Likely fake", icon: "✖", help: "rolling fake score at or above the likely-fake threshold", severity: 4 },
  suspicious: { label: "Suspicious", icon: "⚠", help: "rolling fake score at or above the suspicious threshold", severity: 3 },
  authentic: { label: "Authentic", icon: "✓", help: "rolling fake score below the suspicious threshold", severity: 2 },
  gathering: { label: "Gathering", icon: "…", help: "a face is being scored, not enough samples for a verdict yet", severity: 1 },
  "no-face": { label: "No face", icon: "∅", help: "frames arrive but no face was scored in the last seconds", severity: 0 },
  paused: { label: "Paused", icon: "❚❚", help: "the participant stopped sending (paused, tab hidden, camera off, or silent)", severity: 0 },
};

export const STATES = Object.keys(STATE_LOOK) as VerdictState[];

export function isVerdictState(value: unknown): value is VerdictState {
  return typeof value === "string" && Object.hasOwn(STATE_LOOK, value);
}

export function lookOf(state: VerdictState): StateLook {
  return STATE_LOOK[state] ?? STATE_LOOK["no-face"];
}

/** A score in [0, 1] with two decimals, or an en dash when there is none. */
export function formatScore(value: number | null | undefined): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(2) : "–";
}

export function formatRate(value: number): string {
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

/** Local wall-clock time, hh:mm:ss. */
export function formatClock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A duration as "12 s", "3 min", "2 h". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min`;
  return `${Math.round(min / 60)} h`;
}

/** Creates an element with a class and optional text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The element with this id, or an error naming it (the HTML and the script are built together). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`mesoguard page: element #${id} is missing`);
  return node as T;
}

/** Sets textContent only when it changed (avoids needless style/layout work on frequent updates). */
export function setText(node: Node, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

/** A state badge: icon + text in a pill whose colour also follows the state. */
export class StateBadge {
  readonly element: HTMLSpanElement;
  readonly #icon: HTMLSpanElement;
  readonly #text: HTMLSpanElement;
  #state: VerdictState | null = null;

  constructor(className = "badge") {
    this.element = el("span", className);
    this.element.setAttribute("role", "status");
    this.#icon = el("span", "badge-icon");
    this.#icon.setAttribute("aria-hidden", "true");
    this.#text = el("span", "badge-text");
    this.element.append(this.#icon, this.#text);
  }

  /** Before any verdict (nothing scored yet): a neutral badge with this text. */
  pending(text: string): void {
    this.#state = null;
    this.element.dataset.state = "pending";
    this.element.title = text;
    this.#icon.textContent = "○";
    this.#text.textContent = text;
  }

  set(state: VerdictState): void {
    if (state === this.#state) return;
    this.#state = state;
    const look = lookOf(state);
    this.element.dataset.state = state;
    this.element.title = look.help;
    this.#icon.textContent = look.icon;
    this.#text.textContent = look.label;
  }
}

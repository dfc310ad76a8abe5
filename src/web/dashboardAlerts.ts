// The dashboard's alert list: the server's alerts (a participant entered suspicious or likely-fake), each with
// Acknowledge and Dismiss buttons; who did which and when comes back from the server for every observer of the
// room. New alerts (not those replayed from history) beep and show a desktop notification when turned on.
import type { AlertRecord } from "../protocol/evidenceProtocol.js";
import { AlertSignals } from "./common/alertSignals.js";
import { byId, el, formatClock, formatScore, lookOf } from "./common/format.js";

const MAX_SHOWN = 200;

export class AlertPanel {
  readonly signals = new AlertSignals();
  readonly #list = byId<HTMLOListElement>("incident-alerts");
  readonly #count = byId("open-alerts");
  readonly #items = new Map<number, HTMLLIElement>();
  readonly #records = new Map<number, AlertRecord>();

  constructor(
    /** Sends acknowledge / dismiss to the server (false when not connected). */
    private readonly act: (alertId: number, action: "acknowledge" | "dismiss") => boolean,
    /** Server time -> local time (ms). */
    private readonly toLocal: (serverMs: number) => number,
    /** Opens the participant's detail view. */
    private readonly openDetail: (participantId: string) => void,
  ) {
    const sound = byId<HTMLInputElement>("alert-sound");
    sound.addEventListener("change", () => this.signals.enableSound(sound.checked));
    const notify = byId<HTMLInputElement>("alert-notify");
    notify.addEventListener("change", () => {
      void this.signals.enableNotifications(notify.checked).then((granted) => {
        notify.checked = granted;
        byId("notify-note").textContent = notify.checked || !("Notification" in globalThis) || Notification.permission !== "denied"
          ? ""
          : "notifications are blocked for this site in the browser";
      });
    });
  }

  /** An alert from the server: new (signal it unless replayed) or updated (acknowledged / dismissed). */
  show(alert: AlertRecord, replayed: boolean): void {
    const isNew = !this.#records.has(alert.id);
    this.#records.set(alert.id, alert);
    let item = this.#items.get(alert.id);
    if (!item) {
      item = el("li", "incident");
      item.dataset.alertId = String(alert.id);
      item.dataset.participantId = alert.participantId;
      this.#items.set(alert.id, item);
      this.#list.prepend(item);
      while (this.#list.childElementCount > MAX_SHOWN) {
        const last = this.#list.lastElementChild as HTMLLIElement;
        this.#items.delete(Number(last.dataset.alertId));
        this.#records.delete(Number(last.dataset.alertId));
        last.remove();
      }
    }
    this.#render(item, alert);
    if (isNew && !replayed && !alert.dismissed) {
      const look = lookOf(alert.to);
      this.signals.beep(alert.to === "likely-fake");
      this.signals.show(`${look.icon} ${alert.name || alert.participantId}: ${look.label}`, `rolling fake score ${formatScore(alert.aggregate)}`, `mesoguard-${alert.id}`);
    }
    this.#updateCount();
  }

  #render(item: HTMLLIElement, alert: AlertRecord): void {
    const look = lookOf(alert.to);
    const who = alert.name || alert.participantId;
    const at = formatClock(this.toLocal(alert.at));
    item.dataset.state = alert.to;
    item.dataset.status = alert.dismissed ? "dismissed" : alert.acknowledged ? "acknowledged" : "open";
    const time = el("time", "alert-time", at);
    time.dateTime = new Date(this.toLocal(alert.at)).toISOString();
    const name = el("button", "link incident-who", who);
    name.type = "button";
    name.title = `open the details of ${who} (${alert.participantId})`;
    name.addEventListener("click", () => this.openDetail(alert.participantId));
    const what = el("span", "incident-what", `${look.icon} ${look.label} (${formatScore(alert.aggregate)})`);
    const head = el("div", "incident-head");
    head.append(time, " ", name, " ", what);

    const status = el("div", "incident-status");
    const parts: string[] = [];
    if (alert.acknowledged) parts.push(`acknowledged by ${describe(alert.acknowledged.by)} at ${formatClock(this.toLocal(alert.acknowledged.at))}`);
    if (alert.dismissed) parts.push(`dismissed by ${describe(alert.dismissed.by)} at ${formatClock(this.toLocal(alert.dismissed.at))}`);
    status.textContent = parts.length ? parts.join("; ") : "open";

    const actions = el("div", "incident-actions");
    for (const [action, label] of [["acknowledge", "Acknowledge"], ["dismiss", "Dismiss"]] as const) {
      const button = el("button", `small ${action}`, label);
      button.type = "button";
      button.disabled = action === "acknowledge" ? Boolean(alert.acknowledged || alert.dismissed) : Boolean(alert.dismissed);
      button.setAttribute("aria-label", `${label} the alert: ${who} ${look.label} at ${at}`);
      button.addEventListener("click", () => {
        if (!this.act(alert.id, action)) status.textContent = "not connected: try again when live";
      });
      actions.append(button);
    }
    item.replaceChildren(head, status, actions);
  }

  #updateCount(): void {
    const open = [...this.#records.values()].filter((a) => !a.dismissed && !a.acknowledged).length;
    this.#count.textContent = open ? `${open} open` : "none open";
    this.#count.dataset.open = String(open);
  }

  /** Is an alert about this participant still open (neither acknowledged nor dismissed)? */
  openFor(participantId: string): boolean {
    return [...this.#records.values()].some((a) => a.participantId === participantId && !a.dismissed && !a.acknowledged);
  }
}

function describe(who: { id: string; name?: string }): string {
  return who.name && who.name !== who.id ? `${who.name} (${who.id})` : who.id;
}

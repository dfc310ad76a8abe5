// How a new alert gets the operator's attention beyond the page: an optional beep (WebAudio, no audio file) and
// an optional desktop notification. Both are off until the operator turns them on with a click (browsers only
// allow audio and the notification permission prompt after a user gesture).

export class AlertSignals {
  sound = false;
  notify = false;
  #audio: AudioContext | null = null;

  /** Called from the sound toggle's click: creates (unlocks) the audio context. */
  enableSound(on: boolean): void {
    this.sound = on;
    if (on) {
      this.#audio ??= new AudioContext();
      void this.#audio.resume();
    }
  }

  /** Called from the notification toggle's click: asks for permission once; false when it is refused. */
  async enableNotifications(on: boolean): Promise<boolean> {
    if (!on || typeof Notification === "undefined") {
      this.notify = false;
      return false;
    }
    const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    this.notify = permission === "granted";
    return this.notify;
  }

  /** A short two-tone beep, quieter for suspicious than for likely-fake. */
  beep(loud: boolean): void {
    const ctx = this.#audio;
    if (!this.sound || !ctx) return;
    const gain = ctx.createGain();
    gain.gain.value = loud ? 0.25 : 0.12;
    gain.connect(ctx.destination);
    [880, 660].forEach((frequency, i) => {
      const osc = ctx.createOscillator();
      osc.frequency.value = frequency;
      osc.connect(gain);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.15);
    });
  }

  show(title: string, body: string, tag: string): void {
    if (!this.notify || typeof Notification === "undefined" || Notification.permission !== "granted") return;
    new Notification(title, { body, tag });
  }
}

// The scan's progress on a terminal (stderr): files, frames, faces and an estimate of the time left.
import type { ScanProgress } from "./scanFiles.js";

export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #started = Date.now();
  #lastDraw = 0;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  update(p: ScanProgress): void {
    const now = Date.now();
    // At most ten redraws a second, but always the last file.
    if (now - this.#lastDraw < 100 && p.filesDone < p.filesTotal) return;
    this.#lastDraw = now;
    const width = 24;
    const filled = p.filesTotal === 0 ? width : Math.round((p.filesDone / p.filesTotal) * width);
    const elapsed = (now - this.#started) / 1000;
    const eta = p.filesDone > 0 ? (elapsed / p.filesDone) * (p.filesTotal - p.filesDone) : null;
    const etaText = eta === null ? "ETA --" : `ETA ${Math.ceil(eta)}s`;
    const line = `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${p.filesDone}/${p.filesTotal} files, ${p.frames} frames, ${p.faces} faces, ${etaText}`;
    this.#stream.write(`\r${line}\x1b[K`);
  }

  done(): void {
    this.#stream.write("\n");
  }
}

// The scan's progress on a terminal (stderr): files, frames, faces and an estimate of the time left.
import type { ScanProgress } from "./scanFiles.js";

/** "[####----]": `done` of `total` as a bar of `width` characters. */
export function barText(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

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
    const elapsed = (now - this.#started) / 1000;
    const eta = p.filesDone > 0 ? (elapsed / p.filesDone) * (p.filesTotal - p.filesDone) : null;
    const etaText = eta === null ? "ETA --" : `ETA ${Math.ceil(eta)}s`;
    const line = `${barText(p.filesDone, p.filesTotal)} ${p.filesDone}/${p.filesTotal} files, ${p.frames} frames, ${p.faces} faces, ${etaText}`;
    this.#stream.write(`\r${line}\x1b[K`);
  }

  done(): void {
    this.#stream.write("\n");
  }
}

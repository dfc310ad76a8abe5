// A small time-series chart of fake scores on a <canvas>: the rolling (aggregate) score as a solid line, the
// EMA as a thinner line, each frame's latest score as faint dots, and the two thresholds as dashed guides.
// Time runs right to left from "now" over `windowMs`. Drawing is cheap and only done when asked (the pages
// batch redraws into animation frames).

export interface ScorePoint {
  /** Local receive time (ms). */
  t: number;
  aggregate: number | null;
  ema: number | null;
  latest: number | null;
}

export interface ChartOptions {
  windowMs: number;
  /** Longest time between points still joined by a line (ms); longer = a gap (no data then). */
  gapMs: number;
  thresholds: { suspicious: number; likelyFake: number };
  /** Draw the axis labels (0, 0.5, 1 and the time span). */
  labels: boolean;
  /**
   * A full chart (the detail view's): y ticks every 0.25 with grid lines, the thresholds named at the right,
   * a time tick every minute, axis titles, 11 px text.
   */
  axes: boolean;
}

/**
 * The verdict thresholds charts and colours use: the defaults until the server's welcome says otherwise
 * (applyVerdictSettings mutates this object, which every chart shares).
 */
export const VERDICT_THRESHOLDS = { suspicious: 0.5, likelyFake: 0.75 };

export function applyVerdictSettings(verdict: { suspiciousAt: number; likelyFakeAt: number } | undefined): void {
  if (!verdict) return;
  VERDICT_THRESHOLDS.suspicious = verdict.suspiciousAt;
  VERDICT_THRESHOLDS.likelyFake = verdict.likelyFakeAt;
}

const DEFAULTS: ChartOptions = {
  windowMs: 3 * 60_000,
  gapMs: 5_000,
  thresholds: VERDICT_THRESHOLDS,
  labels: true,
  axes: false,
};

export class ScoreChart {
  readonly options: ChartOptions;
  readonly #points: ScorePoint[] = [];
  #cssWidth = 0;
  #cssHeight = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    options: Partial<ChartOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Called by a ResizeObserver (or once) with the canvas's CSS size. */
  resize(width: number, height: number): void {
    this.#cssWidth = Math.max(0, Math.round(width));
    this.#cssHeight = Math.max(0, Math.round(height));
  }

  get hasSize(): boolean {
    return this.#cssWidth > 0 && this.#cssHeight > 0;
  }

  push(point: ScorePoint): void {
    const last = this.#points[this.#points.length - 1];
    if (last && point.t < last.t) return;
    this.#points.push(point);
    // Trim what scrolled out (keep one older point so the line enters from the left edge).
    const cutoff = point.t - this.options.windowMs;
    let drop = 0;
    while (drop + 1 < this.#points.length && this.#points[drop + 1].t < cutoff) drop++;
    if (drop > 0) this.#points.splice(0, drop);
  }

  get points(): readonly ScorePoint[] {
    return this.#points;
  }

  /** Draws the last `windowMs` (default the chart's window; the points kept are the chart's window either way). */
  draw(now = Date.now(), windowMs = this.options.windowMs): void {
    const width = this.#cssWidth || this.canvas.clientWidth;
    const height = this.#cssHeight || this.canvas.clientHeight;
    if (width === 0 || height === 0) return;
    const dpr = Math.min(3, globalThis.devicePixelRatio || 1);
    const pw = Math.round(width * dpr);
    const ph = Math.round(height * dpr);
    if (this.canvas.width !== pw) this.canvas.width = pw;
    if (this.canvas.height !== ph) this.canvas.height = ph;
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const { gapMs, thresholds, labels, axes } = this.options;
    const left = axes ? 40 : labels ? 22 : 2;
    const right = width - (axes ? 104 : 2);
    const top = axes ? 8 : 3;
    const bottom = height - (axes ? 30 : labels ? 12 : 3);
    const plotW = Math.max(1, right - left);
    const plotH = Math.max(1, bottom - top);
    const x = (t: number) => right - ((now - t) / windowMs) * plotW;
    // 2 px inside the frame, so a score of 0 or 1 is a visible line, not hidden in the border.
    const y = (v: number) => bottom - 2 - Math.min(1, Math.max(0, v)) * (plotH - 4);

    // Threshold bands and guides.
    ctx.fillStyle = "rgba(200, 40, 40, 0.07)";
    ctx.fillRect(left, top, plotW, y(thresholds.likelyFake) - top);
    ctx.fillStyle = "rgba(215, 140, 0, 0.08)";
    ctx.fillRect(left, y(thresholds.likelyFake), plotW, y(thresholds.suspicious) - y(thresholds.likelyFake));
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    for (const [value, colour] of [
      [thresholds.suspicious, "rgba(180, 110, 0, 0.8)"],
      [thresholds.likelyFake, "rgba(190, 30, 30, 0.8)"],
    ] as const) {
      ctx.strokeStyle = colour;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(value)) + 0.5);
      ctx.lineTo(right, Math.round(y(value)) + 0.5);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.strokeStyle = "rgba(0, 0, 0, 0.25)";
    ctx.strokeRect(left + 0.5, top + 0.5, plotW - 1, plotH - 1);

    if (axes) {
      this.#axes(ctx, { left, right, top, bottom, width, height }, x, y, now, windowMs);
    } else if (labels) {
      ctx.fillStyle = "#555";
      ctx.font = "9px system-ui, sans-serif";
      ctx.textAlign = "right";
      ctx.textBaseline = "middle";
      ctx.fillText("1", left - 4, y(1) + 3);
      if (plotH >= 30) ctx.fillText(".5", left - 4, y(0.5)); // a sparkline keeps only 0 and 1 (they would overlap)
      ctx.fillText("0", left - 4, y(0) - 3);
      ctx.textBaseline = "alphabetic";
      ctx.textAlign = "left";
      ctx.fillText(`−${Math.round(windowMs / 60_000)} min`, left, height - 2);
      ctx.textAlign = "right";
      ctx.fillText("now", right, height - 2);
    }

    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, plotW, plotH);
    ctx.clip();
    // Latest per-frame scores: faint dots.
    ctx.fillStyle = "rgba(60, 60, 60, 0.35)";
    for (const p of this.#points) {
      if (p.latest === null) continue;
      ctx.fillRect(x(p.t) - 1, y(p.latest) - 1, 2, 2);
    }
    this.#line((p) => p.ema, "rgba(40, 100, 200, 0.9)", 1.25, x, y, gapMs);
    this.#line((p) => p.aggregate, "#1a1a1a", 2, x, y, gapMs);
    ctx.restore();
  }

  /** The detail chart's axes: y ticks and grid, named thresholds, minute ticks, titles. */
  #axes(
    ctx: CanvasRenderingContext2D,
    box: { left: number; right: number; top: number; bottom: number; width: number; height: number },
    x: (t: number) => number,
    y: (v: number) => number,
    now: number,
    windowMs: number,
  ): void {
    const { left, right, top, bottom, height } = box;
    const { thresholds } = this.options;
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = "#333";
    ctx.strokeStyle = "rgba(0, 0, 0, 0.08)";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      ctx.fillText(v.toFixed(2), left - 5, y(v));
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y(v)) + 0.5);
      ctx.lineTo(right, Math.round(y(v)) + 0.5);
      ctx.stroke();
    }
    ctx.textAlign = "left";
    ctx.fillStyle = "#8a1c1c";
    ctx.fillText(`likely fake ${thresholds.likelyFake}`, right + 5, y(thresholds.likelyFake));
    ctx.fillStyle = "#7a4a00";
    ctx.fillText(`suspicious ${thresholds.suspicious}`, right + 5, y(thresholds.suspicious));
    ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const seconds = Math.round(windowMs / 1000);
    const step = seconds <= 120 ? 15 : seconds <= 600 ? 60 : 300;
    for (let s = 0; s <= seconds; s += step) {
      const px = x(now - s * 1000);
      ctx.fillText(s === 0 ? "now" : s < 120 ? `−${s} s` : `−${s / 60} min`, px, bottom + 4);
      ctx.beginPath();
      ctx.moveTo(Math.round(px) + 0.5, bottom);
      ctx.lineTo(Math.round(px) + 0.5, bottom + 3);
      ctx.strokeStyle = "rgba(0, 0, 0, 0.4)";
      ctx.stroke();
    }
    ctx.textBaseline = "bottom";
    ctx.fillText("time (local)", (left + right) / 2, height);
    ctx.save();
    ctx.translate(10, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText("fake score", 0, 0);
    ctx.restore();
  }

  #line(
    pick: (p: ScorePoint) => number | null,
    colour: string,
    lineWidth: number,
    x: (t: number) => number,
    y: (v: number) => number,
    gapMs: number,
  ): void {
    const ctx = this.canvas.getContext("2d")!;
    ctx.strokeStyle = colour;
    ctx.lineWidth = lineWidth;
    ctx.lineJoin = "round";
    ctx.beginPath();
    let prevT = -Infinity;
    let open = false;
    for (const p of this.#points) {
      const v = pick(p);
      if (v === null) {
        open = false;
        continue;
      }
      if (!open || p.t - prevT > gapMs) ctx.moveTo(x(p.t), y(v));
      else ctx.lineTo(x(p.t), y(v));
      open = true;
      prevT = p.t;
    }
    ctx.stroke();
  }
}

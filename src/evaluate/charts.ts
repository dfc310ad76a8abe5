// The evaluation's charts as self-contained SVG files (no scripts, fonts or links): the ROC curves of both levels,
// and per level a histogram of the fake scores of real and of fake samples with the verdict's thresholds.
import type { Evaluation, LevelMetrics } from "./evaluation.js";

const W = 480;
const H = 400;
const LEFT = 50;
const RIGHT = 15;
const TOP = 40;
const BOTTOM = 80;
const PLOT_W = W - LEFT - RIGHT;
const PLOT_H = H - TOP - BOTTOM;

const COLOURS = { file: "#1f77b4", frame: "#ff7f0e", real: "#2ca02c", fake: "#d62728", threshold: "#555" } as const;

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

const x = (v: number) => (LEFT + v * PLOT_W).toFixed(1);
const y = (v: number) => (TOP + (1 - v) * PLOT_H).toFixed(1);

function svg(title: string, body: string[]): string {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<rect x="${LEFT}" y="${TOP}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#999"/>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}

/** Tick labels 0, 0.5, 1 on both axes and the axis titles. */
function axes(xTitle: string, yTitle: string, yMax: number): string[] {
  const out: string[] = [];
  for (const v of [0, 0.5, 1]) {
    out.push(`<text x="${x(v)}" y="${TOP + PLOT_H + 14}" text-anchor="middle">${v}</text>`);
    const label = yMax === 1 ? String(v) : (v * yMax).toFixed(2);
    out.push(`<text x="${LEFT - 5}" y="${Number(y(v)) + 4}" text-anchor="end">${label}</text>`);
  }
  out.push(`<text x="${LEFT + PLOT_W / 2}" y="${TOP + PLOT_H + 30}" text-anchor="middle">${esc(xTitle)}</text>`);
  out.push(`<text transform="translate(14 ${TOP + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${esc(yTitle)}</text>`);
  return out;
}

function curveLabel(m: LevelMetrics): string {
  return `${m.level} level: AUC ${m.auc.toFixed(3)} [${m.aucInterval.low.toFixed(3)}, ${m.aucInterval.high.toFixed(3)}]`;
}

/** A legend row under the plot (row 0 or 1): a swatch drawn like its bars or its line, and its text. */
function legendRow(row: number, colour: string, text: string, swatch: "bar" | "line" | "dashed"): string[] {
  const ly = TOP + PLOT_H + 50 + row * 16;
  const dash = swatch === "dashed" ? ` stroke-dasharray="6 3"` : "";
  return [
    `<line x1="${LEFT}" x2="${LEFT + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="${swatch === "bar" ? 8 : 2}"${dash}/>`,
    `<text x="${LEFT + 26}" y="${ly}">${esc(text)}</text>`,
  ];
}

/**
 * ROC curves (file and frame level) with the chance diagonal; each curve is a <polyline class="roc roc-LEVEL">.
 * The frame curve is dashed, so a file curve under it still shows.
 */
export function rocSvg(evaluation: Evaluation): string {
  const body = [`<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#bbb" stroke-dasharray="4 3"/>`];
  body.push(...axes("false-positive rate (real called fake)", "true-positive rate (fake called fake)", 1));
  [evaluation.fileLevel, evaluation.frameLevel].forEach((m, i) => {
    const points = m.roc.map((p) => `${x(p.fpr)},${y(p.tpr)}`).join(" ");
    const dash = m.level === "frame" ? ` stroke-dasharray="6 3"` : "";
    body.push(`<polyline class="roc roc-${m.level}" fill="none" stroke="${COLOURS[m.level]}" stroke-width="2"${dash} points="${points}"/>`);
    body.push(...legendRow(i, COLOURS[m.level], curveLabel(m), m.level === "frame" ? "dashed" : "line"));
  });
  return svg(`ROC, ${evaluation.model}`, body);
}

/** Bins of width 1/bins over [0, 1] (1 itself in the last bin): each bin's share of the scores. */
export function histogramShares(scores: readonly number[], bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const s of scores) counts[Math.min(bins - 1, Math.max(0, Math.floor(s * bins)))]!++;
  return counts.map((c) => (scores.length === 0 ? 0 : c / scores.length));
}

const BINS = 20;

/**
 * The fake scores of real and of fake samples of one level, as the share of each class per bin (classes of
 * different sizes stay comparable), side by side in each bin (<rect class="bar bar-real|bar-fake">), with the
 * verdict's two thresholds drawn.
 */
export function histogramSvg(evaluation: Evaluation, level: "file" | "frame"): string {
  const scoresOf = (label: "real" | "fake") =>
    evaluation.files.filter((f) => f.label === label && f.score !== null).flatMap((f) => (level === "file" ? [f.score!] : f.faces));
  const shares = { real: histogramShares(scoresOf("real"), BINS), fake: histogramShares(scoresOf("fake"), BINS) };
  const yMax = Math.max(...shares.real, ...shares.fake, 1e-9);
  const body = axes(`P(fake), ${level} level`, "share of the class", yMax);
  const barW = PLOT_W / BINS / 2;
  (["real", "fake"] as const).forEach((label, k) => {
    shares[label].forEach((share, bin) => {
      if (share === 0) return;
      const left = LEFT + (bin / BINS) * PLOT_W + k * barW;
      const top = Number(y(share / yMax));
      body.push(
        `<rect class="bar bar-${label}" x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${barW.toFixed(1)}" height="${(TOP + PLOT_H - top).toFixed(1)}" fill="${COLOURS[label]}"><title>${label}: ${(share * 100).toFixed(1)}% in [${(bin / BINS).toFixed(2)}, ${((bin + 1) / BINS).toFixed(2)})</title></rect>`,
      );
    });
    body.push(...legendRow(k, COLOURS[label], `${label} (${level === "file" ? "files" : "faces"}: ${scoresOf(label).length})`, "bar"));
  });
  for (const [name, value] of [
    ["suspicious", evaluation.thresholds.suspiciousAt],
    ["likely fake", evaluation.thresholds.likelyFakeAt],
  ] as const) {
    body.push(`<line class="threshold" x1="${x(value)}" x2="${x(value)}" y1="${TOP}" y2="${TOP + PLOT_H}" stroke="${COLOURS.threshold}" stroke-dasharray="4 3"/>`);
    // Above the plot: suspicious to the left of its line, likely fake to the right, so close thresholds stay legible.
    const anchor = name === "suspicious" ? `x="${Number(x(value)) - 3}" text-anchor="end"` : `x="${Number(x(value)) + 3}"`;
    body.push(`<text ${anchor} y="${TOP - 5}" fill="${COLOURS.threshold}">${name} ${value.toFixed(3)}</text>`);
  }
  return svg(`Fake scores of real and fake ${level === "file" ? "files" : "faces"}, ${evaluation.model}`, body);
}

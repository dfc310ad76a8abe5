// The scan's HTML report: one self-contained page (inline CSS and SVG, thumbnails as data: URIs, a CSP that
// forbids any load) with one section per file.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { loadAddon } from "../native/loadAddon.js";
import { cropSide } from "./occlusion.js";
import type { ScannedFile, EvidenceCrop } from "./scanFile.js";
import type { FileScan, ScanSettings } from "./scanTypes.js";

/** What the model can and cannot tell, as the README says it; printed in every report. */
export const MODEL_LIMITS = [
  "MesoNet's official weights were trained on one 2018 data set (Deepfake or Face2Face faces). Out of that distribution they are worth little: DeepfakeBench measured Meso4 at AUC 0.61 on FaceForensics++ c23.",
  "A single frame's score is a weak, noisy signal; it moves with crop framing and resampling too (the data set's own deepfake crops score about 0.96 fake as given, about 0.5 when re-detected and re-cropped).",
  "So a file is judged only from a face track with enough scored frames, by the same aggregation and thresholds as the live server; 'suspicious' means 'look at this', not 'fake'.",
];

const TRACK_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function num(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined ? "-" : value.toFixed(digits);
}

const STATE_LABEL: Record<string, string> = {
  "no-face": "No faces found",
  gathering: "No verdict (too few scored frames)",
  authentic: "Authentic",
  suspicious: "Suspicious",
  "likely-fake": "Likely fake",
};

/** The fake score of each face track over time, with the thresholds drawn. */
function timelineSvg(scan: FileScan, settings: ScanSettings): string {
  const W = 640, H = 200, left = 40, right = 10, top = 10, bottom = 30;
  const end = Math.max(scan.video?.durationS ?? 0, scan.timeline.at(-1)?.t ?? 0, 1e-3);
  const x = (t: number) => left + (t / end) * (W - left - right);
  const y = (fake: number) => top + (1 - fake) * (H - top - bottom);
  const parts: string[] = [];
  parts.push(`<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="#fafafa" stroke="#999"/>`);
  for (const [label, value] of [
    ["suspicious", settings.verdict.suspiciousAt],
    ["likely fake", settings.verdict.likelyFakeAt],
  ] as const) {
    parts.push(
      `<line class="threshold" x1="${left}" x2="${W - right}" y1="${y(value)}" y2="${y(value)}" stroke="#b00" stroke-dasharray="4 3"/>`,
      `<text x="${W - right - 4}" y="${y(value) - 3}" text-anchor="end" font-size="10" fill="#b00">${label} ${value}</text>`,
    );
  }
  for (const v of [0, 0.5, 1]) parts.push(`<text x="${left - 4}" y="${y(v) + 3}" text-anchor="end" font-size="10">${v}</text>`);
  parts.push(`<text x="${left}" y="${H - 8}" font-size="10">0 s</text>`);
  parts.push(`<text x="${W - right}" y="${H - 8}" font-size="10" text-anchor="end">${end.toFixed(1)} s</text>`);
  parts.push(`<text x="${(W + left) / 2}" y="${H - 8}" font-size="10" text-anchor="middle">video time; fake score per face track</text>`);
  scan.tracks.forEach((track, i) => {
    const colour = TRACK_COLOURS[i % TRACK_COLOURS.length];
    const points = scan.timeline.flatMap((f) => f.faces.filter((face) => face.id === track.id).map((face) => [f.t, face.fake] as const));
    parts.push(
      `<polyline class="track" data-track="${track.id}" fill="none" stroke="${colour}" stroke-width="1.5" points="${points.map(([t, f]) => `${x(t).toFixed(1)},${y(f).toFixed(1)}`).join(" ")}"/>`,
      ...points.map(([t, f]) => `<circle cx="${x(t).toFixed(1)}" cy="${y(f).toFixed(1)}" r="2.5" fill="${colour}"><title>face ${track.id}, ${t.toFixed(2)} s: ${f.toFixed(3)}</title></circle>`),
    );
  });
  const legend = scan.tracks
    .map((t, i) => `<span class="legend"><i style="background:${TRACK_COLOURS[i % TRACK_COLOURS.length]}"></i>face ${t.id}</span>`)
    .join(" ");
  return `<svg class="timeline" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="fake score over time per face track">${parts.join("")}</svg><div>${legend}</div>`;
}

async function thumbnail(crop: EvidenceCrop | undefined, caption: string): Promise<string> {
  if (!crop) return "";
  const jpeg = await loadAddon().encodeJpeg(crop.rgb, cropSide(crop.rgb), cropSide(crop.rgb), 85);
  return `<figure><img class="thumb" width="128" height="128" alt="${esc(caption)}" src="data:image/jpeg;base64,${jpeg.toString("base64")}"><figcaption>${esc(caption)}: face ${crop.id} at ${crop.t.toFixed(2)} s, fake ${crop.fake.toFixed(3)}</figcaption></figure>`;
}

/** A drop of P(fake) this large or larger is drawn fully red: a fixed scale, so tiny drops stay faint. */
const FULL_RED_DROP = 0.5;

/** The explained crop with each cell tinted by how far P(fake) dropped without it. */
async function explanationFigure(result: ScannedFile): Promise<string> {
  const e = result.scan.explanation;
  const crop = result.mostSuspicious;
  if (!e || !crop) return "";
  const jpeg = await loadAddon().encodeJpeg(crop.rgb, cropSide(crop.rgb), cropSide(crop.rgb), 85);
  const maxDrop = Math.max(...e.drops);
  const cell = 256 / e.grid;
  const cells = e.drops
    .map((drop, i) => {
      const opacity = Math.min(Math.max(drop, 0) / FULL_RED_DROP, 1) * 0.7;
      const x = (i % e.grid) * cell, y = Math.floor(i / e.grid) * cell;
      return `<rect class="cell" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="#f00" fill-opacity="${opacity.toFixed(3)}"><title>P(fake) drop ${drop.toFixed(3)}</title></rect>`;
    })
    .join("");
  return `<figure class="explain"><svg class="heatmap" viewBox="0 0 256 256" width="256" height="256"><image href="data:image/jpeg;base64,${jpeg.toString("base64")}" width="256" height="256"/>${cells}</svg><figcaption>Occlusion sensitivity of face ${e.faceId} at ${e.t.toFixed(2)} s (fake ${e.baseFake.toFixed(3)}): the redder a cell, the more P(fake) dropped when it was greyed out (full red: ${FULL_RED_DROP} or more; largest drop here ${maxDrop.toFixed(3)}). It shows the regions the model relied on, not proof of manipulation.</figcaption></figure>`;
}

async function fileSection(result: ScannedFile, settings: ScanSettings): Promise<string> {
  const s = result.scan;
  const state = s.error && s.frames === 0 ? "error" : s.verdict.state;
  const headline = state === "error" ? "Could not be scanned" : STATE_LABEL[state]!;
  const lines: string[] = [];
  lines.push(`<section class="file" data-state="${state}">`);
  lines.push(`<h2>${esc(s.file)}</h2>`);
  lines.push(
    `<p class="verdict state-${state}"><strong>${esc(headline)}</strong>${s.verdict.fake !== null ? ` - fake score ${num(s.verdict.fake)} (${s.verdict.aggregateMethod}, face ${s.verdict.trackId})` : ""}</p>`,
  );
  if (s.error) lines.push(`<p class="error">Error ${esc(s.error.code)}: ${esc(s.error.message)}${s.frames > 0 ? ` (after ${s.frames} frames; the results below cover them)` : ""}</p>`);
  const stream = s.video
    ? `${esc(s.video.codec)} ${s.video.width}x${s.video.height}, ${num(s.video.durationS, 1)} s, ${num(s.video.frameRate, 1)} frames/s (${esc(s.video.container)})`
    : s.kind;
  const counts = s.kind === "video" ? `${s.frames} frames analysed, ${s.facesScored} faces scored` : `${s.facesScored} faces scored`;
  lines.push(`<p class="meta">${stream}; ${counts}</p>`);
  if (s.tracks.length > 0) {
    // An image is one instant: its table says it all.
    if (s.kind === "video") lines.push(timelineSvg(s, settings));
    lines.push(
      `<table><thead><tr><th>face</th><th>first s</th><th>last s</th><th>frames</th><th>mean</th><th>aggregate</th><th>peak (s)</th><th>state</th></tr></thead><tbody>${s.tracks
        .map(
          (t) =>
            `<tr><td>${t.id}</td><td>${num(t.firstS, 2)}</td><td>${num(t.lastS, 2)}</td><td>${t.frames}</td><td>${num(t.mean)}</td><td>${num(t.aggregate)} (${t.aggregateMethod})</td><td>${num(t.peak)} (${num(t.peakS, 2)})</td><td>${esc(t.state)}</td></tr>`,
        )
        .join("")}</tbody></table>`,
    );
    const thumbs = (await thumbnail(result.mostSuspicious, "most suspicious")) + (await thumbnail(result.leastSuspicious, "least suspicious"));
    lines.push(thumbs ? `<div class="thumbs">${thumbs}</div>` : `<p class="meta">No face thumbnails: in crop mode the frames are the crops.</p>`);
    lines.push(await explanationFigure(result));
  }
  lines.push(`</section>`);
  return lines.join("\n");
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:900px}
section.file{border-top:1px solid #ccc;padding:12px 0}h2{font-size:16px;word-break:break-all;margin:4px 0}
.verdict{font-size:15px}.state-likely-fake strong{color:#a00}.state-suspicious strong{color:#b60}
.state-authentic strong{color:#060}.state-error strong,.error{color:#a00}.meta{color:#555}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
.thumbs{display:flex;gap:16px}figure{margin:0}figcaption{font-size:12px;max-width:200px}
.legend i{display:inline-block;width:12px;height:3px;margin:0 4px 3px 8px}
.settings td,.settings th{text-align:left}`;

/** Writes DIR/index.html and returns its path. */
export async function writeHtmlReport(dir: string, results: readonly ScannedFile[], settings: ScanSettings): Promise<string> {
  const v = settings.verdict;
  const sections: string[] = [];
  for (const result of results) sections.push(await fileSection(result, settings));
  const failed = results.filter((r) => r.scan.error).length;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>mesoguard scan report</title><style>${STYLE}</style></head><body>
<h1>mesoguard scan report</h1>
<p>${results.length} files, ${failed} could not be scanned. Generated ${esc(new Date().toISOString())}.</p>
<table class="settings"><tbody>
<tr><th>model</th><td>${esc(settings.model)}</td></tr>
<tr><th>face detector</th><td>${esc(settings.detector ?? "none: every frame is a face crop")}</td></tr>
<tr><th>sampling</th><td>${settings.fps} frames/s of video, at most ${settings.maxFrames} per video</td></tr>
<tr><th>verdict</th><td>suspicious at an aggregate fake score &ge; ${v.suspiciousAt}, likely fake &ge; ${v.likelyFakeAt}; a verdict needs a face track with &ge; ${v.minScoredFaces} scored frames; aggregate: the mean of the confident fakes (&ge; ${v.confidentFake}) when they are &ge; ${v.confidentFakeFraction * 100}% of a track's frames and at least ${v.confidentFakeMinCount}, else of the confident reals (&le; ${v.confidentReal}) when &ge; ${v.confidentRealFraction * 100}%, else the plain mean</td></tr>
</tbody></table>
<h2>What this model can and cannot tell</h2>
<ul class="limits">${MODEL_LIMITS.map((l) => `<li>${esc(l)}</li>`).join("")}</ul>
${sections.join("\n")}
</body></html>
`;
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, "index.html");
  await writeFile(file, html);
  return file;
}

// The scan's CSV summary: one row per file (RFC 4180 quoting).
import type { FileScan } from "./scanTypes.js";

const COLUMNS = [
  "file",
  "kind",
  "state",
  "fake",
  "aggregate_method",
  "track",
  "tracks",
  "frames",
  "faces_scored",
  "duration_s",
  "codec",
  "model",
  "detector",
  "error_code",
  "error",
] as const;

function cell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "number" ? String(Number(value.toFixed(6))) : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvSummary(scans: readonly FileScan[]): string {
  const rows = scans.map((s) =>
    [
      s.file,
      s.kind,
      s.error ? "error" : s.verdict.state,
      s.verdict.fake,
      s.verdict.aggregateMethod,
      s.verdict.trackId,
      s.tracks.length,
      s.frames,
      s.facesScored,
      s.video?.durationS,
      s.video?.codec,
      s.model,
      s.detector ?? "none (crops)",
      s.error?.code,
      s.error?.message,
    ]
      .map(cell)
      .join(","),
  );
  return [COLUMNS.join(","), ...rows].join("\r\n") + "\r\n";
}

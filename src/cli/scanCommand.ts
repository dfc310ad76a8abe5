// `mesoguard scan [options] PATH...`: recorded videos and images, a verdict per file.
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

import { loadScoringConfigFile } from "../config/serverConfig.js";
import { DEFAULT_DETECTOR, detectorNames, type DetectorName } from "../faces/detectorModels.js";
import { DEFAULT_MODEL, modelNames } from "../models/manifest.js";
import type { ProviderRequest } from "../native/addonTypes.js";
import { csvSummary } from "../scan/csvSummary.js";
import { writeHtmlReport } from "../scan/htmlReport.js";
import { findMediaFiles, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS } from "../scan/mediaFiles.js";
import { ProgressBar } from "../scan/progressBar.js";
import type { ScannedFile } from "../scan/scanFile.js";
import { scanFiles } from "../scan/scanFiles.js";
import { resolveScanSettings, SCAN_DEFAULTS, type ScanSettings } from "../scan/scanOptions.js";
import type { FileScan } from "../scan/scanTypes.js";
import { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { resolveVerdictConfig } from "../verdict/verdictConfig.js";

export const SCAN_USAGE = `Usage: mesoguard scan [options] PATH...

Scans videos (${VIDEO_EXTENSIONS.join(" ")}) and images (${IMAGE_EXTENSIONS.join(" ")}), given as files or
folders (searched recursively): frames sampled, faces found and tracked, every face scored with MesoNet, and a
verdict per file with the live server's thresholds. One line per file.

Options:
  --json             one JSON object per file (no progress bar)
  --csv FILE         also write a CSV summary, one row per file
  --report DIR       also write DIR/index.html: a self-contained report, one section per file
  --explain          per file, an occlusion-sensitivity map of the most suspicious face: how far P(fake)
                     drops with each cell of an 8x8 grid over its crop greyed out (64 more scorings per file;
                     where the model looked, not proof); in the JSON and the report
  --fps N            frames sampled per second of video (default ${SCAN_DEFAULTS.fps})
  --max-frames N     most frames per video (default ${SCAN_DEFAULTS.maxFrames})
  --concurrency N    files scanned at once (default ${SCAN_DEFAULTS.concurrency})
  --model NAME       ${modelNames().join(", ")} (default ${DEFAULT_MODEL}, or the --config file's);
                     a,b: every model scores each face, fake is their mean (per model: "models" in the timeline)
  --config FILE      a config file in serve's format (e.g. calibrate's config.json): its model and verdict
                     thresholds are used (its other settings are the server's)
  --detector NAME    ${detectorNames().join(", ")} (default ${DEFAULT_DETECTOR})
  --no-detect        every frame is a face crop already (no detector)
  --provider P       auto (default), tensorrt, cuda or cpu
  -h, --help         this text

Exit code: 0 when every file was scanned (a file without faces included), 1 when any failed, 2 for bad usage.`;

class UsageError extends Error {}

/** The numeric options as the scan settings (resolveScanSettings owns their defaults and ranges). */
function scanSettings(values: { fps?: string; "max-frames"?: string; concurrency?: string }): ScanSettings {
  const number = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    if (text.trim() === "" || !Number.isFinite(Number(text))) throw new UsageError(`--${flag} must be a number, got '${text}'`);
    return Number(text);
  };
  try {
    return resolveScanSettings({ fps: number("fps", values.fps), maxFrames: number("max-frames", values["max-frames"]), concurrency: number("concurrency", values.concurrency) });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
}

function humanLine(s: FileScan): string {
  if (s.error) {
    const partial = s.frames > 0 ? ` (after ${s.frames} frames)` : "";
    return `${s.file}\terror ${s.error.code}: ${s.error.message}${partial}`;
  }
  if (s.verdict.state === "no-face") return `${s.file}\tno faces\t${s.frames} frames\t(${s.model})`;
  const peak = Math.max(...s.tracks.map((t) => t.peak));
  const fake =
    s.verdict.fake === null
      ? `\tpeak fake=${peak.toFixed(4)} (too few frames for a verdict)`
      : `\tfake=${s.verdict.fake.toFixed(4)} (${s.verdict.aggregateMethod}, face ${s.verdict.trackId})`;
  return `${s.file}\t${s.verdict.state}${fake}\t${s.tracks.length} face track(s), ${s.frames} frames\t(${s.model})`;
}

export async function runScanCommand(argv: string[], out: (line: string) => void, err: NodeJS.WriteStream = process.stderr): Promise<number> {
  let values;
  let positionals: string[];
  let settings: ScanSettings;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        csv: { type: "string" },
        report: { type: "string" },
        explain: { type: "boolean", default: false },
        fps: { type: "string" },
        "max-frames": { type: "string" },
        concurrency: { type: "string" },
        model: { type: "string" },
        config: { type: "string" },
        detector: { type: "string", default: DEFAULT_DETECTOR },
        "no-detect": { type: "boolean", default: false },
        provider: { type: "string", default: "auto" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
    if (values.help) {
      out(SCAN_USAGE);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError("no files or folders given");
    settings = scanSettings(values);
    if (values.explain && values["no-detect"]) throw new UsageError("--explain needs face detection (drop --no-detect)");
  } catch (error) {
    if (!(error instanceof UsageError) && (error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS") !== true) throw error;
    err.write(`mesoguard scan: ${(error as Error).message}\n\n${SCAN_USAGE}\n`);
    return 2;
  }

  const configFile = values.config ? loadScoringConfigFile(values.config) : null;
  const files = await findMediaFiles(positionals);
  const verdict = configFile?.verdict ?? resolveVerdictConfig();
  const scorer = await MesoNetScorer.create({
    model: values.model ?? configFile?.model ?? DEFAULT_MODEL,
    provider: values.provider as ProviderRequest,
    detector: values["no-detect"] ? false : (values.detector as DetectorName),
  });
  const bar = !values.json && err.isTTY ? new ProgressBar(err) : null;
  let results: ScannedFile[];
  try {
    results = await scanFiles(scorer, files, {
      ...settings,
      verdict,
      keepCrops: Boolean(values.report) || values.explain,
      explain: values.explain,
      onProgress: bar ? (p) => bar.update(p) : undefined,
      onFile: (result) => {
        // Lines come as files finish; the bar is redrawn below them.
        if (bar) err.write("\r\x1b[K");
        out(values.json ? JSON.stringify(result.scan) : humanLine(result.scan));
      },
    });
  } finally {
    bar?.done();
    await scorer.close();
  }
  const scans = results.map((r) => r.scan);
  if (values.csv) await writeFile(values.csv, csvSummary(scans));
  if (values.report) {
    const used = { model: scorer.model.name, detector: scorer.detectorName, fps: settings.fps, maxFrames: settings.maxFrames, verdict };
    await writeHtmlReport(values.report, results, used);
  }
  return scans.some((s) => s.error) ? 1 : 0;
}

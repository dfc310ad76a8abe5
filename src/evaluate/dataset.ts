// The labelled data `evaluate` and `calibrate` read: the videos and images under a folder of real files and a
// folder of fake ones, scored through the scan pipeline (scanFiles: the same sampling, tracking and verdict as
// `mesoguard scan`), each file reduced to its file-level score and its faces' scores.
import { stat } from "node:fs/promises";
import path from "node:path";

import { findMediaFiles, type MediaFile, type MediaKind } from "../scan/mediaFiles.js";
import { scanFiles, type ScanProgress } from "../scan/scanFiles.js";
import type { FileScan } from "../scan/scanTypes.js";
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import type { VerdictConfig, VerdictState } from "../verdict/verdictTypes.js";

export type Label = "real" | "fake";

/** Bad data: the command stops with this message (exit code 1) and writes nothing. */
export class DatasetError extends Error {
  readonly code = "ERR_DATASET";
}

export interface LabelledFile extends MediaFile {
  label: Label;
}

export interface FileScore {
  file: string;
  label: Label;
  kind: MediaKind;
  /**
   * The file-level fake score: the verdict's aggregate (its most suspicious face track with enough scored frames),
   * else the highest aggregate of any track (an image has one frame, never enough for a verdict); null: no face.
   */
  score: number | null;
  /** The file's verdict state, as `mesoguard scan` gives it. */
  state: VerdictState;
  frames: number;
  /** P(fake) of every face scored in the file, in time order. */
  faces: number[];
}

async function filesUnder(dir: string, label: Label): Promise<LabelledFile[]> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    throw new DatasetError(`--${label} ${dir}: ${error.code === "ENOENT" ? "no such folder" : error.message}`);
  });
  if (!info.isDirectory()) throw new DatasetError(`--${label} ${dir}: not a folder`);
  const files = await findMediaFiles([dir]);
  if (files.length === 0) throw new DatasetError(`--${label} ${dir}: no videos or images in it (searched recursively)`);
  return files.map((f) => ({ ...f, label }));
}

/** The files of both folders, real first; a file in both (nested or repeated folders) is an error. */
export async function collectDataset(realDir: string, fakeDir: string): Promise<LabelledFile[]> {
  const real = await filesUnder(realDir, "real");
  const fake = await filesUnder(fakeDir, "fake");
  const realPaths = new Set(real.map((f) => path.resolve(f.path)));
  const both = fake.filter((f) => realPaths.has(path.resolve(f.path)));
  if (both.length > 0) {
    throw new DatasetError(`${both.length} file(s) are under both --real and --fake, e.g. ${both[0]!.path}: a file has one label`);
  }
  return [...real, ...fake];
}

/** A scan reduced to what the metrics need. */
export function fileScoreOf(scan: FileScan, label: Label): FileScore {
  const aggregates = scan.tracks.map((t) => t.aggregate);
  return {
    file: scan.file,
    label,
    kind: scan.kind,
    score: scan.verdict.fake ?? (aggregates.length > 0 ? Math.max(...aggregates) : null),
    state: scan.verdict.state,
    frames: scan.frames,
    faces: scan.timeline.flatMap((frame) => frame.faces.map((face) => face.fake)),
  };
}

export interface ScoreDatasetOptions {
  verdict: VerdictConfig;
  onProgress?: (progress: ScanProgress) => void;
}

/**
 * Scans every file (as `mesoguard scan` with its default sampling) and returns their scores in order. Any file
 * that cannot be read fails the whole data set: metrics over the files that happened to decode would be about
 * another data set than the one given.
 */
export async function scoreDataset(scorer: MesoNetScorer, files: readonly LabelledFile[], options: ScoreDatasetOptions): Promise<FileScore[]> {
  const results = await scanFiles(scorer, files, { verdict: options.verdict, onProgress: options.onProgress });
  const failed = results.filter((r) => r.scan.error);
  if (failed.length > 0) {
    const lines = failed.slice(0, 10).map((r) => `  ${r.scan.file}: ${r.scan.error!.code}: ${r.scan.error!.message}`);
    const more = failed.length > 10 ? `\n  ... and ${failed.length - 10} more` : "";
    throw new DatasetError(`${failed.length} file(s) could not be read (fix or remove them):\n${lines.join("\n")}${more}`);
  }
  return results.map((r, i) => fileScoreOf(r.scan, files[i]!.label));
}

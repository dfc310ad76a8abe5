// Scans many files, at most `concurrency` at a time, all through the one scorer (its queue batches their faces).
import type { MesoNetScorer } from "../scoring/MesoNetScorer.js";
import { resolveVerdictConfig } from "../verdict/verdictConfig.js";
import type { VerdictConfig } from "../verdict/verdictTypes.js";
import type { MediaFile } from "./mediaFiles.js";
import { scanFile, type ScanFileOptions, type ScannedFile } from "./scanFile.js";
import { resolveScanSettings } from "./scanOptions.js";

export interface ScanProgress {
  filesDone: number;
  filesTotal: number;
  frames: number;
  faces: number;
}

/** Every field optional: SCAN_DEFAULTS (./scanOptions.ts), the verdict's defaults, no crops kept, no explanations. */
export interface ScanFilesOptions extends Partial<Omit<ScanFileOptions, "onFrame" | "verdict">> {
  /** The verdict's settings over its defaults (resolveVerdictConfig checks them). */
  verdict?: Partial<VerdictConfig>;
  concurrency?: number;
  /** Each file's result as it completes (completion order). */
  onFile?: (result: ScannedFile, index: number) => void;
  onProgress?: (progress: ScanProgress) => void;
}

/** The results in the order of `files`. */
export async function scanFiles(scorer: MesoNetScorer, files: readonly MediaFile[], options: ScanFilesOptions = {}): Promise<ScannedFile[]> {
  const { onFile, onProgress } = options;
  const { fps, maxFrames, concurrency } = resolveScanSettings(options);
  const fileOptions: Omit<ScanFileOptions, "onFrame"> = {
    fps,
    maxFrames,
    verdict: resolveVerdictConfig(options.verdict),
    keepCrops: options.keepCrops ?? false,
    explain: options.explain ?? false,
  };
  const results: ScannedFile[] = new Array(files.length);
  const progress: ScanProgress = { filesDone: 0, filesTotal: files.length, frames: 0, faces: 0 };
  const onFrame = (faces: number) => {
    progress.frames++;
    progress.faces += faces;
    onProgress?.(progress);
  };
  let next = 0;
  async function worker(): Promise<void> {
    for (let i = next++; i < files.length; i = next++) {
      results[i] = await scanFile(scorer, files[i]!, { ...fileOptions, onFrame });
      progress.filesDone++;
      onFile?.(results[i]!, i);
      onProgress?.(progress);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return results;
}

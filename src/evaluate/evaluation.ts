// The evaluation of a model on labelled files: the metrics at file level (one score per file, the aggregate the
// verdict judges) and at frame level (every scored face, labelled by its file), from scores already computed.
import type { VerdictConfig } from "../verdict/verdictTypes.js";
import { DatasetError, type FileScore, type Label } from "./dataset.js";
import {
  BOOTSTRAP_DEFAULTS,
  bootstrapAucInterval,
  confusion,
  eer,
  rocAuc,
  rocCurve,
  tprAtFpr,
  type AucInterval,
  type BootstrapOptions,
  type Confusion,
  type EqualErrorRate,
  type OperatingPoint,
  type RocPoint,
} from "./metrics.js";

/** Files with a scored face needed per class: fewer leave no interval to compute (a bootstrap resamples them). */
export const MIN_FILES_PER_CLASS = 2;

/** The false-positive rates the TPR is reported at. */
export const REPORTED_FPRS = [0.01, 0.05, 0.1] as const;

export type Level = "file" | "frame";

export type EvaluatedVerdict = Pick<VerdictConfig, "suspiciousAt" | "likelyFakeAt" | "minScoredFaces">;

export interface LevelMetrics {
  level: Level;
  /** Scores per class: files (file level) or faces (frame level). */
  real: number;
  fake: number;
  auc: number;
  aucInterval: AucInterval;
  eer: EqualErrorRate;
  tprAtFpr: Array<OperatingPoint & { maxFpr: number }>;
  /** At the verdict's thresholds applied to P(fake): >= suspiciousAt, >= likelyFakeAt. */
  confusion: { suspicious: Confusion; likelyFake: Confusion };
  roc: RocPoint[];
}

export interface ClassCounts {
  files: number;
  images: number;
  videos: number;
  /** Files in which no face was scored: left out of the metrics. */
  noFace: number;
  /** Faces scored over all files. */
  faces: number;
}

export interface Evaluation {
  model: string;
  /** The face detector, null with --no-detect. */
  detector: string | null;
  /** The verdict settings the confusion and the file states used. */
  thresholds: EvaluatedVerdict;
  data: Record<Label, ClassCounts>;
  fileLevel: LevelMetrics;
  frameLevel: LevelMetrics;
  files: FileScore[];
}

export interface EvaluationSettings {
  model: string;
  detector: string | null;
  verdict: EvaluatedVerdict;
  bootstrap?: Partial<BootstrapOptions>;
}

function counts(files: readonly FileScore[]): ClassCounts {
  return {
    files: files.length,
    images: files.filter((f) => f.kind === "image").length,
    videos: files.filter((f) => f.kind === "video").length,
    noFace: files.filter((f) => f.score === null).length,
    faces: files.reduce((sum, f) => sum + f.faces.length, 0),
  };
}

/** Metrics of one level; scores come grouped by file so the interval resamples files. */
function levelMetrics(
  level: Level,
  fakeGroups: number[][],
  realGroups: number[][],
  settings: EvaluationSettings,
): LevelMetrics {
  const fake = fakeGroups.flat();
  const real = realGroups.flat();
  return {
    level,
    real: real.length,
    fake: fake.length,
    auc: rocAuc(fake, real),
    aucInterval: bootstrapAucInterval(fakeGroups, realGroups, { ...BOOTSTRAP_DEFAULTS, ...settings.bootstrap }),
    eer: eer(fake, real),
    tprAtFpr: REPORTED_FPRS.map((maxFpr) => ({ maxFpr, ...tprAtFpr(fake, real, maxFpr) })),
    confusion: {
      suspicious: confusion(fake, real, settings.verdict.suspiciousAt),
      likelyFake: confusion(fake, real, settings.verdict.likelyFakeAt),
    },
    roc: rocCurve(fake, real),
  };
}

/**
 * Both levels' metrics. Files without a face are counted and left out. Throws a DatasetError when a class has
 * fewer than MIN_FILES_PER_CLASS files with a scored face.
 */
export function evaluateScores(files: readonly FileScore[], settings: EvaluationSettings): Evaluation {
  const scored = (label: Label) => files.filter((f) => f.label === label && f.score !== null);
  const real = scored("real");
  const fake = scored("fake");
  for (const [label, list] of [
    ["real", real],
    ["fake", fake],
  ] as const) {
    if (list.length < MIN_FILES_PER_CLASS) {
      const all = files.filter((f) => f.label === label).length;
      throw new DatasetError(
        `--${label}: ${list.length} of ${all} file(s) had a face scored; metrics with a confidence interval need at least ` +
          `${MIN_FILES_PER_CLASS} per class`,
      );
    }
  }
  return {
    model: settings.model,
    detector: settings.detector,
    thresholds: {
      suspiciousAt: settings.verdict.suspiciousAt,
      likelyFakeAt: settings.verdict.likelyFakeAt,
      minScoredFaces: settings.verdict.minScoredFaces,
    },
    data: { real: counts(files.filter((f) => f.label === "real")), fake: counts(files.filter((f) => f.label === "fake")) },
    fileLevel: levelMetrics("file", fake.map((f) => [f.score!]), real.map((f) => [f.score!]), settings),
    frameLevel: levelMetrics("frame", fake.map((f) => f.faces), real.map((f) => f.faces), settings),
    files: [...files],
  };
}

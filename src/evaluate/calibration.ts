// Verdict thresholds chosen from the real files' file-level scores (the aggregate the verdict judges) so that the
// false-positive rate on this data stays at or below a target, and the config file that carries them.
import { resolveVerdictConfig, DEFAULT_VERDICT_CONFIG } from "../verdict/verdictConfig.js";
import type { VerdictConfig } from "../verdict/verdictTypes.js";
import { DatasetError } from "./dataset.js";
import type { Evaluation } from "./evaluation.js";
import { thresholdAtFpr, type FprThreshold } from "./metrics.js";

/** The highest --target-fpr: calibrating for more false positives than a quarter of real files is not a detector. */
export const MAX_TARGET_FPR = 0.25;

/** suspiciousAt is calibrated at this many times the target false-positive rate, at most MAX_TARGET_FPR. */
export const SUSPICIOUS_FPR_FACTOR = 5;

export const CALIBRATION_RULE =
  `likelyFakeAt: the lowest midpoint between consecutive distinct real-file scores (or between the highest and 1) ` +
  `at which at most the target fraction of real files score >= it; suspiciousAt: the same at ${SUSPICIOUS_FPR_FACTOR}x ` +
  `the target, capped at ${MAX_TARGET_FPR}; when the real files are too few to tell the two apart (both land in ` +
  `the same gap), suspiciousAt goes a quarter of the way up that gap, with the same rate on this data`;

export interface OperatingPointOnData extends FprThreshold {
  /** The fraction of fake files scoring >= threshold. */
  tpr: number;
}

export interface Calibration {
  targetFpr: number;
  suspiciousTargetFpr: number;
  likelyFake: OperatingPointOnData;
  suspicious: OperatingPointOnData;
  rule: string;
  /** What the config file sets: the two thresholds, and hysteresis when its default would not fit below them. */
  verdict: Pick<VerdictConfig, "suspiciousAt" | "likelyFakeAt"> & Partial<Pick<VerdictConfig, "hysteresis">>;
}

export function checkTargetFpr(value: number): void {
  if (!(value > 0 && value <= MAX_TARGET_FPR)) throw new RangeError(`--target-fpr must be in (0, ${MAX_TARGET_FPR}], got ${value}`);
}

export function calibrateThresholds(evaluation: Evaluation, targetFpr: number): Calibration {
  checkTargetFpr(targetFpr);
  const scores = (label: "real" | "fake") => evaluation.files.filter((f) => f.label === label && f.score !== null).map((f) => f.score!);
  const real = scores("real");
  const fake = scores("fake");
  const tprAt = (threshold: number) => fake.filter((s) => s >= threshold).length / fake.length;
  const suspiciousTargetFpr = Math.min(SUSPICIOUS_FPR_FACTOR * targetFpr, MAX_TARGET_FPR);
  let likelyFake: FprThreshold;
  let suspicious: FprThreshold;
  try {
    likelyFake = thresholdAtFpr(real, targetFpr);
    suspicious = thresholdAtFpr(real, suspiciousTargetFpr);
  } catch (error) {
    throw new DatasetError(`cannot calibrate: ${(error as Error).message}`);
  }
  if (suspicious.threshold >= likelyFake.threshold) {
    suspicious = { ...likelyFake, threshold: likelyFake.below + (likelyFake.above - likelyFake.below) / 4 };
  }
  const verdict: Calibration["verdict"] = { suspiciousAt: suspicious.threshold, likelyFakeAt: likelyFake.threshold };
  // The verdict leaves a state only `hysteresis` below its threshold, which must stay above 0.
  if (DEFAULT_VERDICT_CONFIG.hysteresis >= verdict.suspiciousAt) verdict.hysteresis = verdict.suspiciousAt / 2;
  resolveVerdictConfig(verdict); // the thresholds obey the verdict's own rules (throws otherwise)
  return {
    targetFpr,
    suspiciousTargetFpr,
    likelyFake: { ...likelyFake, tpr: tprAt(likelyFake.threshold) },
    suspicious: { ...suspicious, tpr: tprAt(suspicious.threshold) },
    rule: CALIBRATION_RULE,
    verdict,
  };
}

/** The server's config file format (`mesoguard serve --config`, `mesoguard scan --config`): the model and the verdict. */
export function calibratedConfigJson(model: string, calibration: Calibration): string {
  return JSON.stringify({ model, verdict: calibration.verdict }, null, 2) + "\n";
}

// The held-out metrics a fine-tuned model's manifest and card carry, face by face: fakes are the class to detect,
// scored by P(fake) = 1 - P(real); the AUC's bootstrap interval resamples files (a file's faces move together).
import { bootstrapAucInterval, eer, rocAuc, tprAtFpr } from "../evaluate/metrics.js";

export const TPR_AT_FPR = [0.01, 0.05, 0.1] as const;

export interface HeldOutMetrics {
  faces: { real: number; fake: number };
  auc: number;
  aucInterval: { low: number; high: number; level: number; resamples: number };
  eer: number;
  /** Keys "0.01", "0.05", "0.1": the best TPR with FPR at most that. */
  tprAtFpr: Record<string, number>;
}

/** One entry per held-out file: its label and the P(real) of each of its faces. */
export interface FileScores {
  label: "real" | "fake";
  reals: readonly number[];
}

export function heldOutMetrics(files: readonly FileScores[], seed: number): HeldOutMetrics {
  const groups = (label: "real" | "fake") => files.filter((f) => f.label === label && f.reals.length > 0).map((f) => f.reals.map((r) => 1 - r));
  const [fakeGroups, realGroups] = [groups("fake"), groups("real")];
  const [fakes, reals] = [fakeGroups.flat(), realGroups.flat()];
  // Percentile bootstrap, stratified by class, over files (metrics.ts's resamples and level).
  const interval = bootstrapAucInterval(fakeGroups, realGroups, { seed });
  return {
    faces: { real: reals.length, fake: fakes.length },
    auc: rocAuc(fakes, reals),
    aucInterval: { low: interval.low, high: interval.high, level: interval.level, resamples: interval.resamples },
    eer: eer(fakes, reals).eer,
    tprAtFpr: Object.fromEntries(TPR_AT_FPR.map((f) => [String(f), tprAtFpr(fakes, reals, f).tpr])),
  };
}

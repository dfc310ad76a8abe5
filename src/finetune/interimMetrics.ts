// INTERIM: the few detection metrics `mesoguard finetune` reports, until src/evaluate/metrics.ts (issue 11's
// evaluate command) is on main; the functions have its names and signatures, so merging is an import change.
// Convention: `positives` are the scores of the class to detect (fakes, scored by P(fake)), `negatives` the reals.
import { randomInt, seededRandom } from "./seededRandom.js";

function checkScores(positives: readonly number[], negatives: readonly number[]): void {
  if (positives.length === 0 || negatives.length === 0) {
    throw new RangeError(`metrics need scores of both classes (got ${positives.length} positive, ${negatives.length} negative)`);
  }
}

/** P(a random positive scores above a random negative), ties counting one half: the rank-sum statistic. */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): number {
  checkScores(positives, negatives);
  const all = [...positives.map((s) => ({ s, positive: true })), ...negatives.map((s) => ({ s, positive: false }))].sort((a, b) => a.s - b.s);
  let positiveRanks = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.s === all[i]!.s) j++;
    for (let k = i; k <= j; k++) if (all[k]!.positive) positiveRanks += (i + j) / 2 + 1; // tied scores share their mean rank
    i = j + 1;
  }
  const p = positives.length;
  return (positiveRanks - (p * (p + 1)) / 2) / (p * negatives.length);
}

interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** The ROC curve's points from (0, 0) to (1, 1), one per distinct score; a score >= threshold is called positive. */
function rocPoints(positives: readonly number[], negatives: readonly number[]): RocPoint[] {
  checkScores(positives, negatives);
  const thresholds = [...new Set([...positives, ...negatives])].sort((a, b) => b - a);
  const rate = (scores: readonly number[], t: number) => scores.filter((s) => s >= t).length / scores.length;
  return [{ threshold: Infinity, fpr: 0, tpr: 0 }, ...thresholds.map((t) => ({ threshold: t, fpr: rate(negatives, t), tpr: rate(positives, t) }))];
}

export interface AucInterval {
  resamples: number;
  seed: number;
  level: number;
  low: number;
  high: number;
}

/**
 * Percentile bootstrap interval of the AUC, resampling groups (one file's scores) with replacement within each
 * class. Needs at least 2 groups per class.
 */
export function bootstrapAucInterval(
  positiveGroups: readonly (readonly number[])[],
  negativeGroups: readonly (readonly number[])[],
  options: { resamples?: number; seed?: number; level?: number } = {},
): AucInterval {
  const { resamples = 2000, seed = 1, level = 0.95 } = options;
  if (positiveGroups.length < 2 || negativeGroups.length < 2) {
    throw new RangeError(`a bootstrap interval needs at least 2 groups per class (got ${positiveGroups.length} positive, ${negativeGroups.length} negative)`);
  }
  const random = seededRandom(seed);
  const draw = (groups: readonly (readonly number[])[]) => groups.flatMap(() => groups[randomInt(random, groups.length)]!);
  const aucs = Array.from({ length: resamples }, () => rocAuc(draw(positiveGroups), draw(negativeGroups))).sort((a, b) => a - b);
  const at = (q: number) => aucs[Math.min(aucs.length - 1, Math.max(0, Math.round(q * (aucs.length - 1))))]!;
  return { resamples, seed, level, low: at((1 - level) / 2), high: at(1 - (1 - level) / 2) };
}

/** Where the false-positive rate equals the miss rate (1 - TPR), interpolated between ROC points. */
export function eer(positives: readonly number[], negatives: readonly number[]): { eer: number; threshold: number } {
  const points = rocPoints(positives, negatives);
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1]!, points[i]!];
    const gapA = a.fpr - (1 - a.tpr);
    const gapB = b.fpr - (1 - b.tpr);
    if (gapB < 0) continue;
    const f = gapB === gapA ? 0 : -gapA / (gapB - gapA);
    return { eer: a.fpr + f * (b.fpr - a.fpr), threshold: b.threshold };
  }
  throw new Error("unreachable: the ROC curve ends at (1, 1)");
}

/** The best TPR of a ROC point with FPR <= maxFpr, and its threshold. */
export function tprAtFpr(positives: readonly number[], negatives: readonly number[], maxFpr: number): RocPoint {
  return rocPoints(positives, negatives)
    .filter((p) => p.fpr <= maxFpr)
    .reduce((best, p) => (p.tpr > best.tpr ? p : best));
}

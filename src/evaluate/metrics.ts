// Detection metrics over scores, pure functions (no I/O): ROC curve and AUC, a bootstrap interval for the AUC,
// EER, TPR at a false-positive rate, the confusion at a threshold, and a threshold for a target false-positive
// rate. Convention everywhere: `positives` are the scores of the class to detect (fakes), `negatives` the others
// (reals); a higher score means more positive and a score >= threshold is called positive, as the verdict does
// with its thresholds.

export interface RocPoint {
  /** Scores >= threshold are called positive; Infinity for the first point (nothing called positive). */
  threshold: number;
  fpr: number;
  tpr: number;
}

function checkScores(positives: readonly number[], negatives: readonly number[]): void {
  if (positives.length === 0 || negatives.length === 0) {
    throw new RangeError(`metrics need scores of both classes (got ${positives.length} positive, ${negatives.length} negative)`);
  }
  for (const s of [...positives, ...negatives]) {
    if (!Number.isFinite(s)) throw new RangeError(`metrics need finite scores, got ${s}`);
  }
}

/** One point per distinct score, from (0, 0) to (1, 1), thresholds falling. */
export function rocCurve(positives: readonly number[], negatives: readonly number[]): RocPoint[] {
  checkScores(positives, negatives);
  const all = [...positives.map((s) => ({ s, positive: true })), ...negatives.map((s) => ({ s, positive: false }))];
  all.sort((a, b) => b.s - a.s);
  const points: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < all.length; i++) {
    if (all[i]!.positive) tp++;
    else fp++;
    // Tied scores move together: one point per distinct score.
    if (i + 1 < all.length && all[i + 1]!.s === all[i]!.s) continue;
    points.push({ threshold: all[i]!.s, fpr: fp / negatives.length, tpr: tp / positives.length });
  }
  return points;
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative, a tie
 * counting one half (the Mann-Whitney U statistic over n_pos * n_neg, from average ranks).
 */
export function rocAuc(positives: readonly number[], negatives: readonly number[]): number {
  checkScores(positives, negatives);
  const all = [...positives.map((s) => ({ s, positive: true })), ...negatives.map((s) => ({ s, positive: false }))];
  all.sort((a, b) => a.s - b.s);
  let positiveRankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.s === all[i]!.s) j++;
    const averageRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) if (all[k]!.positive) positiveRankSum += averageRank;
    i = j + 1;
  }
  const p = positives.length;
  return (positiveRankSum - (p * (p + 1)) / 2) / (p * negatives.length);
}

/** A small seeded generator (mulberry32): the same seed gives the same resamples on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BootstrapOptions {
  /** Number of resamples. */
  resamples: number;
  seed: number;
  /** Coverage of the interval, e.g. 0.95. */
  level: number;
}

export const BOOTSTRAP_DEFAULTS: Readonly<BootstrapOptions> = Object.freeze({ resamples: 2000, seed: 1, level: 0.95 });

export interface AucInterval extends BootstrapOptions {
  low: number;
  high: number;
}

/** The q-quantile of sorted values, linearly interpolated between ranks. */
function quantile(sorted: readonly number[], q: number): number {
  const at = q * (sorted.length - 1);
  const below = Math.floor(at);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below]! + (at - below) * (sorted[above]! - sorted[below]!);
}

/**
 * Percentile bootstrap interval of the AUC. Scores come in groups (a file's scores; one score per group for
 * file-level metrics) and groups are resampled, with replacement, within each class (stratified): every resample
 * keeps both classes at their sizes, and the scores of one file, which are not independent, move together.
 * Needs at least 2 groups per class (one group would resample to itself).
 */
export function bootstrapAucInterval(
  positiveGroups: readonly (readonly number[])[],
  negativeGroups: readonly (readonly number[])[],
  options: Partial<BootstrapOptions> = {},
): AucInterval {
  const { resamples, seed, level } = { ...BOOTSTRAP_DEFAULTS, ...options };
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`bootstrap resamples must be a positive integer, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`bootstrap level must be in (0, 1), got ${level}`);
  if (positiveGroups.length < 2 || negativeGroups.length < 2) {
    throw new RangeError(
      `a bootstrap interval needs at least 2 groups per class (got ${positiveGroups.length} positive, ${negativeGroups.length} negative)`,
    );
  }
  const random = seededRandom(seed);
  const draw = (groups: readonly (readonly number[])[]): number[] => {
    const scores: number[] = [];
    for (let i = 0; i < groups.length; i++) scores.push(...groups[Math.floor(random() * groups.length)]!);
    return scores;
  };
  const aucs: number[] = [];
  for (let b = 0; b < resamples; b++) aucs.push(rocAuc(draw(positiveGroups), draw(negativeGroups)));
  aucs.sort((a, b) => a - b);
  const tail = (1 - level) / 2;
  return { resamples, seed, level, low: quantile(aucs, tail), high: quantile(aucs, 1 - tail) };
}

export interface EqualErrorRate {
  /** Where the false-positive rate equals the false-negative rate (1 - TPR), on the ROC curve's segments. */
  eer: number;
  /** The threshold of the first ROC point at or past that crossing. */
  threshold: number;
}

export function eer(positives: readonly number[], negatives: readonly number[]): EqualErrorRate {
  const points = rocCurve(positives, negatives);
  // fpr - fnr rises from -1 at (0, 0) to +1 at (1, 1): find where it crosses 0, interpolating linearly.
  const gap = (p: RocPoint) => p.fpr - (1 - p.tpr);
  for (let i = 1; i < points.length; i++) {
    const after = points[i]!;
    if (gap(after) < 0) continue;
    const before = points[i - 1]!;
    const f = -gap(before) / (gap(after) - gap(before));
    return { eer: before.fpr + f * (after.fpr - before.fpr), threshold: after.threshold };
  }
  throw new Error("unreachable: the ROC curve ends at (1, 1)");
}

export interface OperatingPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** The highest TPR of a ROC point whose FPR is <= maxFpr (no interpolation), with its threshold. */
export function tprAtFpr(positives: readonly number[], negatives: readonly number[], maxFpr: number): OperatingPoint {
  let best: RocPoint | undefined;
  for (const p of rocCurve(positives, negatives)) {
    if (p.fpr <= maxFpr && (!best || p.tpr > best.tpr)) best = p;
  }
  return { threshold: best!.threshold, fpr: best!.fpr, tpr: best!.tpr };
}

export interface Confusion {
  threshold: number;
  /** Positives called positive (score >= threshold), positives missed, negatives called positive, negatives passed. */
  tp: number;
  fn: number;
  fp: number;
  tn: number;
}

export function confusion(positives: readonly number[], negatives: readonly number[], threshold: number): Confusion {
  const tp = positives.filter((s) => s >= threshold).length;
  const fp = negatives.filter((s) => s >= threshold).length;
  return { threshold, tp, fn: positives.length - tp, fp, tn: negatives.length - fp };
}

export interface FprThreshold {
  /** Scores >= threshold are called positive. */
  threshold: number;
  /** The fraction of the negatives at or above it. */
  fpr: number;
  /** The gap the threshold sits in: the highest negative score left below it, and the next negative score above (or `max`). */
  below: number;
  above: number;
}

/**
 * The lowest threshold, among the midpoints between consecutive distinct negative scores (and between the highest
 * and `max`), that calls at most `maxFpr` of the negatives positive. Scores are bounded by `max` (1 for
 * probabilities). The midpoint keeps the threshold away from the scores this data happened to have.
 * Throws a RangeError when no threshold up to `max` gets there (negatives scoring `max` itself).
 */
export function thresholdAtFpr(negatives: readonly number[], maxFpr: number, max = 1): FprThreshold {
  if (negatives.length === 0) throw new RangeError("a threshold at a false-positive rate needs negative scores");
  if (!(maxFpr >= 0 && maxFpr < 1)) throw new RangeError(`the false-positive rate must be in [0, 1), got ${maxFpr}`);
  const sorted = [...negatives].sort((a, b) => b - a);
  if (!Number.isFinite(sorted[0]!) || sorted[0]! > max || !Number.isFinite(sorted.at(-1)!)) {
    throw new RangeError(`negative scores must be finite and at most ${max}`);
  }
  // Walk down the distinct scores: `above` is the score over the gap, `flagged` the negatives at or above it.
  let above = max;
  let flagged = 0;
  let chosen: FprThreshold | undefined;
  for (let i = 0; i < sorted.length; ) {
    const below = sorted[i]!;
    let j = i;
    while (j < sorted.length && sorted[j] === below) j++;
    if (below < above) chosen = { threshold: (below + above) / 2, fpr: flagged / sorted.length, below, above };
    flagged = j;
    if (flagged / sorted.length > maxFpr) break;
    above = below;
    i = j;
  }
  if (!chosen) {
    throw new RangeError(`no threshold up to ${max} keeps the false-positive rate at or below ${maxFpr}: negatives score ${max}`);
  }
  return chosen;
}

// Percentiles and summaries of latency samples, and the timing helpers the bench uses.
import { performance } from "node:perf_hooks";

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The p-th percentile (0..100) of ascending `sorted`, interpolating linearly between the closest ranks. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  if (sorted.length === 1) return sorted[0]!;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** n, mean, min, p50, p95, p99, max of the samples, rounded to 0.001 (NaN for none; JSON writes NaN as null). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n === 0 ? NaN : sorted.reduce((sum, v) => sum + v, 0) / n;
  return {
    n,
    mean: round(mean),
    min: round(n === 0 ? NaN : sorted[0]!),
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(n === 0 ? NaN : sorted[n - 1]!),
  };
}

export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

/** Milliseconds on the monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

export interface RepeatOptions {
  /** Untimed runs first. */
  warmup: number;
  /** Most timed runs. */
  iterations: number;
  /** Stop timing once this much time has passed (after `minIterations`). */
  budgetMs: number;
  minIterations?: number;
}

/**
 * Runs `fn` `warmup` times untimed, then times it one call after another until `iterations` calls or
 * `budgetMs` have passed (at least `minIterations`, default 5). Returns each call's wall time in ms.
 */
export async function repeat(fn: (i: number) => Promise<void>, options: RepeatOptions): Promise<number[]> {
  for (let i = 0; i < options.warmup; i++) await fn(i);
  const minIterations = options.minIterations ?? 5;
  const samples: number[] = [];
  const start = nowMs();
  for (let i = 0; i < options.iterations; i++) {
    if (i >= minIterations && nowMs() - start > options.budgetMs) break;
    const t = nowMs();
    await fn(i);
    samples.push(nowMs() - t);
  }
  return samples;
}

/** Rounds for the table and the JSON: 3 decimals are plenty for ms and frames/s. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

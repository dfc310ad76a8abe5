// A rolling verdict over one stream of fake scores (one face track): a time window, a time-weighted EMA,
// DFDC-winner-style aggregation and a state machine with hysteresis.
import { resolveVerdictConfig } from "./verdictConfig.js";
import type { AggregateMethod, RollingScore, VerdictConfig, VerdictState } from "./verdictTypes.js";

/** Ordinal of the score-driven states; the others are not driven by a score. */
const LEVEL = { authentic: 0, suspicious: 1, "likely-fake": 2 } as const;
const BY_LEVEL = ["authentic", "suspicious", "likely-fake"] as const;
type ScoredState = (typeof BY_LEVEL)[number];

/** Slack for comparing a count against fraction * n (0.1 * 3 = 0.30000000000000004). */
const EPS = 1e-9;

function levelOf(score: number, suspiciousAt: number, likelyFakeAt: number): 0 | 1 | 2 {
  return score >= likelyFakeAt ? 2 : score >= suspiciousAt ? 1 : 0;
}

/**
 * The score-driven state after `prev` given the aggregate score, with hysteresis.
 * Rising uses the thresholds as they are (so authentic may jump straight to likely-fake); falling leaves a
 * level only once the score is below that level's threshold minus `hysteresis` (so likely-fake may fall
 * straight to authentic when the score drops below suspiciousAt - hysteresis). From "no-face" or
 * "gathering" the thresholds apply as they are.
 */
export function nextVerdictState(
  prev: VerdictState,
  aggregate: number,
  config: Pick<VerdictConfig, "suspiciousAt" | "likelyFakeAt" | "hysteresis">,
): ScoredState {
  const raw = levelOf(aggregate, config.suspiciousAt, config.likelyFakeAt);
  if (!Object.hasOwn(LEVEL, prev)) return BY_LEVEL[raw];
  const before = LEVEL[prev as ScoredState];
  if (raw >= before) return BY_LEVEL[raw];
  const sticky = levelOf(aggregate, config.suspiciousAt - config.hysteresis, config.likelyFakeAt - config.hysteresis);
  return BY_LEVEL[Math.min(before, sticky)];
}

/** Statistics of the window's scores. */
export interface WindowAggregate {
  samples: number;
  windowMean: number | null;
  aggregate: number | null;
  aggregateMethod: AggregateMethod | null;
}

/**
 * The aggregation of one window of scores: the mean of the confident fakes (fake >= confidentFake) when
 * they are at least confidentFakeFraction of the window and at least confidentFakeMinCount; else the mean
 * of the confident reals (fake <= confidentReal) when they are at least confidentRealFraction of the
 * window; else the mean of all. Nulls for an empty window.
 */
export function aggregateScores(scores: Iterable<number>, config: VerdictConfig): WindowAggregate {
  let n = 0;
  let sum = 0;
  let fakeCount = 0;
  let fakeSum = 0;
  let realCount = 0;
  let realSum = 0;
  for (const s of scores) {
    n++;
    sum += s;
    if (s >= config.confidentFake) {
      fakeCount++;
      fakeSum += s;
    }
    if (s <= config.confidentReal) {
      realCount++;
      realSum += s;
    }
  }
  if (n === 0) return { samples: 0, windowMean: null, aggregate: null, aggregateMethod: null };
  const windowMean = sum / n;
  if (fakeCount >= config.confidentFakeMinCount && fakeCount >= config.confidentFakeFraction * n - EPS) {
    return { samples: n, windowMean, aggregate: fakeSum / fakeCount, aggregateMethod: "confident-fake" };
  }
  if (realCount > 0 && realCount >= config.confidentRealFraction * n - EPS) {
    return { samples: n, windowMean, aggregate: realSum / realCount, aggregateMethod: "confident-real" };
  }
  return { samples: n, windowMean, aggregate: windowMean, aggregateMethod: "mean" };
}

/** A growable ring buffer of (time, score), oldest first. Capacity is a power of two. */
class SampleRing {
  private times = new Float64Array(64);
  private scores = new Float64Array(64);
  private head = 0;
  size = 0;

  push(time: number, score: number): void {
    if (this.size === this.times.length) this.grow();
    const i = (this.head + this.size) & (this.times.length - 1);
    this.times[i] = time;
    this.scores[i] = score;
    this.size++;
  }

  /** Drops samples with time < cutoff (they are at the front: times are non-decreasing). */
  dropBefore(cutoff: number): void {
    const mask = this.times.length - 1;
    while (this.size > 0 && this.times[this.head] < cutoff) {
      this.head = (this.head + 1) & mask;
      this.size--;
    }
  }

  *values(): IterableIterator<number> {
    const mask = this.times.length - 1;
    for (let k = 0; k < this.size; k++) yield this.scores[(this.head + k) & mask];
  }

  private grow(): void {
    const cap = this.times.length;
    const times = new Float64Array(cap * 2);
    const scores = new Float64Array(cap * 2);
    for (let k = 0; k < this.size; k++) {
      times[k] = this.times[(this.head + k) & (cap - 1)];
      scores[k] = this.scores[(this.head + k) & (cap - 1)];
    }
    this.times = times;
    this.scores = scores;
    this.head = 0;
  }
}

function checkTime(name: string, t: number): void {
  if (typeof t !== "number" || !Number.isFinite(t)) throw new RangeError(`${name} must be a finite number of ms, got ${String(t)}`);
}

/**
 * One stream of fake scores (a face track) over a time window.
 *
 * Clock: add() times must be non-decreasing; snapshot() times must be non-decreasing and not before the
 * latest add(). A sample may arrive with a capture time before the last snapshot (scoring latency): it is
 * accepted (and evicted at once if already outside the window). The state machine steps on every add()
 * (at the latest time seen) and every snapshot(), so the verdict does not depend on how often it is polled;
 * stateSince is the time of the step that changed the state.
 */
export class RollingVerdict {
  readonly config: VerdictConfig;
  private readonly ring = new SampleRing();
  private readonly windowMs: number;
  private readonly emaMs: number;
  private readonly noFaceMs: number;

  /** Latest add() time, -Infinity before any. */
  private lastAddTime = -Infinity;
  /** Latest time seen by add() or snapshot(). */
  private clock = -Infinity;
  private total = 0;
  private latest: number | null = null;

  // EMA over distinct timestamps: samples sharing a timestamp are averaged into one step.
  private emaBase: number | null = null;
  private groupTime = NaN;
  private groupSum = 0;
  private groupCount = 0;
  private groupAlpha = 1;
  private ema: number | null = null;

  private state: VerdictState = "no-face";
  private stateSince: number | null = null;

  constructor(config?: Partial<VerdictConfig>) {
    this.config = resolveVerdictConfig(config);
    this.windowMs = this.config.windowSeconds * 1000;
    this.emaMs = this.config.emaSeconds * 1000;
    this.noFaceMs = this.config.noFaceSeconds * 1000;
  }

  /** Time of the latest score added, or null before any. */
  get lastSeen(): number | null {
    return this.total > 0 ? this.lastAddTime : null;
  }

  /** Adds one scored face at capture time `timeMs`. Throws a RangeError for an older time or a bad score. */
  add(timeMs: number, fake: number): void {
    checkTime("timeMs", timeMs);
    if (timeMs < this.lastAddTime) {
      throw new RangeError(`timeMs ${timeMs} is before the previous sample's ${this.lastAddTime}: feed capture times in order`);
    }
    if (typeof fake !== "number" || !Number.isFinite(fake) || fake < 0 || fake > 1) {
      throw new RangeError(`fake score must be a finite number in [0, 1], got ${String(fake)}`);
    }
    this.ring.push(timeMs, fake);
    this.lastAddTime = timeMs;
    this.total++;
    this.latest = fake;
    this.updateEma(timeMs, fake);
    this.clock = Math.max(this.clock, timeMs);
    this.evaluate(this.clock);
  }

  /**
   * The rolling score at `nowMs` (evicting scores older than the window and stepping the state machine).
   * Throws a RangeError when nowMs is before the latest sample or an earlier snapshot.
   */
  snapshot(nowMs: number): RollingScore {
    checkTime("nowMs", nowMs);
    if (nowMs < this.clock) {
      throw new RangeError(`nowMs ${nowMs} is before the latest time already seen (${this.clock})`);
    }
    this.clock = nowMs;
    return this.evaluate(nowMs);
  }

  private updateEma(t: number, fake: number): void {
    if (t === this.groupTime) {
      this.groupSum += fake;
      this.groupCount++;
    } else {
      const prevTime = this.groupTime;
      this.emaBase = this.ema;
      this.groupTime = t;
      this.groupSum = fake;
      this.groupCount = 1;
      this.groupAlpha = this.emaBase === null ? 1 : 1 - Math.exp(-(t - prevTime) / this.emaMs);
    }
    const mean = this.groupSum / this.groupCount;
    this.ema = this.emaBase === null ? mean : this.emaBase + this.groupAlpha * (mean - this.emaBase);
  }

  private evaluate(now: number): RollingScore {
    // Keep samples no older than the window: now - t <= windowMs.
    this.ring.dropBefore(now - this.windowMs);
    const agg = aggregateScores(this.ring.values(), this.config);

    let next: VerdictState;
    if (this.total === 0 || now - this.lastAddTime > this.noFaceMs) next = "no-face";
    else if (agg.samples < this.config.minScoredFaces || agg.aggregate === null) next = "gathering";
    else next = nextVerdictState(this.state, agg.aggregate, this.config);

    if (this.stateSince === null || next !== this.state) {
      this.state = next;
      this.stateSince = now;
    }
    return {
      latest: this.latest,
      ema: this.ema,
      windowMean: agg.windowMean,
      aggregate: agg.aggregate,
      aggregateMethod: agg.aggregateMethod,
      samples: agg.samples,
      total: this.total,
      state: this.state,
      stateSince: this.stateSince,
    };
  }
}

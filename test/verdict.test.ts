// Rolling verdicts: configuration, EMA, time-window eviction, DFDC-style aggregation, the state machine with
// hysteresis, and the per-participant verdict over face tracks. Pure TypeScript: no addon, no model.
import { describe, expect, it } from "vitest";

import { ParticipantVerdict } from "../src/verdict/ParticipantVerdict.js";
import { RollingVerdict, aggregateScores, nextVerdictState } from "../src/verdict/RollingVerdict.js";
import { DEFAULT_VERDICT_CONFIG, resolveVerdictConfig } from "../src/verdict/verdictConfig.js";
import type { RollingScore, VerdictConfig, VerdictState } from "../src/verdict/verdictTypes.js";

/** Adds `scores` one every `stepMs` from `startMs`; returns the time of the last one. */
function feed(rv: RollingVerdict, startMs: number, stepMs: number, scores: number[]): number {
  let t = startMs;
  scores.forEach((s, i) => {
    t = startMs + i * stepMs;
    rv.add(t, s);
  });
  return t;
}

/** Deepfake-like scores in [0.9, 0.99] and real-like ones in [0, 0.1], deterministic. */
const dfLike = (n: number) => Array.from({ length: n }, (_, i) => 0.9 + (0.09 * ((i * 7) % 10)) / 9);
const realLike = (n: number) => Array.from({ length: n }, (_, i) => (0.1 * ((i * 3) % 11)) / 10);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe("verdict config", () => {
  it("has the documented defaults", () => {
    expect(DEFAULT_VERDICT_CONFIG).toEqual({
      windowSeconds: 10,
      emaSeconds: 3,
      minScoredFaces: 8,
      noFaceSeconds: 3,
      suspiciousAt: 0.5,
      likelyFakeAt: 0.75,
      hysteresis: 0.05,
      confidentFake: 0.8,
      confidentFakeFraction: 0.4,
      confidentFakeMinCount: 5,
      confidentReal: 0.2,
      confidentRealFraction: 0.9,
    });
    expect(Object.isFrozen(DEFAULT_VERDICT_CONFIG)).toBe(true);
    expect(resolveVerdictConfig()).toEqual(DEFAULT_VERDICT_CONFIG);
    expect(resolveVerdictConfig({})).toEqual(DEFAULT_VERDICT_CONFIG);
  });

  it("merges overrides and keeps defaults for fields given as undefined", () => {
    const c = resolveVerdictConfig({ windowSeconds: 5, minScoredFaces: 3, hysteresis: undefined });
    expect(c).toEqual({ ...DEFAULT_VERDICT_CONFIG, windowSeconds: 5, minScoredFaces: 3 });
    expect(new RollingVerdict({ emaSeconds: 1 }).config.emaSeconds).toBe(1);
  });

  it.each<[Partial<VerdictConfig> | Record<string, unknown>, string, string]>([
    [{ windowSeconds: 0 }, "windowSeconds", "0"],
    [{ windowSeconds: -1 }, "windowSeconds", "-1"],
    [{ windowSeconds: Number.NaN }, "windowSeconds", "NaN"],
    [{ windowSeconds: Number.POSITIVE_INFINITY }, "windowSeconds", "Infinity"],
    [{ emaSeconds: 0 }, "emaSeconds", "0"],
    [{ noFaceSeconds: -3 }, "noFaceSeconds", "-3"],
    [{ minScoredFaces: 2.5 }, "minScoredFaces", "2.5"],
    [{ minScoredFaces: 0 }, "minScoredFaces", "0"],
    [{ confidentFakeMinCount: 1.5 }, "confidentFakeMinCount", "1.5"],
    [{ suspiciousAt: 0 }, "suspiciousAt", "0"],
    [{ suspiciousAt: 0.8 }, "suspiciousAt", "0.8"],
    [{ suspiciousAt: 0.75 }, "suspiciousAt", "0.75"],
    [{ likelyFakeAt: 1.1 }, "likelyFakeAt", "1.1"],
    [{ hysteresis: -0.01 }, "hysteresis", "-0.01"],
    [{ hysteresis: 0.5 }, "hysteresis", "0.5"],
    [{ confidentFake: 0 }, "confidentFake", "0"],
    [{ confidentFake: 1.2 }, "confidentFake", "1.2"],
    [{ confidentReal: -0.1 }, "confidentReal", "-0.1"],
    [{ confidentReal: 0.8 }, "confidentReal", "0.8"],
    [{ confidentFakeFraction: 0 }, "confidentFakeFraction", "0"],
    [{ confidentFakeFraction: 1.5 }, "confidentFakeFraction", "1.5"],
    [{ confidentRealFraction: 0 }, "confidentRealFraction", "0"],
    [{ windowSeconds: "10" }, "windowSeconds", '"10"'],
    [{ windowSecs: 10 }, "windowSecs", "10"],
  ])("rejects %o naming the field and the value", (partial, field, shown) => {
    const call = () => resolveVerdictConfig(partial as Partial<VerdictConfig>);
    expect(call).toThrow(RangeError);
    expect(call).toThrow(field);
    expect(call).toThrow(`got ${shown}`);
  });

  it("accepts the edges of the ranges", () => {
    expect(() => resolveVerdictConfig({ likelyFakeAt: 1, confidentFake: 1, confidentFakeFraction: 1, confidentRealFraction: 1 })).not.toThrow();
    expect(() => resolveVerdictConfig({ hysteresis: 0, confidentReal: 0, minScoredFaces: 1, confidentFakeMinCount: 1 })).not.toThrow();
  });

  it("validates in the constructors", () => {
    expect(() => new RollingVerdict({ windowSeconds: 0 })).toThrow(RangeError);
    expect(() => new ParticipantVerdict({ likelyFakeAt: 0.4 })).toThrow(/suspiciousAt/);
  });
});

describe("RollingVerdict: EMA and window", () => {
  it("computes a time-weighted EMA (alpha = 1 - exp(-dt/tau)) as by hand", () => {
    const rv = new RollingVerdict(); // tau = 3 s
    expect(rv.snapshot(0).ema).toBeNull();
    rv.add(0, 0.2);
    expect(rv.snapshot(0).ema).toBe(0.2);
    rv.add(1000, 0.8);
    // alpha = 1 - e^(-1/3) = 0.283468689; 0.2 + 0.283468689 * 0.6 = 0.370081214
    expect(rv.snapshot(1000).ema).toBeCloseTo(0.370081214, 8);
    rv.add(3000, 0.5);
    // alpha = 1 - e^(-2/3) = 0.486582881; 0.370081214 + 0.486582881 * 0.129918786 = 0.433297471
    const s = rv.snapshot(3000);
    expect(s.ema).toBeCloseTo(0.433297471, 8);
    expect(s.latest).toBe(0.5);
    expect(s.total).toBe(3);
    // Time passing without samples does not move the EMA.
    expect(rv.snapshot(5000).ema).toBeCloseTo(0.433297471, 8);
  });

  it("averages samples sharing a timestamp into one EMA step", () => {
    const a = new RollingVerdict();
    a.add(0, 0.2);
    a.add(1000, 0.6);
    a.add(1000, 1.0);
    const b = new RollingVerdict();
    b.add(0, 0.2);
    b.add(1000, 0.8);
    expect(a.snapshot(1000).ema).toBeCloseTo(b.snapshot(1000).ema!, 12);
    expect(a.snapshot(1000).latest).toBe(1.0);
  });

  it("evicts by time, not by count", () => {
    const rv = new RollingVerdict(); // window 10 s
    rv.add(0, 0.9);
    rv.add(5000, 0.1);
    for (let i = 0; i < 1000; i++) rv.add(9000 + i / 2, 0.3); // 1000 samples within half a second: all kept
    let s = rv.snapshot(10_000); // the sample at 0 is exactly 10 s old: still in
    expect(s.samples).toBe(1002);
    expect(s.windowMean).toBeCloseTo((0.9 + 0.1 + 300) / 1002, 12);
    s = rv.snapshot(10_001);
    expect(s.samples).toBe(1001);
    expect(s.windowMean).toBeCloseTo((0.1 + 300) / 1001, 12);
    s = rv.snapshot(15_001);
    expect(s.samples).toBe(1000);
    expect(s.windowMean).toBeCloseTo(0.3, 12);
    s = rv.snapshot(19_499.5); // the newest, at 9499.5, is exactly 10 s old
    expect(s.samples).toBe(1);
    s = rv.snapshot(19_500);
    expect(s.samples).toBe(0);
    expect(s.windowMean).toBeNull();
    expect(s.aggregate).toBeNull();
    expect(s.aggregateMethod).toBeNull();
    expect(s.total).toBe(1002);
    expect(s.latest).toBe(0.3);
  });

  it("keeps only the window over a long stream", () => {
    const rv = new RollingVerdict({ windowSeconds: 2 });
    for (let i = 0; i <= 100_000; i++) rv.add(i * 10, (i % 100) / 100);
    const s = rv.snapshot(1_000_000);
    expect(s.samples).toBe(201);
    expect(s.total).toBe(100_001);
  });
});

describe("RollingVerdict: aggregation", () => {
  const at = (scores: number[], config?: Partial<VerdictConfig>): RollingScore => {
    const rv = new RollingVerdict(config);
    const last = feed(rv, 0, 100, scores);
    return rv.snapshot(last);
  };

  it("takes the mean of the confident fakes when enough of them agree", () => {
    const fakes = [0.85, 0.9, 0.95, 0.9, 1.0];
    const s = at([0.1, ...fakes, 0.3, 0.2, 0.5, 0.4]); // 5 of 10 >= 0.8: >= 0.4 * 10 and >= 5
    expect(s.aggregateMethod).toBe("confident-fake");
    expect(s.aggregate).toBeCloseTo(0.92, 12);
    expect(s.windowMean).toBeCloseTo((0.1 + 4.6 + 0.3 + 0.2 + 0.5 + 0.4) / 10, 12);
    expect(s.state).toBe("likely-fake");
  });

  it("counts a score equal to confidentFake as a confident fake", () => {
    const s = at([0.8, 0.8, 0.8, 0.8, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1]);
    expect(s.aggregateMethod).toBe("confident-fake");
    expect(s.aggregate).toBeCloseTo(0.8, 12);
  });

  it("needs confidentFakeMinCount confident fakes", () => {
    // 4 of 8 are confident fakes: fraction 0.5 >= 0.4 but 4 < 5: the plain mean.
    const scores = [0.9, 0.9, 0.9, 0.9, 0.3, 0.3, 0.3, 0.3];
    const s = at(scores);
    expect(s.aggregateMethod).toBe("mean");
    expect(s.aggregate).toBeCloseTo(0.6, 12);
    expect(s.aggregate).toBe(s.windowMean);
    // With a lower minimum, the same window is judged by its confident fakes.
    const t = at(scores, { confidentFakeMinCount: 4 });
    expect(t.aggregateMethod).toBe("confident-fake");
    expect(t.aggregate).toBeCloseTo(0.9, 12);
  });

  it("needs confidentFakeFraction of the window to be confident fakes", () => {
    const five = [0.9, 0.9, 0.9, 0.9, 0.9];
    const twelve = at([...five, ...Array<number>(7).fill(0.4)]); // 5 >= 0.4 * 12 = 4.8
    expect(twelve.aggregateMethod).toBe("confident-fake");
    expect(twelve.aggregate).toBeCloseTo(0.9, 12);
    const thirteen = at([...five, ...Array<number>(8).fill(0.4)]); // 5 < 0.4 * 13 = 5.2
    expect(thirteen.aggregateMethod).toBe("mean");
    expect(thirteen.aggregate).toBeCloseTo((4.5 + 3.2) / 13, 12);
  });

  it("takes the mean of the confident reals when at least 90% are confidently real", () => {
    const reals = [0.05, 0.1, 0.2, 0.15, 0, 0.1, 0.05, 0.2, 0.1];
    const s = at([...reals, 0.7]); // 9 of 10 <= 0.2
    expect(s.aggregateMethod).toBe("confident-real");
    expect(s.aggregate).toBeCloseTo(mean(reals), 12);
    expect(s.windowMean).toBeCloseTo((0.95 + 0.7) / 10, 12);

    const eight = at([...reals.slice(0, 8), 0.7, 0.6]); // 8 of 10: the plain mean
    expect(eight.aggregateMethod).toBe("mean");
    expect(eight.aggregate).toBeCloseTo((0.85 + 1.3) / 10, 12);
  });

  it("prefers confident fakes over confident reals and follows a DFDC-like configuration", () => {
    // confidentFakeFraction 0.05: 5 confident fakes among 100 are enough even though 95% are confidently real.
    const scores = [...Array<number>(95).fill(0.1), ...Array<number>(5).fill(0.95)];
    const s = aggregateScores(scores, resolveVerdictConfig({ confidentFakeFraction: 0.05 }));
    expect(s).toMatchObject({ samples: 100, aggregateMethod: "confident-fake" });
    expect(s.aggregate).toBeCloseTo(0.95, 12);
    const d = aggregateScores(scores, DEFAULT_VERDICT_CONFIG);
    expect(d.aggregateMethod).toBe("confident-real");
    expect(d.aggregate).toBeCloseTo(0.1, 12);
    // DFDC winner's count floor: more than 11 (here at least 12).
    const dfdc = resolveVerdictConfig({ confidentFakeMinCount: 12, confidentFakeFraction: 0.4 });
    expect(aggregateScores([...Array<number>(11).fill(0.9), ...Array<number>(9).fill(0.5)], dfdc).aggregateMethod).toBe("mean");
    expect(aggregateScores([...Array<number>(12).fill(0.9), ...Array<number>(9).fill(0.5)], dfdc).aggregateMethod).toBe("confident-fake");
    expect(aggregateScores([], DEFAULT_VERDICT_CONFIG)).toEqual({ samples: 0, windowMean: null, aggregate: null, aggregateMethod: null });
  });
});

describe("RollingVerdict: states", () => {
  it("goes no-face -> gathering -> authentic, with stateSince at each transition", () => {
    const rv = new RollingVerdict();
    let s = rv.snapshot(0);
    expect(s).toMatchObject({ state: "no-face", stateSince: 0, samples: 0, total: 0, latest: null });
    s = rv.snapshot(500);
    expect(s).toMatchObject({ state: "no-face", stateSince: 0 });
    for (let i = 0; i < 7; i++) rv.add(1000 + i * 100, 0.1);
    s = rv.snapshot(1600);
    expect(s).toMatchObject({ state: "gathering", stateSince: 1000, samples: 7 });
    rv.add(1700, 0.1); // the 8th scored face
    s = rv.snapshot(1750);
    expect(s).toMatchObject({ state: "authentic", stateSince: 1700, samples: 8 });
  });

  it("a run of deepfake-like scores drives to likely-fake", () => {
    const rv = new RollingVerdict();
    const scores = dfLike(60);
    const states: VerdictState[] = [];
    scores.forEach((f, i) => {
      rv.add(i * 33, f);
      states.push(rv.snapshot(i * 33).state);
    });
    expect(states.slice(0, 7)).toEqual(Array(7).fill("gathering"));
    expect(states.slice(7)).toEqual(Array(53).fill("likely-fake"));
    const s = rv.snapshot(59 * 33);
    expect(s.aggregateMethod).toBe("confident-fake");
    expect(s.aggregate).toBeCloseTo(mean(scores), 12);
    expect(s.stateSince).toBe(7 * 33);
  });

  it("real-like scores stay authentic", () => {
    const rv = new RollingVerdict();
    const scores = realLike(900); // 30 s at 30 fps
    const seen = new Set<VerdictState>();
    scores.forEach((f, i) => {
      rv.add(i * 33, f);
      if (i >= 7) seen.add(rv.snapshot(i * 33).state);
    });
    expect([...seen]).toEqual(["authentic"]);
    const s = rv.snapshot(899 * 33);
    expect(s.stateSince).toBe(7 * 33);
    expect(s.aggregateMethod).toBe("confident-real");
    expect(s.aggregate!).toBeLessThan(0.1);
  });

  /** 0.6 for 1 s, then 0.53 / 0.47 alternating for 19 s, then 0.3 for 1 s; one frame every 100 ms, snapshot each. */
  function oscillate(hysteresis: number) {
    const rv = new RollingVerdict({ windowSeconds: 1, hysteresis }); // 11 samples in the window
    const log: Array<{ t: number; agg: number; state: VerdictState; since: number }> = [];
    let t = 0;
    const step = (f: number) => {
      rv.add(t, f);
      const s = rv.snapshot(t);
      log.push({ t, agg: s.aggregate!, state: s.state, since: s.stateSince });
      t += 100;
    };
    for (let i = 0; i < 10; i++) step(0.6);
    for (let i = 0; i < 190; i++) step(i % 2 === 0 ? 0.53 : 0.47);
    const oscEnd = log.length;
    for (let i = 0; i < 10; i++) step(0.3);
    return { log, oscEnd };
  }

  it("hysteresis: an aggregate hovering around suspiciousAt does not flap once suspicious", () => {
    const { log, oscEnd } = oscillate(0.05);
    const hovering = log.slice(30, oscEnd); // window full of alternating scores
    expect(Math.min(...hovering.map((e) => e.agg))).toBeCloseTo(0.4972727, 6); // (5 * 0.53 + 6 * 0.47) / 11
    expect(Math.max(...hovering.map((e) => e.agg))).toBeCloseTo(0.5027273, 6); // (6 * 0.53 + 5 * 0.47) / 11
    expect(log[7]).toMatchObject({ state: "suspicious", since: 700 }); // the 8th face
    for (const e of log.slice(7, oscEnd)) expect(e).toMatchObject({ state: "suspicious", since: 700 });
    // It leaves only once clearly below: the first aggregate under 0.5 - 0.05.
    const drop = log.findIndex((e, i) => i >= oscEnd && e.agg < 0.45);
    expect(drop).toBeGreaterThan(oscEnd);
    for (const e of log.slice(oscEnd, drop)) {
      expect(e.agg).toBeLessThan(0.5);
      expect(e.state).toBe("suspicious");
    }
    for (const e of log.slice(drop)) expect(e).toMatchObject({ state: "authentic", since: log[drop].t });
  });

  it("without hysteresis the same scores flap", () => {
    const { log, oscEnd } = oscillate(0);
    let changes = 0;
    for (let i = 31; i < oscEnd; i++) if (log[i].state !== log[i - 1].state) changes++;
    expect(changes).toBeGreaterThan(100);
  });

  it("stateSince changes exactly on transitions", () => {
    const rv = new RollingVerdict({ minScoredFaces: 3, windowSeconds: 1 });
    const scores = [0.1, 0.1, 0.1, 0.1, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.5, 0.2, 0.2, 0.2, 0.1, 0.1];
    let prev = rv.snapshot(0);
    const transitions: Array<[number, VerdictState]> = [[0, prev.state]];
    scores.forEach((f, i) => {
      const t = 200 + i * 200;
      rv.add(t, f);
      const s = rv.snapshot(t);
      if (s.state !== prev.state) {
        expect(s.stateSince).toBe(t);
        transitions.push([t, s.state]);
      } else {
        expect(s.stateSince).toBe(prev.stateSince);
      }
      prev = s;
    });
    expect(transitions.map(([, s]) => s)).toEqual(["no-face", "gathering", "authentic", "suspicious", "likely-fake", "suspicious", "authentic"]);
  });

  it("steps on add(), so the verdict does not depend on how often it is polled", () => {
    const polled = new RollingVerdict();
    const unpolled = new RollingVerdict();
    const scores = [...dfLike(20), ...Array<number>(5).fill(0.6), ...realLike(5)];
    scores.forEach((f, i) => {
      polled.add(i * 100, f);
      polled.snapshot(i * 100);
      unpolled.add(i * 100, f);
    });
    expect(unpolled.snapshot(2900)).toEqual(polled.snapshot(2900));
  });

  it("goes to no-face after noFaceSeconds without a score, keeping the window's numbers", () => {
    const rv = new RollingVerdict();
    const last = feed(rv, 0, 100, realLike(20)); // 1900
    expect(rv.snapshot(last + 3000).state).toBe("authentic");
    const s = rv.snapshot(last + 3001);
    expect(s).toMatchObject({ state: "no-face", stateSince: last + 3001, samples: 20 });
    expect(s.aggregate).not.toBeNull();
    // Coming back with a full window: straight to a score-driven state.
    rv.add(last + 4000, 0.05);
    expect(rv.snapshot(last + 4000)).toMatchObject({ state: "authentic", stateSince: last + 4000 });
  });

  it("falls back to gathering when the window thins out", () => {
    const rv = new RollingVerdict({ windowSeconds: 1, noFaceSeconds: 5 });
    feed(rv, 0, 100, realLike(10)); // 0..900
    expect(rv.snapshot(900).state).toBe("authentic");
    expect(rv.snapshot(1250)).toMatchObject({ state: "gathering", stateSince: 1250, samples: 7 });
    expect(rv.snapshot(6000)).toMatchObject({ state: "no-face", stateSince: 6000, samples: 0 });
  });

  it("nextVerdictState: rising uses the thresholds, falling needs the hysteresis margin", () => {
    const c = DEFAULT_VERDICT_CONFIG;
    expect(nextVerdictState("gathering", 0.49, c)).toBe("authentic");
    expect(nextVerdictState("no-face", 0.5, c)).toBe("suspicious");
    expect(nextVerdictState("gathering", 0.75, c)).toBe("likely-fake");
    expect(nextVerdictState("authentic", 0.8, c)).toBe("likely-fake");
    expect(nextVerdictState("authentic", 0.5, c)).toBe("suspicious");
    expect(nextVerdictState("suspicious", 0.46, c)).toBe("suspicious");
    expect(nextVerdictState("suspicious", 0.449, c)).toBe("authentic");
    expect(nextVerdictState("suspicious", 0.75, c)).toBe("likely-fake");
    expect(nextVerdictState("likely-fake", 0.71, c)).toBe("likely-fake");
    expect(nextVerdictState("likely-fake", 0.69, c)).toBe("suspicious");
    expect(nextVerdictState("likely-fake", 0.46, c)).toBe("suspicious");
    expect(nextVerdictState("likely-fake", 0.1, c)).toBe("authentic");
  });

  it("nextVerdictState: falling never climbs, even with overlapping hysteresis bands", () => {
    const c = { suspiciousAt: 0.5, likelyFakeAt: 0.52, hysteresis: 0.05 };
    expect(nextVerdictState("suspicious", 0.48, c)).toBe("suspicious");
    expect(nextVerdictState("likely-fake", 0.48, c)).toBe("likely-fake");
    expect(nextVerdictState("likely-fake", 0.46, c)).toBe("suspicious");
    expect(nextVerdictState("likely-fake", 0.44, c)).toBe("authentic");
    expect(nextVerdictState("authentic", 0.51, c)).toBe("suspicious");
  });
});

describe("RollingVerdict: input checks", () => {
  it("rejects out-of-order timestamps and accepts equal ones", () => {
    const rv = new RollingVerdict();
    rv.add(1000, 0.5);
    rv.add(1000, 0.5);
    expect(() => rv.add(999, 0.5)).toThrow(RangeError);
    expect(() => rv.add(999, 0.5)).toThrow(/before the previous/);
    expect(() => rv.add(Number.NaN, 0.5)).toThrow(RangeError);
    expect(rv.snapshot(1000).total).toBe(2);
  });

  it.each([Number.NaN, -0.01, 1.01, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, "0.5" as unknown as number])(
    "rejects the score %s without changing anything",
    (bad) => {
      const rv = new RollingVerdict();
      rv.add(0, 0.5);
      expect(() => rv.add(100, bad)).toThrow(RangeError);
      expect(rv.snapshot(100)).toMatchObject({ total: 1, samples: 1, latest: 0.5 });
      rv.add(100, 0); // the failed add did not move the clock past 100
      rv.add(100, 1);
    },
  );

  it("rejects a snapshot before the latest sample or an earlier snapshot; accepts a late sample", () => {
    const rv = new RollingVerdict();
    rv.add(1000, 0.2);
    expect(() => rv.snapshot(999)).toThrow(RangeError);
    rv.snapshot(2000);
    expect(() => rv.snapshot(1999)).toThrow(RangeError);
    rv.add(1500, 0.4); // captured before the last snapshot, scored after it
    const s = rv.snapshot(2000);
    expect(s).toMatchObject({ samples: 2, total: 2, latest: 0.4 });
    expect(() => rv.snapshot(1600)).toThrow(RangeError);
  });
});

describe("ParticipantVerdict", () => {
  it("goes no-face -> gathering -> a verdict; frames without faces count toward no-face", () => {
    const pv = new ParticipantVerdict();
    expect(pv.snapshot(0).participant).toMatchObject({ state: "no-face", stateSince: 0, latest: null, aggregate: null, samples: 0, total: 0 });
    pv.addFrame(100, []);
    expect(pv.snapshot(100).participant.state).toBe("no-face");
    for (let i = 0; i < 7; i++) pv.addFrame(200 + i * 100, [{ id: 1, fake: 0.1 }]);
    let p = pv.snapshot(800).participant;
    expect(p).toMatchObject({ state: "gathering", stateSince: 200, aggregate: null, aggregateMethod: null, ema: null, windowMean: null, samples: 7, total: 7 });
    pv.addFrame(900, [{ id: 1, fake: 0.1 }]);
    p = pv.snapshot(900).participant;
    expect(p).toMatchObject({ state: "authentic", stateSince: 900, aggregateMethod: "confident-real", samples: 8 });
    expect(p.aggregate).toBeCloseTo(0.1, 12);
    // Frames with no face: within noFaceSeconds nothing changes, past it the participant is no-face.
    for (let t = 1000; t <= 3900; t += 100) pv.addFrame(t, []);
    expect(pv.snapshot(3900).participant).toMatchObject({ state: "authentic", stateSince: 900 });
    pv.addFrame(4000, []);
    p = pv.snapshot(4000).participant;
    expect(p).toMatchObject({ state: "no-face", stateSince: 4000, latest: 0.1, samples: 8 });
    // The state stepped in addFrame: a later snapshot keeps the transition time.
    expect(pv.snapshot(4500).participant.stateSince).toBe(4000);
  });

  it("follows the most suspicious face track", () => {
    const pv = new ParticipantVerdict();
    const fakes = dfLike(30);
    const reals = realLike(30);
    for (let i = 0; i < 30; i++) {
      pv.addFrame(i * 100, [
        { id: 2, fake: fakes[i] },
        { id: 1, fake: reals[i] },
      ]);
    }
    const snap = pv.snapshot(2900);
    expect(snap.faces.map((f) => f.id)).toEqual([1, 2]);
    const [real, fake] = snap.faces;
    expect(real).toMatchObject({ state: "authentic", lastSeen: 2900, samples: 30, total: 30 });
    expect(fake).toMatchObject({ state: "likely-fake", lastSeen: 2900, samples: 30, total: 30, aggregateMethod: "confident-fake" });
    expect(fake.aggregate).toBeCloseTo(mean(fakes), 12);
    expect(snap.participant).toMatchObject({
      state: "likely-fake",
      stateSince: 700,
      aggregate: fake.aggregate,
      aggregateMethod: "confident-fake",
      windowMean: fake.windowMean,
      ema: fake.ema,
      latest: Math.max(fakes[29], reals[29]),
      samples: 60,
      total: 60,
    });
  });

  it("ignores a track with too few samples and takes latest from the latest frame with faces", () => {
    const pv = new ParticipantVerdict();
    for (let i = 0; i < 20; i++) pv.addFrame(i * 100, [{ id: 1, fake: 0.1 }]);
    for (let i = 20; i < 25; i++) pv.addFrame(i * 100, [{ id: 1, fake: 0.1 }, { id: 7, fake: 0.95 }]);
    pv.addFrame(2500, [{ id: 1, fake: 0.15 }]);
    pv.addFrame(2600, []);
    const snap = pv.snapshot(2600);
    expect(snap.faces.find((f) => f.id === 7)).toMatchObject({ samples: 5, state: "gathering" });
    expect(snap.participant).toMatchObject({ state: "authentic", aggregateMethod: "confident-real", latest: 0.15, samples: 31 });
    expect(snap.participant.aggregate).toBeCloseTo((25 * 0.1 + 0.15) / 26, 12);
  });

  it("drops a track that disappears after the window, and the verdict moves to the remaining one", () => {
    const pv = new ParticipantVerdict();
    for (let i = 0; i <= 20; i++) pv.addFrame(i * 100, [{ id: 1, fake: 0.05 }, { id: 2, fake: 0.95 }]); // to 2000
    expect(pv.snapshot(2000).participant.state).toBe("likely-fake");
    for (let t = 2100; t <= 12_000; t += 100) pv.addFrame(t, [{ id: 1, fake: 0.05 }]);
    let snap = pv.snapshot(12_000); // track 2 last scored 10 s ago: still live
    expect(snap.faces.map((f) => f.id)).toEqual([1, 2]);
    expect(snap.faces[1]).toMatchObject({ id: 2, lastSeen: 2000, samples: 1, state: "no-face" });
    // With one sample left it no longer qualifies: the participant follows track 1 down (likely-fake -> authentic).
    expect(snap.participant).toMatchObject({ state: "authentic", aggregateMethod: "confident-real" });
    expect(snap.participant.aggregate).toBeCloseTo(0.05, 12);
    pv.addFrame(12_001, [{ id: 1, fake: 0.05 }]);
    snap = pv.snapshot(12_001);
    expect(snap.faces.map((f) => f.id)).toEqual([1]);
    expect(snap.participant.total).toBe(21 * 2 + 100 + 1);
    // The same id coming back starts a fresh track.
    pv.addFrame(12_100, [{ id: 1, fake: 0.05 }, { id: 2, fake: 0.5 }]);
    expect(pv.snapshot(12_100).faces[1]).toMatchObject({ id: 2, total: 1, samples: 1, state: "gathering", stateSince: 12_100 });
  });

  it("drops tracks on snapshot too, when no frames arrive (the participant is paused by the silence)", () => {
    const pv = new ParticipantVerdict();
    for (let i = 0; i < 10; i++) pv.addFrame(i * 100, [{ id: 3, fake: 0.9 }]);
    expect(pv.snapshot(900 + 10_000).faces).toHaveLength(1);
    const snap = pv.snapshot(900 + 10_001);
    expect(snap.faces).toEqual([]);
    expect(snap.participant).toMatchObject({ state: "paused", samples: 0, total: 10, aggregate: null, latest: 0.9 });
  });

  it("keeps its own hysteresis", () => {
    const pv = new ParticipantVerdict({ windowSeconds: 1 });
    let t = 0;
    for (let i = 0; i < 10; i++, t += 100) pv.addFrame(t, [{ id: 1, fake: 0.6 }]);
    expect(pv.snapshot(t - 100).participant).toMatchObject({ state: "suspicious", stateSince: 700 });
    for (let i = 0; i < 100; i++, t += 100) pv.addFrame(t, [{ id: 1, fake: i % 2 === 0 ? 0.53 : 0.47 }]);
    expect(pv.snapshot(t - 100).participant).toMatchObject({ state: "suspicious", stateSince: 700 });
  });

  it("rejects out-of-order frames and bad faces without changing anything", () => {
    const pv = new ParticipantVerdict();
    pv.addFrame(1000, [{ id: 1, fake: 0.5 }]);
    expect(() => pv.addFrame(999, [])).toThrow(RangeError);
    expect(() => pv.addFrame(1100, [{ id: 1, fake: 0.4 }, { id: 2, fake: Number.NaN }])).toThrow(RangeError);
    expect(() => pv.addFrame(1100, [{ id: 3, fake: 1.5 }])).toThrow(/\[0, 1\]/);
    expect(() => pv.addFrame(1100, [{ id: 3, fake: -0.1 }])).toThrow(RangeError);
    expect(() => pv.addFrame(1100, [{ id: 1.5, fake: 0.4 }])).toThrow(/integer/);
    expect(() => pv.addFrame(1100, [{ id: 4, fake: 0.4 }, { id: 4, fake: 0.6 }])).toThrow(/twice/);
    expect(() => pv.addFrame(Number.NaN, [])).toThrow(RangeError);
    const snap = pv.snapshot(1000);
    expect(snap.faces.map((f) => f.id)).toEqual([1]);
    expect(snap.participant).toMatchObject({ total: 1, latest: 0.5 });
    expect(() => pv.snapshot(999)).toThrow(RangeError);
    pv.addFrame(1000, [{ id: 1, fake: 0.4 }]); // same time as the last frame: fine
    expect(pv.snapshot(1000).faces[0].total).toBe(2);
  });
});

describe("ParticipantVerdict: pauses and flags", () => {
  /** Frames every 100 ms from `from` (inclusive) to `to` (exclusive), one face with this fake score. */
  const feed = (pv: ParticipantVerdict, from: number, to: number, fake: number) => {
    for (let t = from; t < to; t += 100) pv.addFrame(t, [{ id: 1, fake }]);
  };

  it("a participant that stops sending is paused after noFaceSeconds, since its last frame, with its state before", () => {
    const pv = new ParticipantVerdict();
    expect(pv.snapshot(5000).participant).toMatchObject({ state: "no-face", paused: null }); // never sent: not paused
    feed(pv, 5000, 6000, 0.1);
    expect(pv.snapshot(5900).participant).toMatchObject({ state: "authentic", paused: null, flag: null });
    expect(pv.snapshot(8900).participant.state).toBe("authentic");
    const p = pv.snapshot(8901).participant;
    expect(p).toMatchObject({ state: "paused", stateSince: 8901, paused: { since: 5900, reason: "silence", lastState: "authentic" } });
    expect(p.paused!.lastAggregate).toBeCloseTo(0.1, 12);
    // Frames again: the pause ends with the first one.
    pv.addFrame(20_000, [{ id: 1, fake: 0.1 }]);
    expect(pv.snapshot(20_000).participant).toMatchObject({ state: "gathering", paused: null });
  });

  it("an announced pause is paused at once; a frame or resume ends it, and silence counts from the resume", () => {
    const pv = new ParticipantVerdict();
    feed(pv, 0, 1000, 0.1);
    let p = pv.pauseSending(1000, "hidden").participant;
    expect(p).toMatchObject({ state: "paused", stateSince: 1000, paused: { since: 1000, reason: "hidden", lastState: "authentic" } });
    // A second pause keeps the first one's time and reason.
    expect(pv.pauseSending(1500, "user").participant.paused).toMatchObject({ since: 1000, reason: "hidden" });
    p = pv.resumeSending(2000).participant;
    expect(p).toMatchObject({ state: "authentic", paused: null });
    expect(pv.snapshot(5000).participant.state).toBe("authentic");
    expect(pv.snapshot(5001).participant).toMatchObject({ state: "paused", paused: { since: 2000, reason: "silence" } });
    // A frame ends an announced pause: sending while "paused" must not hide the verdict.
    pv.pauseSending(6000, "user");
    feed(pv, 6100, 7100, 0.1);
    expect(pv.snapshot(7000).participant).toMatchObject({ state: "authentic", paused: null });
  });

  it("a flag raised while suspicious stays through a pause and a lost face, and clears when authentic again", () => {
    const pv = new ParticipantVerdict();
    feed(pv, 0, 1000, 0.6);
    let p = pv.snapshot(900).participant;
    expect(p).toMatchObject({ state: "suspicious", flag: { state: "suspicious", since: 700 } });
    expect(p.flag!.peak).toBeCloseTo(0.6, 12);
    // Paused by the participant: still flagged, and the pause says what the verdict was.
    p = pv.pauseSending(1000, "user").participant;
    expect(p).toMatchObject({ state: "paused", paused: { lastState: "suspicious" }, flag: { state: "suspicious", since: 700 } });
    expect(pv.snapshot(30_000).participant).toMatchObject({ state: "paused", flag: { state: "suspicious" } });
    // Back with frames but no face: no-face, still flagged; then gathering, still flagged.
    pv.resumeSending(30_000);
    for (let t = 30_100; t < 34_000; t += 100) pv.addFrame(t, []);
    expect(pv.snapshot(34_000).participant).toMatchObject({ state: "no-face", flag: { state: "suspicious" } });
    feed(pv, 34_000, 34_500, 0.05);
    expect(pv.snapshot(34_400).participant).toMatchObject({ state: "gathering", flag: { state: "suspicious" } });
    // Authentic again: the flag is gone.
    feed(pv, 34_500, 35_000, 0.05);
    expect(pv.snapshot(34_900).participant).toMatchObject({ state: "authentic", flag: null });
  });

  it("a flag rises to likely-fake with the peak; dismissFlag clears it until a more severe or a new flagged state", () => {
    const pv = new ParticipantVerdict();
    expect(pv.dismissFlag(0)).toBeNull();
    feed(pv, 0, 1000, 0.6);
    feed(pv, 1000, 3000, 0.9);
    let p = pv.snapshot(2900).participant;
    expect(p).toMatchObject({ state: "likely-fake", flag: { state: "likely-fake", since: 700 } });
    expect(p.flag!.peak).toBeGreaterThan(0.85);
    const dismissed = pv.dismissFlag(3000);
    expect(dismissed).toMatchObject({ state: "likely-fake", since: 700 });
    expect(pv.snapshot(3000).participant).toMatchObject({ state: "likely-fake", flag: null });
    // Still likely-fake: dismissed stays dismissed.
    feed(pv, 3000, 4000, 0.9);
    expect(pv.snapshot(3900).participant.flag).toBeNull();
    // Dismissed while paused, then back suspicious: a new flag.
    pv.pauseSending(4000, "camera-muted");
    expect(pv.snapshot(4000).participant).toMatchObject({ state: "paused", flag: null });
    feed(pv, 20_000, 21_000, 0.9);
    expect(pv.snapshot(20_900).participant).toMatchObject({ state: "likely-fake", flag: { state: "likely-fake", since: 20_700 } });
  });

  it("pause, resume and dismissFlag refuse a time before the latest", () => {
    const pv = new ParticipantVerdict();
    pv.addFrame(1000, []);
    expect(() => pv.pauseSending(999, "user")).toThrow(RangeError);
    expect(() => pv.resumeSending(999)).toThrow(RangeError);
    expect(() => pv.dismissFlag(Number.NaN)).toThrow(RangeError);
  });
});

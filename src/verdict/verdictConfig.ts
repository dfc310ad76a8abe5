// Defaults and validation for the rolling verdict's configuration (see VerdictConfig in verdictTypes.ts).
import type { VerdictConfig } from "./verdictTypes.js";

/** The documented defaults. Frozen: copy it (or use resolveVerdictConfig) to change anything. */
export const DEFAULT_VERDICT_CONFIG: VerdictConfig = Object.freeze({
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

/**
 * Each field's range, checked by resolveVerdictConfig; `mesoguard serve` takes its --verdict-* limits from here.
 * Bounds are inclusive unless marked exclusive.
 */
export interface VerdictFieldRange {
  min: number;
  max: number;
  integer?: boolean;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

export const VERDICT_RANGES: Readonly<Record<keyof VerdictConfig, VerdictFieldRange>> = Object.freeze({
  windowSeconds: { min: 0.1, max: 3600 },
  emaSeconds: { min: 0.01, max: 3600 },
  minScoredFaces: { min: 1, max: 100_000, integer: true },
  noFaceSeconds: { min: 0.1, max: 3600 },
  suspiciousAt: { min: 0, max: 1, minExclusive: true },
  likelyFakeAt: { min: 0, max: 1 },
  hysteresis: { min: 0, max: 1 },
  confidentFake: { min: 0, max: 1, minExclusive: true },
  confidentFakeFraction: { min: 0, max: 1, minExclusive: true },
  confidentFakeMinCount: { min: 1, max: 100_000, integer: true },
  confidentReal: { min: 0, max: 1, maxExclusive: true },
  confidentRealFraction: { min: 0, max: 1, minExclusive: true },
});

const FIELDS = Object.keys(DEFAULT_VERDICT_CONFIG) as Array<keyof VerdictConfig>;

function inRange(value: number, r: VerdictFieldRange): boolean {
  if (r.integer && !Number.isInteger(value)) return false;
  return (r.minExclusive ? value > r.min : value >= r.min) && (r.maxExclusive ? value < r.max : value <= r.max);
}

function describeRange(r: VerdictFieldRange): string {
  return `${r.integer ? "an integer " : ""}in ${r.minExclusive ? "(" : "["}${r.min}, ${r.max}${r.maxExclusive ? ")" : "]"}`;
}

/**
 * The defaults overridden by `partial` (fields given as undefined keep their default), validated as a whole.
 * Throws a RangeError naming the field and its bad value: a non-finite number, a value outside its range
 * (VERDICT_RANGES), an inconsistent pair of thresholds, or a field VerdictConfig does not have. `nameOf` says
 * how the messages name a field (the server names its settings `verdict.<field>`).
 * Returns a fresh, frozen object.
 */
export function resolveVerdictConfig(partial?: Partial<VerdictConfig>, nameOf: (field: string) => string = (field) => field): VerdictConfig {
  const fail = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`verdict config: ${nameOf(field)} must be ${rule}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  };
  const c: Record<string, number> = { ...DEFAULT_VERDICT_CONFIG };
  if (partial !== undefined && partial !== null) {
    if (typeof partial !== "object") fail("config", partial, "an object");
    for (const [key, value] of Object.entries(partial)) {
      if (!(FIELDS as string[]).includes(key)) fail(key, value, `one of the VerdictConfig fields (${FIELDS.join(", ")})`);
      if (value === undefined) continue;
      c[key] = value as number;
    }
  }
  for (const f of FIELDS) {
    if (typeof c[f] !== "number" || !Number.isFinite(c[f])) fail(f, c[f], "a finite number");
    if (!inRange(c[f]!, VERDICT_RANGES[f])) fail(f, c[f], describeRange(VERDICT_RANGES[f]));
  }
  const v = c as unknown as VerdictConfig;
  if (!(v.suspiciousAt < v.likelyFakeAt)) fail("suspiciousAt", v.suspiciousAt, `below ${nameOf("likelyFakeAt")} (${v.likelyFakeAt})`);
  if (!(v.hysteresis < v.suspiciousAt)) fail("hysteresis", v.hysteresis, `below ${nameOf("suspiciousAt")} (${v.suspiciousAt})`);
  if (!(v.confidentReal < v.confidentFake)) fail("confidentReal", v.confidentReal, `below ${nameOf("confidentFake")} (${v.confidentFake})`);
  return Object.freeze(v);
}

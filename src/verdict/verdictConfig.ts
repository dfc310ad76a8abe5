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

const FIELDS = Object.keys(DEFAULT_VERDICT_CONFIG) as Array<keyof VerdictConfig>;

function fail(field: string, value: unknown, rule: string): never {
  throw new RangeError(`verdict config: ${field} must be ${rule}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
}

/**
 * The defaults overridden by `partial` (fields given as undefined keep their default), validated as a whole.
 * Throws a RangeError naming the field and its bad value: a non-finite number, an out-of-range value, a
 * non-integer count, an inconsistent pair of thresholds, or a field VerdictConfig does not have.
 * Returns a fresh, frozen object.
 */
export function resolveVerdictConfig(partial?: Partial<VerdictConfig>): VerdictConfig {
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
  }
  const v = c as unknown as VerdictConfig;

  if (!(v.windowSeconds > 0)) fail("windowSeconds", v.windowSeconds, "> 0");
  if (!(v.emaSeconds > 0)) fail("emaSeconds", v.emaSeconds, "> 0");
  if (!(v.noFaceSeconds > 0)) fail("noFaceSeconds", v.noFaceSeconds, "> 0");
  if (!Number.isInteger(v.minScoredFaces) || v.minScoredFaces < 1) fail("minScoredFaces", v.minScoredFaces, "an integer >= 1");
  if (!Number.isInteger(v.confidentFakeMinCount) || v.confidentFakeMinCount < 1) {
    fail("confidentFakeMinCount", v.confidentFakeMinCount, "an integer >= 1");
  }

  if (!(v.suspiciousAt > 0)) fail("suspiciousAt", v.suspiciousAt, "> 0");
  if (!(v.likelyFakeAt <= 1)) fail("likelyFakeAt", v.likelyFakeAt, "<= 1");
  if (!(v.suspiciousAt < v.likelyFakeAt)) fail("suspiciousAt", v.suspiciousAt, `< likelyFakeAt (${v.likelyFakeAt})`);
  if (!(v.hysteresis >= 0)) fail("hysteresis", v.hysteresis, ">= 0");
  if (!(v.hysteresis < v.suspiciousAt)) fail("hysteresis", v.hysteresis, `< suspiciousAt (${v.suspiciousAt})`);

  if (!(v.confidentFake > 0 && v.confidentFake <= 1)) fail("confidentFake", v.confidentFake, "in (0, 1]");
  if (!(v.confidentReal >= 0 && v.confidentReal < 1)) fail("confidentReal", v.confidentReal, "in [0, 1)");
  if (!(v.confidentReal < v.confidentFake)) fail("confidentReal", v.confidentReal, `< confidentFake (${v.confidentFake})`);
  for (const f of ["confidentFakeFraction", "confidentRealFraction"] as const) {
    if (!(v[f] > 0 && v[f] <= 1)) fail(f, v[f], "in (0, 1]");
  }
  return Object.freeze(v);
}

// The scan's sampling and concurrency settings: their defaults, their ranges and their one check. The addon's
// VideoFile reads fps and maxFrames as given (as createScorer reads src/scoring/scorerOptions.ts's options).

/** 2 frames/s and 32 frames per video, as the DeepfakeBench/DFDC protocols sample; 4 files at once. */
export const SCAN_DEFAULTS = Object.freeze({ fps: 2, maxFrames: 32, concurrency: 4 });

/** fps: above min, at most max; the others: integers min..max. */
export const SCAN_LIMITS = Object.freeze({
  fps: { min: 0, max: 1000 },
  // One video's timeline is held in memory: a million sampled frames is already ~9 hours at 30 frames/s.
  maxFrames: { min: 1, max: 1_000_000 },
  concurrency: { min: 1, max: 256 },
});

export type ScanSettings = { -readonly [K in keyof typeof SCAN_DEFAULTS]: number };

/** `settings` with the defaults filled in and the ranges checked: a RangeError with code ERR_INVALID_ARG names the setting. */
export function resolveScanSettings(settings: Partial<ScanSettings> = {}): ScanSettings {
  const resolved: ScanSettings = { ...SCAN_DEFAULTS };
  for (const key of Object.keys(SCAN_DEFAULTS) as (keyof ScanSettings)[]) {
    const value = settings[key] ?? SCAN_DEFAULTS[key];
    const { min, max } = SCAN_LIMITS[key];
    const integer = key !== "fps";
    const inRange = Number.isFinite(value) && (integer ? Number.isInteger(value) && value >= min : value > min) && value <= max;
    if (!inRange) {
      const range = integer ? `an integer ${min}..${max}` : `a number above ${min}, at most ${max}`;
      throw Object.assign(new RangeError(`scan setting ${key} must be ${range}, got ${value}`), { code: "ERR_INVALID_ARG" });
    }
    resolved[key] = value;
  }
  return resolved;
}

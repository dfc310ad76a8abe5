// The scan's settings have one owner (src/scan/scanOptions.ts): defaults filled in, ranges checked with an error
// naming the setting; the CLI and the library both go through it, and the addon's VideoFile reads them as given.
import { describe, expect, it } from "vitest";

import { resolveScanSettings, SCAN_DEFAULTS, SCAN_LIMITS, scanFiles } from "../src/index.js";
import type { MesoNetScorer } from "../src/scoring/MesoNetScorer.js";

describe("resolveScanSettings", () => {
  it("fills in the defaults and keeps what is given", () => {
    expect(resolveScanSettings()).toEqual({ fps: 2, maxFrames: 32, concurrency: 4 });
    expect(resolveScanSettings()).toEqual(SCAN_DEFAULTS);
    expect(resolveScanSettings({ fps: 0.25, maxFrames: SCAN_LIMITS.maxFrames.max })).toEqual({ fps: 0.25, maxFrames: 1_000_000, concurrency: 4 });
  });

  it("refuses each setting out of its range, naming it", () => {
    for (const [bad, name] of [
      [{ fps: 0 }, /fps must be a number above 0, at most 1000, got 0/],
      [{ fps: 1001 }, /fps/],
      [{ fps: NaN }, /fps/],
      [{ maxFrames: 2.5 }, /maxFrames must be an integer 1\.\.1000000, got 2\.5/],
      [{ maxFrames: 1_000_001 }, /maxFrames/],
      [{ concurrency: 0 }, /concurrency must be an integer 1\.\.256/],
      [{ concurrency: 257 }, /concurrency/],
    ] as const) {
      expect(() => resolveScanSettings(bad)).toThrow(expect.objectContaining({ code: "ERR_INVALID_ARG", message: expect.stringMatching(name) }));
    }
  });

  it("is the library's check too: scanFiles refuses a bad setting before it touches the scorer", async () => {
    await expect(scanFiles(null as unknown as MesoNetScorer, [], { maxFrames: 0 })).rejects.toMatchObject({ code: "ERR_INVALID_ARG" });
  });
});

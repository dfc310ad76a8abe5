// Which frames' crops the server asks for and keeps (ParticipantEvidence), with the real addon encoding the JPEGs:
// crops only while a face's kept set can still change, a face's suspicious frames spread in time, one latest per
// face refreshed after snapshotLatestSeconds, and the byte bound holding with the least suspicious going first.
import { describe, expect, it } from "vitest";

import { loadAddon } from "../../src/native/loadAddon.js";
import { EVIDENCE_DEFAULTS } from "../../src/server/evidence/evidenceSettings.js";
import { ParticipantEvidence } from "../../src/server/evidence/ParticipantEvidence.js";

/** A 256x256 crop with a per-call pattern (so JPEG sizes are realistic, not a flat colour). */
function crop(seed: number): Buffer {
  const rgb = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 31 + seed * 97 + (i >> 9) * 13) & 0xff;
  return rgb;
}

function evidence(settings = {}) {
  let changes = 0;
  const failures: unknown[] = [];
  const e = new ParticipantEvidence("p", { ...EVIDENCE_DEFAULTS, ...settings }, {
    encodeJpeg: (rgb) => loadAddon().encodeJpeg(rgb, 256, 256, 85),
    snapshotsChanged: () => changes++,
    failed: (error) => failures.push(error),
  });
  return { e, changes: () => changes, failures };
}

type Tracked = ReturnType<typeof evidence>;

/** Adds a frame and waits until its crops are encoded and kept (the kept set changed). */
async function addKept(t: Tracked, at: number, faces: Parameters<ParticipantEvidence["addFrame"]>[1]): Promise<void> {
  const before = t.changes();
  t.e.addFrame(at, faces);
  while (t.changes() === before) await new Promise((r) => setTimeout(r, 5));
}

describe("ParticipantEvidence", () => {
  it("asks for crops only on frames that can change the kept set", async () => {
    const tracked = evidence();
    const { e, failures } = tracked;
    const t0 = 1_000_000;
    expect(e.wantsCrops(t0)).toBe(false); // no face seen yet: a one-frame participant costs no crops
    e.addFrame(t0 - 100, [{ id: 1, fake: 0.9 }]);
    expect(e.wantsCrops(t0)).toBe(true); // a face whose kept set is empty
    await addKept(tracked, t0, [{ id: 1, fake: 0.9, rgb: crop(1) }]);
    expect(e.snapshotRefs().map((s) => s.kind)).toEqual(["suspicious"]);
    // 0.5 s later: too soon for another suspicious frame, and no latest yet -> wanted as the latest.
    expect(e.wantsCrops(t0 + 500)).toBe(true);
    await addKept(tracked, t0 + 500, [{ id: 1, fake: 0.9, rgb: crop(2) }]);
    expect(e.snapshotRefs().map((s) => s.kind).sort()).toEqual(["latest", "suspicious"]);
    // Now nothing can change until the spacing or the latest's age passes: no crops.
    expect(e.wantsCrops(t0 + 1000)).toBe(false);
    e.addFrame(t0 + 1000, [{ id: 1, fake: 0.95 }]); // scored without crops
    expect(e.wantsCrops(t0 + 1500)).toBe(false);
    // After the spacing, a face whose kept set is not full is wanted again.
    expect(e.wantsCrops(t0 + 2600)).toBe(true);
    expect(failures).toEqual([]);
  });

  it("a replaced latest is no longer listed but stays fetchable by its id for a while (no 404 for a dashboard a moment behind)", async () => {
    const tracked = evidence({ snapshotsPerFace: 1 });
    const { e } = tracked;
    await addKept(tracked, 1_000_000, [{ id: 1, fake: 0.9, rgb: crop(1) }]);
    await addKept(tracked, 1_000_500, [{ id: 1, fake: 0.9, rgb: crop(2) }]);
    const first = e.snapshotRefs().find((s) => s.kind === "latest")!;
    await addKept(tracked, 1_006_000, [{ id: 1, fake: 0.1, rgb: crop(3) }]);
    const second = e.snapshotRefs().find((s) => s.kind === "latest")!;
    expect(second.id).not.toBe(first.id);
    expect(e.snapshotRefs().map((s) => s.id)).not.toContain(first.id);
    expect(e.snapshot(first.id)?.jpeg.length).toBeGreaterThan(0);
    expect(e.snapshot(9999)).toBeUndefined();
  });

  it("keeps at most snapshotsPerFace suspicious frames (the highest) and one latest per face", async () => {
    const tracked = evidence({ snapshotsPerFace: 2 });
    const { e } = tracked;
    // Spaced apart and each latest stale: every frame is kept as something.
    for (const [i, fake] of [0.6, 0.9, 0.7, 0.95, 0.5].entries()) await addKept(tracked, 1_000_000 + i * 6000, [{ id: 1, fake, rgb: crop(i) }]);
    const suspicious = e.snapshotRefs().filter((s) => s.kind === "suspicious").map((s) => s.fake);
    expect(suspicious).toEqual([0.95, 0.9]);
    expect(e.snapshotRefs().filter((s) => s.kind === "latest").length).toBeLessThanOrEqual(1);
  });

  it("stays under snapshotBytesPerParticipant, dropping the least suspicious first", async () => {
    const free = evidence({ snapshotsPerFace: 3 });
    const e = free.e;
    const one = (await loadAddon().encodeJpeg(crop(0), 256, 256, 85)).length;
    const limited = evidence({ snapshotsPerFace: 3, snapshotBytesPerParticipant: Math.round(one * 2.5) });
    const bounded = limited.e;
    for (const [i, fake] of [0.7, 0.9, 0.8, 0.6].entries()) {
      for (const target of [free, limited]) await addKept(target, 1_000_000 + i * 3000, [{ id: 1, fake, rgb: crop(i) }]);
    }
    expect(e.snapshots().length).toBeGreaterThan(2);
    expect(bounded.bytes).toBeLessThanOrEqual(Math.round(one * 2.5));
    expect(bounded.snapshots().length).toBe(2);
    expect(bounded.snapshots()[0]!.fake).toBe(0.9);
  });
});

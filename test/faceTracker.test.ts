// FaceTracker: stable ids, the detection schedule, region searches and input checks, on synthetic detections.
import { describe, expect, it } from "vitest";

import type { Box, Detection, TrackedFace } from "../src/faces/faceTypes.js";
import { FaceTracker, type FramePlan } from "../src/faces/FaceTracker.js";

const W = 640;
const H = 480;

/** A frontal face of size w x h centred at (cx, cy); keypoints at plausible places, nose tip at the centre. */
function face(cx: number, cy: number, w = 100, h = 100, score = 0.9): Detection {
  const x1 = cx - w / 2;
  const y1 = cy - h / 2;
  const at = (fx: number, fy: number) => ({ x: x1 + fx * w, y: y1 + fy * h });
  return {
    box: [x1, y1, x1 + w, y1 + h],
    keypoints: {
      rightEye: at(0.3, 0.35),
      leftEye: at(0.7, 0.35),
      noseTip: at(0.5, 0.5),
      mouth: at(0.5, 0.75),
      rightEar: at(0.05, 0.45),
      leftEar: at(0.95, 0.45),
    },
    score,
  };
}

/** A detection with its box moved but its keypoints kept (to place the nose tip independently of the box). */
function withBox(det: Detection, box: Box): Detection {
  return { ...det, box };
}

/** Runs one frame: plan, then feed `detections` if the plan detects. */
function step(tracker: FaceTracker, detections: Detection[], size: [number, number] = [W, H]) {
  const plan = tracker.plan(size[0], size[1]);
  const faces = plan.detect === "none" ? tracker.update(plan) : tracker.update(plan, detections);
  return { plan, faces };
}

function ids(faces: readonly TrackedFace[]): number[] {
  return faces.map((f) => f.id);
}

function expectBoxClose(actual: Box, expected: Box): void {
  expect(actual).toHaveLength(4);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 9));
}

describe("FaceTracker ids across frames", () => {
  it("keeps two slowly moving faces' ids over 30 frames when detecting every frame", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    for (let i = 0; i < 30; i++) {
      const dets = [face(150 + 3 * i, 200 + i), face(450 - 2 * i, 260 - 2 * i, 120, 130)];
      // The detector's order is not stable: reverse it on odd frames.
      const { plan, faces } = step(tracker, i % 2 ? [...dets].reverse() : dets);
      expect(plan).toEqual({ detect: "full" });
      expect(ids(faces)).toEqual([1, 2]);
      expect(faces.every((f) => f.detected)).toBe(true);
      expect(faces[0]!.box).toEqual(dets[0]!.box);
      expect(faces[1]!.box).toEqual(dets[1]!.box);
      expect(faces[1]!.keypoints).toEqual(dets[1]!.keypoints);
      expect(tracker.tracks).toEqual(faces);
    }
  });

  it("detects on frames 0, 5, 10... with detectEvery=5 and carries the last geometry in between", () => {
    const tracker = new FaceTracker({ detectEvery: 5 });
    let last: Detection[] = [];
    for (let i = 0; i < 30; i++) {
      const dets = [face(150 + 3 * i, 200 + i, 100, 110, 0.8), face(450 - 2 * i, 260 - 2 * i, 120, 130, 0.95)];
      const plan = tracker.plan(W, H);
      if (i % 5 === 0) {
        expect(plan).toEqual({ detect: "full" });
        const faces = tracker.update(plan, dets);
        expect(ids(faces)).toEqual([1, 2]);
        expect(faces.map((f) => f.detected)).toEqual([true, true]);
        expect(faces.map((f) => f.box)).toEqual(dets.map((d) => d.box));
        last = dets;
      } else {
        expect(plan.detect).toBe("none");
        const carried = (plan as Extract<FramePlan, { detect: "none" }>).carried;
        expect(carried).toEqual([
          { ...last[0], id: 1, detected: false },
          { ...last[1], id: 2, detected: false },
        ]);
        const faces = tracker.update(plan);
        expect(faces).toEqual(carried);
        expect(tracker.tracks).toEqual(carried);
      }
    }
  });

  it("does not swap ids of two faces that approach each other without overlapping much", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    // Left face moves right, right face moves left, 8 px a frame each, until their boxes overlap by 20 px.
    for (let i = 0; i <= 20; i++) {
      const left = face(120 + 8 * i, 240);
      const right = face(520 - 8 * i, 250);
      const { faces } = step(tracker, i % 2 ? [right, left] : [left, right]);
      expect(ids(faces)).toEqual([1, 2]);
      expect(faces[0]!.box).toEqual(left.box);
      expect(faces[1]!.box).toEqual(right.box);
    }
  });

  it("associates greedily by descending IoU when a detection overlaps two tracks", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(150, 200), face(210, 200)]); // [100..200] and [160..260]
    // The first detection overlaps track 1 by IoU 0.82 and track 2 by 0.33; the second, track 2 by 0.82 only.
    const d1 = face(160, 200);
    const d2 = face(220, 200);
    const { faces } = step(tracker, [d2, d1]);
    expect(faces.map((f) => [f.id, f.box])).toEqual([
      [1, d1.box],
      [2, d2.box],
    ]);
  });

  it("reports faces by id ascending whatever the detector's order", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(100, 100), face(300, 100), face(500, 100)]);
    const { faces } = step(tracker, [face(502, 101), face(98, 99), face(301, 102)]);
    expect(ids(faces)).toEqual([1, 2, 3]);
    expect(faces.map((f) => f.box[0])).toEqual([48, 251, 452]);
  });
});

describe("FaceTracker track lifetime", () => {
  it("drops a face that leaves on its first missed detection frame by default, and never reuses its id", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    expect(ids(step(tracker, [face(150, 200), face(450, 200)]).faces)).toEqual([1, 2]);
    expect(ids(step(tracker, [face(152, 200)]).faces)).toEqual([1]);
    expect(ids(tracker.tracks)).toEqual([1]);
    // The same face coming back at the same place is a new track.
    expect(ids(step(tracker, [face(154, 200), face(450, 200)]).faces)).toEqual([1, 3]);
    // A new face elsewhere gets the next id.
    expect(ids(step(tracker, [face(156, 200), face(450, 200), face(300, 400)]).faces)).toEqual([1, 3, 4]);
  });

  it("keeps an unmatched track for association (unreported) until maxMissed detection frames", () => {
    const tracker = new FaceTracker({ detectEvery: 1, maxMissed: 3 });
    step(tracker, [face(150, 200), face(450, 200)]);
    // Face 2 missed on two detection frames: not reported, still kept.
    expect(ids(step(tracker, [face(150, 200)]).faces)).toEqual([1]);
    expect(ids(step(tracker, [face(150, 200)]).faces)).toEqual([1]);
    expect(ids(tracker.tracks)).toEqual([1]);
    // It comes back: same id, detected.
    const back = step(tracker, [face(455, 202), face(150, 200)]).faces;
    expect(ids(back)).toEqual([1, 2]);
    expect(back[1]).toMatchObject({ id: 2, detected: true, box: face(455, 202).box });
    // Three consecutive misses drop it: when it comes back it is new.
    for (let i = 0; i < 3; i++) expect(ids(step(tracker, [face(150, 200)]).faces)).toEqual([1]);
    expect(ids(step(tracker, [face(150, 200), face(455, 202)]).faces)).toEqual([1, 3]);
  });

  it("counts misses on detection frames only", () => {
    const tracker = new FaceTracker({ detectEvery: 3, maxMissed: 2 });
    const a = face(150, 200);
    const b = face(450, 200);
    expect(step(tracker, [a, b]).faces.map((f) => f.id)).toEqual([1, 2]); // frame 0: full
    expect(step(tracker, []).plan.detect).toBe("none"); // 1
    expect(step(tracker, []).plan.detect).toBe("none"); // 2
    const f3 = step(tracker, [a]); // 3: full, face 2 missed once
    expect(f3.plan.detect).toBe("full");
    expect(ids(f3.faces)).toEqual([1]);
    // Frames 4, 5 carry face 1 only; face 2 stays kept but unreported.
    for (let i = 4; i <= 5; i++) {
      const { plan, faces } = step(tracker, []);
      expect(plan.detect).toBe("none");
      expect(faces).toEqual([{ ...a, id: 1, detected: false }]);
    }
    expect(ids(step(tracker, [b, a]).faces)).toEqual([1, 2]); // 6: full, face 2 is back with its id
  });

  it("never reuses ids, even after reset()", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(150, 200), face(450, 200)]);
    tracker.reset();
    expect(tracker.tracks).toEqual([]);
    expect(tracker.plan(W, H)).toEqual({ detect: "full" });
    tracker.reset(); // a pending plan is forgotten too
    expect(ids(step(tracker, [face(150, 200)]).faces)).toEqual([3]);
  });

  it("gives each tracker (stream) its own ids starting at 1", () => {
    const a = new FaceTracker();
    const b = new FaceTracker();
    expect(ids(step(a, [face(150, 200), face(450, 200)]).faces)).toEqual([1, 2]);
    expect(ids(step(b, [face(300, 200)]).faces)).toEqual([1]);
  });
});

describe("FaceTracker fast motion", () => {
  it("keeps the id of a face whose detection has a low IoU but its nose tip inside the old box", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(150, 150)]); // box [100, 100, 200, 200]
    const moved = face(190, 190); // box [140, 140, 240, 240]: IoU 0.22 < 0.3, nose (190, 190) inside the old box
    const { faces } = step(tracker, [moved]);
    expect(faces).toEqual([{ ...moved, id: 1, detected: true }]);
  });

  it("starts a new track when the nose tip is outside the old box", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(150, 150)]);
    const jumped = withBox(face(150, 150), [170, 170, 270, 270]);
    jumped.keypoints = face(220, 220).keypoints; // nose (220, 220), outside [100, 100, 200, 200]
    expect(ids(step(tracker, [jumped]).faces)).toEqual([2]);
  });

  it("lets IoU matches take precedence over the nose fallback", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    step(tracker, [face(150, 150), face(400, 150)]);
    // Face 1 moves fast toward face 2; face 2 stays. Face 1's detection has its nose in face 1's old box only.
    const f1 = face(190, 190);
    const f2 = face(401, 150);
    const { faces } = step(tracker, [f2, f1]);
    expect(faces.map((f) => [f.id, f.box])).toEqual([
      [1, f1.box],
      [2, f2.box],
    ]);
  });
});

describe("FaceTracker plans", () => {
  it("plans full when there are no tracks, whatever k says", () => {
    const tracker = new FaceTracker({ detectEvery: 5 });
    for (let i = 0; i < 7; i++) expect(step(tracker, []).plan).toEqual({ detect: "full" });
    // A face appears on frame 7: frames 8, 9 carry it, 10 is a scheduled full frame.
    expect(ids(step(tracker, [face(300, 200)]).faces)).toEqual([1]);
    expect(step(tracker, []).plan.detect).toBe("none");
    expect(step(tracker, []).plan.detect).toBe("none");
    expect(step(tracker, [face(300, 200)]).plan.detect).toBe("full");
  });

  it("detectOffset shifts the schedule: with k=5 and offset 2, full on frame 0 (no track yet), then 3, 8, 13", () => {
    for (const [offset, expected] of [[2, [0, 3, 8, 13]], [7, [0, 3, 8, 13]], [0, [0, 5, 10]]] as const) {
      const tracker = new FaceTracker({ detectEvery: 5, detectOffset: offset });
      const full: number[] = [];
      for (let i = 0; i < 15; i++) if (step(tracker, [face(300, 200)]).plan.detect === "full") full.push(i);
      expect(full).toEqual(expected);
      tracker.reset(); // the offset stays: the schedule restarts from frame 0
      const again: number[] = [];
      for (let i = 0; i < 15; i++) if (step(tracker, [face(300, 200)]).plan.detect === "full") again.push(i);
      expect(again).toEqual(expected);
    }
  });

  it("plans full when every remaining track is unreported after a miss", () => {
    const tracker = new FaceTracker({ detectEvery: 5, maxMissed: 3 });
    step(tracker, [face(300, 200)]);
    for (let i = 1; i < 5; i++) expect(step(tracker, []).plan.detect).toBe("none");
    expect(step(tracker, []).faces).toEqual([]); // frame 5: full, the face is missed but kept
    const { plan, faces } = step(tracker, [face(302, 200)]); // frame 6: full since nothing is reported
    expect(plan.detect).toBe("full");
    expect(faces).toEqual([{ ...face(302, 200), id: 1, detected: true }]);
  });

  it("plans full and rescales the tracks when the frame size changes", () => {
    const tracker = new FaceTracker({ detectEvery: 5 });
    step(tracker, [face(300, 200)]); // box [250, 150, 350, 250] in 640x480
    const plan = tracker.plan(1280, 960);
    expect(plan).toEqual({ detect: "full" });
    const faces = tracker.update(plan, [face(604, 402, 198, 202)]);
    expect(ids(faces)).toEqual([1]);
    expect(step(tracker, [], [1280, 960]).plan.detect).toBe("none");
  });

  it("searches regions grown by 20% around the tracks, clamped to the frame", () => {
    const tracker = new FaceTracker({ detectEvery: 5, regionSearch: true });
    const mid = face(150, 125, 100, 50); // [100, 100, 200, 150]
    const corner = withBox(face(25, 30, 50, 60), [0, 0, 50, 60]);
    const far = withBox(face(620, 460, 40, 40), [600, 440, 640, 480]);
    step(tracker, [mid, corner, far]);
    const plan = tracker.plan(W, H);
    expect(plan.detect).toBe("regions");
    const { regions, carried } = plan as Extract<FramePlan, { detect: "regions" }>;
    expect(regions).toHaveLength(3);
    expectBoxClose(regions[0]!, [80, 90, 220, 160]);
    expectBoxClose(regions[1]!, [0, 0, 60, 72]); // [-10, -12, 60, 72] clamped
    expectBoxClose(regions[2]!, [592, 432, 640, 480]); // [592, 432, 648, 488] clamped
    expect(ids(carried)).toEqual([1, 2, 3]);
    expect(carried.every((f) => !f.detected)).toBe(true);
    expect(carried[0]!.box).toEqual(mid.box);
  });

  it("uses the regionMargin option and merges overlapping regions", () => {
    const tracker = new FaceTracker({ detectEvery: 5, regionSearch: true, regionMargin: 0.5 });
    step(tracker, [face(150, 150), face(260, 150), face(500, 300)]); // first two: [100..200] and [210..310]
    const plan = tracker.plan(W, H) as Extract<FramePlan, { detect: "regions" }>;
    expect(plan.regions).toHaveLength(2);
    expectBoxClose(plan.regions[0]!, [50, 50, 360, 250]);
    expectBoxClose(plan.regions[1]!, [400, 200, 600, 400]);
  });

  it("associates region detections like full ones and counts a track without one as missed", () => {
    const tracker = new FaceTracker({ detectEvery: 5, regionSearch: true });
    step(tracker, [face(150, 150), face(450, 150)]);
    const p1 = step(tracker, [face(154, 151), face(447, 150)]);
    expect(p1.plan.detect).toBe("regions");
    expect(p1.faces.map((f) => [f.id, f.detected, f.box])).toEqual([
      [1, true, face(154, 151).box],
      [2, true, face(447, 150).box],
    ]);
    // Face 2's region comes back empty: dropped (maxMissed 1); face 1 fast-moves but its nose stays in its box.
    const p2 = step(tracker, [face(195, 190)]);
    expect(p2.plan.detect).toBe("regions");
    expect(p2.faces).toEqual([{ ...face(195, 190), id: 1, detected: true }]);
    const p3 = tracker.plan(W, H) as Extract<FramePlan, { detect: "regions" }>;
    expect(p3.regions).toHaveLength(1);
    expectBoxClose(p3.regions[0]!, [125, 120, 265, 260]);
  });

  it("plans full on the scheduled frames even with regionSearch, and every frame with detectEvery=1", () => {
    const r = new FaceTracker({ detectEvery: 2, regionSearch: true });
    const one = new FaceTracker({ detectEvery: 1, regionSearch: true });
    for (let i = 0; i < 6; i++) {
      expect(step(r, [face(300, 200)]).plan.detect).toBe(i % 2 === 0 ? "full" : "regions");
      expect(step(one, [face(300, 200)]).plan.detect).toBe("full");
    }
  });

  it("returns copies: changing a returned face does not change the tracker", () => {
    const tracker = new FaceTracker({ detectEvery: 5 });
    const det = face(300, 200);
    const [f] = step(tracker, [det]).faces;
    f!.box[0] = 0;
    f!.keypoints.noseTip.x = 0;
    det.box[1] = 0;
    expect(tracker.tracks[0]!.box).toEqual(face(300, 200).box);
    expect(tracker.tracks[0]!.keypoints.noseTip).toEqual({ x: 300, y: 200 });
  });
});

describe("FaceTracker input checks", () => {
  it("rejects bad options", () => {
    expect(() => new FaceTracker({ detectEvery: 0 })).toThrow(/detectEvery/);
    expect(() => new FaceTracker({ detectEvery: 2.5 })).toThrow(/detectEvery/);
    expect(() => new FaceTracker({ detectOffset: -1 })).toThrow(/detectOffset must be an integer >= 0/);
    expect(() => new FaceTracker({ detectOffset: 0.5 })).toThrow(/detectOffset/);
    expect(() => new FaceTracker({ iouThreshold: 0 })).toThrow(/iouThreshold/);
    expect(() => new FaceTracker({ iouThreshold: 1.5 })).toThrow(/iouThreshold/);
    expect(() => new FaceTracker({ iouThreshold: Number.NaN })).toThrow(/iouThreshold/);
    expect(() => new FaceTracker({ maxMissed: 0 })).toThrow(/maxMissed/);
    expect(() => new FaceTracker({ regionMargin: -0.1 })).toThrow(/regionMargin/);
    expect(() => new FaceTracker({ regionSearch: "yes" as unknown as boolean })).toThrow(/regionSearch/);
  });

  it("rejects bad frame sizes", () => {
    const tracker = new FaceTracker();
    for (const [w, h] of [
      [0, 480],
      [640, -1],
      [Number.NaN, 480],
      [640, Number.POSITIVE_INFINITY],
      [640.5, 480],
      ["640", 480],
    ] as [number, number][]) {
      expect(() => tracker.plan(w, h), `${w}x${h}`).toThrow(/frame (width|height) must be a positive integer/);
    }
  });

  it("rejects an update() without the last plan", () => {
    const tracker = new FaceTracker({ detectEvery: 1 });
    expect(() => tracker.update({ detect: "full" }, [])).toThrow(/call plan\(\) before each update/);
    const first = tracker.plan(W, H);
    const second = tracker.plan(W, H);
    expect(() => tracker.update(first, [])).toThrow(/not the last one plan\(\) returned/);
    expect(() => tracker.update({ detect: "full" }, [])).toThrow(/not the last one plan\(\) returned/);
    tracker.update(second, [face(300, 200)]);
    expect(() => tracker.update(second, [face(300, 200)])).toThrow(/a plan is used once/);
  });

  it("rejects detections that do not fit the plan, and malformed detections", () => {
    const tracker = new FaceTracker({ detectEvery: 2 });
    const full = tracker.plan(W, H);
    expect(() => tracker.update(full)).toThrow(/pass the detector's detections/);
    const flipped = withBox(face(300, 200), [350, 150, 250, 250]);
    expect(() => tracker.update(full, [face(100, 100), flipped])).toThrow(/detection 1: box/);
    expect(() => tracker.update(full, [{ ...face(300, 200), score: 2 }])).toThrow(/score/);
    const noNose = face(300, 200);
    (noNose.keypoints as { noseTip?: unknown }).noseTip = undefined;
    expect(() => tracker.update(full, [noNose])).toThrow(/keypoint noseTip/);
    // A rejected update leaves the plan pending.
    tracker.update(full, [face(300, 200)]);
    const none = tracker.plan(W, H);
    expect(none.detect).toBe("none");
    expect(() => tracker.update(none, [face(300, 200)])).toThrow(/"none"/);
    expect(tracker.update(none, [])).toEqual([{ ...face(300, 200), id: 1, detected: false }]);
  });
});

describe("FaceTracker background detection", () => {
  /** Plans and updates one frame; a "background" plan's detections are not given (the caller lands them later). */
  function frame(tracker: FaceTracker, detections: Detection[] = [], size: [number, number] = [W, H]) {
    const plan = tracker.plan(size[0], size[1]);
    const faces = plan.detect === "full" || plan.detect === "regions" ? tracker.update(plan, detections) : tracker.update(plan);
    return { plan, faces };
  }

  it("scores the tracked faces at once on a due frame and folds its detections in before the next plan", () => {
    const tracker = new FaceTracker({ detectEvery: 3, backgroundDetection: true });
    // Frame 0 has no track: it waits for its detector.
    expect(frame(tracker, [face(300, 200)]).plan).toEqual({ detect: "full" });
    expect(frame(tracker).plan.detect).toBe("none");
    expect(frame(tracker).plan.detect).toBe("none");
    // Frame 3 is due: the face as last detected, and the detector beside it.
    const due = frame(tracker);
    expect(due.plan).toEqual({ detect: "background", carried: [{ ...face(300, 200), id: 1, detected: false }] });
    expect(due.faces).toEqual([{ ...face(300, 200), id: 1, detected: false }]);
    // Frame 4 is planned before the detections arrive: still the old geometry.
    const early = frame(tracker);
    expect(early.plan).toEqual({ detect: "none", carried: [{ ...face(300, 200), id: 1, detected: false }] });
    // They arrive: the face moved and a second one came in. Both count from the next plan.
    expect(tracker.land(due.plan, [face(310, 204), face(500, 300)])).toBe(true);
    expect(tracker.tracks).toEqual([
      { ...face(310, 204), id: 1, detected: true },
      { ...face(500, 300), id: 2, detected: true },
    ]);
    const after = frame(tracker);
    expect(after.plan.detect).toBe("none");
    expect(after.faces).toEqual([
      { ...face(310, 204), id: 1, detected: false },
      { ...face(500, 300), id: 2, detected: false },
    ]);
    // Frame 6 is due again.
    expect(frame(tracker).plan.detect).toBe("background");
  });

  it("runs one detection at a time: one due while another is out runs on the first frame after it lands", () => {
    const tracker = new FaceTracker({ detectEvery: 2, backgroundDetection: true });
    frame(tracker, [face(300, 200)]); // frame 0: full
    expect(frame(tracker).plan.detect).toBe("none"); // 1
    const out = frame(tracker); // 2: background
    expect(out.plan.detect).toBe("background");
    expect(frame(tracker).plan.detect).toBe("none"); // 3
    expect(frame(tracker).plan.detect).toBe("none"); // 4 is due, but frame 2's detection is still out
    expect(frame(tracker).plan.detect).toBe("none"); // 5
    tracker.land(out.plan, [face(300, 200)]);
    expect(frame(tracker).plan.detect).toBe("background"); // 6: the overdue one (and the schedule's)
    const tracker2 = new FaceTracker({ detectEvery: 3, backgroundDetection: true });
    frame(tracker2, [face(300, 200)]); // 0
    frame(tracker2); // 1
    frame(tracker2); // 2
    const late = frame(tracker2); // 3: background
    frame(tracker2); // 4
    frame(tracker2); // 5
    expect(frame(tracker2).plan.detect).toBe("none"); // 6: due, 3's still out
    tracker2.land(late.plan, [face(300, 200)]);
    expect(frame(tracker2).plan.detect).toBe("background"); // 7: overdue, not left for frame 9
    expect(frame(tracker2).plan.detect).toBe("none"); // 8
  });

  it("a face the landed detections miss is dropped; with none left the next frame waits for its detector", () => {
    const tracker = new FaceTracker({ detectEvery: 2, backgroundDetection: true });
    frame(tracker, [face(300, 200)]);
    frame(tracker);
    const out = frame(tracker);
    expect(tracker.land(out.plan, [])).toBe(true);
    expect(tracker.tracks).toEqual([]);
    expect(frame(tracker, [face(320, 200)]).plan).toEqual({ detect: "full" });
    expect(ids(tracker.tracks)).toEqual([2]); // a new face: ids are never reused
  });

  it("ignores detections that land after reset() or a size change", () => {
    const cases: Array<[string, (t: FaceTracker) => void]> = [
      ["reset", (t) => t.reset()],
      ["resize", (t) => frame(t, [face(600, 400)], [1280, 960])],
    ];
    for (const [label, between] of cases) {
      const tracker = new FaceTracker({ detectEvery: 2, backgroundDetection: true });
      frame(tracker, [face(300, 200)]);
      frame(tracker);
      const out = frame(tracker);
      expect(out.plan.detect, label).toBe("background");
      between(tracker);
      const before = tracker.tracks;
      expect(tracker.land(out.plan, [face(100, 100)]), label).toBe(false);
      expect(tracker.tracks, label).toEqual(before);
    }
  });

  it("abandon(): a failed detection changes nothing and the schedule goes on", () => {
    const tracker = new FaceTracker({ detectEvery: 2, backgroundDetection: true });
    frame(tracker, [face(300, 200)]);
    frame(tracker);
    const out = frame(tracker);
    tracker.abandon(out.plan);
    expect(frame(tracker).plan.detect).toBe("none"); // 3
    expect(frame(tracker).plan.detect).toBe("background"); // 4: nothing is out any more
    expect(tracker.tracks).toEqual([{ ...face(300, 200), id: 1, detected: false }]);
  });

  it("with regionSearch, the frames between full detections search their regions in the background too", () => {
    const tracker = new FaceTracker({ detectEvery: 5, regionSearch: true, backgroundDetection: true });
    frame(tracker, [face(300, 200)]);
    const first = frame(tracker); // frame 1: a region search, in the background
    expect(first.plan).toEqual({
      detect: "background",
      regions: [[230, 130, 370, 270]],
      carried: [{ ...face(300, 200), id: 1, detected: false }],
    });
    expect(frame(tracker).plan.detect).toBe("none"); // frame 2: frame 1's search is still out
    tracker.land(first.plan, [face(304, 200)]);
    const second = frame(tracker); // frame 3: around the landed geometry
    expect(second.plan.detect).toBe("background");
    expect((second.plan as { regions: Box[] }).regions).toEqual([[234, 130, 374, 270]]);
  });

  it("checks its input: the option, foreign plans and malformed detections", () => {
    expect(() => new FaceTracker({ backgroundDetection: 1 as unknown as boolean })).toThrow(/backgroundDetection must be a boolean/);
    const tracker = new FaceTracker({ detectEvery: 2, backgroundDetection: true });
    frame(tracker, [face(300, 200)]);
    frame(tracker);
    const plan = tracker.plan(W, H);
    expect(plan.detect).toBe("background");
    // Not yet taken by update(): nothing is out.
    expect(() => tracker.land(plan, [])).toThrow(/not a "background" plan this tracker issued/);
    expect(() => tracker.update(plan, [face(300, 200)])).toThrow(/"background": pass no detections here, give them to land\(\)/);
    tracker.update(plan);
    expect(() => tracker.land({ detect: "background", carried: [] }, [])).toThrow(/not a "background" plan this tracker issued/);
    expect(() => tracker.abandon({ detect: "none", carried: [] })).toThrow(/not a "background" plan/);
    expect(() => tracker.land(plan, "faces" as unknown as Detection[])).toThrow(/pass the detector's detections/);
    expect(() => tracker.land(plan, [{ ...face(300, 200), score: -1 }])).toThrow(/land\(\): detection 0: score/);
    // A rejected landing leaves the detection out.
    expect(tracker.land(plan, [face(302, 200)])).toBe(true);
    expect(tracker.land(plan, [face(302, 200)])).toBe(false); // landed already
  });

  it("stays off by default: a due frame with tracked faces waits for its detector", () => {
    const tracker = new FaceTracker({ detectEvery: 2 });
    frame(tracker, [face(300, 200)]);
    frame(tracker);
    expect(frame(tracker, [face(300, 200)]).plan).toEqual({ detect: "full" });
  });
});

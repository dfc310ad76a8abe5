// `mesoguard evaluate`: the metric functions on cases small enough to compute by hand, then the command as a user
// runs it (the compiled bin, the real addon) on the shared crops and on videos made here with ffmpeg: its scores
// must be those of `mesoguard score` and `mesoguard scan`, its charts well-formed SVG, and bad data must stop it
// with nothing written.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Evaluation } from "../src/evaluate/evaluation.js";
import { bootstrapAucInterval, confusion, eer, rocAuc, rocCurve, thresholdAtFpr, tprAtFpr } from "../src/evaluate/metrics.js";
import { writeFilesAtomically } from "../src/evaluate/outputFiles.js";
import type { FileScan } from "../src/scan/scanTypes.js";
import { closeAllBrowsers, launchBrowser } from "./helpers/browser.js";
import { ROOT, TEST_IMAGES_DIR, TEST_TIMEOUT } from "./helpers/paths.js";
import { runFfmpeg } from "./helpers/tools.js";
import { cropsVideo, DF_CROPS, REAL_CROPS } from "./helpers/videos.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-evaluate-"));
afterAll(async () => {
  await closeAllBrowsers();
  rmSync(dir, { recursive: true, force: true });
});

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: dir, timeout: 120_000 });
}

/** The AUC by its definition: over every (positive, negative) pair, 1 when the positive is higher, 1/2 on a tie. */
function pairwiseAuc(pos: number[], neg: number[]): number {
  let sum = 0;
  for (const p of pos) for (const n of neg) sum += p > n ? 1 : p === n ? 0.5 : 0;
  return sum / (pos.length * neg.length);
}

describe("metrics", () => {
  const perfect = { pos: [0.9, 0.8], neg: [0.1, 0.2] };
  const inverted = { pos: [0.1, 0.2], neg: [0.8, 0.9] };
  const allTied = { pos: [0.5, 0.5], neg: [0.5] };
  const mixed = { pos: [0.8, 0.4], neg: [0.6, 0.2] }; // 3 of 4 pairs ordered

  it("rocAuc: perfect separation 1, inverted 0, all tied 1/2, a tie counting half", () => {
    expect(rocAuc(perfect.pos, perfect.neg)).toBe(1);
    expect(rocAuc(inverted.pos, inverted.neg)).toBe(0);
    expect(rocAuc(allTied.pos, allTied.neg)).toBe(0.5);
    expect(rocAuc(mixed.pos, mixed.neg)).toBe(0.75);
    expect(rocAuc([0.5, 0.9], [0.5, 0.1])).toBe(3.5 / 4);
  });

  it("rocAuc agrees with the pairwise definition on data with many ties", () => {
    // Scores on a coarse grid, so ties are common.
    const pos = Array.from({ length: 37 }, (_, i) => ((i * 7) % 10) / 10);
    const neg = Array.from({ length: 23 }, (_, i) => ((i * 3) % 8) / 10);
    expect(rocAuc(pos, neg)).toBeCloseTo(pairwiseAuc(pos, neg), 12);
  });

  it("rocCurve: one point per distinct score, tied scores moving together, from (0,0) to (1,1)", () => {
    expect(rocCurve([0.5, 0.9], [0.5, 0.1])).toEqual([
      { threshold: Infinity, fpr: 0, tpr: 0 },
      { threshold: 0.9, fpr: 0, tpr: 0.5 },
      { threshold: 0.5, fpr: 0.5, tpr: 1 },
      { threshold: 0.1, fpr: 1, tpr: 1 },
    ]);
  });

  it("eer: 0 when separated, 1 when inverted, 1/2 when all tie, where FPR meets FNR", () => {
    expect(eer(perfect.pos, perfect.neg)).toEqual({ eer: 0, threshold: 0.8 });
    expect(eer(inverted.pos, inverted.neg).eer).toBe(1);
    expect(eer(allTied.pos, allTied.neg).eer).toBe(0.5);
    // Points (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FPR = FNR = 0.5 at threshold 0.6.
    expect(eer(mixed.pos, mixed.neg)).toEqual({ eer: 0.5, threshold: 0.6 });
  });

  it("tprAtFpr: the best TPR whose FPR stays within the limit", () => {
    expect(tprAtFpr(mixed.pos, mixed.neg, 0.01)).toEqual({ threshold: 0.8, fpr: 0, tpr: 0.5 });
    expect(tprAtFpr(mixed.pos, mixed.neg, 0.5)).toEqual({ threshold: 0.4, fpr: 0.5, tpr: 1 });
    expect(tprAtFpr(inverted.pos, inverted.neg, 0.1)).toEqual({ threshold: Infinity, fpr: 0, tpr: 0 });
    expect(tprAtFpr(perfect.pos, perfect.neg, 0.01).tpr).toBe(1);
  });

  it("confusion: a score equal to the threshold is called positive", () => {
    expect(confusion(mixed.pos, mixed.neg, 0.5)).toEqual({ threshold: 0.5, tp: 1, fn: 1, fp: 1, tn: 1 });
    expect(confusion(mixed.pos, mixed.neg, 0.6)).toEqual({ threshold: 0.6, tp: 1, fn: 1, fp: 1, tn: 1 });
    expect(confusion(mixed.pos, mixed.neg, 0.61)).toEqual({ threshold: 0.61, tp: 1, fn: 1, fp: 0, tn: 2 });
  });

  it("thresholdAtFpr: the lowest gap midpoint whose false-positive rate is within the target", () => {
    const neg = [0.1, 0.2, 0.3, 0.4];
    expect(thresholdAtFpr(neg, 0.25)).toEqual({ threshold: 0.35, fpr: 0.25, below: 0.3, above: 0.4 });
    expect(thresholdAtFpr(neg, 0)).toEqual({ threshold: 0.7, fpr: 0, below: 0.4, above: 1 });
    expect(thresholdAtFpr(neg, 0.6).fpr).toBe(0.5);
    // Two tied at the top: letting one through would let both (2/3 > 1/2).
    expect(thresholdAtFpr([0.4, 0.4, 0.1], 0.5)).toEqual({ threshold: 0.7, fpr: 0, below: 0.4, above: 1 });
    expect(() => thresholdAtFpr([1, 0.2], 0.1)).toThrow(/no threshold up to 1/);
    expect(() => thresholdAtFpr([], 0.1)).toThrow(RangeError);
  });

  it("bootstrapAucInterval: seeded and repeatable, brackets the AUC, needs 2 groups per class", () => {
    const pos = Array.from({ length: 30 }, (_, i) => [((i * 13) % 17) / 17 + 0.2]);
    const neg = Array.from({ length: 30 }, (_, i) => [((i * 11) % 19) / 19]);
    const auc = rocAuc(pos.flat(), neg.flat());
    const a = bootstrapAucInterval(pos, neg, { resamples: 500, seed: 7 });
    expect(a).toEqual(bootstrapAucInterval(pos, neg, { resamples: 500, seed: 7 }));
    expect(a).toMatchObject({ resamples: 500, seed: 7, level: 0.95 });
    expect(a.low).toBeLessThan(auc);
    expect(a.high).toBeGreaterThan(auc);
    expect(a.high).toBeLessThanOrEqual(1);
    expect(bootstrapAucInterval(pos, neg, { resamples: 500, seed: 8 })).not.toEqual(a);
    // Separated classes stay separated in every resample; all tied stay tied.
    expect(bootstrapAucInterval([[0.9], [0.8]], [[0.1], [0.2]])).toMatchObject({ low: 1, high: 1, resamples: 2000 });
    expect(bootstrapAucInterval([[0.5], [0.5]], [[0.5], [0.5]])).toMatchObject({ low: 0.5, high: 0.5 });
    expect(() => bootstrapAucInterval([[0.9]], [[0.1], [0.2]])).toThrow(/at least 2 groups per class/);
  });

  it("bootstrapAucInterval resamples groups whole: one group's scores move together", () => {
    // Each class has a group that separates perfectly and one that inverts: resampled whole, the AUC varies.
    const pos = [[0.9, 0.9], [0.1, 0.1]];
    const neg = [[0.2, 0.2], [0.8, 0.8]];
    const interval = bootstrapAucInterval(pos, neg, { resamples: 400 });
    expect(interval.low).toBe(0);
    expect(interval.high).toBe(1);
  });
});

describe("writeFilesAtomically", () => {
  it("puts nothing in place when a check of the written files fails", async () => {
    const out = path.join(dir, "atomic");
    await expect(
      writeFilesAtomically(out, { "a.txt": "a", "b.txt": "b" }, (staged) => {
        expect(readFileSync(staged["b.txt"]!, "utf8")).toBe("b");
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
    expect(readdirSync(out)).toEqual([]);
    await writeFilesAtomically(out, { "a.txt": "a" });
    expect(readdirSync(out)).toEqual(["a.txt"]);
  });
});

describe("mesoguard evaluate on the shared crops", () => {
  const real = path.join(TEST_IMAGES_DIR, "real");
  const fake = path.join(TEST_IMAGES_DIR, "df");
  const out = path.join(dir, "crops-out");
  let evaluation: Evaluation;
  let run: ReturnType<typeof mesoguard>;
  beforeAll(() => {
    run = mesoguard("evaluate", "--no-detect", "--model", "meso4-df", "--json", "--real", real, "--fake", fake, "--out", out);
    evaluation = JSON.parse(run.stdout) as Evaluation;
  }, TEST_TIMEOUT);

  it("reports AUC 1.0 at file and frame level, with its bootstrap interval", () => {
    expect(run.status).toBe(0);
    expect(run.stderr).toBe(""); // --json, no TTY: no progress bar
    for (const level of [evaluation.fileLevel, evaluation.frameLevel]) {
      expect(level).toMatchObject({ real: 2, fake: 2, auc: 1, eer: { eer: 0 } });
      expect(level.aucInterval).toMatchObject({ low: 1, high: 1, resamples: 2000, seed: 1, level: 0.95 });
      expect(level.tprAtFpr.map((p) => [p.maxFpr, p.tpr])).toEqual([
        [0.01, 1],
        [0.05, 1],
        [0.1, 1],
      ]);
    }
    expect(evaluation).toMatchObject({ model: "meso4-df", detector: null, thresholds: { suspiciousAt: 0.5, likelyFakeAt: 0.75 } });
    expect(evaluation.data.real).toEqual({ files: 2, images: 2, videos: 0, noFace: 0, faces: 2 });
    expect(evaluation.fileLevel.confusion.likelyFake).toEqual({ threshold: 0.75, tp: 2, fn: 0, fp: 0, tn: 2 });
  });

  it("gives each file the score `mesoguard score` gives it", () => {
    const files = evaluation.files.map((f) => f.file);
    const score = mesoguard("score", "--no-detect", "--model", "meso4-df", "--json", ...files);
    expect(score.status).toBe(0);
    const expected = new Map(score.stdout.trim().split("\n").map((l) => JSON.parse(l) as { file: string; fake: number }).map((l) => [l.file, l.fake]));
    expect(expected.size).toBe(4);
    for (const f of evaluation.files) {
      expect(f.faces).toEqual([expected.get(f.file)]);
      expect(f.score).toBe(expected.get(f.file));
      expect(f.label).toBe(f.file.includes(`${path.sep}df${path.sep}`) ? "fake" : "real");
    }
  });

  it("writes the JSON and well-formed, self-contained SVG charts holding the curves and bars", async () => {
    expect(readdirSync(out).sort()).toEqual(["evaluation.json", "histogram-file.svg", "histogram-frame.svg", "roc.svg"]);
    expect(JSON.parse(readFileSync(path.join(out, "evaluation.json"), "utf8"))).toEqual(evaluation);
    const browser = await launchBrowser();
    const page = await browser.newPage();
    for (const name of ["roc.svg", "histogram-file.svg", "histogram-frame.svg"]) {
      const text = readFileSync(path.join(out, name), "utf8");
      expect(text).not.toMatch(/<script|href=|url\(/);
      const parsed = await page.evaluate((svg) => {
        const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
        const error = doc.querySelector("parsererror");
        return {
          error: error?.textContent ?? null,
          root: doc.documentElement.localName,
          curves: [...doc.querySelectorAll("polyline.roc")].map((p) => [p.getAttribute("class"), p.getAttribute("points")!.trim().split(/\s+/).length]),
          bars: [...doc.querySelectorAll("rect.bar")].map((r) => r.getAttribute("class")),
        };
      }, text);
      expect(parsed.error, name).toBeNull();
      expect(parsed.root).toBe("svg");
      if (name === "roc.svg") {
        // Every ROC point drawn, for both levels.
        expect(parsed.curves).toEqual([
          ["roc roc-file", evaluation.fileLevel.roc.length],
          ["roc roc-frame", evaluation.frameLevel.roc.length],
        ]);
      } else {
        expect(parsed.bars).toContain("bar bar-real");
        expect(parsed.bars).toContain("bar bar-fake");
      }
    }
    expect(browser.problems).toEqual([]);
  }, TEST_TIMEOUT);

  it("prints a table people can read", () => {
    const text = mesoguard("evaluate", "--no-detect", "--real", real, "--fake", fake);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/^file\s+2\/2\s+1\.000 \[1\.000, 1\.000\]\s+0\.000/m);
    expect(text.stdout).toMatch(/^frame\s+2\/2\s+1\.000/m);
    expect(text.stdout).toMatch(/2000 resamples/);
    expect(text.stdout).toContain("df00204.jpg");
  }, TEST_TIMEOUT);

  it("shows the scan's progress bar on a terminal", () => {
    // script(1) gives the command a pseudo-terminal, so stderr is a TTY.
    const command = [process.execPath, bin, "evaluate", "--no-detect", "--real", real, "--fake", fake].join(" ");
    const tty = spawnSync("script", ["-qec", command, "/dev/null"], { encoding: "utf8", cwd: dir, timeout: 120_000 });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/\[#+\] 4\/4 files, 4 frames, 4 faces, ETA 0s/);
  }, TEST_TIMEOUT);
});

describe("mesoguard evaluate on videos", () => {
  const data = path.join(dir, "videos");
  beforeAll(() => {
    for (const label of ["real", "fake"]) mkdirSync(path.join(data, label), { recursive: true });
    cropsVideo(path.join(data, "real", "real.mp4"), REAL_CROPS, 6);
    cropsVideo(path.join(data, "fake", "df.mp4"), DF_CROPS, 6);
    copyFileSync(REAL_CROPS[0]!, path.join(data, "real", "one.jpg"));
    copyFileSync(DF_CROPS[0]!, path.join(data, "fake", "one.jpg"));
  }, TEST_TIMEOUT);

  it("scores videos through the scan pipeline: a video's score is its scan verdict's, its faces every sampled frame", () => {
    const run = mesoguard("evaluate", "--no-detect", "--json", "--real", path.join(data, "real"), "--fake", path.join(data, "fake"));
    expect(run.status).toBe(0);
    const evaluation = JSON.parse(run.stdout) as Evaluation;
    const scan = mesoguard("scan", "--no-detect", "--json", path.join(data, "real"), path.join(data, "fake"));
    const scans = new Map(scan.stdout.trim().split("\n").map((l) => JSON.parse(l) as FileScan).map((s) => [s.file, s]));
    const videos = evaluation.files.filter((f) => f.kind === "video");
    expect(videos).toHaveLength(2);
    for (const f of videos) {
      const s = scans.get(f.file)!;
      expect(s.verdict.fake).not.toBeNull();
      expect(f.score).toBe(s.verdict.fake);
      expect(f.state).toBe(s.verdict.state);
      expect(f.faces).toEqual(s.timeline.flatMap((t) => t.faces.map((face) => face.fake)));
    }
    expect(evaluation.data.fake).toMatchObject({ files: 2, images: 1, videos: 1, faces: scans.get(videos[1]!.file)!.facesScored + 1 });
    expect(evaluation.frameLevel.fake).toBe(evaluation.data.fake.faces);
  }, TEST_TIMEOUT * 2);
});

describe("mesoguard evaluate on bad data", () => {
  const bad = path.join(dir, "bad");
  const real = path.join(TEST_IMAGES_DIR, "real");
  const fake = path.join(TEST_IMAGES_DIR, "df");
  beforeAll(() => {
    mkdirSync(path.join(bad, "empty"), { recursive: true });
    writeFileSync(path.join(bad, "empty", "notes.txt"), "not media");
    mkdirSync(path.join(bad, "one"), { recursive: true });
    copyFileSync(DF_CROPS[0]!, path.join(bad, "one", "df.jpg"));
    mkdirSync(path.join(bad, "broken"), { recursive: true });
    copyFileSync(DF_CROPS[0]!, path.join(bad, "broken", "a.jpg"));
    copyFileSync(DF_CROPS[1]!, path.join(bad, "broken", "b.jpg"));
    writeFileSync(path.join(bad, "broken", "c.jpg"), "not a jpeg");
  });

  /** Runs evaluate with --out; the folder must not exist afterwards. */
  function refused(args: string[], exitCode: number, message: RegExp): void {
    const out = path.join(dir, `never-${Math.random().toString(36).slice(2)}`);
    const run = mesoguard("evaluate", "--no-detect", "--json", "--out", out, ...args);
    expect(run.stderr).toMatch(message);
    expect(run.status).toBe(exitCode);
    expect(run.stdout).toBe("");
    expect(existsSync(out)).toBe(false);
  }

  it("an empty or missing folder, a single class, too few files, an unreadable file: a clear error, exit 1, nothing written", () => {
    refused(["--real", path.join(bad, "empty"), "--fake", fake], 1, /--real .*empty: no videos or images in it/);
    refused(["--real", real, "--fake", path.join(bad, "missing")], 1, /--fake .*missing: no such folder/);
    refused(["--real", real, "--fake", path.join(bad, "one")], 1, /--fake: 1 of 1 file\(s\) had a face scored; .* at least 2 per class/);
    refused(["--real", real, "--fake", path.join(bad, "broken")], 1, /1 file\(s\) could not be read[^]*c\.jpg: ERR_JPEG_DECODE/);
    refused(["--real", TEST_IMAGES_DIR, "--fake", fake], 1, /2 file\(s\) are under both --real and --fake/);
  }, TEST_TIMEOUT * 2);

  it("bad usage exits 2 with the usage text", () => {
    refused(["--fake", fake], 2, /--real DIR is required[^]*Usage: mesoguard evaluate/);
    refused(["--real", real, "--fake", fake, "extra"], 2, /unexpected argument 'extra'/);
    refused(["--real", real, "--fake", fake, "--bogus"], 2, /Unknown option '--bogus'/);
  });

  it("a file without faces is counted and left out, not an error", () => {
    // A grey picture: the detector finds no face in it.
    const noFace = path.join(bad, "noface");
    mkdirSync(noFace, { recursive: true });
    for (const f of REAL_CROPS) copyFileSync(f, path.join(noFace, path.basename(f)));
    runFfmpeg(["-f", "lavfi", "-i", "color=c=gray:s=320x240", "-frames:v", "1", path.join(noFace, "blank.png")]);
    const run = mesoguard("evaluate", "--json", "--real", noFace, "--fake", fake);
    expect(run.status, run.stderr).toBe(0);
    const evaluation = JSON.parse(run.stdout) as Evaluation;
    expect(evaluation.data.real.files).toBe(3);
    expect(evaluation.data.real.noFace).toBeGreaterThanOrEqual(1);
    expect(evaluation.files.find((f) => f.file.endsWith("blank.png"))).toMatchObject({ score: null, state: "no-face" });
  }, TEST_TIMEOUT);
});

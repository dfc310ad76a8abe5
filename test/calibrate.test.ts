// `mesoguard calibrate` and the config file it writes: the threshold rule on scores small enough to check by hand,
// then the command on the shared crops (real addon, compiled bin): its config must load through the server's own
// loader and start a real server, its model card must carry the numbers, and `scan --config` must take the model
// and thresholds from such a file.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadServerConfig } from "../src/config/serverConfig.js";
import { calibrateThresholds, type Calibration } from "../src/evaluate/calibration.js";
import type { FileScore } from "../src/evaluate/dataset.js";
import { evaluateScores, type Evaluation } from "../src/evaluate/evaluation.js";
import type { FileScan } from "../src/scan/scanTypes.js";
import { resolveVerdictConfig } from "../src/verdict/verdictConfig.js";
import { ROOT, TEST_IMAGES_DIR, TEST_TIMEOUT } from "./helpers/paths.js";
import { getJson, startServer, stopAllServers } from "./helpers/server.js";
import { cropsVideo, DF_CROPS, REAL_CROPS } from "./helpers/videos.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-calibrate-"));
afterAll(async () => {
  await stopAllServers();
  rmSync(dir, { recursive: true, force: true });
});

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: dir, timeout: 120_000 });
}

let configCount = 0;
function configFile(contents: unknown): string {
  const file = path.join(dir, `config-${++configCount}.json`);
  writeFileSync(file, JSON.stringify(contents));
  return file;
}

/** An evaluation of image files with these file-level scores. */
function evaluationOf(real: number[], fake: number[]): Evaluation {
  const file = (label: "real" | "fake") => (score: number, i: number): FileScore => ({
    file: `${label}/${i}.jpg`,
    label,
    kind: "image",
    score,
    state: "gathering",
    frames: 1,
    faces: [score],
  });
  const files = [...real.map(file("real")), ...fake.map(file("fake"))];
  return evaluateScores(files, { model: "meso4-df", detector: null, verdict: resolveVerdictConfig(), bootstrap: { resamples: 50 } });
}

describe("calibrateThresholds", () => {
  it("puts likelyFakeAt where at most the target share of real files reach it, suspiciousAt at 5x the target", () => {
    // 100 real files scoring 0.00, 0.01, ..., 0.99; fakes at 0.93, 0.96, 0.995.
    const real = Array.from({ length: 100 }, (_, i) => i / 100);
    const c = calibrateThresholds(evaluationOf(real, [0.93, 0.96, 0.995]), 0.01);
    expect(c.likelyFake.threshold).toBeCloseTo(0.985, 12); // between 0.98 and 0.99: only 0.99 at or above
    expect(c.likelyFake).toMatchObject({ fpr: 0.01, tpr: 1 / 3 });
    expect(c.suspiciousTargetFpr).toBe(0.05);
    expect(c.suspicious.threshold).toBeCloseTo(0.945, 12); // 0.95 .. 0.99 at or above: 5 of 100
    expect(c.suspicious).toMatchObject({ fpr: 0.05, tpr: 2 / 3 });
    expect(c.verdict).toEqual({ suspiciousAt: c.suspicious.threshold, likelyFakeAt: c.likelyFake.threshold });
    // 5x is capped at 0.25.
    expect(calibrateThresholds(evaluationOf(real, [0.9, 0.99]), 0.1).suspiciousTargetFpr).toBe(0.25);
  });

  it("with too few real files to tell the rates apart, suspiciousAt goes a quarter up likelyFakeAt's gap", () => {
    const c = calibrateThresholds(evaluationOf([0.01, 0.002], [0.95, 0.96]), 0.01);
    expect(c.likelyFake).toMatchObject({ threshold: (0.01 + 1) / 2, fpr: 0, tpr: 1 });
    expect(c.suspicious).toMatchObject({ threshold: 0.01 + 0.99 / 4, fpr: 0, tpr: 1 });
  });

  it("lowers the hysteresis when suspiciousAt falls below the default, so the server takes the thresholds", () => {
    const real = Array.from({ length: 100 }, (_, i) => i / 10_000); // 0 .. 0.0099
    const c = calibrateThresholds(evaluationOf(real, [0.5, 0.6]), 0.01);
    expect(c.verdict.suspiciousAt).toBeLessThan(0.05);
    expect(c.verdict.hysteresis).toBe(c.verdict.suspiciousAt / 2);
    const loaded = loadServerConfig({ argv: ["--config", configFile({ model: "meso4-df", verdict: c.verdict })], env: {} });
    expect(loaded.config.verdict).toMatchObject(c.verdict);
  });

  it("refuses a target out of (0, 0.25] and real files scoring 1.0 it cannot get under", () => {
    const e = evaluationOf([0.1, 0.2], [0.9, 0.8]);
    expect(() => calibrateThresholds(e, 0)).toThrow(/--target-fpr must be in \(0, 0.25\]/);
    expect(() => calibrateThresholds(e, 0.3)).toThrow(RangeError);
    expect(() => calibrateThresholds(evaluationOf([1, 0.2], [0.9, 1]), 0.01)).toThrow(/cannot calibrate: .*negatives score 1/);
  });
});

describe("mesoguard calibrate on the shared crops", () => {
  const out = path.join(dir, "calibrated");
  let run: ReturnType<typeof mesoguard>;
  let result: Evaluation & { calibration: Calibration };
  beforeAll(() => {
    const data = ["--real", path.join(TEST_IMAGES_DIR, "real"), "--fake", path.join(TEST_IMAGES_DIR, "df")];
    run = mesoguard("calibrate", "--no-detect", "--model", "meso4-df", "--target-fpr", "0.01", "--out", out, "--json", ...data);
    result = JSON.parse(run.stdout) as typeof result;
  }, TEST_TIMEOUT);

  it("writes the config, the model card, the evaluation and its charts", () => {
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["MODEL_CARD.md", "config.json", "evaluation.json", "histogram-file.svg", "histogram-frame.svg", "roc.svg"]);
    expect(JSON.parse(readFileSync(path.join(out, "evaluation.json"), "utf8"))).toEqual(result);
  });

  it("chooses thresholds by its rule from the real files' scores", () => {
    const real = result.files.filter((f) => f.label === "real").map((f) => f.score!);
    // Two real files: none may be flagged, so likelyFakeAt is halfway from the highest real score to 1.
    expect(result.calibration.likelyFake).toMatchObject({ threshold: (Math.max(...real) + 1) / 2, fpr: 0, tpr: 1 });
    expect(result.calibration.verdict.suspiciousAt).toBeLessThan(result.calibration.verdict.likelyFakeAt);
  });

  it("writes a config in the server's format that the server's own loader takes, thresholds intact", () => {
    const file = path.join(out, "config.json");
    const { verdict } = result.calibration;
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ model: "meso4-df", verdict });
    const { config, origins } = loadServerConfig({ argv: ["--config", file], env: {} });
    expect(config.scorer.model).toBe("meso4-df");
    expect(config.verdict).toMatchObject(verdict);
    expect(origins).toMatchObject({ model: "file", "verdict.suspiciousAt": "file", "verdict.likelyFakeAt": "file" });
  });

  it("starts a real server with that config", async () => {
    const server = await startServer(["--config", path.join(out, "config.json")]);
    const logged = server.logs.find((l) => l.msg === "configuration")!.config as Record<string, string>;
    expect(logged["verdict.likelyFakeAt"]).toBe(`${result.calibration.verdict.likelyFakeAt} (file)`);
    expect(logged["verdict.suspiciousAt"]).toBe(`${result.calibration.verdict.suspiciousAt} (file)`);
    expect(logged.model).toBe("meso4-df (file)");
    expect((await getJson(`${server.url}/healthz`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
  }, TEST_TIMEOUT);

  it("writes a model card with the data, the metrics and their intervals, the operating point, limits and provenance", () => {
    const card = readFileSync(path.join(out, "MODEL_CARD.md"), "utf8");
    const { calibration: c, fileLevel } = result;
    expect(card).toContain("| real | 2 | 2 | 0 | 0 | 2 |");
    expect(card).toContain("| fake | 2 | 2 | 0 | 0 | 2 |");
    expect(card).toContain(`| file | 2 / 2 | ${fileLevel.auc.toFixed(3)} [${fileLevel.aucInterval.low.toFixed(3)}, ${fileLevel.aucInterval.high.toFixed(3)}] |`);
    expect(card).toContain("2000 resamples");
    expect(card).toContain(`\`likelyFakeAt\` = ${c.verdict.likelyFakeAt}: on this data 0.0% of real files`);
    expect(card).toContain(`\`suspiciousAt\` = ${c.verdict.suspiciousAt}`);
    expect(card).toContain("DeepfakeBench measured Meso4 at AUC 0.61 on FaceForensics++ c23");
    expect(card).toContain("license: Apache-2.0");
    expect(card).toMatch(/sourceUrl: https:\/\/raw\.githubusercontent\.com\/DariusAf\/MesoNet\/[0-9a-f]{40}\/weights\/Meso4_DF\.h5/);
  });

  it("bad usage exits 2 and bad data 1, writing nothing", () => {
    const data = ["--real", path.join(TEST_IMAGES_DIR, "real"), "--fake", path.join(TEST_IMAGES_DIR, "df")];
    const never = path.join(dir, "never");
    for (const [args, code, message] of [
      [[...data, "--out", never], 2, /--target-fpr F is required/],
      [[...data, "--out", never, "--target-fpr", "0.5"], 2, /--target-fpr must be in \(0, 0.25\], got 0.5/],
      [[...data, "--target-fpr", "0.01"], 2, /--out DIR is required/],
      [["--real", path.join(TEST_IMAGES_DIR, "real"), "--fake", path.join(dir, "nowhere"), "--out", never, "--target-fpr", "0.01"], 1, /no such folder/],
    ] as const) {
      const bad = mesoguard("calibrate", "--no-detect", ...args);
      expect(bad.stderr).toMatch(message);
      expect(bad.status).toBe(code);
      expect(existsSync(never)).toBe(false);
    }
  }, TEST_TIMEOUT);
});

describe("mesoguard scan --config", () => {
  const df = path.join(dir, "df.mp4");
  const real = path.join(dir, "real.mp4");
  beforeAll(() => {
    mkdirSync(dir, { recursive: true });
    cropsVideo(df, DF_CROPS, 6);
    cropsVideo(real, REAL_CROPS, 6);
  }, TEST_TIMEOUT);

  const scan = (...args: string[]): FileScan => {
    const run = mesoguard("scan", "--no-detect", "--json", ...args);
    expect(run.status, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as FileScan;
  };

  it("takes the verdict thresholds from the file: the same scores get another state", () => {
    const byDefault = scan(df);
    const fake = byDefault.verdict.fake!;
    expect(byDefault.verdict.state).toBe("likely-fake");
    const above = configFile({ verdict: { suspiciousAt: fake + (1 - fake) / 3, likelyFakeAt: fake + (2 * (1 - fake)) / 3 } });
    const between = configFile({ verdict: { suspiciousAt: fake / 2, likelyFakeAt: (fake + 1) / 2 } });
    for (const [file, state] of [
      [above, "authentic"],
      [between, "suspicious"],
    ] as const) {
      const s = scan("--config", file, df);
      expect(s.verdict).toMatchObject({ state, fake });
      expect(s.model).toBe("meso4-df");
    }
  }, TEST_TIMEOUT * 2);

  it("takes the model from the file unless --model is given", () => {
    const file = configFile({ model: "meso4-f2f" });
    expect(scan("--config", file, df).model).toBe("meso4-f2f");
    expect(scan("--config", file, "--model", "meso4-df", df).model).toBe("meso4-df");
  }, TEST_TIMEOUT);

  it("runs on calibrate's config: the calibrated thresholds judge the videos", () => {
    const out = path.join(dir, "chain");
    const data = ["--real", path.join(TEST_IMAGES_DIR, "real"), "--fake", path.join(TEST_IMAGES_DIR, "df")];
    expect(mesoguard("calibrate", "--no-detect", "--target-fpr", "0.01", "--out", out, ...data).status).toBe(0);
    const file = path.join(out, "config.json");
    const { verdict } = JSON.parse(readFileSync(file, "utf8")) as { verdict: { likelyFakeAt: number; suspiciousAt: number } };
    const fake = scan("--config", file, df).verdict;
    const authentic = scan("--config", file, real).verdict;
    expect(fake.fake!).toBeGreaterThanOrEqual(verdict.likelyFakeAt);
    expect(fake.state).toBe("likely-fake");
    expect(authentic.fake!).toBeLessThan(verdict.suspiciousAt);
    expect(authentic.state).toBe("authentic");
  }, TEST_TIMEOUT);

  it("refuses a file the server refuses, naming the setting", () => {
    const run = mesoguard("scan", "--no-detect", "--config", configFile({ verdict: { suspiciousAt: 0.9, likelyFakeAt: 0.8 } }), df);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/verdict\.suspiciousAt must be below verdict\.likelyFakeAt/);
    expect(run.stdout).toBe("");
  });
});

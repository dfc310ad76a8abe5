// The `mesoguard score` command, run as a user runs it (the compiled bin in a child process).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { packageRoot } from "../models/paths.js";

const root = packageRoot();
const images = path.resolve(root, "../shared/mesonet/test_images");
const bin = path.join(root, "dist/src/cli/main.js");
const crops = ["df/df00204.jpg", "df/df01254.jpg", "real/real00240.jpg", "real/real00772.jpg"].map((f) =>
  path.join(images, f),
);

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: root });
}

describe("mesoguard score", () => {
  it("--no-detect --json: one line per file, df crops fake and real crops real with meso4-df", () => {
    const run = mesoguard("score", "--no-detect", "--json", ...crops);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.file)).toEqual(crops);
    for (const line of lines) {
      expect(Object.keys(line).sort()).toEqual(["fake", "file", "model", "real"]);
      expect(line.model).toBe("meso4-df");
      expect(line.fake).toBeCloseTo(1 - line.real, 12);
      const isDf = line.file.includes("/df/");
      expect(line.fake > 0.5).toBe(isDf);
    }
  });

  it("--model picks another model and its own scores", () => {
    const meso4 = JSON.parse(mesoguard("score", "--no-detect", "--json", crops[0]).stdout);
    const inception = JSON.parse(mesoguard("score", "--no-detect", "--json", "--model", "mesoinception4-df", crops[0]).stdout);
    expect(inception.model).toBe("mesoinception4-df");
    expect(Math.abs(inception.real - meso4.real)).toBeGreaterThan(1e-3);
  });

  it("a bad file gets an error line and exit code 1; the other files are still scored", () => {
    const run = mesoguard("score", "--no-detect", "--json", crops[2], path.join(root, "package.json"), "/no/such.jpg");
    expect(run.status).toBe(1);
    const [good, notJpeg, missing] = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(good.real).toBeGreaterThan(0.5);
    expect(notJpeg.code).toBe("ERR_JPEG_DECODE");
    expect(missing.code).toBe("ENOENT");
  });

  it("an unknown model names the valid ones", () => {
    const run = mesoguard("score", "--no-detect", "--model", "meso5", crops[0]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/meso4-df/);
    expect(run.stderr).toMatch(/mesoinception4-f2f/);
  });

  it("without --no-detect it says detection is not available rather than scoring whole frames", () => {
    const run = mesoguard("score", crops[0]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--no-detect/);
  });

  it("human-readable output names the verdict", () => {
    const run = mesoguard("score", "--no-detect", crops[0], crops[2]);
    const [df, real] = run.stdout.trim().split("\n");
    expect(df).toMatch(/\tFAKE\t/);
    expect(real).toMatch(/\treal\t/);
  });
});

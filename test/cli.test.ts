// The `mesoguard score` command, run as a user runs it (the compiled bin in a child process).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PNG } from "pngjs";
import { afterAll, describe, expect, it } from "vitest";

import { packageRoot } from "../src/models/paths.js";
import { loadAddon } from "../src/native/loadAddon.js";
import { resolvePreprocessOptions } from "../src/scoring/scorerOptions.js";
import { boxIou, decodeWithAddon, planarToRgbBytes } from "./helpers/faces.js";
import { facesGridJpeg, jpegDimensions } from "./helpers/images.js";

const root = packageRoot();
const images = path.resolve(root, "../shared/mesonet/test_images");
const bin = path.join(root, "dist/src/cli/main.js");
const crops = ["df/df00204.jpg", "df/df01254.jpg", "real/real00240.jpg", "real/real00772.jpg"].map((f) =>
  path.join(images, f),
);

const photos = path.resolve(root, "../shared/photos");
const grace = path.join(photos, "grace_hopper.jpg");
const example = path.join(photos, "example.jpg");
const messi = path.join(photos, "messi5.jpg");
const astronaut = path.join(photos, "astronaut.png");

function mesoguard(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: root, timeout: 60_000 });
}

/** Runs `mesoguard score --json ...` that must succeed; returns the parsed lines. */
function scoreJson(...args: string[]): any[] {
  const run = mesoguard("score", "--json", ...args);
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  return run.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

const scratch = mkdtempSync(path.join(tmpdir(), "mesoguard-cli-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A 320x240 flat grey PNG: no face in it. */
function greyPng(): string {
  const png = new PNG({ width: 320, height: 240 });
  png.data.fill(128);
  const file = path.join(scratch, "grey.png");
  writeFileSync(file, PNG.sync.write(png));
  return file;
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

  it("detects by default: one JSON line per file, each face exactly {id, box, keypoints, detectorScore, real, fake}", () => {
    const [line] = scoreJson(grace);
    expect(Object.keys(line).sort()).toEqual(["detector", "faces", "file", "height", "model", "width"]);
    expect(line).toMatchObject({ file: grace, model: "meso4-df", detector: "blazeface-back", width: 512, height: 600 });
    expect(line.faces).toHaveLength(1);
    const face = line.faces[0];
    expect(Object.keys(face).sort()).toEqual(["box", "detectorScore", "fake", "id", "keypoints", "real"]);
    expect(face.id).toBe(1);
    expect(boxIou(face.box, [171, 140, 367, 336])).toBeGreaterThanOrEqual(0.6);
    expect(Object.keys(face.keypoints).sort()).toEqual(["leftEar", "leftEye", "mouth", "noseTip", "rightEar", "rightEye"]);
    expect(face.keypoints.noseTip.x).toBeGreaterThan(face.box[0]);
    expect(face.keypoints.noseTip.x).toBeLessThan(face.box[2]);
    expect(face.detectorScore).toBeGreaterThanOrEqual(0.5);
    expect(face.detectorScore).toBeLessThanOrEqual(1);
    expect(face.fake).toBeCloseTo(1 - face.real, 12);
    expect(face.real).toBeGreaterThan(0.5); // Grace Hopper is real
  });

  it("example.jpg: three faces, ids 1..3, one in each third; a PNG is read as PNG", () => {
    const [ex, png] = scoreJson(example, astronaut);
    expect(ex.faces.map((f: { id: number }) => f.id)).toEqual([1, 2, 3]);
    const thirds = ex.faces.map((f: { box: number[] }) => Math.floor((f.box[0] + f.box[2]) / 2 / (ex.width / 3))).sort();
    expect(thirds).toEqual([0, 1, 2]);
    expect(png).toMatchObject({ file: astronaut, width: 512, height: 512 });
    expect(png.faces).toHaveLength(1);
  });

  it("an image without faces gives faces: [] and exit code 0", () => {
    const file = greyPng();
    const [line] = scoreJson(file);
    expect(line).toMatchObject({ file, width: 320, height: 240, faces: [] });
    const human = mesoguard("score", file);
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/no face found/);
  });

  it("--save-crops DIR writes each face's 256x256 crop as DIR/<n>-<file>.face<id>.jpg and names it in the JSON", async () => {
    const dir = path.join(scratch, "crops");
    const lines = scoreJson("--save-crops", dir, grace, example);
    const names = lines.flatMap((l) => l.faces.map((f: { crop: string }) => f.crop));
    expect(names).toEqual([
      path.join(dir, "1-grace_hopper.jpg.face1.jpg"),
      path.join(dir, "2-example.jpg.face1.jpg"),
      path.join(dir, "2-example.jpg.face2.jpg"),
      path.join(dir, "2-example.jpg.face3.jpg"),
    ]);
    expect(readdirSync(dir).sort()).toEqual(names.map((n: string) => path.basename(n)).sort());
    for (const line of lines) {
      for (const f of line.faces) expect(Object.keys(f).sort()).toEqual(["box", "crop", "detectorScore", "fake", "id", "keypoints", "real"]);
    }
    // Each file is a real 256x256 JPEG holding that face's crop, as MesoNet saw it (JPEG loss aside).
    const addon = loadAddon();
    const meanDiff = (a: Uint8Array, b: Uint8Array) => a.reduce((sum, v, i) => sum + Math.abs(v - b[i]), 0) / a.length;
    const decoded: Uint8Array[] = [];
    for (const line of lines) {
      const photo = { kind: "jpeg" as const, data: readFileSync(line.file) };
      for (const face of line.faces) {
        const jpeg = readFileSync(face.crop);
        expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
        expect(jpegDimensions(jpeg)).toEqual({ width: 256, height: 256 });
        const saved = await decodeWithAddon(addon, { kind: "jpeg", data: jpeg }, 256, 256);
        const k = face.keypoints;
        const keypoints = [k.rightEye, k.leftEye, k.noseTip, k.mouth, k.rightEar, k.leftEar].flatMap((p: { x: number; y: number }) => [p.x, p.y]);
        const crop = await addon.preprocess(photo, resolvePreprocessOptions({ width: 256, height: 256, resize: "bilinear", keypoints }));
        const want = planarToRgbBytes(crop, 256, 256);
        expect(meanDiff(saved.data, want), face.crop).toBeLessThan(3);
        decoded.push(saved.data);
      }
    }
    // The crops differ from each other (each file is its own face).
    expect(meanDiff(decoded[1], decoded[2])).toBeGreaterThan(10);
    expect(meanDiff(decoded[2], decoded[3])).toBeGreaterThan(10);
  });

  it("--save-crops keeps both crops of a/x.jpg and b/x.jpg (same base name, different photos)", () => {
    const dir = path.join(scratch, "same-name-crops");
    for (const sub of ["a", "b"]) mkdirSync(path.join(scratch, sub), { recursive: true });
    copyFileSync(grace, path.join(scratch, "a", "x.jpg"));
    copyFileSync(example, path.join(scratch, "b", "x.jpg"));
    const lines = scoreJson("--save-crops", dir, path.join(scratch, "a", "x.jpg"), path.join(scratch, "b", "x.jpg"));
    const names = lines.flatMap((l) => l.faces.map((f: { crop: string }) => f.crop));
    expect(names).toHaveLength(1 + 3); // grace: one face, example: three
    expect(new Set(names).size).toBe(names.length);
    expect(readdirSync(dir).sort()).toEqual(names.map((n: string) => path.basename(n)).sort());
    // a/x.jpg's one crop is still Grace Hopper's, not overwritten by b/x.jpg's first face.
    const graceCrop = lines[0].faces[0].crop;
    const exampleCrop = lines[1].faces[0].crop;
    expect(readFileSync(graceCrop).equals(readFileSync(exampleCrop))).toBe(false);
  });

  it("--max-faces: a 5x4 grid of 20 faces scores the 16 most confident by default and says 4 were cut", () => {
    const grid = path.join(scratch, "grid.jpg");
    writeFileSync(grid, facesGridJpeg(grace));
    const [capped] = scoreJson(grid);
    expect(capped.faces).toHaveLength(16);
    expect(capped.facesCut).toBe(4);
    const [all] = scoreJson("--max-faces", "20", grid);
    expect(all.faces).toHaveLength(20);
    expect(all).not.toHaveProperty("facesCut");
    // The cap keeps the most confident faces.
    const minKept = Math.min(...capped.faces.map((f: { detectorScore: number }) => f.detectorScore));
    const scores = all.faces.map((f: { detectorScore: number }) => f.detectorScore).sort((a: number, b: number) => b - a);
    expect(minKept).toBeCloseTo(scores[15], 5);
    const [three] = scoreJson("--max-faces", "3", grid);
    expect([three.faces.length, three.facesCut]).toEqual([3, 17]);
    const human = mesoguard("score", "--max-faces", "3", grid);
    expect(human.status).toBe(0);
    expect(human.stdout.trim().split("\n").at(-1)).toBe(`${grid}\twarning: 17 more face(s) found and not scored (--max-faces 3)`);
    for (const bad of ["0", "257", "many"]) {
      const run = mesoguard("score", "--max-faces", bad, grid);
      expect(run.status, bad).toBe(2);
      expect(run.stderr).toMatch(/--max-faces must be an integer 1-256/);
    }
  });

  it("--save-crops needs detection", () => {
    const run = mesoguard("score", "--no-detect", "--save-crops", path.join(scratch, "never"), grace);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--save-crops/);
  });

  it("--detector blazeface-front misses the small face in messi5.jpg that the default (back) model finds", () => {
    const [front] = scoreJson("--detector", "blazeface-front", messi);
    expect(front.detector).toBe("blazeface-front");
    expect(front.faces).toEqual([]);
    const [back] = scoreJson(messi);
    expect(back.detector).toBe("blazeface-back");
    expect(back.faces).toHaveLength(1);
    expect(boxIou(back.faces[0].box, [222, 97, 258, 133])).toBeGreaterThanOrEqual(0.6);
  });

  it("an unknown detector is refused, naming the valid ones", () => {
    const run = mesoguard("score", "--detector", "nope", grace);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/blazeface-front/);
    expect(run.stderr).toMatch(/blazeface-back/);
  });

  it("human-readable detection output names each face's id and verdict", () => {
    const run = mesoguard("score", example, grace);
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    for (const [i, id] of [1, 2, 3].entries()) {
      const [file, face, verdict] = lines[i].split("\t");
      expect(file).toBe(example);
      expect(face).toMatch(new RegExp(`^face ${id} \\[\\d+,\\d+,\\d+,\\d+\\]$`));
      expect(["real", "FAKE"]).toContain(verdict);
    }
    expect(lines[3]).toMatch(/\tface 1 \[\d+,\d+,\d+,\d+\]\treal\tfake=0\.\d{4}\tdetector=0\.\d\d\t\(meso4-df\)$/);
  });

  it("human-readable --no-detect output names the verdict", () => {
    const run = mesoguard("score", "--no-detect", crops[0], crops[2]);
    const [df, real] = run.stdout.trim().split("\n");
    expect(df).toMatch(/\tFAKE\t/);
    expect(real).toMatch(/\treal\t/);
  });
});

// Files `mesoguard scan` cannot read, among one it can: an undecodable codec, audio only, a truncated file and a
// non-video. Each gets its own error code in the JSON, the CSV and the HTML report (opened in Chromium), the
// readable file is scanned as usual, and the exit code says some failed.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FileScan } from "../src/scan/scanTypes.js";
import { closeAllBrowsers, launchBrowser } from "./helpers/browser.js";
import { ROOT, TEST_TIMEOUT } from "./helpers/paths.js";
import { audioOnly, GRACE, photoVideo, truncatedCopy, undecodableVideo } from "./helpers/videos.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-badfiles-"));
afterAll(async () => {
  await closeAllBrowsers();
  rmSync(dir, { recursive: true, force: true });
});

/** File name -> the error code it must get, and what its message must say. */
const BAD: Record<string, { code: string; message: RegExp }> = {
  "c64.nut": { code: "ERR_VIDEO_CODEC", message: /codec \(tag 'a64m'\) is unknown to this libavcodec/ },
  "tone.m4a": { code: "ERR_VIDEO_NO_STREAM", message: /has no video stream/ },
  "cut.webm": { code: "ERR_VIDEO_TRUNCATED", message: /truncated/ },
  "garbage.mp4": { code: "ERR_VIDEO_OPEN", message: /cannot open '.*garbage\.mp4' as a video/ },
};

let run: SpawnSyncReturns<string>;
let scans: Map<string, FileScan>;
beforeAll(() => {
  const good = photoVideo(path.join(dir, "grace.mp4"), GRACE, "h264", 4);
  undecodableVideo(path.join(dir, "c64.nut"));
  audioOnly(path.join(dir, "tone.m4a"));
  truncatedCopy(photoVideo(path.join(dir, "whole.webm"), GRACE, "vp8", 3), path.join(dir, "cut.webm"), 0.3);
  writeFileSync(path.join(dir, "garbage.mp4"), "not a video");
  const files = [path.join(dir, "c64.nut"), path.join(dir, "tone.m4a"), good, path.join(dir, "cut.webm"), path.join(dir, "garbage.mp4")];
  run = spawnSync(process.execPath, [bin, "scan", "--json", "--csv", path.join(dir, "summary.csv"), "--report", path.join(dir, "report"), ...files], {
    encoding: "utf8",
    timeout: 120_000,
  });
  scans = new Map(run.stdout.trim().split("\n").map((l) => JSON.parse(l) as FileScan).map((s) => [path.basename(s.file), s]));
}, TEST_TIMEOUT * 2);

describe("scan on files it cannot read", () => {
  it("gives each its own error in the JSON, scans the readable one, and exits 1", () => {
    expect(run.status).toBe(1);
    expect([...scans.keys()].sort()).toEqual(["c64.nut", "cut.webm", "garbage.mp4", "grace.mp4", "tone.m4a"]);
    for (const [name, { code, message }] of Object.entries(BAD)) {
      expect(scans.get(name)!.error, name).toMatchObject({ code, message: expect.stringMatching(message) });
    }
    const grace = scans.get("grace.mp4")!;
    expect(grace.error).toBeUndefined();
    expect(grace).toMatchObject({ frames: 8, facesScored: 8 });
  });

  it("gives each its error code and message in the CSV", () => {
    const lines = readFileSync(path.join(dir, "summary.csv"), "utf8").trim().split("\r\n");
    expect(lines).toHaveLength(6);
    const header = lines[0]!.split(",");
    for (const [name, { code, message }] of Object.entries(BAD)) {
      const row = lines.find((l) => l.includes(name))!;
      // The message may hold commas: it is the last column, quoted.
      const cells = row.split(",");
      expect(cells[header.indexOf("state")]).toBe("error");
      expect(cells[header.indexOf("error_code")]).toBe(code);
      expect(row.slice(row.indexOf(code) + code.length + 1)).toMatch(message);
    }
    expect(lines.find((l) => l.includes("grace.mp4"))!.split(",")[header.indexOf("error_code")]).toBe("");
  });

  it("gives each a section saying why in the HTML report, in Chromium", async () => {
    const browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(pathToFileURL(path.join(dir, "report", "index.html")).toString());
    expect(await page.locator("section.file").count()).toBe(5);
    for (const [name, { code, message }] of Object.entries(BAD)) {
      const section = page.locator("section.file", { has: page.locator("h2", { hasText: name }) });
      expect(await section.getAttribute("data-state")).toBe("error");
      const error = await section.locator(".error").innerText();
      expect(error).toContain(code);
      expect(error).toMatch(message);
    }
    const grace = page.locator("section.file", { has: page.locator("h2", { hasText: "grace.mp4" }) });
    expect(await grace.getAttribute("data-state")).toMatch(/^(authentic|suspicious|likely-fake)$/);
    expect(browser.problems).toEqual([]);
  }, TEST_TIMEOUT);
});

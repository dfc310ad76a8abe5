// `mesoguard scan --report DIR` opened in real Chromium (Debian's, via playwright-core): one section per file,
// a timeline chart per file with faces, the thresholds drawn, thumbnails that decode, the model's limits, and
// nothing loaded from anywhere but the page itself. A full-page screenshot lands in test/artifacts/web/.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { closeAllBrowsers, launchBrowser, screenshot } from "./helpers/browser.js";
import { ROOT, SHARED, TEST_TIMEOUT } from "./helpers/paths.js";
import { cropsVideo, DF_CROPS, GRACE, patternVideo, photoVideo } from "./helpers/videos.js";

const bin = path.join(ROOT, "dist/src/cli/main.js");
const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-report-"));
afterAll(async () => {
  await closeAllBrowsers();
  rmSync(dir, { recursive: true, force: true });
});

const files: string[] = [];
let run: ReturnType<typeof spawnSync>;
beforeAll(() => {
  files.push(photoVideo(path.join(dir, "grace.mp4"), GRACE, "h264", 5));
  files.push(patternVideo(path.join(dir, "pattern.webm"), "vp8", 2));
  files.push(path.join(dir, "broken.mkv"));
  writeFileSync(files[2]!, "not a video");
  files.push(path.join(SHARED, "photos", "example.jpg"));
  // The data set's deepfake crops, faces re-detected in them: something for the explanation to show.
  files.push(cropsVideo(path.join(dir, "df-crops.mp4"), DF_CROPS, 5));
  run = spawnSync(process.execPath, [bin, "scan", "--explain", "--report", path.join(dir, "report"), ...files], { encoding: "utf8", timeout: 120_000 });
}, TEST_TIMEOUT * 2);

describe("scan --explain", () => {
  it("puts the occlusion map of the most suspicious face in the JSON: 8x8 drops from its own score", () => {
    const json = spawnSync(process.execPath, [bin, "scan", "--json", "--explain", files[4]!, files[1]!], { encoding: "utf8", timeout: 120_000 });
    expect(json.status).toBe(0);
    const [crops, pattern] = json.stdout.trim().split("\n").map((l) => JSON.parse(l)).sort((a, b) => a.file.localeCompare(b.file));
    const peak = Math.max(...crops.tracks.map((t: { peak: number }) => t.peak));
    expect(crops.explanation).toMatchObject({ grid: 8, faceId: crops.verdict.trackId ?? 1 });
    expect(crops.explanation.drops).toHaveLength(64);
    // The explained face is the most suspicious one scored; rescored as its crop it stays close (same pixels, RGB path).
    expect(crops.explanation.baseFake).toBeCloseTo(peak, 1);
    expect(pattern.explanation).toBeUndefined(); // no face, nothing to explain
  }, TEST_TIMEOUT);
});

describe("scan --report", () => {
  it("is a page Chromium renders without loading anything, one section per file", async () => {
    expect(run.status).toBe(1); // broken.mkv
    const browser = await launchBrowser({ viewport: { width: 1000, height: 800 } });
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path.join(dir, "report", "index.html")).toString());
    // Only the page itself and its data: URIs.
    expect(requests.filter((u) => !u.startsWith("data:"))).toEqual([pathToFileURL(path.join(dir, "report", "index.html")).toString()]);

    const sections = page.locator("section.file");
    expect(await sections.count()).toBe(5);
    const section = (name: string) => page.locator("section.file", { has: page.locator("h2", { hasText: name }) });

    const grace = section("grace.mp4");
    expect(await grace.getAttribute("data-state")).toMatch(/^(authentic|suspicious|likely-fake)$/);
    expect(await grace.locator("svg.timeline polyline.track").count()).toBe(1);
    expect(await grace.locator("svg.timeline line.threshold").count()).toBe(2);
    expect(await grace.locator("svg.timeline circle").count()).toBe(10); // 5 s at 2 frames/s
    const thumbs = grace.locator("img.thumb");
    expect(await thumbs.count()).toBe(2);
    for (const img of await thumbs.all()) {
      await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(256);
    }
    expect(await grace.locator("figcaption").first().innerText()).toMatch(/most suspicious: face 1 at [\d.]+ s, fake [\d.]+/);

    expect(await section("pattern.webm").getAttribute("data-state")).toBe("no-face");
    expect(await section("pattern.webm").innerText()).toContain("No faces found");
    expect(await section("broken.mkv").getAttribute("data-state")).toBe("error");
    expect(await section("broken.mkv").locator(".error").innerText()).toMatch(/ERR_VIDEO_OPEN/);
    // Three faces in one photo: three tracks in the table (no chart for one instant), no verdict from one frame.
    expect(await section("example.jpg").locator("tbody tr").count()).toBe(3);
    expect(await section("example.jpg").locator("svg.timeline").count()).toBe(0);
    expect(await section("example.jpg").getAttribute("data-state")).toBe("gathering");

    // --explain: the most suspicious face's crop with an 8x8 occlusion heatmap over it, and what it means.
    const explained = section("df-crops.mp4").locator("figure.explain");
    expect(await explained.locator("svg.heatmap rect.cell").count()).toBe(64);
    expect(await explained.locator("svg.heatmap image").count()).toBe(1);
    expect(await explained.locator("figcaption").innerText()).toMatch(/regions the model relied on, not proof/);
    const opacities = await explained.locator("rect.cell").evaluateAll((els) => els.map((e) => Number(e.getAttribute("fill-opacity"))));
    // The largest drop is the reddest, on a fixed scale (full red at a drop of 0.5).
    const largest = Number((await explained.locator("figcaption").innerText()).match(/largest drop here (-?[\d.]+)/)![1]);
    expect(Math.max(...opacities)).toBeCloseTo(Math.min(Math.max(largest, 0) / 0.5, 1) * 0.7, 2);
    expect(await section("pattern.webm").locator("figure.explain").count()).toBe(0);

    const head = await page.locator("table.settings").innerText();
    expect(head).toContain("meso4-df");
    expect(head).toMatch(/suspicious at an aggregate fake score ≥ 0.5, likely fake ≥ 0.75/);
    expect(await page.locator("ul.limits").innerText()).toContain("AUC 0.61");
    await page.screenshot({ path: await screenshot(page, "scan-report"), fullPage: true });
    expect(browser.problems).toEqual([]);
  }, TEST_TIMEOUT);
});

// The dashboard as a trust-and-safety tool, in real Chromium against the real server (issue 13): real WebSocket
// participants send the shared deepfake and real face crops; the dashboard raises an alert, shows the face
// snapshot on the tile and a detail view with per-face timelines, state history, source, frames and latency; an
// acknowledgement by one observer shows for a second; export downloads an incident bundle whose JSON and JPEGs
// are checked; a reload keeps the history; explain overlays a heatmap. Screenshots at 1280 and 1920 px.
import { readFileSync } from "node:fs";
import path from "node:path";

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { cleanupTemp, closeAllBrowsers, dashboardUrl, ensureWebBuilt, launchBrowser, screenshot, tileOf, until, type TestBrowser } from "../helpers/browser.js";
import { decodeJpeg } from "../helpers/jpeg.js";
import { SHARED, closeAllClients, dfCrops, joinClient, pace, startServer, stopAllServers, type RunningServer } from "../helpers/server.js";
import { readZip } from "../helpers/zip.js";

const ROOM = "evidence-web";
let server: RunningServer;
let browser: TestBrowser;
let first: Page;
let second: Page;
const stops: Array<() => void> = [];

const live = (page: Page) => until(async () => (await page.locator("#status").getAttribute("data-status")) === "live", "the dashboard live");
const openAlert = (page: Page) => page.locator('#incident-alerts li.incident[data-participant-id="deepfake"]');

/** Natural size of every loaded <img> matching the selector. */
const imageSizes = (page: Page, selector: string) =>
  page.$$eval(selector, (imgs) => (imgs as HTMLImageElement[]).filter((i) => i.complete && i.naturalWidth > 0).map((i) => [i.naturalWidth, i.naturalHeight]));

beforeAll(async () => {
  await ensureWebBuilt();
  server = await startServer(["--score-rate-hz", "5"]);
  browser = await launchBrowser({ viewport: { width: 1280, height: 800 } });
  first = await browser.newPage();
  await first.goto(dashboardUrl(server.url, ROOM));
  await live(first);
  // Real WebSocket participants: one publishing the deepfake crops, three the real ones.
  const df = dfCrops();
  const real = ["real00240.jpg", "real00772.jpg"].map((f) => readFileSync(path.join(SHARED, "mesonet/test_images/real", f)));
  const fake = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "deepfake", name: "Dee Fake", frameContent: "face-crop" });
  stops.push(pace(5, (i) => fake.client.sendFrame({ kind: "jpeg", data: df[i % df.length]! })));
  for (const [i, name] of ["Ada Lovelace", "Grace Hopper", "a-participant-with-a-long-id-that-must-not-be-cut-0123456789"].entries()) {
    const id = name.includes(" ") ? name.toLowerCase().replace(" ", "-") : name;
    const c = await joinClient(server.url, { room: ROOM, role: "participant", participantId: id, name: name.includes(" ") ? name : undefined, frameContent: "face-crop" });
    stops.push(pace(3, (k) => c.client.sendFrame({ kind: "jpeg", data: real[(k + i) % real.length]! })));
  }
}, 120_000);

afterAll(async () => {
  for (const stop of stops) stop();
  closeAllClients();
  await closeAllBrowsers();
  await stopAllServers();
  cleanupTemp();
}, 60_000);

describe("the dashboard's evidence, alerts and incidents in Chromium", () => {
  it("a participant publishing deepfake crops raises an alert; its tile shows its face snapshot", async () => {
    await until(async () => (await openAlert(first).count()) > 0, "the alert", 40_000);
    const alert = openAlert(first).first();
    expect(await alert.getAttribute("data-status")).toBe("open");
    expect(["suspicious", "likely-fake"]).toContain(await alert.getAttribute("data-state"));
    expect((await alert.innerText()).replace(/\s+/g, " ")).toMatch(/^\d\d:\d\d:\d\d Dee Fake (✖ Likely fake|⚠ Suspicious) \(\d\.\d\d\) open Acknowledge Dismiss$/);
    expect(await first.locator("#open-alerts").innerText()).toMatch(/^\d+ open$/);

    const thumb = tileOf(first, "deepfake").locator("img.tile-thumb");
    await until(async () => (await imageSizes(first, '.tile[data-participant="deepfake"] img.tile-thumb')).length === 1, "the thumbnail");
    expect(await imageSizes(first, '.tile[data-participant="deepfake"] img.tile-thumb')).toEqual([[256, 256]]);
    expect(await thumb.getAttribute("alt")).toMatch(/^face 1 of Dee Fake, fake score \d\.\d\d$/);
    // Counter chips say what they count; the long id is shown whole.
    expect((await tileOf(first, "deepfake").locator(".tile-stats").innerText()).replace(/\s+/g, " ")).toMatch(/frames\/s \d+ dropped \d+ faces? \d+ ms latency/);
    const longId = "a-participant-with-a-long-id-that-must-not-be-cut-0123456789";
    await until(async () => (await tileOf(first, longId).count()) === 1, "the long-id tile");
    expect(await tileOf(first, longId).locator(".tile-name").innerText()).toBe(longId);
    const cut = await tileOf(first, longId).locator(".tile-name").evaluate((e) => e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight + 1);
    expect(cut).toBe(false);
    await until(async () => (await tileOf(first, "ada-lovelace").getAttribute("data-state")) === "authentic", "ada authentic");
    await screenshot(first, "evidence-dashboard-1280");
  }, 90_000);

  it("the detail view shows per-face timelines, snapshots, state history, source, frames and latency; explain overlays a heatmap", async () => {
    await tileOf(first, "deepfake").getByRole("button", { name: /^Details of deepfake/ }).click();
    const dialog = first.locator("dialog#detail");
    await until(async () => dialog.isVisible(), "the detail view");
    expect(await first.locator("#detail-title").innerText()).toBe("Dee Fake");
    const facts = (await first.locator("#detail-facts").innerText()).replace(/\s+/g, " ");
    expect(facts).toMatch(/Source a WebSocket client \(SDK\)/);
    expect(facts).toMatch(/Latency \d+ ms \(received → scored, last frame\)/);
    expect(facts).toMatch(/Frames \d+ received, \d+ scored, \d+ dropped/);
    expect(facts).toMatch(/Scoring rate \d+(\.\d)? frames\/s/);
    expect(await first.locator("#detail-states li").first().innerText()).toMatch(/^\d\d:\d\d:\d\d .* → (✖ Likely fake|⚠ Suspicious|✓ Authentic|… Gathering)/);

    const face = first.locator('#detail-faces section.face[data-face="1"]');
    await until(async () => (await face.count()) === 1, "face 1's section");
    await until(async () => (await imageSizes(first, '#detail-faces .face[data-face="1"] figure.snapshot img')).length >= 2, "two snapshots");
    for (const size of await imageSizes(first, "#detail-faces figure.snapshot img")) expect(size).toEqual([256, 256]);
    expect(await face.locator('figure[data-kind="suspicious"]').count()).toBeGreaterThanOrEqual(1);
    // The face's chart is drawn at a readable size, with axes.
    const chart = await face.locator("canvas.face-chart").evaluate((canvas: HTMLCanvasElement) => {
      const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let inked = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) inked++;
      return { width: canvas.clientWidth, height: canvas.clientHeight, inked };
    });
    expect(chart.width).toBeGreaterThan(500);
    expect(chart.height).toBeGreaterThanOrEqual(200);
    expect(chart.inked).toBeGreaterThan(5000);

    await face.getByRole("button", { name: /^Explain face 1/ }).click();
    const heatmap = face.locator("canvas.heatmap");
    await until(async () => heatmap.isVisible(), "the heatmap", 60_000);
    expect(await heatmap.getAttribute("aria-label")).toMatch(/^occlusion heatmap over snapshot \d+ of face 1$/);
    expect(await face.locator(".explain-text").innerText()).toMatch(/regions the model relied on .* not proof of manipulation\.$/);
    // Red cells are drawn over the crop (the map is not blank).
    const reddish = await heatmap.evaluate((canvas: HTMLCanvasElement) => {
      const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! > data[i + 1]! + 60 && data[i]! > data[i + 2]! + 60) n++;
      return n;
    });
    expect(reddish).toBeGreaterThan(500);
    await screenshot(first, "evidence-detail-1280");
    await first.setViewportSize({ width: 1920, height: 1080 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await screenshot(first, "evidence-detail-1920");
  }, 120_000);

  it("export downloads an incident bundle whose JSON and JPEGs check out", async () => {
    const [download] = await Promise.all([first.waitForEvent("download"), first.locator("#detail-export").click()]);
    expect(download.suggestedFilename()).toBe(`incident-${ROOM}-deepfake.zip`);
    const files = readZip(readFileSync((await download.path())!));
    const incident = JSON.parse(files.get("incident.json")!.data.toString("utf8")) as Record<string, any>;
    expect(incident).toMatchObject({ format: "mesoguard-incident", room: ROOM, participant: { id: "deepfake", name: "Dee Fake" } });
    expect(incident.model.name).toBe("meso4-df");
    expect(incident.thresholds.likelyFakeAt).toBe(0.75);
    expect(incident.versions.mesoguard).toMatch(/^\d+\.\d+\.\d+/);
    expect(incident.timeline.length).toBeGreaterThan(3);
    expect(incident.alerts.length).toBeGreaterThan(0);
    expect(incident.snapshots.length).toBeGreaterThan(0);
    for (const s of incident.snapshots as Array<{ file: string }>) expect(decodeJpeg(files.get(s.file)!.data)).toEqual({ width: 256, height: 256, rgbBytes: 256 * 256 * 3 });
    expect(await first.locator("#detail-export-status").innerText()).toBe(`Downloaded incident-${ROOM}-deepfake.zip`);
    await first.locator("#detail-close").click();
    await first.setViewportSize({ width: 1280, height: 800 });
  }, 60_000);

  it("an acknowledgement by one observer shows for a second; a reload keeps the history and the alert", async () => {
    second = await browser.newPage();
    await second.setViewportSize({ width: 1920, height: 1080 });
    await second.goto(dashboardUrl(server.url, ROOM));
    await live(second);
    await until(async () => (await openAlert(second).count()) > 0, "the alert on the second dashboard (from history)");

    const alert = openAlert(first).first();
    const alertId = await alert.getAttribute("data-alert-id");
    await alert.getByRole("button", { name: /^Acknowledge the alert/ }).click();
    const onSecond = second.locator(`#incident-alerts li[data-alert-id="${alertId}"]`);
    await until(async () => (await onSecond.getAttribute("data-status")) === "acknowledged", "the acknowledgement on the second dashboard");
    expect(await onSecond.locator(".incident-status").innerText()).toMatch(/^acknowledged by observer-\d+ at \d\d:\d\d:\d\d$/);
    expect(await onSecond.getByRole("button", { name: /^Acknowledge/ }).isDisabled()).toBe(true);
    await screenshot(second, "evidence-dashboard-1920");

    const reloadedAt = Date.now();
    await second.reload();
    await live(second);
    await until(async () => (await second.locator(`#incident-alerts li[data-alert-id="${alertId}"]`).getAttribute("data-status")) === "acknowledged", "the acknowledged alert after the reload");
    // The tile's chart starts before the reload (the server's history), and the activity feed lists the change.
    const oldest = await until(async () => Number(await tileOf(second, "deepfake").locator("canvas.tile-chart").getAttribute("data-oldest")), "the chart's oldest point");
    expect(oldest).toBeLessThan(reloadedAt - 5000);
    expect(await second.locator('#alerts li[data-kind="change"][data-participant="deepfake"]').count()).toBeGreaterThan(0);
    await until(async () => (await imageSizes(second, '.tile[data-participant="deepfake"] img.tile-thumb')).length === 1, "the thumbnail after the reload");
    // Dismissed on the reloaded page: the first dashboard sees who dismissed it.
    await second.locator(`#incident-alerts li[data-alert-id="${alertId}"]`).getByRole("button", { name: /^Dismiss/ }).click();
    await until(async () => (await alert.getAttribute("data-status")) === "dismissed", "the dismissal on the first dashboard");
    expect(await alert.locator(".incident-status").innerText()).toMatch(/^acknowledged by observer-\d+ at .*; dismissed by observer-\d+ at \d\d:\d\d:\d\d$/);
    expect(browser.problems).toEqual([]);
  }, 90_000);
});

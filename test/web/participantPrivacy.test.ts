// The participant page in real Chromium against a server with the default participantSeesVerdict (false): the
// page shows that it is connected and sending, and nothing of the scores; no score message reaches its socket.
// (With participantSeesVerdict on, the page shows its own verdict: pages.test.ts.)
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  cleanupTemp,
  closeAllBrowsers,
  dashboardUrl,
  ensureWebBuilt,
  graceHopperY4m,
  joinUrl,
  launchBrowser,
  screenshot,
  tileOf,
  until,
  type TestBrowser,
} from "../helpers/browser.js";
import { startServer, stopAllServers, type RunningServer } from "../helpers/server.js";

const ROOM = "privacy";

let server: RunningServer;
let browser: TestBrowser;

const textOf = (page: Page, selector: string) => page.locator(selector).innerText({ timeout: 1000 });

beforeAll(async () => {
  await ensureWebBuilt();
  server = await startServer(["--score-rate-hz", "5"]);
  browser = await launchBrowser({ video: graceHopperY4m() });
}, 120_000);

afterAll(async () => {
  await closeAllBrowsers();
  await stopAllServers();
  cleanupTemp();
}, 60_000);

describe("the participant page without its verdict (the default)", () => {
  it("shows that it is connected and sending, no score; the dashboard has the verdict", async () => {
    const dashboard = await browser.newPage();
    await dashboard.goto(dashboardUrl(server.url, ROOM));
    const page = await browser.newPage();
    // Every text message the page's WebSocket receives, by type.
    const received: string[] = [];
    page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
      if (typeof payload === "string") received.push((JSON.parse(payload) as { type: string }).type);
    }));
    await page.goto(joinUrl(server.url, { room: ROOM, participant: "grace", name: "Grace Hopper", fps: 5 }));

    await until(async () => (await tileOf(dashboard, "grace").getAttribute("data-state", { timeout: 1000 })) === "authentic", "grace authentic on the dashboard", 40_000);
    await until(async () => /^Connected: the server has received \d+ frames$/.test(await textOf(page, "#server-link")), "the connection line");
    expect(Number(await textOf(page, "#received"))).toBeGreaterThan(5);
    expect(await textOf(page, "#sending")).toMatch(/^Sending 5\.0 frames\/s/);
    // Nothing of the verdict: no badge, scores, chart, faces or samples, and no score on the wire.
    for (const selector of ["#badge-slot", ".big-scores", "#chart", "#faces", "#latency", "#samples", ".caveat"]) {
      expect(await page.locator(selector).isVisible(), selector).toBe(false);
    }
    expect(await page.locator("#latest").textContent()).toBe("–");
    const visible = await page.locator("body").innerText();
    expect(visible).not.toMatch(/Authentic|Suspicious|Likely fake|fake score|\b0\.\d\d\b/i);
    expect(received).toContain("receipt");
    expect(received).not.toContain("score");
    await screenshot(page, "join-no-verdict");

    // Pausing is told to the server: the page hears back that it counts as paused, the dashboard shows it.
    await page.locator("#toggle").click();
    await until(async () => (await textOf(page, "#server-link")) === "Connected: the server counts you as paused (no frames)", "paused on the page");
    await until(async () => (await tileOf(dashboard, "grace").getAttribute("data-state", { timeout: 1000 })) === "paused", "grace paused on the dashboard");
    await page.locator("#toggle").click();
    await until(async () => /^Connected: the server has received/.test(await textOf(page, "#server-link")), "sending again");
    expect(received).not.toContain("score");
    expect(browser.problems).toEqual([]);
  }, 90_000);
});

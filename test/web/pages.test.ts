// The dashboard and the participant page in real Chromium against the real server (`mesoguard serve`):
// fake cameras play .y4m files made with ffmpeg from the shared photo and deepfake crops.
import { readFileSync } from "node:fs";
import path from "node:path";

import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  cleanupTemp,
  closeAllBrowsers,
  dashboardUrl,
  deepfakeY4m,
  ensureWebBuilt,
  graceHopperY4m,
  joinUrl,
  launchBrowser,
  screenshot,
  tileOf,
  until,
  type TestBrowser,
} from "../helpers/browser.js";
import { ID_RULE, isValidId } from "../../src/protocol/ids.js";
import {
  SHARED,
  TEST_SECRET,
  closeAllClients,
  joinClient,
  mintWithCli,
  startServer,
  stopAllServers,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";

const ROOM = "web-e2e";
const VERDICTS = ["authentic", "suspicious", "likely-fake"];
const BADGE_TEXT = /^(✓ Authentic|⚠ Suspicious|✖ Likely fake|… Gathering|∅ No face|❚❚ Paused)$/;

let server: RunningServer;
let graceBrowser: TestBrowser;
let dfBrowser: TestBrowser;
let dashboard: Page;
let graceJoin: Page;
let dfJoin: Page;

const stateOf = (page: Page, id: string) => tileOf(page, id).getAttribute("data-state", { timeout: 1000 });
const textOf = (page: Page, selector: string) => page.locator(selector).innerText({ timeout: 1000 });

beforeAll(async () => {
  await ensureWebBuilt();
  graceHopperY4m();
  deepfakeY4m();
  // These participants see their own verdict (participantSeesVerdict); the default is in participantPrivacy.test.ts.
  server = await startServer(["--participant-sees-verdict", "--score-rate-hz", "5"]);
}, 120_000);

afterAll(async () => {
  closeAllClients();
  await closeAllBrowsers();
  await stopAllServers();
  cleanupTemp();
}, 60_000);

describe("dashboard and participant page in Chromium", () => {
  it("a participant page streams its camera and the dashboard shows its tile with a readable state badge", async () => {
    graceBrowser = await launchBrowser({ video: graceHopperY4m() });
    dashboard = await graceBrowser.newPage();
    await dashboard.goto(dashboardUrl(server.url, ROOM));
    await until(async () => (await dashboard.locator("#status").getAttribute("data-status")) === "live", "dashboard live");
    expect(await textOf(dashboard, "#room-name")).toBe(ROOM);
    expect(await dashboard.locator("#empty").isVisible()).toBe(true);

    graceJoin = await graceBrowser.newPage();
    await graceJoin.goto(joinUrl(server.url, { room: ROOM, participant: "grace", name: "Grace Hopper", fps: 5, width: 640 }));

    // The tile appears and leaves no-face within seconds: frames arrive and faces are scored.
    const tile = tileOf(dashboard, "grace");
    const state = await until(async () => {
      const s = await stateOf(dashboard, "grace");
      return s && s !== "no-face" ? s : null;
    }, "grace's tile to leave no-face", 30_000);
    expect(["gathering", ...VERDICTS]).toContain(state);
    await until(async () => /^\d\.\d\d$/.test(await tile.locator(".metric-value").first().innerText()), "a latest score on the tile");
    // Then a verdict: grace_hopper.jpg is a real photo and MesoNet (meso4-df) scores it real.
    await until(async () => (await stateOf(dashboard, "grace")) === "authentic", "grace to be authentic", 30_000);

    const badge = (await tile.locator(".badge").innerText()).replace(/\s+/g, " ").trim();
    expect(badge).toMatch(BADGE_TEXT);
    expect(badge).toBe("✓ Authentic");
    expect(await textOf(dashboard, `.tile[data-participant="grace"] .tile-name`)).toBe("Grace Hopper");
    expect(Number(await tile.locator(".tile-stats b").first().innerText())).toBeGreaterThan(0); // fps
    expect(await dashboard.locator("#empty").isVisible()).toBe(false);
    const rolling = Number(await tile.locator(".metric-main .metric-value").innerText());
    expect(rolling).toBeGreaterThanOrEqual(0);
    expect(rolling).toBeLessThan(0.5);

    // The participant page shows its own state and what it sends.
    await until(async () => (await textOf(graceJoin, "#badge-slot .badge")).includes("Authentic"), "the participant's own badge");
    expect(await textOf(graceJoin, "#sending")).toMatch(/Sending 5\.0 frames\/s/);
    expect(Number(await textOf(graceJoin, "#sent"))).toBeGreaterThan(5);
    expect(await textOf(graceJoin, "#faces")).toBe("1");
    expect(await graceJoin.locator("#error").isVisible()).toBe(false);

    // The chart has been drawn (non-blank canvas).
    const inked = await dashboard.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('.tile[data-participant="grace"] canvas')!;
      const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(100);
  }, 90_000);

  it("a deepfake face-crop participant turns likely-fake or suspicious and the alert feed lists the change", async () => {
    dfBrowser = await launchBrowser({ video: deepfakeY4m() });
    dfJoin = await dfBrowser.newPage();
    await dfJoin.goto(joinUrl(server.url, { room: ROOM, participant: "df-1", name: "Deep Fake", content: "face-crop", fps: 5 }));

    const state = await until(async () => {
      const s = await stateOf(dashboard, "df-1");
      return s === "suspicious" || s === "likely-fake" ? s : null;
    }, "df-1 to turn suspicious or likely-fake", 40_000);
    const badge = (await tileOf(dashboard, "df-1").locator(".badge").innerText()).replace(/\s+/g, " ").trim();
    expect(badge).toBe(state === "likely-fake" ? "✖ Likely fake" : "⚠ Suspicious");

    // The alert feed: a timestamped change into the flagged state, marked as a warning.
    const alert = dashboard.locator(`#alerts li.alert.warning[data-kind="change"][data-state="${state}"]`).filter({ hasText: "Deep Fake" });
    await until(async () => (await alert.count()) > 0, "the alert entry");
    const text = (await alert.first().innerText()).replace(/\s+/g, " ");
    expect(text).toMatch(/^\d\d:\d\d:\d\d Deep Fake \S.* → (✖ Likely fake|⚠ Suspicious) \(\d\.\d\d\)$/);
    // Flagged first: the df tile is ordered before grace's.
    const order = await dashboard.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>(".tile")].map((t) => [t.dataset.participant, Number(getComputedStyle(t).order)]),
    );
    const orderOf = Object.fromEntries(order) as Record<string, number>;
    expect(orderOf["df-1"]).toBeLessThan(orderOf.grace);
    // The summary and the page title count the flagged participant.
    expect(await dashboard.title()).toMatch(/^\(1 ⚠\) web-e2e · mesoguard$/);

    await until(async () => /Likely fake|Suspicious/.test(await textOf(dfJoin, "#badge-slot .badge")), "df's own badge");
    await new Promise((resolve) => setTimeout(resolve, 1500)); // let the charts gather a few more points
    await screenshot(dashboard, "dashboard");
    await screenshot(graceJoin, "join-grace");
    await screenshot(dfJoin, "join-deepfake");
    expect([...graceBrowser.problems, ...dfBrowser.problems]).toEqual([]);
  }, 90_000);

  it("the participant page stops sending while the tab is hidden and when the camera track ends", async () => {
    const sent = async () => Number(await textOf(graceJoin, "#sent"));
    // Hide the tab as far as the page can tell (headless tabs are always visible).
    await graceJoin.evaluate(() => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await until(async () => (await textOf(graceJoin, "#sending")).startsWith("Paused: this tab is hidden"), "the paused line");
    const before = await sent();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await sent()).toBe(before);
    expect(await graceJoin.locator("#sending").getAttribute("data-sending")).toBe("no");
    // The page told the server: grace is paused (not "no face"), with her last verdict, on the dashboard and on her
    // own page, whose face count says it is from before the pause.
    await until(async () => (await stateOf(dashboard, "grace")) === "paused", "grace paused while hidden", 15_000);
    await until(async () => /^paused \d+ s, was Authentic/.test(await textOf(dashboard, '.tile[data-participant="grace"] .stat-since')), "the tile's pause line");
    await until(async () => (await textOf(graceJoin, "#badge-slot .badge")).includes("Paused"), "grace's own badge paused");
    expect(await textOf(graceJoin, "#faces")).toBe("1 (before the pause)");
    expect(await textOf(graceJoin, "#server-link")).toBe("Connected: the server counts you as paused (no frames)");
    await screenshot(graceJoin, "join-paused");

    await graceJoin.evaluate(() => {
      delete (document as { hidden?: boolean }).hidden;
      delete (document as { visibilityState?: string }).visibilityState;
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await until(async () => (await sent()) > before + 3, "sending to resume");
    await until(async () => (await stateOf(dashboard, "grace")) === "authentic", "grace scored again");
    expect(await textOf(graceJoin, "#faces")).toBe("1");

    // The camera track ends (unplugged / revoked): sending stops and the page says so.
    await graceJoin.evaluate(() => {
      const video = document.querySelector("video")!;
      for (const track of (video.srcObject as MediaStream).getVideoTracks()) track.stop();
    });
    await until(async () => (await textOf(graceJoin, "#sending")).startsWith("Stopped: the camera track ended"), "the stopped line");
    const stoppedAt = await sent();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await sent()).toBe(stoppedAt);
    expect(await graceJoin.locator("#retry").isVisible()).toBe(true);
    // Restart the camera with the button: sending resumes.
    await graceJoin.locator("#retry").click();
    await until(async () => (await sent()) > stoppedAt + 3, "sending after the camera restarts");
  }, 90_000);

  it("shows dozens of participants as compact tiles on a laptop screen and updates tiles in place", async () => {
    const crops = ["real/real00240.jpg", "real/real00772.jpg", "df/df00204.jpg", "df/df01254.jpg"].map((f) =>
      readFileSync(path.join(SHARED, "mesonet", "test_images", f)),
    );
    const clients: TestClient[] = [];
    for (let i = 0; i < 30; i++) {
      clients.push(
        await joinClient(server.url, {
          room: ROOM,
          role: "participant",
          participantId: `p${String(i + 1).padStart(2, "0")}`,
          name: i % 3 === 0 ? `Participant ${i + 1} with a rather long display name` : undefined,
          frameContent: "face-crop",
        }),
      );
    }
    await until(async () => (await dashboard.locator(".tile").count()) === 32, "32 tiles");
    // Mark the DOM nodes: an update must change the tile's text, not replace the tile.
    await dashboard.evaluate(() => {
      for (const tile of document.querySelectorAll<HTMLElement>(".tile")) (tile as HTMLElement & { mark?: string }).mark = tile.dataset.participant;
    });
    // Each sends 3 frames a second until the states below are seen (on a loaded machine the server scores fewer of
    // them, and a verdict needs enough scores inside its window): a third real faces, the rest deepfakes, p30 nothing.
    let sending = true;
    const sender = (async () => {
      while (sending) {
        clients.forEach((c, i) => {
          if (i === 29) return;
          const crop = i % 3 === 0 ? crops[i % 2] : crops[2 + (i % 2)];
          c.client.sendFrame({ kind: "jpeg", data: crop });
        });
        await new Promise((resolve) => setTimeout(resolve, 333));
      }
    })();
    try {
      await until(async () => (await stateOf(dashboard, "p02")) === "likely-fake", "p02 likely-fake", 30_000);
      await until(async () => (await stateOf(dashboard, "p01")) === "authentic", "p01 authentic", 30_000);
    } finally {
      sending = false;
      await sender;
    }
    const kept = await dashboard.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>(".tile")].every((t) => (t as HTMLElement & { mark?: string }).mark === t.dataset.participant),
    );
    expect(kept).toBe(true);

    // Layout at 1366x768: at least 4 columns, compact tiles, nothing wider than the screen.
    const layout = await dashboard.evaluate(() => {
      const tiles = [...document.querySelectorAll<HTMLElement>(".tile")].map((t) => t.getBoundingClientRect());
      const columns = new Set(tiles.map((r) => Math.round(r.left))).size;
      return {
        columns,
        maxHeight: Math.max(...tiles.map((r) => r.height)),
        pageWidth: document.documentElement.scrollWidth,
        visible: tiles.filter((r) => r.bottom <= window.innerHeight).length,
      };
    });
    expect(layout.columns).toBeGreaterThanOrEqual(4);
    expect(layout.maxHeight).toBeLessThan(180);
    expect(layout.pageWidth).toBeLessThanOrEqual(1366);
    expect(layout.visible).toBeGreaterThanOrEqual(12);
    expect(await textOf(dashboard, "#summary")).toMatch(/^32 participants/);
    await screenshot(dashboard, "dashboard-dozens");

    for (const c of clients) c.client.close();
    await until(async () => (await dashboard.locator(".tile").count()) === 2, "the 30 tiles to go when they leave");
    expect(await dashboard.locator('#alerts li[data-kind="left"]').count()).toBeGreaterThanOrEqual(30);
    expect(graceBrowser.problems).toEqual([]);
  }, 90_000);

  it("the dashboard and the participant pages reconnect after the server restarts", async () => {
    const port = server.port;
    await server.stop("SIGTERM");
    await until(async () => {
      const s = await dashboard.locator("#status").getAttribute("data-status");
      return s === "waiting" || s === "connecting";
    }, "the dashboard to notice", 15_000);
    expect(await textOf(dashboard, "#status")).toMatch(/Reconnecting in \d+ s|Connecting/);
    await until(async () => (await textOf(graceJoin, "#sending")).startsWith("Not connected to the server"), "the participant page to notice", 15_000);
    expect(await dashboard.locator(".tile.offline").count()).toBeGreaterThan(0);
    await screenshot(dashboard, "dashboard-reconnecting");

    server = await startServer(["--port", String(port), "--participant-sees-verdict", "--score-rate-hz", "5"]);
    await until(async () => (await dashboard.locator("#status").getAttribute("data-status")) === "live", "the dashboard live again", 40_000);
    await until(async () => (await textOf(graceJoin, "#status")) === "Live", "the participant page live again", 40_000);
    // Both participants rejoin and are scored again on the new server.
    await until(async () => (await stateOf(dashboard, "grace")) === "authentic", "grace authentic again", 40_000);
    await until(async () => ["suspicious", "likely-fake"].includes((await stateOf(dashboard, "df-1")) ?? ""), "df-1 flagged again", 40_000);
    expect(await dashboard.locator(".tile.offline").count()).toBe(0);
    expect(await dashboard.locator(".tile").count()).toBe(2);
  }, 120_000);

  it("shows a clear error when the camera is denied", async () => {
    const denied = await launchBrowser({ allowCamera: false });
    const page = await denied.newPage();
    await page.goto(joinUrl(server.url, { room: ROOM, participant: "nocam" }));
    await until(async () => page.locator("#error").isVisible(), "the error notice", 20_000);
    expect(await textOf(page, "#error")).toMatch(/^Camera access was denied\. Allow the camera for this site/);
    expect(await page.locator("#retry").isVisible()).toBe(true);
    expect(await page.locator("#retry").innerText()).toBe("Try the camera again");
    expect(await textOf(page, "#status")).toBe("No camera: not joined");
    expect(await textOf(page, "#sending")).toBe("No camera");
    expect(await textOf(page, "#badge-slot .badge")).toMatch(/Not scored yet/);
    await screenshot(page, "join-camera-denied");
    // It never joined: no tile on the dashboard.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await tileOf(dashboard, "nocam").count()).toBe(0);
    await denied.close();
  }, 60_000);

  it("without a room the dashboard offers a room chooser, and the participant page a join form", async () => {
    const page = await graceBrowser.newPage();
    await page.goto(new URL("/", server.url).toString());
    expect(await page.locator(".chooser").isVisible()).toBe(true);
    expect(await textOf(page, "#status")).toBe("Choose a room");
    await screenshot(page, "dashboard-choose-room");
    await page.locator("#room-input").fill("chosen-room");
    await page.locator("#room-form button[type=submit]").click();
    await page.waitForURL(/\/\?room=chosen-room$/);
    await until(async () => (await page.locator("#status").getAttribute("data-status")) === "live", "live in the chosen room");
    expect(await textOf(page, "#room-name")).toBe("chosen-room");
    expect(await page.locator(".chooser").isVisible()).toBe(false);

    await page.goto(new URL("/join", server.url).toString());
    expect(await page.locator("#join-form").isVisible()).toBe(true);
    await screenshot(page, "join-form");
    await page.locator("#f-room").fill("chosen-room");
    await page.locator("#f-participant").fill("formed");
    await page.locator("#f-content").selectOption("face-crop");
    await page.locator("#join-form button[type=submit]").click();
    await page.waitForURL(/\/join\?room=chosen-room&participant=formed&content=face-crop&fps=5$/);
    await until(async () => (await textOf(page, "#status")) === "Live", "the form's participant joined");
    await page.close();
  }, 60_000);

  it("the pages refuse a room or participant id by the server's own rule (src/protocol/ids.ts) and say it", async () => {
    const page = await graceBrowser.newPage();
    await page.goto(dashboardUrl(server.url, "bad room"));
    await until(async () => page.locator("#notice").isVisible(), "the dashboard's notice", 10_000);
    expect(await textOf(page, "#notice")).toBe(`“bad room” is not a valid room name (${ID_RULE}).`);
    const tooLong = "x".repeat(65);
    expect(isValidId(tooLong)).toBe(false);
    await page.goto(joinUrl(server.url, { room: ROOM, participant: tooLong }));
    await until(async () => page.locator("#error").isVisible(), "the participant page's error", 10_000);
    expect(await textOf(page, "#error")).toBe(`The participant “${tooLong}” is not valid: use ${ID_RULE}.`);
    expect(await tileOf(dashboard, tooLong).count()).toBe(0);
    await page.close();
  }, 60_000);

  it("with tokens: the dashboard explains that a token is needed, and connects with one", async () => {
    const secure = await startServer(["--score-rate-hz", "5"], { MESOGUARD_SECRET: TEST_SECRET });
    const page = await graceBrowser.newPage();
    await page.goto(dashboardUrl(secure.url, "secure-room"));
    await until(async () => page.locator("#notice").isVisible(), "the notice");
    expect(await textOf(page, "#notice")).toMatch(/needs a join token: open \/\?room=ROOM#token=TOKEN/);
    expect(await page.locator("#status").getAttribute("data-status")).toBe("stopped");

    const token = mintWithCli(TEST_SECRET, ["--room", "secure-room", "--role", "observer"]);
    // In the query string (where proxies log it) the token is not used, and it leaves the address bar.
    await page.goto(new URL(`/?room=secure-room&token=${encodeURIComponent(token)}`, secure.url).toString());
    await until(async () => (await page.locator("#status").getAttribute("data-status")) === "stopped", "refused without a usable token");
    expect(page.url()).not.toContain(token);
    expect(new URL(page.url()).searchParams.get("room")).toBe("secure-room");
    // In the fragment it is used (the browser never sends the fragment to the server).
    await page.goto(new URL(`/#token=${encodeURIComponent(token)}`, secure.url).toString());
    await until(async () => (await page.locator("#status").getAttribute("data-status")) === "live", "live with the token");
    expect(await textOf(page, "#room-name")).toBe("secure-room");
    expect(await textOf(page, "#model")).not.toMatch(/development mode/);
    await page.close();
    await secure.stop();
  }, 60_000);

  it("the legend shows the server's own thresholds, not the defaults", async () => {
    const custom = await startServer(["--verdict-suspicious-at", "0.35", "--verdict-likely-fake-at", "0.6"]);
    const page = await graceBrowser.newPage();
    await page.goto(dashboardUrl(custom.url, "thresholds"));
    await until(async () => (await page.locator("#status").getAttribute("data-status")) === "live", "live");
    const shown = await page.locator("[data-threshold]").allTextContents();
    expect(shown).toEqual(["0.6", "0.35", "0.35"]);
    await page.close();
    await custom.stop();
  }, 60_000);
});

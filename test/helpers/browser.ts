// Real Chromium for the web page tests: Debian's /usr/bin/chromium driven by playwright-core, with a fake
// camera that plays a .y4m file made at test time with ffmpeg from the shared photos and face crops.
// Each browser gets a fresh user data dir; the fake capture file is per browser process, so a test that needs
// two different cameras launches two browsers.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { chromium, type BrowserContext, type Page } from "playwright-core";

import { packageRoot } from "../../src/models/paths.js";
import { buildWeb } from "../../src/install/buildWeb.js";
import { CHROMIUM_TOOL, requireTool, runFfmpeg } from "./tools.js";

export const ROOT = packageRoot();
export const SHARED = path.resolve(ROOT, "../shared");
export const ARTIFACTS = path.join(ROOT, "test", "artifacts", "web");

/** The laptop screen the dashboard must be clear on. */
export const LAPTOP_VIEWPORT = { width: 1366, height: 768 };

const BASE_ARGS = [
  "--no-sandbox",
  "--use-fake-device-for-media-stream",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-gpu",
  "--disable-quic",
  // Background tabs must keep running their timers and animation frames (several pages share a browser).
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

let tempRoot: string | null = null;

/** A temp folder for this test process (removed by cleanupTemp()). */
export function tempDir(): string {
  if (!tempRoot) tempRoot = mkdtempSync(path.join(os.tmpdir(), "mesoguard-web-"));
  return tempRoot;
}

export function cleanupTemp(): void {
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
  tempRoot = null;
}

let built: Promise<void> | null = null;

/** Builds dist/web once per test process (esbuild, a fraction of a second). */
export function ensureWebBuilt(): Promise<void> {
  built ??= buildWeb();
  return built;
}

// ---- fake camera files ------------------------------------------------------------------------------------------

/**
 * grace_hopper.jpg as a 640x480, 10 fps, 3 s camera with a slight drift (a moving crop), so consecutive
 * frames differ like a real camera's.
 */
export function graceHopperY4m(): string {
  const out = path.join(tempDir(), "grace_hopper.y4m");
  if (existsSync(out)) return out;
  runFfmpeg([
    "-loop", "1", "-framerate", "10", "-i", path.join(SHARED, "photos", "grace_hopper.jpg"),
    "-t", "3",
    "-vf", "scale=680:-2,crop=640:480:x='20+15*sin(2*PI*t/3)':y='40+10*sin(2*PI*t/1.5)',format=yuv420p",
    "-r", "10", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", out,
  ]);
  return out;
}

/**
 * The two deepfake face crops (df00204.jpg, df01254.jpg) alternating every 3 frames, 256x256, 10 fps, 3 s.
 * ffmpeg converts each crop to raw I420; the Y4M container is written here (a header and FRAME records).
 */
export function deepfakeY4m(): string {
  const out = path.join(tempDir(), "deepfakes.y4m");
  if (existsSync(out)) return out;
  const size = 256;
  const crops = ["df00204.jpg", "df01254.jpg"].map((name) => {
    const raw = path.join(tempDir(), `${name}.yuv`);
    runFfmpeg(["-i", path.join(SHARED, "mesonet", "test_images", "df", name), "-vf", `scale=${size}:${size}`, "-pix_fmt", "yuv420p", "-f", "rawvideo", raw]);
    const bytes = readFileSync(raw);
    if (bytes.length !== (size * size * 3) / 2) throw new Error(`ffmpeg wrote ${bytes.length} bytes for ${name}`);
    return bytes;
  });
  const frames: Buffer[] = [Buffer.from(`YUV4MPEG2 W${size} H${size} F10:1 Ip A1:1 C420jpeg\n`)];
  for (let i = 0; i < 30; i++) frames.push(Buffer.from("FRAME\n"), crops[Math.floor(i / 3) % 2]);
  writeFileSync(out, Buffer.concat(frames));
  return out;
}

// ---- browsers ---------------------------------------------------------------------------------------------------

export interface BrowserOptions {
  /** The fake camera's .y4m (Chromium's built-in pattern when omitted). */
  video?: string;
  /** Grant camera access without a prompt (default true); false denies it. */
  allowCamera?: boolean;
  viewport?: { width: number; height: number };
}

export interface TestBrowser {
  context: BrowserContext;
  /** Console errors and page errors seen on any page (the tests expect none). */
  problems: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

const openBrowsers = new Set<TestBrowser>();

/** Launches headless Chromium with a fresh user data dir and a fake camera. */
export async function launchBrowser(options: BrowserOptions = {}): Promise<TestBrowser> {
  const allow = options.allowCamera ?? true;
  const args = [...BASE_ARGS, allow ? "--use-fake-ui-for-media-stream" : "--deny-permission-prompts"];
  if (options.video) args.push(`--use-file-for-fake-video-capture=${options.video}`);
  const userDataDir = mkdtempSync(path.join(tempDir(), "profile-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: requireTool(CHROMIUM_TOOL),
    headless: true,
    args,
    viewport: options.viewport ?? LAPTOP_VIEWPORT,
    // No playwright permission overrides: the flags above decide the camera prompt.
  });
  const problems: string[] = [];
  const used = new WeakSet<Page>();
  const watch = (page: Page) => {
    page.on("pageerror", (error) => problems.push(`pageerror ${page.url()}: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console ${page.url()}: ${message.text()}`);
    });
  };
  context.on("page", watch);
  for (const page of context.pages()) watch(page);
  const browser: TestBrowser = {
    context,
    problems,
    async newPage() {
      // A persistent context opens with one blank page: use it first.
      const blank = context.pages().find((p) => p.url() === "about:blank" && !used.has(p));
      const page = blank ?? (await context.newPage());
      used.add(page);
      return page;
    },
    async close() {
      openBrowsers.delete(browser);
      await context.close().catch(() => undefined);
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
  openBrowsers.add(browser);
  return browser;
}

export async function closeAllBrowsers(): Promise<void> {
  await Promise.all([...openBrowsers].map((b) => b.close()));
}

/** Saves a full-viewport screenshot under test/artifacts/web/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// ---- page URLs --------------------------------------------------------------------------------------------------

export function dashboardUrl(base: string, room: string, extra: Record<string, string> = {}): string {
  const url = new URL("/", base);
  url.searchParams.set("room", room);
  for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
  return url.toString();
}

export function joinUrl(base: string, params: Record<string, string | number>): string {
  const url = new URL("/join", base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return url.toString();
}

/** Polls an async condition (from Node, through playwright) until it returns a truthy value. */
export async function until<T>(probe: () => Promise<T>, what: string, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The dashboard tile of a participant. */
export function tileOf(page: Page, participantId: string) {
  return page.locator(`.tile[data-participant="${participantId}"]`);
}

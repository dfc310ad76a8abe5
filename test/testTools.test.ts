// The test run's own set-up: a missing chromium or ffmpeg, or an ffmpeg run that fails, is an error naming the
// program and what to install (never a bare ENOENT or "failed: null"); without apt-get rights the global setup
// says in one line what to install and goes on. Missing programs are real: the env variables point at paths
// that do not exist, and the modules are loaded afresh to read them.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it, vi } from "vitest";

import { ensureSystemPackages, MissingSystemPackages, type SystemRequirement } from "../src/install/systemPackages.js";

const saved = { ...process.env };
const NOWHERE = "/nonexistent/mesoguard-test";

afterEach(() => {
  process.env = { ...saved };
  vi.restoreAllMocks();
  vi.resetModules();
});

/** The test helpers and the bench's parts that run the tools, loaded with `env` set (they read the tool paths when loaded). */
async function loadWith(env: Record<string, string>) {
  Object.assign(process.env, env);
  vi.resetModules();
  return {
    tools: await import("./helpers/tools.js"),
    browser: await import("./helpers/browser.js"),
    setup: await import("./globalSetup.js"),
    bench: {
      tools: await import("../bench/tools.js"),
      scanMemory: await import("../bench/scanMemory.js"),
      cluster: await import("../bench/cluster.js"),
    },
  };
}

describe("a missing program is named, with the line that installs it", () => {
  it("ffmpeg: the fake camera files, ffmpeg runs and ffmpeg processes", async () => {
    const { tools, browser } = await loadWith({ MESOGUARD_FFMPEG: `${NOWHERE}/ffmpeg` });
    const expected = /^ffmpeg is not installed \(no \/nonexistent\/mesoguard-test\/ffmpeg; MESOGUARD_FFMPEG .*apt-get install -y --no-install-recommends ffmpeg/;
    try {
      expect(() => browser.graceHopperY4m()).toThrow(expected);
    } finally {
      browser.cleanupTemp();
    }
    expect(() => tools.runFfmpeg(["-version"])).toThrow(expected);
    await expect(tools.ffmpegProcess(["-version"])).rejects.toThrow(expected);
  });

  it("chromium: launching a browser", async () => {
    const { browser } = await loadWith({ MESOGUARD_CHROMIUM: `${NOWHERE}/chromium` });
    try {
      await expect(browser.launchBrowser()).rejects.toThrow(/^chromium is not installed .*apt-get install -y --no-install-recommends chromium/);
    } finally {
      browser.cleanupTemp();
    }
  });
});

describe("a failed ffmpeg run", () => {
  it("says what ffmpeg said", async () => {
    const { tools } = await loadWith({});
    const dir = mkdtempSync(path.join(os.tmpdir(), "mesoguard-tools-"));
    try {
      const args = ["-i", `${NOWHERE}/input.jpg`, path.join(dir, "out.png")];
      expect(() => tools.runFfmpeg(args)).toThrow(/^ffmpeg -i \/nonexistent\/mesoguard-test\/input\.jpg .* failed \(1\): .*No such file or directory/);
      await expect(tools.ffmpegProcess(args)).rejects.toThrow(/^ffmpeg -i .* failed \(1\): .*No such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("without apt-get rights", () => {
  const never: SystemRequirement = { aptPackage: "mesoguard-no-such-package", purpose: "a test", present: () => false };

  it("ensureSystemPackages refuses with the reason and the exact command", () => {
    process.env.MESOGUARD_SKIP_APT = "1";
    let thrown: unknown;
    try {
      ensureSystemPackages(() => undefined, [never], "the check");
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MissingSystemPackages);
    const missing = thrown as MissingSystemPackages;
    expect(missing.reason).toBe("MESOGUARD_SKIP_APT=1");
    expect(missing.packages).toEqual(["mesoguard-no-such-package"]);
    expect(missing.command).toBe("apt-get update && apt-get install -y --no-install-recommends mesoguard-no-such-package");
    expect(missing.message).toContain("the check needs system packages that are missing (apt-get not run: MESOGUARD_SKIP_APT=1)");
  });

  it("the global setup says in one line what to install and goes on", async () => {
    const { setup } = await loadWith({ MESOGUARD_SKIP_APT: "1", MESOGUARD_FFMPEG: `${NOWHERE}/ffmpeg`, MESOGUARD_CHROMIUM: `${NOWHERE}/chromium` });
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => void lines.push(line));
    expect(() => setup.provisionTestTools()).not.toThrow();
    expect(lines).toEqual([
      "mesoguard tests: chromium and ffmpeg missing (MESOGUARD_SKIP_APT=1); the tests that use them will fail. " +
        "Install as root: apt-get update && apt-get install -y --no-install-recommends chromium ffmpeg",
    ]);
  });
});

describe("the bench without ffmpeg or redis-server", () => {
  it("skips the recorded hour and the cluster run, saying why and how to install them, instead of failing", async () => {
    const { scanMemory, cluster } = (await loadWith({ MESOGUARD_FFMPEG: `${NOWHERE}/ffmpeg`, MESOGUARD_REDIS_SERVER: `${NOWHERE}/redis-server` })).bench;
    const started = Date.now();
    expect(scanMemory.runScanMemory("/no/photo.jpg", 2)).toEqual({
      skipped:
        "the recorded hour is made with ffmpeg: ffmpeg is not installed (no /nonexistent/mesoguard-test/ffmpeg; MESOGUARD_FFMPEG picks " +
        "another binary). Install it as root with: apt-get update && apt-get install -y --no-install-recommends ffmpeg",
    });
    const steps: string[] = [];
    const result = await cluster.runCluster([], { detectEvery: 5, participants: 2, fpsPerParticipant: 30, secondsPerPoint: 1, warmupSeconds: 1, boundMs: 30 }, (label) => steps.push(label));
    expect(result).toEqual({ present: false, absentBecause: expect.stringMatching(/^redis-server is not installed \(no \/nonexistent\/mesoguard-test\/redis-server; MESOGUARD_REDIS_SERVER .*apt-get install -y --no-install-recommends redis-server$/) });
    expect(steps[0]).toBe(`cluster: skipped, ${(result as { absentBecause: string }).absentBecause}`);
    expect(Date.now() - started).toBeLessThan(5000); // nothing was started
  });

  it("its provisioning says in one line what to install when apt-get may not", async () => {
    const { tools } = (await loadWith({ MESOGUARD_SKIP_APT: "1", MESOGUARD_FFMPEG: `${NOWHERE}/ffmpeg`, MESOGUARD_REDIS_SERVER: `${NOWHERE}/redis-server` })).bench;
    const lines: string[] = [];
    tools.provisionTools([tools.FFMPEG_TOOL, tools.REDIS_TOOL], "mesoguard bench", "the runs that need them will be skipped", (line) => lines.push(line));
    expect(lines).toEqual([
      "mesoguard bench: ffmpeg and redis-server missing (MESOGUARD_SKIP_APT=1); the runs that need them will be skipped. " +
        "Install as root: apt-get update && apt-get install -y --no-install-recommends ffmpeg redis-server",
    ]);
  });
});

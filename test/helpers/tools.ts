// The programs the tests run besides node (bench/tools.ts): Debian's chromium (the page and browser tests), ffmpeg
// (fake cameras, RTP senders, reference decodes) and redis-server (the cluster tests). test/globalSetup.ts installs
// them with apt when it may; every test reaches them through here, so a missing program or a failed run is an error
// naming the program, never a bare ENOENT.
import { spawn, spawnSync } from "node:child_process";

import { aptInstallCommand } from "../../src/install/systemPackages.js";
import { externalTool, FFMPEG_TOOL, REDIS_TOOL, type ExternalTool } from "../../bench/tools.js";

export { FFMPEG_TOOL, REDIS_TOOL };
export type TestTool = ExternalTool;

export const CHROMIUM_TOOL = externalTool("chromium", "MESOGUARD_CHROMIUM", "the page tests (dashboard, participant page, mediasoup browser publishing)");
export const TEST_TOOLS: TestTool[] = [CHROMIUM_TOOL, FFMPEG_TOOL, REDIS_TOOL];

/** Throws, naming the tool and how to install it, when its binary is not there. */
export function requireTool(t: TestTool): string {
  if (!t.present()) {
    throw new Error(
      `${t.name} is not installed (no ${t.path}; ${t.envVar} picks another binary): this test needs it for ${t.purpose}. ` +
        `Install it as root with: ${aptInstallCommand([t.aptPackage])} (npm test does that itself as root on Debian/Ubuntu unless MESOGUARD_SKIP_APT=1)`,
    );
  }
  return t.path;
}

const QUIET = ["-hide_banner", "-loglevel", "error", "-y"];

/** Runs ffmpeg (quiet, overwriting outputs) to completion; throws with its exit status and stderr when it fails. */
export function runFfmpeg(args: string[]): void {
  const run = spawnSync(requireTool(FFMPEG_TOOL), [...QUIET, ...args], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (run.error) throw new Error(`ffmpeg (${FFMPEG_TOOL.path}) could not be started: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed (${run.status ?? run.signal}): ${run.stderr.trim()}`);
}

/** Starts ffmpeg (quiet) and resolves when it exits 0; rejects with its exit status and stderr otherwise. */
export function ffmpegProcess(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireTool(FFMPEG_TOOL), [...QUIET, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", (error) => reject(new Error(`ffmpeg (${FFMPEG_TOOL.path}) could not be started: ${error.message}`)));
    child.once("close", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg ${args.join(" ")} failed (${code ?? signal}): ${stderr.trim()}`)),
    );
  });
}

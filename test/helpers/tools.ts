// The programs the tests run besides node (bench/tools.ts): Debian's chromium (the page and browser tests), ffmpeg
// (fake cameras, RTP senders, reference decodes) and redis-server (the cluster tests). test/globalSetup.ts installs
// them with apt when it may; every test reaches them through here, so a missing program or a failed run is an error
// naming the program, never a bare ENOENT.
import { spawn } from "node:child_process";

import {
  externalTool,
  FFMPEG_QUIET,
  FFMPEG_TOOL,
  REDIS_TOOL,
  runFfmpeg as runBenchFfmpeg,
  toolAbsence,
  type ExternalTool,
} from "../../bench/tools.js";

export { FFMPEG_TOOL, REDIS_TOOL };
export type TestTool = ExternalTool;

export const CHROMIUM_TOOL = externalTool("chromium", "MESOGUARD_CHROMIUM", "the page tests (dashboard, participant page, mediasoup browser publishing)");
export const TEST_TOOLS: TestTool[] = [CHROMIUM_TOOL, FFMPEG_TOOL, REDIS_TOOL];

/** Throws, naming the tool and how to install it, when its binary is not there. */
export function requireTool(t: TestTool): string {
  const absent = toolAbsence(t);
  if (absent) {
    throw new Error(`${absent} (this test needs it for ${t.purpose}; npm test installs it itself as root on Debian/Ubuntu unless MESOGUARD_SKIP_APT=1)`);
  }
  return t.path;
}

/** bench/tools.ts's ffmpeg run, with the test's own message when ffmpeg is absent. */
export function runFfmpeg(args: string[]): void {
  requireTool(FFMPEG_TOOL);
  runBenchFfmpeg(args);
}

/** Starts ffmpeg (quiet) and resolves when it exits 0; rejects with its exit status and stderr otherwise. */
export function ffmpegProcess(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(requireTool(FFMPEG_TOOL), [...FFMPEG_QUIET, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", (error) => reject(new Error(`ffmpeg (${FFMPEG_TOOL.path}) could not be started: ${error.message}`)));
    child.once("close", (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg ${args.join(" ")} failed (${code ?? signal}): ${stderr.trim()}`)),
    );
  });
}

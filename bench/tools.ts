// The programs besides node that the bench and the tests run: ffmpeg (the bench's recorded hour; the tests' fake
// cameras, RTP senders and reference decodes), redis-server (the cluster run and tests) and, for the tests only,
// Debian's chromium. Each is a system package: installed with apt-get as root on Debian/Ubuntu
// (src/install/systemPackages.ts; MESOGUARD_SKIP_APT=1 to opt out), else one line says what to install.
// MESOGUARD_FFMPEG / MESOGUARD_REDIS_SERVER / MESOGUARD_CHROMIUM point at other binaries (read when this loads).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

import { aptInstallCommand, ensureSystemPackages, MissingSystemPackages, type SystemRequirement } from "../src/install/systemPackages.js";
import { REDIS_SERVER_ENV, redisServerPath } from "./redisServer.js";

export interface ExternalTool extends SystemRequirement {
  name: string;
  /** The binary that runs. */
  path: string;
  /** The environment variable that overrides `path`. */
  envVar: string;
}

export function externalTool(name: string, envVar: string, purpose: string, file = process.env[envVar] ?? `/usr/bin/${name}`): ExternalTool {
  return { name, path: file, envVar, aptPackage: name, purpose, present: () => existsSync(file) };
}

export const FFMPEG_TOOL = externalTool("ffmpeg", "MESOGUARD_FFMPEG", "fake cameras, RTP senders, reference decodes and the bench's recorded hour");
export const REDIS_TOOL = externalTool("redis-server", REDIS_SERVER_ENV, "the cluster run and tests (mesoguard nodes sharing a Redis)", redisServerPath());

/** Why `tool` cannot run, with the line that installs it; undefined when its binary is there. */
export function toolAbsence(tool: ExternalTool): string | undefined {
  if (tool.present()) return undefined;
  return `${tool.name} is not installed (no ${tool.path}; ${tool.envVar} picks another binary). Install it as root with: ${aptInstallCommand([tool.aptPackage])}`;
}

/** ffmpeg's arguments for a quiet run that overwrites its outputs. */
export const FFMPEG_QUIET = ["-hide_banner", "-loglevel", "error", "-y"];

/**
 * Runs ffmpeg (quiet, overwriting outputs) to completion; throws saying how to install it when it is absent, and with
 * its exit status and stderr when it fails.
 */
export function runFfmpeg(args: string[]): void {
  const absent = toolAbsence(FFMPEG_TOOL);
  if (absent) throw new Error(absent);
  const run = spawnSync(FFMPEG_TOOL.path, [...FFMPEG_QUIET, ...args], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (run.error) throw new Error(`ffmpeg (${FFMPEG_TOOL.path}) could not be started: ${run.error.message}`);
  if (run.status !== 0) throw new Error(`ffmpeg ${args.join(" ")} failed (${run.status ?? run.signal}): ${run.stderr.trim()}`);
}

/**
 * Installs the missing `tools` when apt-get may; otherwise logs one line (`who`: what is speaking, `effect`: what
 * happens without them) and goes on.
 */
export function provisionTools(tools: ExternalTool[], who: string, effect: string, log: (line: string) => void): void {
  try {
    ensureSystemPackages(log, tools, who);
  } catch (error) {
    if (!(error instanceof MissingSystemPackages)) throw error;
    log(`${who}: ${error.packages.join(" and ")} missing (${error.reason}); ${effect}. Install as root: ${error.command}`);
  }
}

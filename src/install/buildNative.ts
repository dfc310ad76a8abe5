// Builds the addon: cmake-js (primary, CUDA kernels where nvcc exists) or node-gyp (CPU only).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

import { packageRoot } from "../models/paths.js";

const require = createRequire(import.meta.url);

export type BuildSystem = "cmake-js" | "node-gyp";

/**
 * node-gyp downloads Node's headers unless told where they are: use the running node's own (<prefix>/include/node,
 * as Debian's and NodeSource's packages install them), so the build works offline. An npm `nodedir` setting wins.
 */
function nodeGypHeaders(): string[] {
  const prefix = path.resolve(path.dirname(process.execPath), "..");
  if (process.env.npm_config_nodedir || !existsSync(path.join(prefix, "include", "node", "node_api.h"))) return [];
  return [`--nodedir=${prefix}`];
}

export function buildNative(system: BuildSystem, log: (line: string) => void): void {
  const root = packageRoot();
  const jobs = String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length));
  const [bin, args] =
    system === "cmake-js"
      ? [require.resolve("cmake-js/bin/cmake-js"), ["compile", "-O", "build-cmake", "-p", jobs]]
      : [require.resolve("node-gyp/bin/node-gyp.js"), ["rebuild", "-j", jobs, ...nodeGypHeaders()]];
  log(`mesoguard: building the addon with ${system}`);
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`mesoguard: the ${system} build failed (exit ${result.status ?? result.signal}); see the output above`);
  }
}

// What every `npm test` needs besides `npm ci`, made once before any test file runs:
//   1. dist/ compiled, so tests that run the CLI never test stale JavaScript;
//   2. chromium, ffmpeg and redis-server (test/helpers/tools.ts): installed with apt-get as root on Debian/Ubuntu
//      (src/install/systemPackages.ts; MESOGUARD_SKIP_APT=1 to opt out), else one line says what to install and
//      the tests that need them fail naming them;
//   3. the node-gyp build of the addon (build/Release/mesoguard.node, CPU only), which the tests load beside the
//      cmake-js build of `npm ci`: built when missing or older than its sources.
// The mediasoup worker is built by the mediasoup tests themselves (test/helpers/mediasoup.ts), only when they run.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { buildNative } from "../src/install/buildNative.js";
import { provisionTools } from "../bench/tools.js";
import { GYP_ADDON, ROOT } from "./helpers/paths.js";
import { TEST_TOOLS } from "./helpers/tools.js";

const log = (line: string) => console.log(line);

function compileTypeScript(): void {
  const require = createRequire(import.meta.url);
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], { stdio: "inherit" });
}

/** Installs the missing test tools when apt-get may; otherwise says in one line what to install. */
export function provisionTestTools(): void {
  provisionTools(TEST_TOOLS, "mesoguard tests", "the tests that use them will fail", log);
}

/** The newest modification time of the node-gyp build's inputs (binding.gyp and native/). */
function newestGypInput(): number {
  let newest = statSync(path.join(ROOT, "binding.gyp")).mtimeMs;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else newest = Math.max(newest, statSync(file).mtimeMs);
    }
  };
  walk(path.join(ROOT, "native"));
  return newest;
}

export function ensureGypAddon(): void {
  if (existsSync(GYP_ADDON) && statSync(GYP_ADDON).mtimeMs >= newestGypInput()) return;
  log(`mesoguard tests: building the node-gyp addon (${path.relative(ROOT, GYP_ADDON)}; about a minute on 2 cores, then kept)`);
  buildNative("node-gyp", log);
}

export default function setup(): void {
  compileTypeScript();
  provisionTestTools();
  ensureGypAddon();
}

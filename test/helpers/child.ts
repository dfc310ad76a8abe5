// Runs a snippet against an addon build in a separate Node process, for calls that could abort the
// process (a native crash there fails one test instead of killing the test worker).
import { spawnSync } from "node:child_process";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { packageRoot } from "../../src/models/paths.js";

const SCORER_OPTIONS_MODULE = pathToFileURL(path.join(packageRoot(), "dist/src/scoring/scorerOptions.js")).href;

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * `body` runs as an ES module with `addon` (the loaded build), `modelPath`, `scorerOptions(extra?)` (complete
 * createScorer options for a CPU scorer of modelPath, the facade's defaults), DEFAULT_MAX_FRAME_PIXELS and `gc()` in
 * scope; it may use
 * top-level await and should print what the test checks. "ALIVE" is printed after it when the process
 * got through it without crashing.
 */
export function runWithAddon(addonFile: string, modelFile: string, body: string, timeoutMs = 30_000): ChildResult {
  const prelude = [
    'import { createRequire } from "node:module";',
    "const require = createRequire(import.meta.url);",
    `const addon = require(${JSON.stringify(addonFile)});`,
    `const modelPath = ${JSON.stringify(modelFile)};`,
    `const { resolveScorerOptions, resolvePreprocessOptions, DEFAULT_MAX_FRAME_PIXELS } = await import(${JSON.stringify(SCORER_OPTIONS_MODULE)});`,
    'const scorerOptions = (extra = {}) => resolveScorerOptions({ modelPath, provider: "cpu", ...extra });',
    "const gc = () => globalThis.gc();",
  ].join("\n");
  // Let the event loop turn so finalizers queued by gc() run before the process decides it is healthy.
  const epilogue = [
    "gc();",
    "await new Promise((resolve) => setTimeout(resolve, 50));",
    "gc();",
    "await new Promise((resolve) => setTimeout(resolve, 50));",
    'console.log("ALIVE");',
  ].join("\n");
  const result = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", `${prelude}\n${body}\n${epilogue}`], {
    encoding: "utf8",
    timeout: timeoutMs,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout ?? "", stderr: result.stderr ?? "" };
}

// Finds and loads the compiled addon, with a load error that says how to fix it (as sharp does).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { aptInstallCommand, BUILD_REQUIREMENTS } from "../install/systemPackages.js";
import { packageRoot } from "../models/paths.js";
import type { NativeAddon } from "./addonTypes.js";

const require = createRequire(import.meta.url);

/** Where the addon may be, in order: $MESOGUARD_ADDON, the cmake-js build, the node-gyp build. */
export function addonCandidates(): string[] {
  const root = packageRoot();
  const candidates = [
    path.join(root, "build-cmake", "Release", "mesoguard.node"),
    path.join(root, "build", "Release", "mesoguard.node"),
  ];
  const override = process.env.MESOGUARD_ADDON;
  return override ? [path.resolve(override)] : candidates;
}

let loaded: NativeAddon | undefined;

/** The file loadAddon(file) loads: `file`, or the first candidate that exists; undefined when none does. */
export function resolveAddonPath(file?: string): string | undefined {
  return (file ? [file] : addonCandidates()).find((candidate) => existsSync(candidate));
}

/** Loads the addon at `file`, or the first candidate that exists. Throws an Error naming the fix. */
export function loadAddon(file?: string): NativeAddon {
  if (!file && loaded) return loaded;
  const tried = file ? [file] : addonCandidates();
  const found = resolveAddonPath(file);
  if (!found) {
    throw new Error(
      [
        "mesoguard: the native addon is not built. Looked for:",
        ...tried.map((t) => `  - ${t}`),
        "Build it with `npm run build:native` (or reinstall with `npm ci`).",
        `It needs these system packages: ${aptInstallCommand(BUILD_REQUIREMENTS.map((r) => r.aptPackage))}`,
      ].join("\n"),
    );
  }
  let addon: NativeAddon;
  try {
    addon = require(found) as NativeAddon;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = /libonnxruntime/.test(message)
      ? "libonnxruntime.so.1 from onnxruntime-node was not found: reinstall with ONNXRUNTIME_NODE_INSTALL=skip npm ci"
      : /libturbojpeg/.test(message)
        ? "libturbojpeg.so.0 is missing: apt-get install -y libturbojpeg0"
        : "rebuild it with `npm run build:native`";
    throw new Error(`mesoguard: could not load ${found}: ${message}\n${hint}`);
  }
  if (!file) loaded = addon;
  return addon;
}

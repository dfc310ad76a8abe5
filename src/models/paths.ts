// Locations relative to the package root, computed from this module's own URL so the same
// code works from source (src/models/*.ts under vitest) and compiled (dist/src/models/*.js).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let cachedRoot: string | undefined;

/** The directory holding mesoguard's package.json (walks up from this module). */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return (cachedRoot = dir);
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`mesoguard: no package.json found above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

/** models/ in the package root (source folder: manifest.json, generated/, cache/). */
export function modelsDir(): string {
  return path.join(packageRoot(), "models");
}

/** Default output folder for converted models. */
export function defaultGeneratedDir(): string {
  return path.join(modelsDir(), "generated");
}

/** Default download cache for weights fetched from sourceUrl. */
export function defaultCacheDir(): string {
  return path.join(modelsDir(), "cache");
}

/** The shared MesoNet weights folder next to the checkout: <root>/../shared/mesonet/weights. */
export function defaultSharedWeightsDir(): string {
  return path.resolve(packageRoot(), "../shared/mesonet/weights");
}

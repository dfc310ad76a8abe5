// Builds the browser pages (dashboard at /, participant page at /join) into dist/web with esbuild:
// dashboard.js and join.js (bundled with the shared protocol types and the client SDK, minified, no source maps:
// the server does not serve them),
// styles.css (minified) and the HTML pages. `npm ci` runs it (src/install/main.ts); for development:
//   npx tsc -p tsconfig.json && node dist/src/install/buildWeb.js
// The browser code lives in src/web (type-checked with src/web/tsconfig.json: DOM types, no Node types). A
// Node module imported from it fails the build. Files are written to a temporary folder first and renamed
// into place, so a server reading dist/web never sees a half-written file.
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

import { build, type Plugin } from "esbuild";

import { packageRoot } from "../models/paths.js";

export interface BuildWebOptions {
  /** Output folder; default dist/web in the package root. */
  outDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** The browser sources: src/web in the package (TypeScript sources are not compiled into dist/src/web). */
export function webSourceDir(): string {
  return path.join(packageRoot(), "src", "web");
}

export function defaultWebDir(): string {
  return path.join(packageRoot(), "dist", "web");
}

export const WEB_ENTRY_POINTS = ["dashboard", "join"] as const;

/** Fails the build on any import of a Node built-in from browser code. */
export const noNodeModulesPlugin: Plugin = {
  name: "mesoguard-no-node-modules",
  setup(builder) {
    const builtins = new Set(builtinModules);
    builder.onResolve({ filter: /.*/ }, (args) => {
      const bare = args.path.replace(/^node:/, "").split("/")[0];
      if (args.path.startsWith("node:") || builtins.has(args.path) || builtins.has(bare)) {
        return {
          errors: [{ text: `browser code must not import the Node module "${args.path}" (imported by ${args.importer})` }],
        };
      }
      return undefined;
    });
  },
};

export async function buildWeb(options: BuildWebOptions = {}): Promise<void> {
  const log = options.log ?? (() => undefined);
  const src = webSourceDir();
  const outDir = path.resolve(options.outDir ?? defaultWebDir());
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const result = await build({
      entryPoints: [
        ...WEB_ENTRY_POINTS.map((name) => ({ in: path.join(src, `${name}.ts`), out: name })),
        { in: path.join(src, "styles.css"), out: "styles" },
      ],
      outdir: staging,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["chrome100", "firefox100", "safari15.4", "edge100"],
      minify: true,
      sourcemap: false,
      charset: "utf8",
      legalComments: "none",
      tsconfig: path.join(src, "tsconfig.json"),
      plugins: [noNodeModulesPlugin],
      logLevel: "silent",
      metafile: true,
    });
    for (const warning of result.warnings) log(`mesoguard web: warning: ${warning.text}`);
    for (const file of readdirSync(src)) {
      if (file.endsWith(".html")) copyFileSync(path.join(src, file), path.join(staging, file));
    }
    mkdirSync(outDir, { recursive: true });
    const written = readdirSync(staging).sort();
    for (const file of written) renameSync(path.join(staging, file), path.join(outDir, file));
    const bytes = Object.entries(result.metafile.outputs).map(([file, out]) => `${path.basename(file)} ${(out.bytes / 1024).toFixed(1)} KiB`);
    log(`mesoguard: built the web pages into ${path.relative(process.cwd(), outDir) || outDir}: ${bytes.join(", ")}`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

// `node dist/src/install/buildWeb.js`: build once and say what was written.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  buildWeb({ log: (line) => console.log(line) }).catch((error: unknown) => {
    const failure = error as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> };
    if (Array.isArray(failure.errors) && failure.errors.length) {
      for (const e of failure.errors) {
        console.error(`mesoguard web build: ${e.location ? `${e.location.file}:${e.location.line}: ` : ""}${e.text}`);
      }
    } else {
      console.error(error instanceof Error ? error.message : String(error));
    }
    process.exitCode = 1;
  });
}

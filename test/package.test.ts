// The package as a user's project sees it: a scratch folder with mesoguard installed as a file: dependency (npm
// links the folder, as here) imports `mesoguard`, `mesoguard/mediasoup` and `mesoguard/client` through the
// package.json exports map, in Node and in TypeScript (nodenext), and cannot reach into dist/.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../src/models/paths.js";

const root = packageRoot();
const scratch = mkdtempSync(path.join(tmpdir(), "mesoguard-package-"));

beforeAll(() => {
  writeFileSync(path.join(scratch, "package.json"), JSON.stringify({ name: "user-app", type: "module", dependencies: { mesoguard: `file:${root}` } }));
  mkdirSync(path.join(scratch, "node_modules"));
  symlinkSync(root, path.join(scratch, "node_modules", "mesoguard"), "dir");
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[]) {
  return spawnSync(command, args, { cwd: scratch, encoding: "utf8", timeout: 120_000 });
}

describe("package exports", () => {
  it("node imports mesoguard, mesoguard/mediasoup and mesoguard/client; deep imports into dist/ are refused", () => {
    const script = `
      const main = await import("mesoguard");
      const mediasoup = await import("mesoguard/mediasoup");
      const client = await import("mesoguard/client");
      let deep;
      try { await import("mesoguard/dist/src/index.js"); deep = "resolved"; } catch (error) { deep = error.code; }
      console.log(JSON.stringify({
        main: [typeof main.MesoNetScorer, typeof main.StreamAnalyzer, typeof main.MesoguardServer],
        mediasoup: [typeof mediasoup.attachMesoguard, typeof mediasoup.MesoguardMediasoup],
        client: typeof client.MesoguardClient,
        deep,
      }));`;
    const result = run(process.execPath, ["--input-type=module", "-e", script]);
    expect(result.stderr).toBe("");
    expect(JSON.parse(result.stdout)).toEqual({
      main: ["function", "function", "function"],
      mediasoup: ["function", "function"],
      client: "function",
      deep: "ERR_PACKAGE_PATH_NOT_EXPORTED",
    });
  });

  it("TypeScript (nodenext) finds the types of each entry point", () => {
    writeFileSync(
      path.join(scratch, "app.mts"),
      [
        'import { MesoNetScorer, type MesoNetScorerOptions } from "mesoguard";',
        'import { attachMesoguard, type MesoguardMediasoupOptions } from "mesoguard/mediasoup";',
        'import { MesoguardClient, type ClientOptions } from "mesoguard/client";',
        'const options: MesoNetScorerOptions = { model: "meso4-df" };',
        "export const used = [MesoNetScorer.create, attachMesoguard, MesoguardClient, options] as const;",
        "export type Used = [MesoguardMediasoupOptions, ClientOptions];",
        "// A wrong type must be an error, so the types are really there (not any).",
        "// @ts-expect-error maxBatch is a number",
        'export const wrong: MesoNetScorerOptions = { maxBatch: "8" };',
      ].join("\n"),
    );
    const tsc = path.join(root, "node_modules/typescript/bin/tsc");
    const args = ["--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--types", "node"];
    const result = run(process.execPath, [tsc, ...args, "--typeRoots", path.join(root, "node_modules/@types"), "app.mts"]);
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  }, 120_000);
});

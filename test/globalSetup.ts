// Tests that run the CLI use dist/: compile it first so they never test stale JavaScript.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

export default function setup(): void {
  const require = createRequire(import.meta.url);
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], { stdio: "inherit" });
}

// `npm run fuzz -- --seconds N [--target NAME] [--out DIR]`: every fuzz target for N seconds (fuzz/targets.ts,
// fuzz/protocolTarget.ts in TypeScript with fast-check; fuzz/native/*.cc with libFuzzer), then per target the
// inputs tried, the crashes and the corpus size, as a table and as JSON (<out>/latest.json, default fuzz/results).
// Exits 1 when any target found a crash. `--replay` runs the native targets over their corpora once instead.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { packageRoot } from "../src/models/paths.js";
import { nativeSeeds } from "./corpus.js";
import { fuzzBytes, type TargetResult } from "./engine.js";
import { buildNativeFuzzers, NATIVE_TARGETS, runNativeTarget } from "./native.js";
import { fuzzProtocol, PROTOCOL_SEED_COUNT, PROTOCOL_TARGET } from "./protocolTarget.js";
import { BYTE_TARGETS } from "./targets.js";

const USAGE = "Usage: npm run fuzz -- --seconds N [--target NAME] [--out DIR] [--seed S] [--replay]";

interface Options {
  seconds: number;
  target?: string;
  outDir: string;
  seed: number;
  replay: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { seconds: 10, outDir: path.join(packageRoot(), "fuzz", "results"), seed: Date.now() % 2 ** 31, replay: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`fuzz: ${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === "--seconds") options.seconds = Number(value());
    else if (arg === "--target") options.target = value();
    else if (arg === "--out") options.outDir = path.resolve(value());
    else if (arg === "--seed") options.seed = Number(value());
    else if (arg === "--replay") options.replay = true;
    else throw new Error(`fuzz: unknown argument ${arg}\n${USAGE}`);
  }
  if (!(options.seconds > 0)) throw new Error(`fuzz: --seconds must be a positive number\n${USAGE}`);
  if (!Number.isInteger(options.seed)) throw new Error(`fuzz: --seed must be an integer\n${USAGE}`);
  return options;
}

export function formatTable(results: TargetResult[]): string {
  const rows = [["target", "engine", "seconds", "inputs", "crashes", "corpus"], ...results.map((r) =>
    [r.target, r.engine, String(r.seconds), String(r.inputs), String(r.crashes), String(r.corpus)])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows.map((row) => row.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ")).join("\n");
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const log = (line: string) => console.error(line);
  const wanted = (name: string) => !options.target || options.target === name;
  const known = [...BYTE_TARGETS.map((t) => t.name), PROTOCOL_TARGET.name, ...NATIVE_TARGETS.map((t) => t.name)];
  if (options.target && !known.includes(options.target)) throw new Error(`fuzz: no target ${options.target}; targets: ${known.join(", ")}`);
  const results: TargetResult[] = [];

  if (!options.replay) {
    for (const target of BYTE_TARGETS.filter((t) => wanted(t.name))) {
      log(`fuzz: ${target.name} for ${options.seconds} s`);
      results.push(fuzzBytes(target, options.seconds, options.seed));
    }
    if (wanted(PROTOCOL_TARGET.name)) {
      log(`fuzz: ${PROTOCOL_TARGET.name} for ${options.seconds} s`);
      const run = await fuzzProtocol(options.seconds, options.seed);
      results.push({ target: PROTOCOL_TARGET.name, engine: "fast-check", covers: PROTOCOL_TARGET.covers, seconds: options.seconds,
        inputs: run.inputs, crashes: run.failure ? 1 : 0, corpus: PROTOCOL_SEED_COUNT, findings: run.failure ? [run.failure] : [] });
    }
  }
  const natives = NATIVE_TARGETS.filter((t) => wanted(t.name));
  if (natives.length > 0) {
    buildNativeFuzzers(log);
    const seeds = nativeSeeds();
    for (const target of natives) {
      log(`fuzz: ${target.name} ${options.replay ? "replaying its corpus" : `for ${options.seconds} s`}`);
      const run = await runNativeTarget(target.name, options.replay ? 0 : options.seconds, seeds[target.name]!, log);
      const findings = run.crashes.length > 0 ? run.crashes : run.exitCode !== 0 ? [`libFuzzer exited ${run.exitCode}`] : [];
      results.push({ target: target.name, engine: "libFuzzer", covers: target.covers, seconds: options.replay ? 0 : options.seconds,
        inputs: run.inputs, crashes: findings.length, corpus: run.corpus, findings });
    }
  }

  const report = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, load: os.loadavg().map((l) => Math.round(l * 10) / 10) },
    seed: options.seed, results };
  mkdirSync(options.outDir, { recursive: true });
  const file = path.join(options.outDir, options.replay ? "replay.json" : "latest.json");
  writeFileSync(file, JSON.stringify(report, null, 2) + "\n");
  console.log(formatTable(results));
  for (const r of results) for (const finding of r.findings) console.log(`FINDING ${r.target}: ${finding}`);
  console.log(`(load average ${report.machine.load.join(" ")} on ${report.machine.cpus} cores; JSON: ${path.relative(process.cwd(), file)})`);
  return results.some((r) => r.crashes > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);

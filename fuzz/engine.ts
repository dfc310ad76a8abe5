// One TypeScript target fuzzed for a time budget with fast-check (fuzz/mutate.ts draws the inputs).
import fc from "fast-check";

import { mutatedBytes } from "./mutate.js";
import type { ByteTarget } from "./targets.js";

export interface TargetResult {
  target: string;
  engine: "fast-check" | "libFuzzer";
  covers: string;
  seconds: number;
  inputs: number;
  crashes: number;
  /** fast-check: the seeds; libFuzzer: the corpus it kept (seeds plus inputs that reached new code). */
  corpus: number;
  findings: string[];
}

export function fuzzBytes(target: ByteTarget, seconds: number, seed: number): TargetResult {
  const seeds = target.seeds();
  let inputs = 0;
  const details = fc.check(
    fc.property(mutatedBytes(seeds), (input) => {
      inputs++;
      try {
        target.run(input);
      } catch (error) {
        if (!target.expected(error)) throw error;
      }
    }),
    { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false, seed, endOnFailure: true },
  );
  const findings = details.failed
    ? [`${String(details.errorInstance)} on bytes ${Buffer.from(details.counterexample![0] as Uint8Array).toString("hex")} (replay: --seed ${seed})`]
    : [];
  return { target: target.name, engine: "fast-check", covers: target.covers, seconds, inputs, crashes: findings.length, corpus: seeds.length, findings };
}


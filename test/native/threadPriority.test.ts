// The detector's thread runs at the lowest CPU priority (nice 19), the scoring threads at the process's: on a busy
// host a detector run (6-8 ms on one core) must not hold up the crops and MesoNet runs that frames wait for, while
// the detections themselves run beside the scoring (FaceTrackerOptions.backgroundDetection). Read from
// /proc/<pid>/task/*/stat (field 19, nice) in a child process that made one scorer. Linux only.
import { describe, expect, it } from "vitest";

import { detectorModelPath } from "../../src/faces/detectorModels.js";
import { runWithAddon } from "../helpers/child.js";
import { CMAKE_ADDON, modelPath, TEST_TIMEOUT } from "../helpers/paths.js";

describe.runIf(process.platform === "linux")("addon thread priorities", { timeout: TEST_TIMEOUT }, () => {
  it("the detector's thread has nice 19, the MesoNet and prep threads keep the process's", () => {
    const child = runWithAddon(
      CMAKE_ADDON,
      modelPath("meso4-df"),
      `
      const { readFileSync, readdirSync } = await import("node:fs");
      const scorer = await addon.createScorer(scorerOptions({ detector: { modelPath: ${JSON.stringify(detectorModelPath("blazeface-back"))} } }));
      const frame = { kind: "rgb", data: new Uint8Array(320 * 240 * 3).fill(128), width: 320, height: 240 };
      await scorer.analyze(frame); // every thread has run
      const threads = {};
      for (const tid of readdirSync("/proc/self/task")) {
        const stat = readFileSync("/proc/self/task/" + tid + "/stat", "utf8");
        const name = readFileSync("/proc/self/task/" + tid + "/comm", "utf8").trim();
        // The fields after the name (which may hold spaces) in parentheses: state is field 3, nice field 19.
        const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        (threads[name] ??= []).push(Number(after[19 - 3]));
      }
      console.log("NICE", JSON.stringify(threads));
      await scorer.close();
      `,
      60_000,
    );
    expect(child.signal, child.stderr).toBeNull();
    const threads = JSON.parse(/NICE (.*)/.exec(child.stdout)?.[1] ?? "{}") as Record<string, number[]>;
    const main = threads["node"]![0]!;
    expect(threads["mg-detector"]).toEqual([Math.min(19, main + 19)]);
    expect(threads["mg-mesonet"]).toEqual([main]);
    expect(threads["mg-prep"]!.every((n) => n === main)).toBe(true);
    expect(child.stdout).toContain("ALIVE");
  });
});

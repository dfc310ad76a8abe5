// The fuzz harness itself (fuzz/, `npm run fuzz`): its seeds reach the parsers' success paths, and a parser
// that breaks its contract is reported as a crash with the input that did it.
import { describe, expect, it } from "vitest";

import { fuzzBytes } from "../fuzz/engine.js";
import { BYTE_TARGETS, replayStream, type ByteTarget } from "../fuzz/targets.js";
import { decodeFrame, FrameFormatError } from "../src/protocol/binaryFrame.js";

function outcome(target: ByteTarget, input: Uint8Array): "ok" | "refused" {
  try {
    target.run(input);
    return "ok";
  } catch (error) {
    if (target.expected(error)) return "refused";
    throw error;
  }
}

describe("fuzz targets", () => {
  it.each(BYTE_TARGETS.map((t) => [t.name, t] as const))("%s: every seed is parsed or refused with the parser's own error, most parse", (_, target) => {
    const outcomes = target.seeds().map((seed) => outcome(target, seed));
    expect(outcomes.filter((o) => o === "ok").length).toBeGreaterThan(outcomes.length / 2);
  });

  it("the stream seeds come out as depacketised VP8 and H.264 frames", () => {
    const target = BYTE_TARGETS.find((t) => t.name === "rtp-depacketize")!;
    for (const seed of target.seeds()) expect(replayStream(seed).depacketized).toBeGreaterThan(0);
  });

  it("a parser that throws outside its contract is a crash, reported with the input", () => {
    const broken: ByteTarget = {
      name: "broken-frame",
      covers: "decodeFrame, then a TypeError on any 0xff byte",
      seeds: BYTE_TARGETS.find((t) => t.name === "binary-frame")!.seeds,
      run(input) {
        decodeFrame(input);
        if (input.includes(0xff)) throw new TypeError("planted");
      },
      expected: (error) => error instanceof FrameFormatError,
    };
    const result = fuzzBytes(broken, 30, 1);
    expect(result.crashes).toBe(1);
    expect(result.findings[0]).toMatch(/TypeError: planted on bytes [0-9a-f]*ff/);
  });
});

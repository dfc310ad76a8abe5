// Geometry a caller (or a runaway tracker) can hand the addon that must neither hang a worker thread nor
// produce NaN scores: keypoints near the float limits, crops millions of pixels wide with the area filter,
// letterbox regions far larger than the frame, absurd crop factors, and close() ordering under load.
// Anything that could hang or crash runs in a child process with a time limit.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { NativeAddon, NativeScorer } from "../../src/native/addonTypes.js";
import { resolvePreprocessOptions } from "../../src/scoring/scorerOptions.js";
import { closeAll, cpuScorerOptions, loadCmakeAddon, loadGypAddon, openScorer, rejectionOf, thrownBy } from "../helpers/addon.js";
import { detectorModelPath } from "../../src/faces/detectorModels.js";
import { runWithAddon } from "../helpers/child.js";
import { pngBytes } from "../helpers/images.js";
import { CMAKE_ADDON, GYP_ADDON, modelPath, TEST_TIMEOUT } from "../helpers/paths.js";
import { runFfmpeg } from "../helpers/tools.js";

const BUILDS = [
  { name: "cmake-js", file: CMAKE_ADDON, load: loadCmakeAddon },
  { name: "node-gyp", file: GYP_ADDON, load: loadGypAddon },
] as const;

const scorers: NativeScorer[] = [];

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

// A 64x64 grey frame, as source text for the child processes.
const FRAME_SRC = `{ kind: "rgb", data: new Uint8Array(64 * 64 * 3).fill(128), width: 64, height: 64 }`;
// Eyes 2e6 pixels apart: a crop side of ~5.7e6 pixels, each of its 256x256 output pixels ~22000 source pixels
// wide. The area filter used to visit every one of those (5e8 per output pixel, outside the frame included).
const HUGE_FACE = [-1e6, 0, 1e6, 0, 0, 0, 0, 1e6, -1e6, 0, 1e6, 0];

for (const build of BUILDS) {
  describe(`hostile geometry never hangs a worker (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    const model = modelPath("meso4-df");

    it("preprocess(): an area-filtered face crop millions of pixels wide finishes at once, with finite values", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const frame = ${FRAME_SRC};
        const started = Date.now();
        const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: 256, height: 256, resize: "area", keypoints: ${JSON.stringify(HUGE_FACE)} }));
        console.log("MS", Date.now() - started);
        console.log("FINITE", t.every(Number.isFinite), t.length);
        `,
        20_000,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain(`FINITE true ${3 * 256 * 256}`);
      expect(child.stdout).toContain("ALIVE");
    });

    it("preprocess(): an area-filtered letterbox of a region far larger than the frame finishes at once", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const frame = ${FRAME_SRC};
        const t = await addon.preprocess(frame, resolvePreprocessOptions({ width: 256, height: 256, resize: "area", region: [0, 0, 1e6, 1e6] }));
        console.log("FINITE", t.every(Number.isFinite));
        // The frame's corner averaged into the first output pixel (1e6/256 source pixels a side, mostly black).
        console.log("FIRST", t[0] > 0 && t[0] < 1e-3);
        `,
        20_000,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("FINITE true");
      expect(child.stdout).toContain("FIRST true");
      expect(child.stdout).toContain("ALIVE");
    });

    it("analyze(): such a face with crop.resize 'area' settles with a finite score, and close() resolves", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const scorer = await addon.createScorer(scorerOptions({ crop: { resize: "area" } }));
        const frame = ${FRAME_SRC};
        const face = { box: [0, 0, 10, 10], keypoints: ${JSON.stringify(HUGE_FACE)} };
        const r = await scorer.analyze(frame, { detect: false, faces: [face] });
        console.log("SCORE", Number.isFinite(r.faces[0].outputs.real), r.faces[0].crop.side > 1e6);
        await scorer.close();
        console.log("CLOSED");
        `,
        20_000,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("SCORE true true");
      expect(child.stdout).toContain("CLOSED");
      expect(child.stdout).toContain("ALIVE");
    });
  });

  describe(`geometry that would overflow floats is refused (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    let addon: NativeAddon;
    beforeAll(() => {
      addon = build.load();
    });
    const frame = { kind: "rgb" as const, data: new Uint8Array(64 * 64 * 3).fill(128), width: 64, height: 64 };
    // Finite JS numbers; the first is infinite as a float, the second overflows the eye distance (3e38 - -3e38).
    const OVERFLOWING = [
      [1e39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [3e38, 0, -3e38, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [2e6, 10, 20, 10, 15, 15, 15, 20, 5, 12, 25, 12],
    ];

    it("analyze() rejects keypoints beyond +-1e6 pixels (they used to give a NaN score)", async () => {
      const scorer = await openScorer(addon, "meso4-df", scorers);
      for (const keypoints of OVERFLOWING) {
        const error = await rejectionOf(scorer.analyze(frame, { detect: false, faces: [{ box: [0, 0, 10, 10], keypoints }] }));
        expect(error.code).toBe("ERR_INVALID_ARG");
        expect(error.message).toMatch(/keypoints/);
      }
      // Keypoints off the frame but within the limit still score.
      const ok = await scorer.analyze(frame, {
        detect: false,
        faces: [{ box: [0, 0, 10, 10], keypoints: [-5e5, 10, 5e5, 10, 15, 15, 15, 20, 5, 12, 25, 12] }],
      });
      expect(Number.isFinite(ok.faces[0].outputs.real)).toBe(true);
    });

    it("preprocess() rejects them too", async () => {
      for (const keypoints of OVERFLOWING) {
        const error = await rejectionOf(addon.preprocess(frame, resolvePreprocessOptions({ width: 256, height: 256, keypoints })));
        expect(error.code).toBe("ERR_INVALID_ARG");
      }
    });

    it("crop factor / margin that overflow the crop side are refused", async () => {
      for (const crop of [{ factor: 1e300 }, { margin: 1e39 }, { factor: 101 }]) {
        const thrown = thrownBy(() => cpuScorerOptions(modelPath("meso4-df"), { crop }));
        expect(thrown).toBeInstanceOf(RangeError);
        expect(thrown.message).toMatch(/crop\.(factor|margin)/);
        // preprocess()'s options are checked by the same owner, before the addon sees them.
        const refused = thrownBy(() => resolvePreprocessOptions({ width: 256, height: 256, keypoints: [10, 10, 20, 10, 15, 15, 15, 20, 5, 12, 25, 12], crop }));
        expect(refused).toBeInstanceOf(RangeError);
        expect(refused.code).toBe("ERR_INVALID_ARG");
        expect(refused.message).toMatch(/crop\.(factor|margin)/);
      }
    });

    it("more than 256 detection regions per frame are refused", async () => {
      const scorer = await openScorer(addon, "meso4-df", scorers, { detector: { modelPath: detectorModelPath("blazeface-front") } });
      const regions = Array.from({ length: 257 }, () => [0, 0, 64, 64] as [number, number, number, number]);
      const error = await rejectionOf(scorer.analyze(frame, { detect: true, regions }));
      expect(error.code).toBe("ERR_INVALID_ARG");
      expect(error.message).toMatch(/256 detection regions/);
    });
  });

  describe(`close() settles after every frame (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    it("when close({drain}) resolves, every frame's promise has already settled", async () => {
      const addon = build.load();
      const frame = { kind: "rgb" as const, data: new Uint8Array(64 * 64 * 3).fill(90), width: 64, height: 64 };
      const bad = { kind: "jpeg" as const, data: new Uint8Array([0xff, 0xd8, 1, 2, 3]) };
      for (let round = 0; round < 20; round++) {
        const scorer = await openScorer(addon, "meso4-df", scorers, { prepThreads: 4, maxBatch: 4, maxWaitMs: 0 });
        let settled = 0;
        const all: Promise<unknown>[] = [];
        // Good frames finish on the batcher thread, bad ones on the pool threads: both at once.
        for (let i = 0; i < 40; i++) {
          all.push(scorer.score(i % 3 === 0 ? bad : frame).finally(() => settled++).catch(() => undefined));
        }
        await scorer.close({ drain: round % 2 === 0 });
        // Each frame settled before close() resolved, so its callback ran before this continuation.
        expect(settled).toBe(40);
        await Promise.all(all);
      }
    });
  });
}

// A frame whose decoded pixels cannot be allocated (here: a 16384x4096 PNG, 192 MiB as RGB, in a process whose
// address space is capped just above what it needs otherwise). std::bad_alloc used to escape the pool thread:
// std::terminate took the whole server down. Linux only (util-linux prlimit).
describe.runIf(process.platform === "linux" && spawnSync("prlimit", ["--version"]).status === 0)("a frame that cannot be allocated fails alone", { timeout: TEST_TIMEOUT }, () => {
  const W = 16384;
  const H = 4096;
  let pngFile = "";
  beforeAll(() => {
    // 8-bit grey: 64 MiB raw, some 64 KiB compressed.
    const png = pngBytes(W, H, 0, Buffer.alloc((W + 1) * H, 0));
    pngFile = path.join(mkdtempSync(path.join(os.tmpdir(), "mesoguard-oom-")), "big.png");
    writeFileSync(pngFile, png);
  });

  for (const build of BUILDS) {
    it(`rejects it and keeps scoring (${build.name})`, () => {
      const child = runWithAddon(
        build.file,
        modelPath("meso4-df"),
        `
        const { readFileSync } = await import("node:fs");
        const { spawnSync } = await import("node:child_process");
        // The cap raised to the addon's ceiling: this is about the allocation failing, not the cap refusing it.
        const scorer = await addon.createScorer(scorerOptions({ maxFramePixels: 64 * 1024 * 1024 }));
        const small = { kind: "rgb", data: new Uint8Array(256 * 256 * 3), width: 256, height: 256 };
        await scorer.score(small);
        const png = readFileSync(${JSON.stringify(pngFile)});
        // Cap this process's address space at what it maps now plus 96 MiB: plenty to go on scoring small
        // frames, half of what the big frame's pixels need.
        const vmKb = Number(/VmSize:\\s*(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
        const limit = spawnSync("prlimit", ["--pid", String(process.pid), "--as=" + (vmKb + 96 * 1024) * 1024]);
        console.log("LIMITED", limit.status);
        await scorer.score({ kind: "png", data: png }).then(() => console.log("DECODED"), (e) => console.log("REJECTED", e.code));
        const r = await scorer.score(small);
        console.log("STILL SCORES", r.outputs.real.length);
        await scorer.close();
        `,
      );
      expect(child.stderr).not.toMatch(/terminate called|bad_alloc/);
      expect(child.signal).toBeNull();
      expect(child.stdout).toContain("LIMITED 0");
      expect(child.stdout).toContain("REJECTED ERR_INVALID_INPUT");
      expect(child.stdout).toContain("STILL SCORES 1");
      expect(child.stdout).toContain("ALIVE");
      expect(child.status).toBe(0);
    });
  }
});

// A VP8 key frame whose header claims 11000x11000 (121 megapixels, over the 64-megapixel frame limit but under
// libavcodec's own default): the decoder used to decode the whole picture (~180 MB of planes) and only then
// reject its size. Now libavcodec refuses it when it parses the header. Linux only (/proc/self/status).
describe.runIf(process.platform === "linux")("a VP8 key frame over the frame limit", { timeout: TEST_TIMEOUT }, () => {
  let keyframeFile = "";
  beforeAll(() => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "mesoguard-vp8-"));
    const ivf = path.join(dir, "k.ivf");
    runFfmpeg(["-f", "lavfi", "-i", "color=c=gray:s=64x64:d=0.1", "-frames:v", "1", "-c:v", "libvpx", "-f", "ivf", ivf]);
    const data = readFileSync(ivf);
    const offset = data.readUInt16LE(6);
    const frame = Buffer.from(data.subarray(offset + 12, offset + 12 + data.readUInt32LE(offset)));
    writeFileSync(path.join(dir, "small.vp8"), frame);
    // RFC 6386 9.1: after the 3-byte tag and the start code, 14-bit width and height (scale bits 0).
    frame.writeUInt16LE(11000, 6);
    frame.writeUInt16LE(11000, 8);
    keyframeFile = path.join(dir, "huge.vp8");
    writeFileSync(keyframeFile, frame);
  });

  for (const build of BUILDS) {
    it(`is refused before its picture is allocated (${build.name})`, () => {
      const child = runWithAddon(
        build.file,
        modelPath("meso4-df"),
        `
        const { readFileSync } = await import("node:fs");
        const peak = () => Number(/VmPeak:\\s*(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
        const decoder = new addon.VideoDecoder({ codec: "VP8", maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, maxPending: 4 });
        const frame = readFileSync(${JSON.stringify(keyframeFile)});
        // A real 64x64 key frame first: the decoder thread's malloc arena and the codec are set up before measuring.
        await decoder.decode(readFileSync(${JSON.stringify(keyframeFile.replace(/huge\.vp8$/, "small.vp8"))}));
        const before = peak();
        await decoder.decode(frame).then(() => console.log("DECODED"), (e) => console.log("REJECTED", e.code));
        console.log("GREW_MB", Math.round((peak() - before) / 1024));
        await decoder.close();
        `,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("REJECTED ERR_VIDEO_DECODE");
      const grew = Number(/GREW_MB (\d+)/.exec(child.stdout)?.[1]);
      expect(grew).toBeLessThan(48); // the picture alone is 11000 * 11000 * 1.5 bytes = 173 MiB
      expect(child.stdout).toContain("ALIVE");
    });
  }

  it("the decoder takes the scorer's frame-pixel cap: one just below 64x64 refuses a 64x64 key frame", async () => {
    const addon = loadCmakeAddon();
    const small = readFileSync(keyframeFile.replace(/huge\.vp8$/, "small.vp8"));
    const capped = new addon.VideoDecoder({ codec: "VP8", maxFramePixels: 64 * 64 - 1, maxPending: 4 });
    const error = await rejectionOf(capped.decode(small));
    expect(error.code).toBe("ERR_VIDEO_DECODE");
    await capped.close();
    const fits = new addon.VideoDecoder({ codec: "VP8", maxFramePixels: 64 * 64, maxPending: 4 });
    expect(await fits.decode(small)).toMatchObject({ decoded: true, width: 64, height: 64 });
    await fits.close();
    expect(() => new addon.VideoDecoder({ codec: "VP8", maxPending: 4 } as never)).toThrow(/maxFramePixels/);
  });
});

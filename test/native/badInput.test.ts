// Bad frames and bad options: each one is refused with the right error code and a message, touches no
// other frame (a good frame scored alongside and right after still succeeds), and never takes the
// process down.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameInput, NativeAddon, NativeScorer } from "../../src/native/addonTypes.js";
import { SETTINGS } from "../../src/config/serverConfig.js";
import {
  DEFAULT_MAX_FRAME_PIXELS,
  resolvePreprocessOptions,
  SCORER_DEFAULTS,
  SCORER_LIMITS,
  type PreprocessOptionsInput,
  type ScorerOptionsInput,
} from "../../src/scoring/scorerOptions.js";
import { closeAll, cpuScorerOptions, loadCmakeAddon, loadGypAddon, openScorer, realOf, rejectionOf, thrownBy, type AddonError } from "../helpers/addon.js";
import { runWithAddon } from "../helpers/child.js";
import { jpegDimensions, pngBytes, randomBytes, withJpegDimensions } from "../helpers/images.js";
import { CMAKE_ADDON, GYP_ADDON, modelPath, ROOT, readTestJpeg, TEST_JPEGS, TEST_TIMEOUT } from "../helpers/paths.js";

const BUILDS = [
  { name: "cmake-js", file: CMAKE_ADDON, load: loadCmakeAddon },
  { name: "node-gyp", file: GYP_ADDON, load: loadGypAddon },
] as const;

const scorers: NativeScorer[] = [];

afterAll(async () => {
  await closeAll(scorers);
}, TEST_TIMEOUT);

const goodJpeg = readTestJpeg(TEST_JPEGS[2].file); // real00240.jpg, 256x256
const bigJpeg = readTestJpeg(TEST_JPEGS[0].file); // df00204.jpg, 342x342

interface BadFrame {
  name: string;
  frame: unknown;
  options?: unknown;
  code: string;
  message?: RegExp;
}

const W = 256;
const H = 256;

const BAD_FRAMES: BadFrame[] = [
  // JPEG streams
  { name: "truncated JPEG (half the file)", frame: { kind: "jpeg", data: bigJpeg.subarray(0, bigJpeg.length >> 1) }, code: "ERR_JPEG_DECODE" },
  { name: "truncated JPEG (last 2 bytes cut)", frame: { kind: "jpeg", data: bigJpeg.subarray(0, bigJpeg.length - 2) }, code: "ERR_JPEG_DECODE" },
  { name: "truncated JPEG (inside the Huffman tables)", frame: { kind: "jpeg", data: bigJpeg.subarray(0, 300) }, code: "ERR_JPEG_DECODE" },
  { name: "truncated JPEG (before the frame header)", frame: { kind: "jpeg", data: bigJpeg.subarray(0, 100) }, code: "ERR_JPEG_DECODE" },
  { name: "SOI + EOI and nothing else", frame: { kind: "jpeg", data: Uint8Array.of(0xff, 0xd8, 0xff, 0xd9) }, code: "ERR_JPEG_DECODE" },
  { name: "3-byte JPEG", frame: { kind: "jpeg", data: Uint8Array.of(0xff, 0xd8, 0xff) }, code: "ERR_JPEG_DECODE" },
  { name: "random bytes as JPEG", frame: { kind: "jpeg", data: randomBytes(5000, 1) }, code: "ERR_JPEG_DECODE" },
  {
    name: "random bytes behind a JPEG SOI marker",
    frame: { kind: "jpeg", data: Uint8Array.from([0xff, 0xd8, ...randomBytes(5000, 2)]) },
    code: "ERR_JPEG_DECODE",
  },
  {
    name: "JPEG header claiming 20000x20000",
    frame: { kind: "jpeg", data: withJpegDimensions(goodJpeg, 20000, 20000) },
    code: "ERR_INVALID_INPUT",
    message: /20000x20000/,
  },
  {
    name: "JPEG header claiming 16000x16000 (each side allowed, too many pixels)",
    frame: { kind: "jpeg", data: withJpegDimensions(goodJpeg, 16000, 16000) },
    code: "ERR_INVALID_INPUT",
    message: /16000x16000/,
  },
  {
    name: "JPEG header claiming 2000x2000 over 256x256 of data",
    frame: { kind: "jpeg", data: withJpegDimensions(goodJpeg, 2000, 2000) },
    code: "ERR_JPEG_DECODE",
  },
  { name: "empty buffer", frame: { kind: "jpeg", data: new Uint8Array(0) }, code: "ERR_INVALID_INPUT", message: /empty/ },
  { name: "empty rgb buffer", frame: { kind: "rgb", data: new ArrayBuffer(0), width: 1, height: 1 }, code: "ERR_INVALID_INPUT" },
  // The frame object itself
  { name: "null frame", frame: null, code: "ERR_INVALID_INPUT" },
  { name: "undefined frame", frame: undefined, code: "ERR_INVALID_INPUT" },
  { name: "number as frame", frame: 42, code: "ERR_INVALID_INPUT" },
  { name: "string as frame", frame: "jpeg", code: "ERR_INVALID_INPUT" },
  { name: "Buffer instead of a frame object", frame: goodJpeg, code: "ERR_INVALID_INPUT" },
  { name: "unknown kind", frame: { kind: "webp", data: goodJpeg }, code: "ERR_INVALID_INPUT", message: /webp/ },
  { name: "JPEG bytes given as png", frame: { kind: "png", data: goodJpeg }, code: "ERR_PNG_DECODE", message: /PNG signature/ },
  { name: "missing kind", frame: { data: goodJpeg }, code: "ERR_INVALID_INPUT" },
  { name: "kind not a string", frame: { kind: 1, data: goodJpeg }, code: "ERR_INVALID_INPUT" },
  { name: "data a string", frame: { kind: "jpeg", data: "not bytes" }, code: "ERR_INVALID_INPUT" },
  { name: "data an array of numbers", frame: { kind: "rgb", data: [1, 2, 3], width: 1, height: 1 }, code: "ERR_INVALID_INPUT" },
  { name: "data missing", frame: { kind: "jpeg" }, code: "ERR_INVALID_INPUT" },
  { name: "data a plain object", frame: { kind: "jpeg", data: { length: 10 } }, code: "ERR_INVALID_INPUT" },
  // Raw layouts
  {
    name: "rgb buffer one byte short",
    frame: { kind: "rgb", data: new Uint8Array(W * H * 3 - 1), width: W, height: H },
    code: "ERR_INVALID_INPUT",
    message: /needs \d+ bytes/,
  },
  { name: "rgba with an rgb-sized buffer", frame: { kind: "rgba", data: new Uint8Array(W * H * 3), width: W, height: H }, code: "ERR_INVALID_INPUT" },
  {
    name: "stride smaller than a row",
    frame: { kind: "rgb", data: new Uint8Array(W * H * 3), width: W, height: H, stride: W * 3 - 1 },
    code: "ERR_INVALID_INPUT",
    message: /stride/,
  },
  {
    name: "padded stride without the bytes for it",
    frame: { kind: "rgb", data: new Uint8Array(W * H * 3), width: W, height: H, stride: W * 3 + 4 },
    code: "ERR_INVALID_INPUT",
  },
  { name: "negative stride", frame: { kind: "rgb", data: new Uint8Array(W * H * 3), width: W, height: H, stride: -768 }, code: "ERR_INVALID_INPUT" },
  { name: "zero width", frame: { kind: "rgb", data: new Uint8Array(300), width: 0, height: 10 }, code: "ERR_INVALID_INPUT" },
  { name: "negative height", frame: { kind: "rgb", data: new Uint8Array(300), width: 10, height: -10 }, code: "ERR_INVALID_INPUT" },
  { name: "missing width and height", frame: { kind: "rgb", data: new Uint8Array(300) }, code: "ERR_INVALID_INPUT" },
  { name: "fractional width", frame: { kind: "rgb", data: new Uint8Array(300), width: 10.5, height: 10 }, code: "ERR_INVALID_INPUT" },
  { name: "width as a string", frame: { kind: "rgb", data: new Uint8Array(300), width: "10", height: 10 }, code: "ERR_INVALID_INPUT" },
  { name: "NaN height", frame: { kind: "rgb", data: new Uint8Array(300), width: 10, height: NaN }, code: "ERR_INVALID_INPUT" },
  {
    name: "100000x100000 rgb (rejected before any allocation)",
    frame: { kind: "rgb", data: new Uint8Array(12), width: 100000, height: 100000 },
    code: "ERR_INVALID_INPUT",
    message: /100000x100000.*limit/,
  },
  {
    name: "16384x16384 rgb (each side allowed, too many pixels)",
    frame: { kind: "rgb", data: new Uint8Array(12), width: 16384, height: 16384 },
    code: "ERR_INVALID_INPUT",
    message: /frame-pixel cap/,
  },
  {
    name: "int32-max width",
    frame: { kind: "rgba", data: new Uint8Array(12), width: 2147483647, height: 1 },
    code: "ERR_INVALID_INPUT",
  },
  { name: "width beyond int32", frame: { kind: "rgb", data: new Uint8Array(12), width: 1e12, height: 1 }, code: "ERR_INVALID_INPUT" },
  // 0xffffffff, as a wire frame's uint32 stride field can carry: a bad frame, not an arithmetic wrap-around.
  {
    name: "uint32-max stride",
    frame: { kind: "rgb", data: new Uint8Array(4096 * 3 * 2), width: 4096, height: 2, stride: 0xffffffff },
    code: "ERR_INVALID_INPUT",
    message: /stride must be an integer 0\.\.2147483647/,
  },
  {
    name: "uint32-max i420 strideV",
    frame: { kind: "i420", data: new Uint8Array(W * H * 2), width: W, height: H, strideV: 0xffffffff },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "huge stride",
    frame: { kind: "rgb", data: new Uint8Array(4096 * 3 * 2), width: 4096, height: 2000, stride: 2147483647 },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "i420 one byte short",
    frame: { kind: "i420", data: new Uint8Array(W * H + 2 * (W / 2) * (H / 2) - 1), width: W, height: H },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "i420 odd size one byte short",
    frame: { kind: "i420", data: new Uint8Array(255 * 255 + 2 * 128 * 128 - 1), width: 255, height: 255 },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "i420 strideU smaller than the chroma row",
    frame: { kind: "i420", data: new Uint8Array(W * H * 2), width: W, height: H, strideU: W / 2 - 1 },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "nv12 one byte short",
    frame: { kind: "nv12", data: new Uint8Array(W * H + W * (H / 2) - 1), width: W, height: H },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "nv12 with only the Y plane",
    frame: { kind: "nv12", data: new Uint8Array(W * H), width: W, height: H },
    code: "ERR_INVALID_INPUT",
  },
  {
    name: "nv12 strideUV smaller than the interleaved row",
    frame: { kind: "nv12", data: new Uint8Array(W * H * 2), width: W, height: H, strideUV: W - 1 },
    code: "ERR_INVALID_INPUT",
  },
  // Per-call options
  { name: "unknown resize mode", frame: { kind: "jpeg", data: goodJpeg }, options: { resize: "cubic" }, code: "ERR_INVALID_ARG", message: /cubic/ },
  { name: "resize not a string", frame: { kind: "jpeg", data: goodJpeg }, options: { resize: 5 }, code: "ERR_INVALID_ARG" },
];

for (const build of BUILDS) {
  describe(`bad frames (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    let addon: NativeAddon;
    let scorer: NativeScorer;
    let goodReal: number;
    const good: FrameInput = { kind: "jpeg", data: goodJpeg };

    beforeAll(async () => {
      addon = build.load();
      scorer = await openScorer(addon, "meso4-df", scorers);
      goodReal = realOf(await scorer.score(good));
      expect(goodReal).toBeGreaterThan(0.9);
    }, TEST_TIMEOUT);

    it("the patched JPEG headers really claim the sizes", () => {
      expect(jpegDimensions(goodJpeg)).toEqual({ width: 256, height: 256 });
      expect(jpegDimensions(withJpegDimensions(goodJpeg, 20000, 20000))).toEqual({ width: 20000, height: 20000 });
    });

    for (const bad of BAD_FRAMES) {
      it(`score() refuses ${bad.name} with ${bad.code}, next to a good frame`, async () => {
        const score = scorer.score as (frame: unknown, options?: unknown) => Promise<unknown>;
        const [error, alongside] = await Promise.all([
          rejectionOf(score.call(scorer, bad.frame, bad.options)),
          scorer.score(good),
        ]);
        expect(error).toBeInstanceOf(Error);
        expect(error.code, error.message).toBe(bad.code);
        expect(typeof error.message).toBe("string");
        expect(error.message.length).toBeGreaterThan(0);
        if (bad.message) expect(error.message).toMatch(bad.message);
        expect(Math.abs(realOf(alongside) - goodReal)).toBeLessThanOrEqual(1e-6);
        const after = await scorer.score(good);
        expect(Math.abs(realOf(after) - goodReal)).toBeLessThanOrEqual(1e-6);
      });
    }

    it("preprocess() refuses the same frames with the same codes", async () => {
      const preprocess = addon.preprocess as (frame: unknown, options: unknown) => Promise<Float32Array>;
      for (const bad of BAD_FRAMES) {
        const error = await rejectionOf(preprocess(bad.frame, resolvePreprocessOptions(bad.options as PreprocessOptionsInput)));
        expect(error.code, bad.name).toBe(bad.code);
        expect(error.message.length, bad.name).toBeGreaterThan(0);
      }
    });

    it("all bad frames at once, interleaved with good ones, each get their own outcome", async () => {
      const score = scorer.score as (frame: unknown, options?: unknown) => Promise<unknown>;
      const goods: Promise<unknown>[] = [];
      const bads: Promise<Error & { code?: string }>[] = [];
      for (const bad of BAD_FRAMES) {
        goods.push(scorer.score(good));
        bads.push(rejectionOf(score.call(scorer, bad.frame, bad.options)));
        goods.push(scorer.score(good));
      }
      const [goodResults, badErrors] = await Promise.all([Promise.all(goods), Promise.all(bads)]);
      for (const r of goodResults) expect(Math.abs(realOf(r as never) - goodReal)).toBeLessThanOrEqual(1e-6);
      badErrors.forEach((e, i) => expect(e.code, BAD_FRAMES[i].name).toBe(BAD_FRAMES[i].code));
      expect(scorer.stats().pending).toBe(0);
    });

    it("preprocess() refuses bad output options", async () => {
      const frame = { kind: "jpeg" as const, data: goodJpeg };
      const preprocess = addon.preprocess as (frame: unknown, options: unknown) => Promise<Float32Array>;
      for (const options of [{ width: 0 }, { height: -1 }, { width: 5000 }, { width: 1.5 }, { device: "tpu" }, { resize: "box" }]) {
        const error = await rejectionOf(preprocess(frame, resolvePreprocessOptions(options as PreprocessOptionsInput)));
        expect(error.code, JSON.stringify(options)).toBe("ERR_INVALID_ARG");
      }
    });

    it("the scorer is still healthy afterwards", async () => {
      const stats = scorer.stats();
      expect(stats.pending).toBe(0);
      // Frames that failed in the worker (JPEG decode) are counted; refused-at-the-door ones never entered.
      expect(stats.failed).toBeGreaterThan(0);
      const result = await scorer.score(good);
      expect(Math.abs(realOf(result) - goodReal)).toBeLessThanOrEqual(1e-6);
      expect(scorer.info().closed).toBe(false);
    });
  });
}

describe("createScorer refuses bad options", { timeout: TEST_TIMEOUT }, () => {
  let addon: NativeAddon;
  beforeAll(() => {
    addon = loadCmakeAddon();
  });

  it("a missing model file rejects ERR_MODEL_LOAD naming the file", async () => {
    const missing = `${ROOT}/models/generated/no-such-model-${process.pid}.onnx`;
    const error = await rejectionOf(addon.createScorer(cpuScorerOptions(missing)));
    expect(error.code).toBe("ERR_MODEL_LOAD");
    expect(error.message).toContain(missing);
  });

  it("a file that is not an ONNX model rejects ERR_MODEL_LOAD naming the file", async () => {
    const notModel = `${ROOT}/package.json`;
    const error = await rejectionOf(addon.createScorer(cpuScorerOptions(notModel)));
    expect(error.code).toBe("ERR_MODEL_LOAD");
    expect(error.message).toContain(notModel);
  });

  it("missing or mistyped options throw TypeError synchronously, naming the option", () => {
    const create = addon.createScorer as (options?: unknown) => Promise<NativeScorer>;
    const good = cpuScorerOptions(modelPath("meso4-df"));
    expect(() => create(undefined)).toThrow(TypeError);
    expect(() => create(null)).toThrow(TypeError);
    expect(() => create("model.onnx")).toThrow(TypeError);
    const cases: Array<[string, unknown]> = [
      ["modelPath", ""],
      ["modelPath", 5],
      ["maxBatch", "x"],
      ["maxBatch", 2.5],
      ["maxWaitMs", "2"],
      ["maxWaitMs", Infinity],
      ["maxWaitMs", NaN],
      ["prepThreads", "2"],
      ["maxPending", true],
      ["intraOpThreads", 1.5],
      ["deviceId", "0"],
      ["fp16", "yes"],
      ["provider", 1],
      ["graphOptimization", 3],
      ["cacheDir", {}],
      ["preprocess", false],
      ["crop", 1],
      ["detector", "blazeface"],
    ];
    for (const [key, value] of cases) {
      const error = thrownBy(() => create({ ...good, [key]: value }));
      expect(error, `${key}: ${String(value)}`).toBeInstanceOf(TypeError);
      expect(error.message).toContain(key);
    }
    // Every field is required: the native side has no defaults of its own (they live in scorerOptions.ts).
    for (const key of Object.keys(good)) {
      const { [key]: _dropped, ...rest } = good as unknown as Record<string, unknown>;
      const error = thrownBy(() => create(rest));
      expect(error, key).toBeInstanceOf(TypeError);
      expect(error.message).toContain(key);
    }
    for (const key of ["factor", "margin", "resize"]) {
      const error = thrownBy(() => create({ ...good, crop: { ...good.crop, [key]: undefined } }));
      expect(error.message).toContain(key);
    }
  });

  it("unknown option values reject with a message naming the option", async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ provider: "gpu" }, "ERR_MODEL_LOAD", /provider/],
      [{ graphOptimization: "max" }, "ERR_MODEL_LOAD", /graphOptimization/],
      [{ preprocess: "gpu" }, "ERR_SCORER_CONFIG", /preprocess/],
    ];
    for (const [extra, code, message] of cases) {
      const error = await rejectionOf(addon.createScorer({ ...cpuScorerOptions(modelPath("meso4-df")), ...extra } as never));
      expect(error.code, JSON.stringify(extra)).toBe(code);
      expect(error.message).toMatch(message);
    }
  });

  it("out-of-range values are refused by the facade's one check, naming the option and its range", () => {
    const cases: Array<[Partial<ScorerOptionsInput>, RegExp]> = [
      [{ prepThreads: 0 }, /prepThreads must be an integer 1\.\.64/],
      [{ prepThreads: 65 }, /prepThreads/],
      [{ maxPending: 0 }, /maxPending/],
      [{ maxWaitMs: -1 }, /maxWaitMs/],
      // Its microseconds past a steady_clock time overflowed int64.
      [{ maxWaitMs: 1e300 }, /maxWaitMs/],
      [{ maxBatch: 0 }, /maxBatch must be an integer 1\.\.1024/],
      [{ maxBatch: 5000 }, /maxBatch/],
      [{ crop: { factor: 0 } }, /crop\.factor/],
      [{ crop: { margin: 101 } }, /crop\.margin/],
      [{ detector: { modelPath: "x.onnx", maxFaces: 0 } }, /detector\.maxFaces/],
      [{ detector: { modelPath: "x.onnx", minScore: 1.5 } }, /detector\.minScore/],
    ];
    for (const [extra, message] of cases) {
      let error: AddonError | undefined;
      try {
        cpuScorerOptions(modelPath("meso4-df"), extra);
      } catch (e) {
        error = e as AddonError;
      }
      expect(error, JSON.stringify(extra)).toBeInstanceOf(RangeError);
      expect(error!.code).toBe("ERR_INVALID_ARG");
      expect(error!.message).toMatch(message);
    }
    // The server's settings take the same limits from the same owner.
    const maxBatch = SETTINGS.find((s) => s.key === "maxBatch")!;
    expect([maxBatch.default, maxBatch.min, maxBatch.max]).toEqual([SCORER_DEFAULTS.maxBatch, SCORER_LIMITS.maxBatch.min, SCORER_LIMITS.maxBatch.max]);
  });

  it("a valid scorer still opens and scores after all that", async () => {
    const scorer = await openScorer(addon, "meso4-df", scorers);
    expect(realOf(await scorer.score({ kind: "jpeg", data: goodJpeg }))).toBeGreaterThan(0.9);
  });
});

// Misuse that must never abort the process: run in a child so a native crash fails one test only.
for (const build of BUILDS) {
  describe(`misuse does not crash the process (${build.name})`, { timeout: TEST_TIMEOUT }, () => {
    const model = modelPath("meso4-df");

    it("close() with a non-boolean drain throws TypeError", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const scorer = await addon.createScorer(scorerOptions());
        try {
          const p = scorer.close({ drain: "yes" });
          await p.then(() => console.log("RESOLVED"), (e) => console.log("REJECTED", e.code));
        } catch (e) {
          console.log("THREW", e.constructor.name);
        }
        await scorer.close();
        `,
      );
      expect(child.stderr).not.toMatch(/terminate called|Assertion failed/);
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("THREW TypeError");
      expect(child.stdout).toContain("ALIVE");
    });

    it("new Scorer() throws TypeError and the half-made object is collected safely", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        for (let i = 0; i < 3; i++) {
          try {
            new addon.Scorer();
          } catch (e) {
            console.log("THREW", e.constructor.name);
          }
        }
        `,
      );
      expect(child.stderr).not.toMatch(/terminate called|Assertion failed/);
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("THREW TypeError");
      expect(child.stdout).toContain("ALIVE");
    });

    it("scorer methods called on a foreign object throw instead of crashing", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const scorer = await addon.createScorer(scorerOptions());
        const proto = Object.getPrototypeOf(scorer);
        for (const name of ["score", "info", "stats", "close"]) {
          try {
            const r = proto[name].call({}, { kind: "jpeg", data: new Uint8Array(4) });
            if (r && typeof r.then === "function") await r.catch(() => undefined);
            console.log("NO THROW", name);
          } catch (e) {
            console.log("THREW", name);
          }
        }
        await scorer.close();
        `,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("ALIVE");
      for (const name of ["score", "info", "stats", "close"]) expect(child.stdout).toContain(`THREW ${name}`);
    });

    it("an unreferenced scorer with frames in flight keeps the process alive until they settle, then exits", () => {
      const child = runWithAddon(
        build.file,
        model,
        `
        const { readFileSync } = await import("node:fs");
        const jpeg = readFileSync(${JSON.stringify(`${ROOT}/../shared/mesonet/test_images/${TEST_JPEGS[0].file}`)});
        let done = 0;
        {
          const scorer = await addon.createScorer(scorerOptions());
          for (let i = 0; i < 20; i++) scorer.score({ kind: "jpeg", data: jpeg }).then(() => done++);
        }
        gc();
        await new Promise((resolve) => setTimeout(resolve, 0));
        process.on("exit", () => console.log("DONE", done));
        `,
      );
      expect(child.signal).toBeNull();
      expect(child.status).toBe(0);
      expect(child.stdout).toContain("ALIVE");
      expect(child.stdout).toContain("DONE 20");
    });
  });
}

// Decode amplification: a 69-byte PNG or a JPEG header claiming 16384x4096 (within the decoders' side limit) made
// the addon allocate and zero 201 MB before failing. The declared size is checked against maxFramePixels (default
// 3840x2160) first. Measured in a child: its peak RSS must not grow by the frame's pixels.
describe("frames over the frame-pixel cap are refused before their pixels are allocated", { timeout: TEST_TIMEOUT }, () => {
  for (const build of BUILDS) {
    it(`a tiny PNG and a JPEG header claiming 16384x4096 cost no memory (${build.name})`, () => {
      const png = pngBytes(16384, 4096, 2, Buffer.alloc(0)); // 8-bit RGB, no pixel data
      expect(png.length).toBeLessThan(80);
      const jpeg = Buffer.from(withJpegDimensions(goodJpeg, 16384, 4096));
      const child = runWithAddon(
        build.file,
        modelPath("meso4-df"),
        `
        const { readFileSync } = await import("node:fs");
        const hwm = () => Number(/VmHWM:\\s*(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]);
        const scorer = await addon.createScorer(scorerOptions());
        await scorer.score({ kind: "jpeg", data: Buffer.from(${JSON.stringify(Buffer.from(goodJpeg).toString("base64"))}, "base64") });
        const before = hwm();
        for (const [kind, b64] of [["png", ${JSON.stringify(png.toString("base64"))}], ["jpeg", ${JSON.stringify(jpeg.toString("base64"))}]]) {
          await scorer.score({ kind, data: Buffer.from(b64, "base64") }).then(
            () => console.log("DECODED", kind),
            (e) => console.log("REJECTED", kind, e.code, e.message),
          );
        }
        console.log("GREW_MB", Math.round((hwm() - before) / 1024));
        await scorer.close();
        `,
      );
      expect(child.signal, child.stderr).toBeNull();
      expect(child.stdout).toMatch(/REJECTED png ERR_INVALID_INPUT frame 16384x4096 \(67108864 pixels\) is over the frame-pixel cap of 8294400; raise it with the scorer option maxFramePixels/);
      expect(child.stdout, child.stdout).toMatch(/REJECTED jpeg ERR_INVALID_INPUT .*frame-pixel cap of 8294400/);
      const grew = Number(/GREW_MB (\d+)/.exec(child.stdout)?.[1]);
      expect(grew).toBeLessThan(64); // the pixels alone are 16384 * 4096 * 3 bytes = 192 MiB
      expect(child.stdout).toContain("ALIVE");
    });
  }

  it("raw frames are checked at score(); the cap is an option, reported by info()", async () => {
    const addon = loadCmakeAddon();
    const capped = await openScorer(addon, "meso4-df", scorers, { maxFramePixels: 64 * 64 });
    expect(capped.info().maxFramePixels).toBe(64 * 64);
    const frame = (w: number, h: number): FrameInput => ({ kind: "rgb", data: new Uint8Array(w * h * 3), width: w, height: h });
    const error = await rejectionOf(capped.score(frame(65, 64)));
    expect(error.code).toBe("ERR_INVALID_INPUT");
    expect(error.message).toMatch(/65x64 \(4160 pixels\) is over the frame-pixel cap of 4096/);
    expect((await capped.score(frame(64, 64))).outputs.real).toHaveLength(1);
    const byDefault = await openScorer(addon, "meso4-df", scorers);
    expect(byDefault.info().maxFramePixels).toBe(DEFAULT_MAX_FRAME_PIXELS);
    expect((await rejectionOf(byDefault.score(frame(3841, 2160)))).message).toMatch(/frame-pixel cap of 8294400/);
  });
});

// One owner per default (src/scoring/scorerOptions.ts): the addon's preprocess(), encodeJpeg() and VideoDecoder
// read every option as required, with no fallback of their own.
describe("the addon's functions take no defaults of their own", { timeout: TEST_TIMEOUT }, () => {
  const frame: FrameInput = { kind: "rgb", data: new Uint8Array(65 * 64 * 3), width: 65, height: 64 };

  it("preprocess() refuses options missing any field resolvePreprocessOptions() fills, naming it", async () => {
    const addon = loadCmakeAddon();
    const preprocess = addon.preprocess as (frame: unknown, options?: unknown) => Promise<Float32Array>;
    expect((await rejectionOf(preprocess(frame))).code).toBe("ERR_INVALID_ARG");
    const full = resolvePreprocessOptions();
    expect(await preprocess(frame, full)).toHaveLength(3 * full.width * full.height);
    for (const key of ["width", "height", "resize", "device", "maxFramePixels", "crop"] as const) {
      const error = await rejectionOf(preprocess(frame, { ...full, [key]: undefined }));
      expect(error.code, key).toBe("ERR_INVALID_ARG");
      expect(error.message, key).toContain(`'${key}' is required`);
    }
    for (const key of ["factor", "margin"] as const) {
      const error = await rejectionOf(preprocess(frame, { ...full, crop: { ...full.crop, [key]: undefined } }));
      expect(error.message, key).toContain(`'${key}' is required`);
    }
  });

  it("preprocess() caps frames at the maxFramePixels it is given; by default the ceiling SCORER_LIMITS owns", async () => {
    const addon = loadCmakeAddon();
    const capped = await rejectionOf(addon.preprocess(frame, resolvePreprocessOptions({ maxFramePixels: 64 * 64 })));
    expect(capped.code).toBe("ERR_INVALID_INPUT");
    expect(capped.message).toMatch(/65x64 \(4160 pixels\) is over the frame-pixel cap of 4096/);
    expect(resolvePreprocessOptions().maxFramePixels).toBe(SCORER_LIMITS.maxFramePixels.max);
    const over = pngBytes(16384, 4097, 2, Buffer.alloc(0)); // one row over the ceiling, no pixel data
    const error = await rejectionOf(addon.preprocess({ kind: "png", data: over }, resolvePreprocessOptions()));
    expect(error.code).toBe("ERR_INVALID_INPUT");
    expect(error.message).toContain(`frame-pixel cap of ${SCORER_LIMITS.maxFramePixels.max}`);
    const refused = thrownBy(() => resolvePreprocessOptions({ maxFramePixels: SCORER_LIMITS.maxFramePixels.max + 1 }));
    expect(refused).toBeInstanceOf(RangeError);
    expect(refused.message).toMatch(/maxFramePixels/);
  });

  it("encodeJpeg() needs its quality", async () => {
    const addon = loadCmakeAddon();
    const encode = addon.encodeJpeg as (rgb: Uint8Array, width: number, height: number, quality?: number) => Promise<Buffer>;
    const rgb = new Uint8Array(8 * 8 * 3);
    expect((await rejectionOf(encode(rgb, 8, 8))).code).toBe("ERR_INVALID_ARG");
    expect(jpegDimensions(await encode(rgb, 8, 8, 90))).toEqual({ width: 8, height: 8 });
  });

  it("a VideoDecoder needs its codec, maxFramePixels and maxPending", () => {
    const addon = loadCmakeAddon();
    const options = { codec: "VP8", maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, maxPending: 4 } as const;
    for (const key of ["codec", "maxFramePixels", "maxPending"] as const) {
      const thrown = thrownBy(() => new addon.VideoDecoder({ ...options, [key]: undefined } as never));
      expect(thrown.code, key).toBe("ERR_INVALID_ARG");
      expect(thrown.message, key).toContain(`'${key}' is required`);
    }
    void new addon.VideoDecoder(options).close();
  });
});

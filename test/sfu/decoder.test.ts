// The native VideoDecoder (libavcodec, both addon builds, and the cmake-js one hosted in the RTP ingest's decoder
// process, src/sfu/DecoderProcess.ts, behind the same interface) on real VP8 and H.264 made by Debian's ffmpeg
// from grace_hopper.jpg: pictures bit-exact with ffmpeg's own decode, results in call order, pixels only when
// asked, key frames flagged; a damaged access unit rejects with ERR_VIDEO_DECODE and resets that decoder only
// (delta frames then reject with ERR_VIDEO_NEED_KEYFRAME until a key frame); bad arguments, queue limits, close.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { NativeAddon, NativeVideoDecoder } from "../../src/native/addonTypes.js";
import { loadAddon } from "../../src/native/loadAddon.js";
import { DEFAULT_MAX_FRAME_PIXELS } from "../../src/scoring/scorerOptions.js";
import { DecoderProcess } from "../../src/sfu/DecoderProcess.js";
import { CMAKE_ADDON, GYP_ADDON, SHARED } from "../helpers/paths.js";
import { runFfmpeg } from "../helpers/tools.js";
import { ivfFrames } from "../helpers/videos.js";

const PHOTO = path.join(SHARED, "photos/grace_hopper.jpg");
const WIDTH = 320;
const HEIGHT = 376; // grace_hopper.jpg is 512x600: scale=320:-2
const FRAME_BYTES = WIDTH * HEIGHT + 2 * (WIDTH / 2) * (HEIGHT / 2);
const GOP = 5;
const FRAMES = 12;

let dir: string;
let vp8Frames: Buffer[];
let h264Units: Buffer[];
let vp8Reference: Buffer; // ffmpeg's decode of the same files, yuv420p
let h264Reference: Buffer;

const SOURCE = ["-loop", "1", "-framerate", "10", "-i", PHOTO, "-frames:v", String(FRAMES), "-vf", `scale=${WIDTH}:-2,format=yuv420p`, "-g", String(GOP)];

/** Annex-B split into access units at each access unit delimiter (NAL type 9, inserted by h264_metadata). */
function annexBUnits(file: string): Buffer[] {
  const b = readFileSync(file);
  const starts: number[] = [];
  for (let i = 0; i + 4 < b.length; i++) {
    if (b[i] === 0 && b[i + 1] === 0 && b[i + 2] === 0 && b[i + 3] === 1 && (b[i + 4]! & 0x1f) === 9) starts.push(i);
  }
  return starts.map((s, k) => b.subarray(s, starts[k + 1] ?? b.length));
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mesoguard-decoder-"));
  const ivf = path.join(dir, "grace.ivf");
  const h264 = path.join(dir, "grace.h264");
  runFfmpeg([...SOURCE, "-c:v", "libvpx", "-deadline", "realtime", "-b:v", "500k", ivf]);
  runFfmpeg([...SOURCE, "-c:v", "libx264", "-profile:v", "baseline", "-tune", "zerolatency", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", h264]);
  runFfmpeg(["-i", ivf, "-f", "rawvideo", "-pix_fmt", "yuv420p", path.join(dir, "vp8.yuv")]);
  runFfmpeg(["-i", h264, "-f", "rawvideo", "-pix_fmt", "yuv420p", path.join(dir, "h264.yuv")]);
  vp8Frames = ivfFrames(ivf);
  h264Units = annexBUnits(h264);
  vp8Reference = readFileSync(path.join(dir, "vp8.yuv"));
  h264Reference = readFileSync(path.join(dir, "h264.yuv"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<NodeJS.ErrnoException & { index?: number }> {
  try {
    await promise;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error("expected a rejection");
}

/** Where the decoders run: in this process (the addon's VideoDecoder), or in a decoder process that loads `file`. */
const IMPLEMENTATIONS: Array<[string, string, "here" | "process"]> = [
  ["cmake-js build", CMAKE_ADDON, "here"],
  ["node-gyp build", GYP_ADDON, "here"],
  ["cmake-js build in the decoder process", CMAKE_ADDON, "process"],
];

describe.each(IMPLEMENTATIONS)("VideoDecoder (%s)", (_, file, where) => {
  let addon: NativeAddon;
  let decoderProcess: DecoderProcess | undefined;
  const open: NativeVideoDecoder[] = [];
  // 64: room for every access unit a test queues at once.
  const make = (codec: "VP8" | "H264", maxPending = 64) => {
    const d =
      where === "process"
        ? decoderProcess!.createDecoder(codec, maxPending)
        : new addon.VideoDecoder({ codec, maxPending, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS });
    open.push(d);
    return d;
  };

  beforeAll(() => {
    addon = loadAddon(file);
    if (where === "process") decoderProcess = new DecoderProcess({ addonPath: file, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS });
  });
  afterAll(async () => {
    await Promise.all(open.map((d) => d.close({ drain: false })));
    await decoderProcess?.close();
  });

  it("the test media: 12 frames each, key frames every 5", () => {
    expect(vp8Frames).toHaveLength(FRAMES);
    expect(h264Units).toHaveLength(FRAMES);
    expect(vp8Reference.length).toBe(FRAMES * FRAME_BYTES);
    expect(h264Reference.length).toBe(FRAMES * FRAME_BYTES);
  });

  it.each([
    ["VP8", () => vp8Frames, () => vp8Reference],
    ["H264", () => h264Units, () => h264Reference],
  ] as const)("%s: every access unit decodes, in order, bit-exact with ffmpeg, pixels only where asked", async (codec, units, reference) => {
    const decoder = make(codec);
    expect(decoder.codec).toBe(codec);
    // Queue them all at once: the promises settle in call order.
    const settled: number[] = [];
    const results = await Promise.all(
      units().map((unit, i) =>
        decoder.decode(unit, { returnPixels: i % 3 === 0 }).then((r) => {
          settled.push(r.index);
          return r;
        }),
      ),
    );
    expect(settled).toEqual([...Array(FRAMES).keys()]);
    for (const [i, r] of results.entries()) {
      expect(r).toMatchObject({ index: i, decoded: true, width: WIDTH, height: HEIGHT, keyframe: i % GOP === 0 });
      expect(r.decodeMs).toBeGreaterThan(0);
      if (i % 3 === 0) {
        expect(r.i420!.length).toBe(FRAME_BYTES);
        expect(r.i420!.equals(reference().subarray(i * FRAME_BYTES, (i + 1) * FRAME_BYTES)), `frame ${i}`).toBe(true);
      } else {
        expect(r.i420).toBeUndefined();
      }
    }
    expect(decoder.stats()).toMatchObject({ decoded: FRAMES, failed: 0, skipped: 0, pending: 0, closed: false });
  });

  it("a delta frame first: ERR_VIDEO_NEED_KEYFRAME; then the key frame decodes", async () => {
    const decoder = make("VP8");
    const error = await rejection(decoder.decode(vp8Frames[1]!));
    expect(error.code).toBe("ERR_VIDEO_NEED_KEYFRAME");
    expect(error.message).toMatch(/key frame/);
    expect((await decoder.decode(vp8Frames[0]!)).keyframe).toBe(true);
    expect((await decoder.decode(vp8Frames[1]!)).decoded).toBe(true);
  });

  it.each([
    ["VP8", () => vp8Frames],
    ["H264", () => h264Units],
  ] as const)("%s: a damaged key frame rejects with ERR_VIDEO_DECODE and resets that decoder only", async (codec, units) => {
    const victim = make(codec);
    const bystander = make(codec);
    const u = units();
    await victim.decode(u[0]!);
    await bystander.decode(u[0]!);
    // The next key frame cut short (VP8: its first partition runs past the end; H.264: the IDR slice ends early).
    const cut = u[GOP]!.subarray(0, codec === "VP8" ? 100 : 400);
    const [error, ...afterwards] = await Promise.all([
      rejection(victim.decode(cut)),
      rejection(victim.decode(u[GOP + 1]!)),
      rejection(victim.decode(u[GOP + 2]!)),
    ]);
    expect(error.code).toBe("ERR_VIDEO_DECODE");
    expect(error.message).toMatch(new RegExp(`${codec}|corrupt|decod`, "i"));
    expect(error.message).toMatch(/libavcodec/); // the decoder's own reason is kept
    expect(error.index).toBe(1);
    // The decoder was reset: delta frames are refused until a key frame comes.
    expect(afterwards.map((e) => e.code)).toEqual(["ERR_VIDEO_NEED_KEYFRAME", "ERR_VIDEO_NEED_KEYFRAME"]);
    // The other decoder, on the same frames, never noticed.
    for (let i = 1; i < FRAMES; i++) expect((await bystander.decode(u[i]!)).decoded).toBe(true);
    expect(bystander.stats()).toMatchObject({ failed: 0, resets: 0, decoded: FRAMES });
    // The victim recovers at the next key frame.
    const recovered = await victim.decode(u[2 * GOP]!, { returnPixels: true });
    expect(recovered).toMatchObject({ decoded: true, keyframe: true, width: WIDTH, height: HEIGHT });
    expect((await victim.decode(u[2 * GOP + 1]!)).decoded).toBe(true);
    expect(victim.stats()).toMatchObject({ failed: 1, skipped: 2, resets: 1 });
  });

  it("garbage that looks like a key frame is an ERR_VIDEO_DECODE, not a crash", async () => {
    const decoder = make("H264");
    const garbage = Buffer.alloc(600, 0x55);
    garbage.set([0, 0, 0, 1, 0x65], 0); // an "IDR slice" of nonsense
    expect((await rejection(decoder.decode(garbage))).code).toBe("ERR_VIDEO_DECODE");
    const vp8 = make("VP8");
    const fake = Buffer.alloc(50, 0xff);
    fake.set([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00], 0); // key frame header, then junk
    const error = await rejection(vp8.decode(fake));
    expect(error.code).toBe("ERR_VIDEO_DECODE");
  });

  it("reset() makes the next access unit need a key frame, in order with what is queued", async () => {
    const decoder = make("VP8");
    const first = decoder.decode(vp8Frames[0]!);
    decoder.reset();
    const second = decoder.decode(vp8Frames[1]!);
    expect((await first).decoded).toBe(true);
    expect((await rejection(second)).code).toBe("ERR_VIDEO_NEED_KEYFRAME");
    expect(decoder.stats().resets).toBe(1);
  });

  it("bad arguments: unknown codec, not bytes, empty bytes", async () => {
    let thrown: NodeJS.ErrnoException | undefined;
    if (where === "process") {
      // The process makes the decoder when asked: its refusal comes with the first decode.
      thrown = await rejection(make("VP9" as "VP8", 4).decode(vp8Frames[0]!));
    } else {
      try {
        new addon.VideoDecoder({ codec: "VP9" as "VP8", maxFramePixels: 1 << 20, maxPending: 4 });
      } catch (error) {
        thrown = error as NodeJS.ErrnoException;
      }
      expect(() => new (addon.VideoDecoder as unknown as new () => unknown)()).toThrow(/codec/);
    }
    expect(thrown?.code).toBe("ERR_INVALID_ARG");
    expect(thrown?.message).toMatch(/VP8 or H264/);
    const decoder = make("H264");
    expect((await rejection(decoder.decode(42 as unknown as Uint8Array))).code).toBe("ERR_INVALID_INPUT");
    expect((await rejection(decoder.decode(new Uint8Array(0)))).code).toBe("ERR_INVALID_INPUT");
    expect((await rejection(decoder.decode(h264Units[0]!, { returnPixels: "yes" as unknown as boolean }))).code).toBe("ERR_INVALID_ARG");
  });

  it("more than maxPending queued access units: ERR_QUEUE_FULL for the excess", async () => {
    const decoder = make("VP8", 2);
    const results = await Promise.allSettled(vp8Frames.slice(0, 5).map((f) => decoder.decode(f)));
    const codes = results.map((r) => (r.status === "fulfilled" ? "ok" : (r.reason as NodeJS.ErrnoException).code));
    expect(codes.slice(0, 2)).toEqual(["ok", "ok"]);
    expect(codes.slice(2)).toContain("ERR_QUEUE_FULL");
  });

  it("close({drain: false}) rejects what is queued with ERR_CLOSED; afterwards decode() rejects at once", async () => {
    const decoder = make("VP8");
    const pending = vp8Frames.map((f) => decoder.decode(f, { returnPixels: true }).then(() => "ok", (e: NodeJS.ErrnoException) => e.code));
    await decoder.close({ drain: false });
    const outcomes = await Promise.all(pending);
    expect(outcomes.every((o) => o === "ok" || o === "ERR_CLOSED")).toBe(true);
    expect(outcomes.at(-1)).toBe("ERR_CLOSED");
    expect((await rejection(decoder.decode(vp8Frames[0]!))).code).toBe("ERR_CLOSED");
    expect(decoder.stats().closed).toBe(true);
    await decoder.close(); // twice is fine
  });

  it("close() drains by default: everything queued is decoded first", async () => {
    const decoder = make("H264");
    const pending = h264Units.map((u) => decoder.decode(u));
    await decoder.close();
    expect((await Promise.all(pending)).every((r) => r.decoded)).toBe(true);
  });
});

// The RTP ingest's decoder process (src/sfu/DecoderProcess.ts) on its own: a real child process loading the
// cmake-js addon, real VP8 from Debian's ffmpeg. A process that stops answering (the test hook
// MESOGUARD_TEST_DECODER_FAULT=hang:N) is killed after hangTimeoutMs and replaced (its start does not count); one
// killed from outside, again and again, is restarted with a doubling delay until maxRestartsPerMinute, then only
// when the minute allows; each end is reported once (onExit, one log line with its signal); close() leaves no
// process behind.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";

import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DEFAULT_MAX_FRAME_PIXELS } from "../../src/scoring/scorerOptions.js";
import { DecoderProcess } from "../../src/sfu/DecoderProcess.js";
import { DECODER_FAULT_ENV, parseDecoderFault, type DecoderProcessExit } from "../../src/sfu/decoderProcessTypes.js";
import { CMAKE_ADDON } from "../helpers/paths.js";
import { runFfmpeg } from "../helpers/tools.js";
import { GRACE, ivfFrames } from "../helpers/videos.js";

const GOP = 5;

let dir: string;
let frames: Buffer[];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mesoguard-decoder-process-"));
  const ivf = path.join(dir, "grace.ivf");
  runFfmpeg(["-loop", "1", "-framerate", "10", "-i", GRACE, "-frames:v", "10", "-vf", "scale=320:-2,format=yuv420p", "-g", String(GOP), "-c:v", "libvpx", "-deadline", "realtime", ivf]);
  frames = ivfFrames(ivf);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function rejection(promise: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await promise;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  throw new Error("expected a rejection");
}

/** Whether a process runs (a zombie, dead but not yet reaped, does not). */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

/** A DecoderProcess whose exits and log lines the test reads; `fault`: the test hook for its first process. */
function decoderProcess(options: Partial<ConstructorParameters<typeof DecoderProcess>[0]> = {}, fault?: string) {
  const exits: DecoderProcessExit[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  if (fault) process.env[DECODER_FAULT_ENV] = fault;
  try {
    const decoders = new DecoderProcess({ addonPath: CMAKE_ADDON, maxFramePixels: DEFAULT_MAX_FRAME_PIXELS, log: pino({ base: null }, sink), onExit: (e) => exits.push(e), ...options });
    return { decoders, exits, logs };
  } finally {
    delete process.env[DECODER_FAULT_ENV];
  }
}

describe("DecoderProcess", () => {
  it("a process that stops answering is killed after hangTimeoutMs: the decode rejects, a new process decodes", async () => {
    const { decoders, exits, logs } = decoderProcess({ hangTimeoutMs: 500, restartDelayMinMs: 20 }, "hang:2");
    try {
      const decoder = decoders.createDecoder("VP8", 16);
      expect((await decoder.decode(frames[0]!)).keyframe).toBe(true);
      const hungPid = decoders.pid!;
      const error = await rejection(decoder.decode(frames[1]!)); // access unit 2: never answered
      expect(error.code).toBe("ERR_VIDEO_DECODER_PROCESS");
      expect(error.message).toMatch(/stopped answering \(no reply for 500 ms\)/);
      expect(exits).toEqual([expect.objectContaining({ cause: "hang", pid: hungPid, signal: "SIGKILL", pending: 1 })]);
      expect(alive(hungPid)).toBe(false);
      await waitFor(() => decoders.pid !== null, "a new decoder process");
      // The new process holds a fresh decoder: a delta frame first is refused, the next key frame decodes.
      expect((await rejection(decoder.decode(frames[2]!))).code).toBe("ERR_VIDEO_NEED_KEYFRAME");
      const recovered = await decoder.decode(frames[GOP]!, { returnPixels: true });
      expect(recovered).toMatchObject({ decoded: true, keyframe: true, width: 320 });
      expect(recovered.i420!.length).toBe(recovered.width * recovered.height * 1.5);
      // Counted across both processes.
      expect(decoder.stats()).toMatchObject({ decoded: 2, skipped: 1, pending: 0, closed: false });
      const lost = logs.filter((l) => l.msg === "decoder process lost");
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ level: 50, cause: "hang", pid: hungPid });
      expect(logs.filter((l) => l.msg === "decoder process restarted")).toHaveLength(1);
      expect(decoders.status()).toMatchObject({ state: "running", restarts: 1, decoders: 1, lastExit: { cause: "hang" } });
    } finally {
      await decoders.close();
    }
  });

  it("the time a new process takes to load the addon is not a hang: the hang timeout counts from when it is ready", async () => {
    // Starting node and loading the addon takes longer than 100 ms; decoding a 320 px VP8 frame takes a few.
    const { decoders, exits } = decoderProcess({ hangTimeoutMs: 100 });
    try {
      const decoder = decoders.createDecoder("VP8", 16);
      for (const frame of frames) expect((await decoder.decode(frame)).decoded).toBe(true);
      expect(exits).toEqual([]);
      expect(decoders.status()).toMatchObject({ state: "running", restarts: 0 });
    } finally {
      await decoders.close();
    }
  });

  it("killed again and again: restarts after a doubling delay, at most maxRestartsPerMinute a minute; close() while it waits", async () => {
    const { decoders, exits, logs } = decoderProcess({ restartDelayMinMs: 30, maxRestartsPerMinute: 2 });
    const decoder = decoders.createDecoder("VP8", 16);
    const pids: number[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        expect((await decoder.decode(frames[0]!)).decoded).toBe(true);
        const pid = decoders.pid!;
        pids.push(pid);
        process.kill(pid, "SIGKILL");
        await waitFor(() => exits.length === round + 1, `exit ${round + 1} reported`);
        if (round < 2) await waitFor(() => decoders.pid !== null, `restart ${round + 1}`);
      }
      expect(new Set(pids).size).toBe(3);
      expect(exits.map((e) => [e.cause, e.signal, e.pid])).toEqual(pids.map((pid) => ["signal", "SIGKILL", pid]));
      // Quick crashes double the delay; the third would be the third restart within a minute: it waits for the
      // first restart to be a minute old.
      expect(exits[0]!.restartInMs).toBe(30);
      expect(exits[1]!.restartInMs).toBe(60);
      expect(exits[2]!.restartInMs).toBeGreaterThan(55_000);
      const status = decoders.status();
      expect(status).toMatchObject({ state: "restarting", pid: null, restarts: 2 });
      expect(status.nextStartAt! - exits[2]!.at).toBe(exits[2]!.restartInMs);
      // Meanwhile decodes are refused at once, saying why.
      const refused = await rejection(decoder.decode(frames[0]!));
      expect(refused.code).toBe("ERR_VIDEO_DECODER_PROCESS");
      expect(refused.message).toMatch(/restarting/);
      expect(logs.filter((l) => l.msg === "decoder process lost").map((l) => l.signal)).toEqual(["SIGKILL", "SIGKILL", "SIGKILL"]);
      await decoders.close();
      expect(decoders.status()).toMatchObject({ state: "closed", pid: null, nextStartAt: null });
      expect((await rejection(decoder.decode(frames[0]!))).code).toBe("ERR_CLOSED");
      expect(decoder.stats().closed).toBe(true);
    } finally {
      await decoders.close();
    }
    for (const pid of pids) expect(alive(pid), `process ${pid}`).toBe(false);
  });

  it("close() ends the process; decoders closed before it drain", async () => {
    const { decoders, exits } = decoderProcess();
    const decoder = decoders.createDecoder("VP8", 16);
    const pending = frames.slice(0, GOP).map((f) => decoder.decode(f));
    await decoder.close();
    expect((await Promise.all(pending)).every((r) => r.decoded)).toBe(true);
    const pid = decoders.pid!;
    expect(alive(pid)).toBe(true);
    await decoders.close();
    expect(alive(pid)).toBe(false);
    expect(exits).toEqual([]); // asked to end: not a crash
    expect(() => decoders.createDecoder("VP8", 16)).toThrow(/closed/);
  });

  it("the test hook takes crash:N or hang:N only", () => {
    expect(parseDecoderFault(undefined)).toBeNull();
    expect(parseDecoderFault("crash:40")).toEqual({ kind: "crash", at: 40 });
    expect(parseDecoderFault("hang:1")).toEqual({ kind: "hang", at: 1 });
    for (const bad of ["crash", "crash:0", "segv:3", "hang:-1", "crash:3 "]) {
      expect(() => decoderProcess({}, bad), bad).toThrow(/MESOGUARD_TEST_DECODER_FAULT must be crash:N or hang:N/);
    }
  });
});

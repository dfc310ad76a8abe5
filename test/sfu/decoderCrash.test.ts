// A crash of the decoder process in the real server (`mesoguard serve` in a child process; RTP is decoded in the
// server's decoder process by default). The test hook MESOGUARD_TEST_DECODER_FAULT=crash:N makes the first decoder
// process kill itself with SIGSEGV on its N-th access unit, as a crash in libavcodec would, while ffmpeg streams
// VP8 over RTP and a WebSocket participant sends JPEG frames to the same room. The server stays up, logs the crash
// once, counts it in /metrics and /healthz; the stream asks for a key frame and is scored again from the restarted
// process; the WebSocket participant is scored throughout. `--rtp-decoder in-process` decodes in the server's
// own process; a server killed with SIGKILL leaves no decoder process behind.
import { existsSync, readFileSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ScoreMessage } from "../../src/protocol/protocolTypes.js";
import { DECODER_FAULT_ENV } from "../../src/sfu/decoderProcessTypes.js";
import {
  closeAllClients,
  getJson,
  getText,
  graceHopper,
  joinClient,
  metricValue,
  pace,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
  type TestClient,
} from "../helpers/server.js";
import { ffmpegRtp } from "../helpers/videos.js";

let crashing: RunningServer;
let inProcess: RunningServer;

beforeAll(async () => {
  [crashing, inProcess] = await Promise.all([
    // At 25 fps, access unit 50 comes about 2 s into the stream.
    startServer(["--rtp-port-min", "0", "--rtp-port-max", "0"], { [DECODER_FAULT_ENV]: "crash:50" }),
    startServer(["--rtp-port-min", "0", "--rtp-port-max", "0", "--rtp-decoder", "in-process"]),
  ]);
});

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

async function register(server: RunningServer, body: Record<string, unknown>): Promise<Record<string, any>> {
  const res = await fetch(`${server.url}/rtp/streams`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, any>;
}

const scoresFor = (observer: TestClient, participantId: string): ScoreMessage[] => observer.events.score.filter((s) => s.participantId === participantId);

/** Whether a process runs (a zombie, dead but not yet reaped, does not). */
function alive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  return existsSync(stat) && readFileSync(stat, "utf8").split(") ")[1]?.[0] !== "Z";
}

describe("the decoder process crashes under a live call", () => {
  it("the server stays up and counts it; the RTP stream asks for a key frame and scores again; the WebSocket participant never stopped", async () => {
    const server = crashing;
    const room = "crash";
    const observer = await joinClient(server.url, { room, role: "observer" });
    const camera = await joinClient(server.url, { room, role: "participant", participantId: "ws-alice" });
    const photo = graceHopper();
    const stopCamera = pace(5, () => camera.client.sendFrame({ kind: "jpeg", data: photo }));
    try {
      const stream = await register(server, { ssrc: 0x0c0ffee1, payloadType: 96, codec: "VP8", room, participantId: "rtp-bob" });
      await ffmpegRtp({ codec: "VP8", port: stream.port, ssrc: 0x0c0ffee1, payloadType: 96, seconds: 8 });

      const lost = server.logs.filter((l) => l.msg === "decoder process lost");
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ cause: "signal", signal: "SIGSEGV", code: null });
      expect(lost[0]!.pending).toBeGreaterThanOrEqual(1);
      const crashedAt = lost[0]!.at as number;
      const restarted = server.logs.find((l) => l.msg === "decoder process restarted")!;
      expect(restarted).toMatchObject({ restarts: 1, decoders: 1 });
      const restartedAt = restarted.time as number;
      expect(server.process.exitCode).toBeNull();

      // The stream lost the frame in the dead process, asked for a key frame, and decoded from the next one.
      const info = (await getJson(`${server.url}/rtp/streams/${stream.id}`)).body;
      expect(info.counters.frames["decoder-lost"]).toBeGreaterThanOrEqual(1);
      expect(info.counters.pli).toBeGreaterThanOrEqual(1);
      expect(info.counters.frames.decoded).toBeGreaterThanOrEqual(100); // 8 s at 25 fps, less a second or two
      expect(info.waitingForKeyframe).toBe(false);
      // Scored again: frames received after the restart, with the face found.
      const rescored = await waitFor(
        () => scoresFor(observer, "rtp-bob").find((s) => s.lastFrame !== null && s.lastFrame.capturedAt > restartedAt && s.lastFrame.faces > 0),
        "a score of the RTP stream from after the restart",
      );
      expect(rescored.faces[0]!.box).not.toBeNull();
      const recoveredAt = scoresFor(observer, "rtp-bob").find((s) => s.lastFrame !== null && s.lastFrame.capturedAt > restartedAt)!.lastFrame!.capturedAt;

      // The WebSocket participant was scored on frames it sent while the RTP stream was down.
      const during = scoresFor(observer, "ws-alice").filter((s) => s.lastFrame !== null && s.lastFrame.capturedAt > crashedAt && s.lastFrame.capturedAt < recoveredAt);
      expect(during.length).toBeGreaterThanOrEqual(1);
      expect(camera.events.close).toEqual([]);
      expect(camera.events.error).toEqual([]);

      const metrics = (await getText(`${server.url}/metrics`)).text;
      expect(metricValue(metrics, "mesoguard_decoder_process_restarts_total", { cause: "signal" })).toBe(1);
      expect(metricValue(metrics, "mesoguard_decoder_process_restarts_total", { cause: "hang" })).toBe(0);
      expect(metricValue(metrics, "mesoguard_decoder_process_restarts_total", { cause: "exit" })).toBe(0);
      expect(metricValue(metrics, "mesoguard_rtp_frames_total", { result: "decoder-lost" })).toBe(info.counters.frames["decoder-lost"]);

      const health = (await getJson(`${server.url}/healthz`)).body;
      expect(health.status).toBe("ok");
      expect(health.rtp.decoder).toMatchObject({ mode: "process", state: "running", restarts: 1, decoders: 1, lastExit: { cause: "signal", signal: "SIGSEGV" } });
      expect(health.rtp.decoder.pid).not.toBe(health.rtp.decoder.lastExit.pid);

      // A server that dies takes its decoder process with it.
      const decoderPid = health.rtp.decoder.pid as number;
      expect(alive(decoderPid)).toBe(true);
      await server.stop("SIGKILL");
      await waitFor(() => !alive(decoderPid), "the decoder process gone after its server");
    } finally {
      stopCamera();
    }
  });

  it("--rtp-decoder in-process: no decoder process, the stream is decoded and scored in the server", async () => {
    const server = inProcess;
    const observer = await joinClient(server.url, { room: "here", role: "observer" });
    const stream = await register(server, { ssrc: 0x0c0ffee2, payloadType: 96, codec: "VP8", room: "here", participantId: "rtp-carol" });
    await ffmpegRtp({ codec: "VP8", port: stream.port, ssrc: 0x0c0ffee2, payloadType: 96, seconds: 3 });
    await waitFor(() => scoresFor(observer, "rtp-carol").some((s) => (s.lastFrame?.faces ?? 0) > 0), "a score with a face");
    expect((await getJson(`${server.url}/healthz`)).body.rtp.decoder).toEqual({ mode: "in-process" });
    expect(server.logs.some((l) => typeof l.msg === "string" && l.msg.startsWith("decoder process"))).toBe(false);
  });
});

// Backpressure on a real server: a participant sending faster than it can be scored has its waiting frame
// replaced by the newest (never a queue), frames over maxFps are dropped, and a client that does not read
// is disconnected instead of buffering without bound. Every frame is accounted for; nobody else slows down.
import { readFileSync } from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { FrameCounts } from "../../src/protocol/protocolTypes.js";
import {
  SHARED,
  closeAllClients,
  dfCrops,
  getJson,
  getText,
  joinClient,
  maxInWindow,
  metricValue,
  pace,
  rawClient,
  sleep,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from "../helpers/server.js";

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

const accounted = (f: FrameCounts) => f.scored + f.droppedSuperseded + f.droppedRate + f.rejected;

describe("superseded frames and slow consumers (maxFps 1000, sendBufferBytes 64 KiB)", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(["--participant-sees-verdict", "--max-fps", "1000", "--send-buffer-bytes", "65536", "--max-errors-per-minute", "100000"]);
  });

  it("200 large frames sent at once: most are superseded, every one is accounted for, another participant keeps up", async () => {
    const big = readFileSync(path.join(SHARED, "photos/example.jpg")); // 1162x580, 176 KB
    const observer = await joinClient(server.url, { room: "flood", role: "observer" });
    const flooder = await joinClient(server.url, { room: "flood", role: "participant", participantId: "flooder" });
    const calm = await joinClient(server.url, { room: "flood", role: "participant", participantId: "calm", frameContent: "face-crop" });
    const crop = dfCrops()[0];
    const stopCalm = pace(5, () => calm.client.sendFrame({ kind: "jpeg", data: crop }));
    try {
      for (let i = 0; i < 200; i++) flooder.client.sendFrame({ kind: "jpeg", data: big });
      const final = await waitFor(
        () => flooder.events.score.find((s) => s.frames.received === 200 && accounted(s.frames) === 200),
        "a score accounting for all 200 frames",
        60_000,
      );
      const f = final.frames;
      expect(f.droppedSuperseded).toBeGreaterThan(100);
      expect(f.scored).toBeGreaterThan(0);
      expect(f.scored).toBeLessThan(100);
      expect(f.droppedRate).toBe(0);
      expect(f.rejected).toBe(0);
      // Along the way: at most the frame in flight and the one waiting are not yet counted.
      for (const s of flooder.events.score) {
        expect(accounted(s.frames)).toBeLessThanOrEqual(s.frames.received);
        expect(accounted(s.frames)).toBeGreaterThanOrEqual(s.frames.received - 2);
      }
      // Still at most scoreRateHz (5) messages a second while it was busy.
      expect(maxInWindow(flooder.events.score.map((s) => s.at))).toBeLessThanOrEqual(6);

      const metrics = (await getText(`${server.url}/metrics`)).text;
      expect(metricValue(metrics, "mesoguard_frames_dropped_total", { reason: "superseded" })).toBeGreaterThanOrEqual(f.droppedSuperseded);
      expect(metricValue(metrics, "mesoguard_frames_received_total")).toBeGreaterThanOrEqual(200);

      // The calm participant was scored all along, promptly: the flood queued nothing in front of it.
      const calmScores = calm.events.score.filter((s) => s.lastFrame);
      expect(calmScores.length).toBeGreaterThan(0);
      const lastCalm = calmScores.at(-1)!;
      expect(lastCalm.frames.droppedSuperseded + lastCalm.frames.droppedRate).toBeLessThanOrEqual(2);
      expect(lastCalm.lastFrame!.latencyMs).toBeLessThan(2000);
      expect(observer.events.score.some((s) => s.participantId === "calm")).toBe(true);
    } finally {
      stopCalm();
    }
    flooder.client.close();
    calm.client.close();
    observer.client.close();
  });

  it("an observer that stops reading is disconnected (slow consumer) while another observer keeps receiving and ingest goes on", { timeout: 120_000 }, async () => {
    const good = await joinClient(server.url, { room: "slow", role: "observer" });
    const p = await joinClient(server.url, { room: "slow", role: "participant", participantId: "p", frameContent: "face-crop" });
    const slow = await rawClient(server.url);
    slow.ws.send(JSON.stringify({ type: "join", room: "slow", role: "observer" }));
    await waitFor(() => slow.messages.some((m) => m.type === "welcome"), "the slow observer's welcome");
    // Stop reading: from here on, whatever the server sends this client piles up in the kernel and then in the
    // server's send buffer.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();

    const crop = dfCrops()[0];
    const stopStream = pace(10, () => p.client.sendFrame({ kind: "jpeg", data: crop }));
    try {
      await waitFor(() => good.events.score.length > 0, "the good observer's first score");
      // Score pushes alone (a few KB a second here) would take a minute to fill a loopback socket's kernel
      // buffers (megabytes), so the stalled client also asks for replies it will never read: a message of an
      // unknown type earns an error naming that type, sent through the same bounded path as the scores. (A
      // ping flood does not work: ws stops reading from a peer that does not take its pongs.)
      const slowConsumerClosed = async () =>
        (metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_connections_closed_total", { reason: "slow-consumer" }) ?? 0) >= 1;
      const unknown = JSON.stringify({ type: "x".repeat(32 * 1024) });
      const deadline = Date.now() + 60_000;
      let sent = 0;
      while (!(await slowConsumerClosed())) {
        expect(Date.now(), `the server should have disconnected a reader ${sent} replies behind`).toBeLessThan(deadline);
        for (let i = 0; i < 20 && slow.ws.readyState === slow.ws.OPEN; i++, sent++) slow.ws.send(unknown);
        await sleep(50);
      }
      const scoresAtDisconnect = good.events.score.length;
      const scoredAtDisconnect = p.events.score.at(-1)!.frames.scored;
      // The server lets go of it within its 2 s close grace.
      await waitFor(async () => (await getJson(`${server.url}/healthz`)).body.observers === 1, "the slow observer gone", 10_000);
      // The other observer keeps receiving and the participant keeps being scored.
      await waitFor(() => good.events.score.length >= scoresAtDisconnect + 3, "more scores for the good observer");
      await waitFor(() => p.events.score.at(-1)!.frames.scored >= scoredAtDisconnect + 3, "more frames scored");
      expect(good.events.close).toEqual([]);
      expect(p.events.close).toEqual([]);
      expect(p.events.error).toEqual([]);
      // The slow client finds its connection gone once it reads again.
      socket.resume();
      const closed = await Promise.race([slow.closed, sleep(15_000).then(() => null)]);
      expect(closed, "the slow observer's socket closes").not.toBeNull();
      expect(closed!.code).not.toBe(1000);
    } finally {
      stopStream();
    }
    expect((await getJson(`${server.url}/healthz`)).body.status).toBe("ok");
  });
});

describe("maxFps", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(["--participant-sees-verdict", "--max-fps", "5"]);
  });

  it("frames sent at ~20 fps to a server taking 5 are dropped for rate, and counted", async () => {
    const p = await joinClient(server.url, { room: "fps", role: "participant", participantId: "fast", frameContent: "face-crop" });
    expect(p.client.welcome!.limits.maxFps).toBe(5);
    const crops = dfCrops();
    const started = Date.now();
    let sent = 0;
    const stop = pace(20, (i) => {
      p.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] });
      sent++;
    });
    await sleep(2000);
    stop();
    const seconds = (Date.now() - started) / 1000;
    // Dropped frames push no score message; one more frame, after the bucket has refilled a token, is scored and
    // pushes counts that include everything.
    await sleep(400);
    p.client.sendFrame({ kind: "jpeg", data: crops[0] });
    sent++;
    const final = await waitFor(
      () => p.events.score.find((s) => s.frames.received === sent && accounted(s.frames) === sent),
      `a score accounting for all ${sent} frames`,
    );
    const f = final.frames;
    expect(sent).toBeGreaterThan(25);
    expect(f.droppedRate).toBeGreaterThan(0);
    // A bucket of 5 tokens refilled at 5 a second lets through at most 5 + 5 * seconds.
    const admitted = f.received - f.droppedRate;
    expect(admitted).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 2);
    expect(admitted).toBeGreaterThanOrEqual(5);
    const metrics = (await getText(`${server.url}/metrics`)).text;
    expect(metricValue(metrics, "mesoguard_frames_dropped_total", { reason: "rate" })).toBe(f.droppedRate);
  });
});

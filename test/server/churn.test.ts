// Participants who leave must not leave their frames behind: 100 lanes churn (join, send one large scene frame,
// disconnect, again) against a real server while an honest participant sends face crops steadily. The honest
// participant keeps being scored, and once the churn stops the shared queue drains to empty.
import { readFileSync } from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  SHARED,
  closeAllClients,
  dfCrops,
  getText,
  joinClient,
  makeClient,
  metricValue,
  pace,
  sleep,
  startServer,
  stopAllServers,
  waitFor,
  type RunningServer,
} from "../helpers/server.js";

const LANES = 100;
const CHURN_MS = 20_000;
const WINDOW_MS = 5_000;
const HONEST_FPS = 10;

afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

describe("join / one frame / disconnect churn from 100 lanes", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(["--participant-sees-verdict", "--max-rooms", "1000", "--max-errors-per-minute", "100000"]);
  });

  it("an honest participant keeps its score rate, and the queue drains once the churn stops", { timeout: 120_000 }, async () => {
    const big = readFileSync(path.join(SHARED, "photos/example.jpg")); // 1162x580 scene: decode, detect, crop
    const crop = dfCrops()[0];
    const honest = await joinClient(server.url, { room: "honest", role: "participant", participantId: "honest", frameContent: "face-crop" });
    const scored: Array<{ at: number; scored: number }> = [];
    honest.client.on("score", (s) => scored.push({ at: Date.now(), scored: s.frames.scored }));
    const stopHonest = pace(HONEST_FPS, () => honest.client.sendFrame({ kind: "jpeg", data: crop }));
    await sleep(2_000); // the honest rate before the churn

    let stopped = false;
    let churned = 0;
    const lane = async (i: number) => {
      for (let n = 0; !stopped; n++) {
        const c = makeClient(server.url, { room: `lane-${i}`, role: "participant", participantId: `p${n}` });
        try {
          await c.client.connect();
          c.client.sendFrame({ kind: "jpeg", data: big });
          churned++;
        } catch {
          // refused (e.g. the room still holds the previous id): try again
        } finally {
          c.client.close();
        }
        await sleep(5);
      }
    };
    const churnStart = Date.now();
    const lanes = Array.from({ length: LANES }, (_, i) => lane(i));
    await sleep(CHURN_MS);
    stopped = true;
    await Promise.all(lanes);
    const churnEnd = Date.now();

    // Scores per 5 s window of the churn (skipping its first window, while the queue fills).
    const scoredAt = (t: number) => scored.filter((s) => s.at <= t).at(-1)?.scored ?? 0;
    const rates: number[] = [];
    for (let t = churnStart + WINDOW_MS; t + WINDOW_MS <= churnEnd; t += 1_000) rates.push(scoredAt(t + WINDOW_MS) - scoredAt(t));
    const worst = Math.min(...rates);
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)];
    console.log(`churn: ${churned} frames from ${LANES} lanes; honest scores per 5 s: ${rates.join(" ")}`);
    expect(churned).toBeGreaterThan(LANES * 5);
    // HONEST_FPS * 5 = 50 at most. Measured on a busy 2-core machine: 0-1 in every window before the frames of
    // closed sessions were cancelled; 7-35 after (median 17-29).
    expect(median).toBeGreaterThanOrEqual(8);
    expect(worst).toBeGreaterThanOrEqual(3);

    // Nobody from the churn is connected any more: their queued frames are gone.
    const depth = await waitFor(
      async () => {
        const value = metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_queue_depth");
        return value !== undefined && value <= 1 ? { value } : null;
      },
      "the queue to drain",
      15_000,
    );
    expect(depth.value).toBeLessThanOrEqual(1);
    stopHonest();
  });
});

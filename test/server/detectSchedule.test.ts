// The server spreads its participants' detector frames: each new participant gets the next detection offset, so
// with --detect-every 5 the first participant's tracker detects on its frames 0 and 5 and the second's on its frames
// 0 and 4 (its first frame detects anyway, having no track yet). Counted with the detect stage's /metrics histogram.
import path from "node:path";
import { readFileSync } from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SHARED, closeAllClients, getText, joinClient, metricValue, startServer, stopAllServers, type RunningServer } from "../helpers/server.js";

const PHOTO = readFileSync(path.join(SHARED, "photos/grace_hopper.jpg"));

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(["--participant-sees-verdict", "--detect-every", "5"]);
});
afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

async function detectorFrames(): Promise<number> {
  const text = (await getText(`${server.url}/metrics`)).text;
  return metricValue(text, "mesoguard_stage_seconds_count", { stage: "detect" }) ?? 0;
}

/** Sends `frames` frames one at a time, each after the previous one's score; returns the detector frames they took. */
async function sendOneByOne(participantId: string, frames: number): Promise<number> {
  const p = await joinClient(server.url, { room: "schedule", role: "participant", participantId });
  const before = await detectorFrames();
  for (let i = 0; i < frames; i++) {
    const seq = p.client.sendFrame({ kind: "jpeg", data: PHOTO });
    const score = await p.client.next("score", (s) => s.lastFrame?.seq === seq, 30_000);
    expect(score.lastFrame?.faces).toBe(1); // a tracked face: only the schedule makes the detector run
  }
  return (await detectorFrames()) - before;
}

describe("detection schedule across participants", () => {
  it("the first participant detects on its frames 0 and 5, the second on its frames 0 and 4, of 5 frames each", async () => {
    expect(await sendOneByOne("first", 5)).toBe(1); // frame 0 only
    expect(await sendOneByOne("second", 5)).toBe(2); // frames 0 and 4
  });
});

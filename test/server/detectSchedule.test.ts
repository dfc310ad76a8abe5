// The server spreads its participants' detector frames: each new participant gets the next detection offset, so
// with --detect-every 5 the first participant's tracker detects on its frames 0 and 5 and the second's on its frames
// 0 and 4 (its first frame detects anyway, having no track yet). Counted with the detect stage's /metrics histogram.
// A detection due while a face is tracked runs in the background by default (the frame is scored with the tracked
// face, not after the detector): it is counted when it is folded into the tracks, before the participant's next frame.
// With --background-detection false the frame waits for it and it is counted with that frame.
import path from "node:path";
import { readFileSync } from "node:fs";

import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SHARED, closeAllClients, getText, joinClient, metricValue, startServer, stopAllServers, waitFor, type RunningServer } from "../helpers/server.js";

const PHOTO = readFileSync(path.join(SHARED, "photos/grace_hopper.jpg"));

let server: RunningServer;
let waiting: RunningServer;
beforeAll(async () => {
  server = await startServer(["--participant-sees-verdict", "--detect-every", "5"]);
  waiting = await startServer(["--participant-sees-verdict", "--detect-every", "5", "--background-detection", "false"]);
});
afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

async function detectorFrames(on: RunningServer): Promise<number> {
  const text = (await getText(`${on.url}/metrics`)).text;
  return metricValue(text, "mesoguard_stage_seconds_count", { stage: "detect" }) ?? 0;
}

/**
 * Until the server's native queue is empty: a background detection runs at the lowest CPU priority, and on a busy
 * machine it may still be out when the frame's score arrives. Waiting for it makes where it lands deterministic.
 */
async function queueEmpty(on: RunningServer): Promise<void> {
  await waitFor(
    async () => metricValue((await getText(`${on.url}/metrics`)).text, "mesoguard_queue_depth") === 0,
    "the server's queue to empty",
    30_000,
  );
}

/** Sends `frames` frames one at a time, each after the previous one's score (and its background work); returns the detector frames they took. */
async function sendOneByOne(participantId: string, frames: number, on = server): Promise<number> {
  const p = await joinClient(on.url, { room: "schedule", role: "participant", participantId });
  const before = await detectorFrames(on);
  for (let i = 0; i < frames; i++) {
    const seq = p.client.sendFrame({ kind: "jpeg", data: PHOTO });
    const score = await p.client.next("score", (s) => s.lastFrame?.seq === seq, 30_000);
    expect(score.lastFrame?.faces).toBe(1); // a tracked face: only the schedule makes the detector run
    await queueEmpty(on);
  }
  return (await detectorFrames(on)) - before;
}

describe("detection schedule across participants", () => {
  it("the first participant detects on its frames 0 and 5, the second on its frames 0 and 4 (folded in before its sixth)", async () => {
    expect(await sendOneByOne("first", 5)).toBe(1); // frame 0 only
    expect(await sendOneByOne("second", 6)).toBe(2); // frames 0 and 4 (folded in before frame 5)
  });

  it("a frame due for detection while a face is tracked does not wait for it; with --background-detection false it does", async () => {
    // The third participant here gets offset 2: it detects on its frames 0 and 3. Frame 3's detection runs in the
    // background: not yet folded in after 4 frames, folded in before the fifth.
    const third = await joinClient(server.url, { room: "schedule", role: "participant", participantId: "third" });
    const before = await detectorFrames(server);
    const sendOne = async () => {
      const seq = third.client.sendFrame({ kind: "jpeg", data: PHOTO });
      const score = await third.client.next("score", (s) => s.lastFrame?.seq === seq, 30_000);
      expect(score.lastFrame?.faces).toBe(1);
      await queueEmpty(server);
    };
    for (let i = 0; i < 4; i++) await sendOne();
    expect((await detectorFrames(server)) - before).toBe(1);
    await sendOne();
    expect((await detectorFrames(server)) - before).toBe(2);
    // The waiting server's second participant (offset 1) detects on its frames 0 and 4: frame 4 waits for it.
    expect(await sendOneByOne("first", 1, waiting)).toBe(1);
    expect(await sendOneByOne("second", 5, waiting)).toBe(2);
  });

  it("a frame that both folds in a background detection and waits for its own counts both detector runs", async () => {
    // The fourth participant here gets offset 3: it detects on its frames 0 and 2. Frame 2 is grey: its tracked face
    // is scored, and its background detection finds none. Before frame 3 that detection is folded in (the face is
    // no longer reported), so frame 3 waits for a detection of its own: two detector runs counted with frame 3.
    const { width, height } = await sharp(PHOTO).metadata();
    const grey = await sharp({ create: { width: width!, height: height!, channels: 3, background: "#808080" } }).jpeg().toBuffer();
    const fourth = await joinClient(server.url, { room: "schedule", role: "participant", participantId: "fourth" });
    const sendOne = async (data: Buffer, faces: number) => {
      const seq = fourth.client.sendFrame({ kind: "jpeg", data });
      const score = await fourth.client.next("score", (s) => s.lastFrame?.seq === seq, 30_000);
      expect(score.lastFrame?.faces).toBe(faces);
      await queueEmpty(server);
    };
    const before = await detectorFrames(server);
    await sendOne(PHOTO, 1);
    await sendOne(PHOTO, 1);
    await sendOne(grey, 1); // the tracked face, carried
    expect((await detectorFrames(server)) - before).toBe(1);
    await sendOne(PHOTO, 1);
    expect((await detectorFrames(server)) - before).toBe(3);
  });
});

// maxFaces on a running server: a frame with more faces than the cap scores the most confident ones, and the
// score message and /metrics say how many were cut (a grid of 20 Grace Hoppers, made by ffmpeg at test time).
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { facesGridJpeg } from "../helpers/images.js";
import { SHARED, closeAllClients, getText, joinClient, metricValue, startServer, stopAllServers, type RunningServer } from "../helpers/server.js";

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(["--participant-sees-verdict", "--max-faces", "18"]);
});
afterAll(async () => {
  closeAllClients();
  await stopAllServers();
});

describe("--max-faces", () => {
  it("20 faces with --max-faces 18: 18 scored, lastFrame.facesCut 2, mesoguard_faces_cut_total counts them", async () => {
    const before = metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_faces_cut_total");
    expect(before).toBe(0); // present from the start
    const p = await joinClient(server.url, { room: "grid", role: "participant", participantId: "crowd" });
    const seq = p.client.sendFrame({ kind: "jpeg", data: facesGridJpeg(path.join(SHARED, "photos/grace_hopper.jpg")) });
    const score = await p.client.next("score", (s) => s.lastFrame?.seq === seq, 30_000);
    expect(score.lastFrame).toMatchObject({ faces: 18, facesCut: 2 });
    expect(score.faces).toHaveLength(18);
    const after = metricValue((await getText(`${server.url}/metrics`)).text, "mesoguard_faces_cut_total");
    expect(after).toBe(2);
  });
});

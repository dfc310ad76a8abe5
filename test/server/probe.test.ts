import { afterAll, it } from "vitest";
import { startServer, stopAllServers, joinClient, closeAllClients, dfCrops, rawSocket, closeOf, sleep } from "../helpers/server.js";
afterAll(async () => { closeAllClients(); await stopAllServers(); });
it("probe", async () => {
  const s = await startServer(["--send-buffer-bytes", "1024", "--score-rate-hz", "1000", "--max-fps", "1000"]);
  const slow = await rawSocket(s.url);
  slow.send(JSON.stringify({ type: "join", room: "r", role: "observer" }));
  await sleep(200);
  (slow as any)._socket.pause();
  const closed = closeOf(slow, 60000).then((c) => { console.log("slow closed", c, Date.now() - t0); return c; });
  const obs = await joinClient(s.url, { room: "r", role: "observer" });
  let bytes = 0; obs.client.on("score", (m) => { bytes += JSON.stringify(m).length; });
  const ps = await Promise.all([1,2,3].map((i) => joinClient(s.url, { room: "r", role: "participant", participantId: "p" + i, frameContent: "face-crop", name: "x".repeat(80) })));
  const df = dfCrops();
  const t0 = Date.now();
  let done = false; closed.then(() => { done = true; });
  let i = 0;
  while (!done && Date.now() - t0 < 40000) {
    for (const p of ps) if (p.client.bufferedAmount < 100000) p.client.sendFrame({ kind: "jpeg", data: df[i++ % 2] });
    await sleep(2);
    if (i % 500 === 0) console.log(Date.now() - t0, "obs bytes", bytes, obs.events.score.length, (slow as any)._socket.bytesRead);
  }
  console.log("end", Date.now() - t0, bytes, JSON.stringify(ps[0].events.score.at(-1)!.frames));
}, 60000);

import { afterAll, it } from "vitest";
import { startServer, stopAllServers, joinClient, closeAllClients, rawClient, getText, metricValue, sleep } from "../helpers/server.js";
afterAll(async () => { closeAllClients(); await stopAllServers(); });
it("probe", async () => {
  const s = await startServer(["--send-buffer-bytes", "65536", "--score-rate-hz", "1000", "--max-fps", "1000", "--detect-every", "1000"]);
  const slow = await rawClient(s.url);
  slow.ws.send(JSON.stringify({ type: "join", room: "r", role: "observer" }));
  await sleep(200);
  (slow.ws as any)._socket.pause();
  const obs = await joinClient(s.url, { room: "r", role: "observer" });
  let bytes = 0; obs.client.on("score", (m) => { bytes += JSON.stringify(m).length; });
  const ps = await Promise.all([1,2,3,4].map((i) => joinClient(s.url, { room: "r", role: "participant", participantId: "p" + i })));
  const blank = new Uint8Array(16 * 16 * 3);
  const t0 = Date.now();
  let closed = false;
  while (!closed && Date.now() - t0 < 30000) {
    for (const p of ps) for (let k = 0; k < 20; k++) if (p.client.bufferedAmount < 10000) p.client.sendFrame({ kind: "rgb", width: 16, height: 16, data: blank });
    await sleep(5);
    if (Math.random() < 0.05) {
      const m = (await getText(s.url + "/metrics")).text;
      closed = (metricValue(m, "mesoguard_connections_closed_total", { reason: "slow-consumer" }) ?? 0) > 0;
      console.log(Date.now() - t0, "obs bytes", bytes, closed, JSON.stringify(ps[0].events.score.at(-1)?.frames));
    }
  }
  console.log("end", Date.now() - t0, bytes, JSON.stringify(ps[0].events.score.at(-1)!.frames), JSON.stringify(ps[0].events.score.at(-1)!).length);
}, 60000);

import { afterAll, it } from "vitest";
import { startServer, stopAllServers, joinClient, closeAllClients, dfCrops, graceHopper, sleep } from "../helpers/server.js";
afterAll(async () => { closeAllClients(); await stopAllServers(); });
it("probe", async () => {
  const s = await startServer();
  const t0 = Date.now();
  const p = await joinClient(s.url, { room: "r", role: "participant", participantId: "p", frameContent: "face-crop" });
  const q = await joinClient(s.url, { room: "r", role: "participant", participantId: "q" });
  const df = dfCrops(); const gh = graceHopper();
  console.log("join", Date.now() - t0, df.map(d => d.length), gh.length);
  for (let i = 0; i < 30; i++) { p.client.sendFrame({ kind: "jpeg", data: df[i % 2] }); q.client.sendFrame({ kind: "jpeg", data: gh }); await sleep(100); }
  await sleep(1000);
  const lp = p.events.score.at(-1)!, lq = q.events.score.at(-1)!;
  console.log(JSON.stringify(lp.frames), lp.participant.state, lp.participant.aggregate, lp.lastFrame);
  console.log(JSON.stringify(lq.frames), lq.participant.state, lq.participant.aggregate, lq.lastFrame, JSON.stringify(lq.faces));
  console.log(p.events.score.length, q.events.score.length);
  console.log(s.logs.length, s.logs.slice(-3));
}, 60000);

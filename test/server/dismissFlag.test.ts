// MesoguardServer.dismissFlag, the server-side half of an operator's "dismiss" (the dashboard's message calls it):
// a real server in this process (its pino log captured), real WebSocket clients, the shared deepfake crops.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadServerConfig } from "../../src/config/serverConfig.js";
import { MesoguardServer } from "../../src/server/MesoguardServer.js";
import { closeAllClients, dfCrops, joinClient, pace, waitFor, type TestClient } from "../helpers/server.js";

const ROOM = "dismiss";
const logs: Array<Record<string, unknown>> = [];
let server: MesoguardServer;
let observer: TestClient;
let df: TestClient;

beforeAll(async () => {
  const { config } = loadServerConfig({ argv: ["--port", "0", "--log-level", "info", "--score-rate-hz", "5"], env: {} });
  const log = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  server = await MesoguardServer.start(config, log);
  observer = await joinClient(server.url, { room: ROOM, role: "observer" });
  df = await joinClient(server.url, { room: ROOM, role: "participant", participantId: "df", frameContent: "face-crop" });
}, 60_000);

afterAll(async () => {
  closeAllClients();
  await server?.shutdown();
});

const latest = () => observer.events.score.filter((s) => s.participantId === "df").at(-1);

describe("dismissFlag", () => {
  it("clears a paused participant's flag, tells the observers and writes who did it to the audit trail", async () => {
    expect(server.dismissFlag(ROOM, "df", "op")).toBeNull(); // nothing raised yet
    const crops = dfCrops();
    const stop = pace(10, (i) => df.client.sendFrame({ kind: "jpeg", data: crops[i % crops.length] }));
    try {
      await waitFor(() => latest()?.participant.flag, "a flag", 40_000);
    } finally {
      stop();
    }
    df.client.pause("camera-muted");
    await waitFor(() => latest()?.participant.state === "paused", "paused");
    const raised = latest()!.participant.flag!;

    const dismissed = server.dismissFlag(ROOM, "df", "alice@trust-and-safety");
    expect(dismissed).toMatchObject({ since: raised.since });
    await waitFor(() => latest()?.participant.flag === null, "the observer told");
    expect(latest()!.participant.state).toBe("paused");
    const line = logs.find((l) => l.msg === "flag dismissed")!;
    expect(line).toMatchObject({ audit: "flag.dismissed", room: ROOM, participant: "df", by: "alice@trust-and-safety", flag: { since: raised.since } });
    // Once only; unknown participants and rooms are no-ops.
    expect(server.dismissFlag(ROOM, "df", "op")).toBeNull();
    expect(server.dismissFlag(ROOM, "nobody", "op")).toBeNull();
    expect(server.dismissFlag("no-room", "df", "op")).toBeNull();
    expect(() => server.dismissFlag(ROOM, "df", " ")).toThrow("dismissFlag: `by` must name who dismissed the flag");
  }, 60_000);
});

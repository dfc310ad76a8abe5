// The mediasoup module with a mesoguard cluster: one configured URL (node a), and its producers spread over the
// nodes by the control API's placement. Each stream's checks and DELETE go to the node that holds it: the
// periodic check does not mistake a stream on node b for a lost one, and closing the bridge deletes both.
import type { types } from "mediasoup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { attachMesoguard, type MesoguardAttachment, type MesoguardMediasoup } from "../../src/sfu/mediasoup.js";
import { loadMediasoup, ROUTER_CODECS } from "../helpers/mediasoup.js";
import { startRedis, type RunningRedis } from "../helpers/redis.js";
import { getJson, sleep, startServer, stopAllServers, waitFor, type RunningServer } from "../helpers/server.js";

let redis: RunningRedis;
let a: RunningServer;
let b: RunningServer;
let worker: types.Worker;
let router: types.Router;
let bridge: MesoguardMediasoup;
const attached: MesoguardAttachment[] = [];

const node = (id: string) =>
  startServer(["--redis-url", redis.url, "--cluster-node-id", id, "--cluster-heartbeat-ttl-ms", "1500", "--rtp-port-min", "0", "--rtp-port-max", "0"]);
const streamsOn = async (server: RunningServer) => ((await getJson(`${server.url}/rtp/streams`)).body.streams as Array<{ id: string }>).map((s) => s.id);

beforeAll(async () => {
  const mediasoup = await loadMediasoup(); // builds the worker when it is not cached yet (minutes)
  redis = await startRedis();
  [a, b] = await Promise.all([node("node-a"), node("node-b")]);
  // Both nodes registered with their RTP ingest on (it starts after the first heartbeat).
  await waitFor(async () => {
    const nodes = (await getJson(`${a.url}/cluster`)).body.nodes as Array<{ capacity: { rtpIngest: boolean } }>;
    return nodes.length === 2 && nodes.every((n) => n.capacity.rtpIngest);
  }, "two nodes with RTP ingest in the registry");
  worker = await mediasoup.createWorker({ logLevel: "warn", rtcMinPort: 46500, rtcMaxPort: 46599 });
  router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
  bridge = attachMesoguard(router, { mesoguard: a.url, checkIntervalMs: 300 });
  bridge.on("attached", (attachment) => attached.push(attachment));
}, 30 * 60_000);

afterAll(async () => {
  await bridge?.close();
  worker?.close();
  await stopAllServers();
  await redis?.kill();
});

describe("mediasoup producers over a cluster", () => {
  it("spread over the nodes through one URL, are checked on their own node, and deleted there", async () => {
    for (const [participantId, ssrc] of [["p1", 0x1111], ["p2", 0x2222]] as const) {
      const ingress = await router.createPlainTransport({ listenIp: "127.0.0.1", rtcpMux: true, comedia: true });
      await ingress.produce({
        kind: "video",
        rtpParameters: { codecs: [{ mimeType: "video/VP8", payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc }] },
        appData: { mesoguard: { room: "spread", participantId } },
      });
      await waitFor(() => attached.some((x) => x.participant.participantId === participantId), `${participantId} attached`);
    }
    expect(attached.map((x) => x.nodeUrl).sort()).toEqual([a.url, b.url].sort());
    const onB = attached.find((x) => x.nodeUrl === b.url)!;
    expect(await streamsOn(b)).toEqual([onB.streamId]);
    // Several checks later nothing was registered again (a check asking node a alone would find onB gone).
    await sleep(2000);
    expect(attached).toHaveLength(2);
    await bridge.close();
    await waitFor(async () => (await streamsOn(a)).length === 0 && (await streamsOn(b)).length === 0, "both streams deleted");
  }, 60_000);
});

// The mediasoup integration end to end from a browser, all real: Chromium (its fake camera playing a y4m made
// from grace_hopper.jpg) publishes with mediasoup-client (the page in test/fixtures/mediasoup-publisher,
// bundled at test time) over a WebRtcTransport on 127.0.0.1 to a mediasoup 3.12.16 Router in this process, in
// VP8 simulcast (three encodings, scaleResolutionDownBy 4, 2, 1); src/sfu/mediasoup.ts attaches the router to
// a real `mesoguard serve` (child process) and picks the layer mesoguard gets; an observer (the SDK over `ws`)
// must get the participant's scores with a face. Closing the page must unregister the stream.
import type { Page } from "playwright-core";
import type { types } from "mediasoup";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { attachMesoguard, type MesoguardAttachment, type MesoguardMediasoup } from "../../src/sfu/mediasoup.js";
import { cleanupTemp, closeAllBrowsers, graceHopperY4m, launchBrowser, type TestBrowser } from "../helpers/browser.js";
import { loadMediasoup, ROUTER_CODECS } from "../helpers/mediasoup.js";
import { bundlePublisher, startPublisherServer, type PublisherServer } from "../helpers/mediasoupBrowser.js";
import { closeAllClients, joinClient, startServer, stopAllServers, waitFor, type RunningServer } from "../helpers/server.js";
import type { PublishOptions, PublishResult } from "../fixtures/mediasoup-publisher/publisher.js";

const TEST_TIMEOUT = 90_000;

let server: RunningServer;
let worker: types.Worker;
let router: types.Router;
let bridge: MesoguardMediasoup;
let publisher: PublisherServer;
let browser: TestBrowser;
const detached: Array<[MesoguardAttachment, string]> = [];
/** The consumers the bridge makes on its PlainTransports (found through the router observer), by id. */
const bridgeConsumers = new Map<string, types.Consumer>();

beforeAll(async () => {
  const mediasoup = await loadMediasoup(); // builds the worker when it is not cached yet (minutes)
  const bundleDir = await bundlePublisher();
  server = await startServer(["--rtp-port-min", "46400", "--rtp-port-max", "46439"]);
  worker = await mediasoup.createWorker({ logLevel: "warn", rtcMinPort: 46500, rtcMaxPort: 46599 });
  router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
  router.observer.on("newtransport", (transport: types.Transport) => {
    transport.observer.on("newconsumer", (consumer: types.Consumer) => bridgeConsumers.set(consumer.id, consumer));
  });
  bridge = attachMesoguard(router, { mesoguard: server.url, checkIntervalMs: 1000 });
  bridge.on("detached", (attachment, reason) => detached.push([attachment, reason]));
  publisher = await startPublisherServer(router, bundleDir);
  browser = await launchBrowser({ video: graceHopperY4m() });
}, 30 * 60_000);

afterAll(async () => {
  await closeAllBrowsers();
  await publisher?.close();
  await bridge?.close();
  worker?.close();
  closeAllClients();
  await stopAllServers();
  cleanupTemp();
});

async function streams(): Promise<Array<Record<string, any>>> {
  const res = await fetch(`${server.url}/rtp/streams`);
  return ((await res.json()) as { streams: Array<Record<string, any>> }).streams;
}

async function openPublisher(): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(publisher.url);
  await page.waitForFunction(() => typeof window.mesoguardPublisher?.publish === "function", undefined, { timeout: 10_000 });
  return page;
}

function publish(page: Page, options: PublishOptions): Promise<PublishResult> {
  return page.evaluate((o) => window.mesoguardPublisher.publish(o), options);
}

describe("a browser publishing to a mediasoup router with mediasoup-client", () => {
  it(
    "VP8 simulcast: mesoguard gets the layer at least 240 px tall, scores the face; closing the page unregisters it",
    async () => {
      const room = "mediasoup-browser";
      const participantId = "grace-browser";
      const observer = await joinClient(server.url, { room, role: "observer" });
      const page = await openPublisher();
      const diagnostics = () =>
        `signalling failures: ${JSON.stringify(publisher.failures)}; page problems: ${JSON.stringify(browser.problems)}; ` +
        `mesoguard stderr: ${server.stderr().slice(-2000)}`;

      // 640x480 camera in three layers, 160x120, 320x240 and 640x480: with minHeight 240 (the default) the bridge
      // must pick the middle one.
      const published = await publish(page, { room, participantId, name: "Grace in Chromium", height: 480, simulcast: [4, 2, 1] });
      expect(published).toMatchObject({ handlerName: "Chrome111", encodings: 3, track: { width: 640, height: 480 } });
      const producer = publisher.producers.get(published.producerId);
      expect(producer, diagnostics()).toBeDefined();
      expect(producer!.type).toBe("simulcast");
      await waitFor(() => page.evaluate(() => window.mesoguardPublisher.connectionState() === "connected"), "the WebRtcTransport connected", 20_000).catch(
        (error: Error) => {
          throw new Error(`${error.message}; ${diagnostics()}`);
        },
      );

      // The router observer found the producer: its consumer on a PlainTransport is registered with mesoguard.
      const attachment = await waitFor(() => bridge.attachments().find((a) => a.producerId === published.producerId), "the producer attached");
      expect(attachment).toMatchObject({ participant: { room, participantId, name: "Grace in Chromium" }, codec: "VP8" });
      const registered = (await streams()).find((s) => s.id === attachment.streamId);
      expect(registered).toMatchObject({ room, participantId, codec: "VP8", ssrc: attachment.ssrc, payloadType: attachment.payloadType, clockRate: 90000 });
      const consumer = bridgeConsumers.get(attachment.consumerId);
      expect(consumer?.type).toBe("simulcast");
      expect(consumer!.preferredLayers?.spatialLayer).toBe(1);

      await waitFor(() => observer.events["participant-joined"].some((m) => m.participant.participantId === participantId), "participant-joined");
      const scored = await waitFor(
        () => observer.events.score.find((s) => s.participantId === participantId && s.faces.length > 0 && s.participant.state !== "no-face"),
        `a score for ${participantId} with a face`,
        30_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}; stream: ${JSON.stringify(registered)}; ${diagnostics()}`);
      });
      expect(scored).toMatchObject({ type: "score", room, participantId, name: "Grace in Chromium" });
      expect(scored.faces[0]!.box).not.toBeNull();

      // The chosen layer reaches mesoguard once Chromium sends it (its bandwidth estimate ramps up from the start).
      const info = await waitFor(
        async () => {
          const s = (await streams()).find((x) => x.id === attachment.streamId);
          const layer = consumer!.currentLayers?.spatialLayer === 1;
          return s && layer && s.width === 320 && s.height === 240 && s.counters.frames.decoded >= 10 ? s : undefined;
        },
        "mesoguard decoding the 320x240 layer (10 frames)",
        30_000,
      ).catch(async (error: Error) => {
        const s = (await streams()).find((x) => x.id === attachment.streamId);
        throw new Error(`${error.message}; stream ${JSON.stringify(s)}; current layers ${JSON.stringify(consumer!.currentLayers)}`);
      });
      expect(info.waitingForKeyframe).toBe(false);
      expect(info.counters.frames["decode-error"]).toBe(0);
      expect(info.counters.packets["unknown-ssrc"]).toBe(0);
      expect(info.counters.packets["wrong-payload-type"]).toBe(0);

      // The page goes: its signalling socket closes, the app closes its transport (and so the producer); the bridge
      // closes its consumer and deletes the stream.
      await page.close();
      await waitFor(() => producer!.closed, "the producer closed");
      await waitFor(async () => (await streams()).length === 0, "GET /rtp/streams empty");
      await waitFor(() => observer.events["participant-left"].some((m) => m.participantId === participantId), "participant-left");
      expect(detached).toContainEqual([attachment, "producer-closed"]);
      expect(bridge.attachments()).toEqual([]);
      expect(publisher.failures).toEqual([]);
      expect(browser.problems).toEqual([]);
    },
    TEST_TIMEOUT,
  );
});

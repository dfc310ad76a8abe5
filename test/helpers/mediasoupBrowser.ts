// The browser side of the mediasoup end-to-end test: the publisher page (test/fixtures/mediasoup-publisher,
// bundled with esbuild into a temp folder at test time, mediasoup-client included) served by a small node:http
// server in the test process, with its signalling, JSON over a `ws` WebSocket on /signal, driving a mediasoup
// Router of the test: the router's RTP capabilities, a WebRtcTransport on 127.0.0.1 (UDP and TCP), its DTLS
// connect, and produce. A signalling socket that closes (the page closed) closes its transports, and so its
// producers.
import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { build } from "esbuild";
import type { types } from "mediasoup";
import { WebSocketServer, type WebSocket } from "ws";

import { ROOT, tempDir } from "./browser.js";

export const PUBLISHER_FIXTURE = path.join(ROOT, "test", "fixtures", "mediasoup-publisher");

/**
 * Bundles publisher.ts (with mediasoup-client) into a temp folder; returns that folder (publisher.js). No
 * node-built-in guard here: mediasoup-client imports "events", which resolves to the npm package of that name.
 */
export async function bundlePublisher(): Promise<string> {
  const outDir = path.join(tempDir(), "mediasoup-publisher");
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(PUBLISHER_FIXTURE, "publisher.ts")],
    outfile: path.join(outDir, "publisher.js"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome100"],
    sourcemap: "inline",
    tsconfig: path.join(PUBLISHER_FIXTURE, "tsconfig.json"),
    logLevel: "silent",
  });
  return outDir;
}

export interface PublisherServerOptions {
  /** The WebRtcTransports' interface (default 127.0.0.1). */
  listenIp?: string;
}

export interface PublisherServer {
  /** http://127.0.0.1:PORT/ : the publisher page. */
  url: string;
  /** Every producer made through the signalling, by id. */
  producers: Map<string, types.Producer>;
  /** Every WebRtcTransport made through the signalling, by id. */
  transports: Map<string, types.WebRtcTransport>;
  /** Signalling requests that failed (method: error), for the test's diagnostics. */
  failures: string[];
  close(): Promise<void>;
}

interface Request {
  id: number;
  method: string;
  data: Record<string, any>;
}

/** Serves the bundled publisher page (from `bundleDir`) and its signalling for `router`. */
export async function startPublisherServer(router: types.Router, bundleDir: string, options: PublisherServerOptions = {}): Promise<PublisherServer> {
  const files: Record<string, { type: string; body: Buffer }> = {
    "/": { type: "text/html; charset=utf-8", body: readFileSync(path.join(PUBLISHER_FIXTURE, "index.html")) },
    "/publisher.js": { type: "text/javascript; charset=utf-8", body: readFileSync(path.join(bundleDir, "publisher.js")) },
  };
  const http1 = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const file = files[pathname];
    if (pathname === "/favicon.ico") {
      res.writeHead(204).end(); // no console error for the browser's favicon request
      return;
    }
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": file.type, "cache-control": "no-store" }).end(file.body);
  });
  const wss = new WebSocketServer({ server: http1, path: "/signal" });
  const producers = new Map<string, types.Producer>();
  const transports = new Map<string, types.WebRtcTransport>();
  const failures: string[] = [];
  const sockets = new Set<WebSocket>();

  wss.on("connection", (ws) => {
    sockets.add(ws);
    const own = new Set<types.WebRtcTransport>();
    ws.on("close", () => {
      sockets.delete(ws);
      for (const transport of own) if (!transport.closed) transport.close();
    });
    ws.on("message", (raw) => {
      const request = JSON.parse(String(raw)) as Request;
      handle(request, own).then(
        (data) => ws.send(JSON.stringify({ id: request.id, ok: true, data: data ?? {} })),
        (error: Error) => {
          failures.push(`${request.method}: ${error.message}`);
          ws.send(JSON.stringify({ id: request.id, ok: false, error: error.message }));
        },
      );
    });
  });

  async function handle({ method, data }: Request, own: Set<types.WebRtcTransport>): Promise<unknown> {
    switch (method) {
      case "getRouterRtpCapabilities":
        return router.rtpCapabilities;
      case "createWebRtcTransport": {
        const transport = await router.createWebRtcTransport({
          listenIps: [{ ip: options.listenIp ?? "127.0.0.1" }],
          enableUdp: true,
          enableTcp: true,
          preferUdp: true,
          initialAvailableOutgoingBitrate: 1_000_000,
        });
        transports.set(transport.id, transport);
        own.add(transport);
        transport.observer.once("close", () => {
          transports.delete(transport.id);
          own.delete(transport);
        });
        return { id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
      }
      case "connectWebRtcTransport":
        await transportOf(data.transportId).connect({ dtlsParameters: data.dtlsParameters });
        return {};
      case "produce": {
        const producer = await transportOf(data.transportId).produce({ kind: data.kind, rtpParameters: data.rtpParameters, appData: data.appData ?? {} });
        producers.set(producer.id, producer);
        producer.observer.once("close", () => producers.delete(producer.id));
        return { id: producer.id };
      }
      case "closeProducer":
        producers.get(data.producerId)?.close();
        return {};
      default:
        throw new Error(`unknown method ${method}`);
    }
  }

  function transportOf(id: unknown): types.WebRtcTransport {
    const transport = transports.get(String(id));
    if (!transport) throw new Error(`no transport ${String(id)}`);
    return transport;
  }

  await new Promise<void>((resolve, reject) => {
    http1.once("error", reject);
    http1.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = http1.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    producers,
    transports,
    failures,
    async close() {
      for (const ws of sockets) ws.terminate();
      for (const transport of transports.values()) if (!transport.closed) transport.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http1.close(() => resolve()));
    },
  };
}

// A real mediasoup 3.12.16 SFU for the integration tests: its worker built from the package's sources against
// Debian's libraries (test/tooling/mediasoupWorker.ts, cached in .mesoguard-cache/; built here when missing,
// which takes minutes), loaded through MEDIASOUP_WORKER_BIN (a binary given there is used as is). mediasoup
// reads that variable when it is first imported, so the module is imported only after it is set.
import { existsSync } from "node:fs";

import { buildMediasoupWorker } from "../tooling/mediasoupWorker.js";

type Mediasoup = typeof import("mediasoup");

let loaded: Mediasoup | undefined;

/** The mediasoup module, its worker binary built (or found in the cache) first. */
export async function loadMediasoup(): Promise<Mediasoup> {
  if (loaded) return loaded;
  // A MEDIASOUP_WORKER_BIN that names no file (set only to keep an older npm's mediasoup postinstall from
  // downloading) is replaced by the cached build.
  const given = process.env.MEDIASOUP_WORKER_BIN;
  const bin = given && existsSync(given) ? given : buildMediasoupWorker({ log: (line) => process.stderr.write(line + "\n") });
  process.env.MEDIASOUP_WORKER_BIN = bin;
  loaded = await import("mediasoup");
  return loaded;
}

/** Router codecs: what a browser sends (VP8, H.264 constrained baseline, packetization-mode 1). */
export const ROUTER_CODECS = [
  { kind: "video" as const, mimeType: "video/VP8", clockRate: 90000 },
  {
    kind: "video" as const,
    mimeType: "video/H264",
    clockRate: 90000,
    parameters: { "packetization-mode": 1, "profile-level-id": "42e01f", "level-asymmetry-allowed": 1 },
  },
];

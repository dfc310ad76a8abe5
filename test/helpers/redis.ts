// A real redis-server for the cluster tests (Debian's, installed by test/globalSetup.ts): on 127.0.0.1 at a free
// port, nothing saved to disk, stopped by the test. restart() kills it and starts a fresh one on the same port
// (a Redis restart loses everything, as one without persistence does).
import type { ChildProcess } from "node:child_process";

import { freePort, launchRedis } from "../../bench/redisServer.js";
import { REDIS_TOOL, requireTool } from "./tools.js";

export { freePort };

export interface RunningRedis {
  url: string;
  port: number;
  /** Kills it (SIGKILL: no goodbye to the clients) and resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

const launch = (port: number) => launchRedis(requireTool(REDIS_TOOL), port);

export async function startRedis(): Promise<RunningRedis> {
  const port = await freePort();
  let child: ChildProcess | null = await launch(port);
  process.once("exit", () => child?.kill("SIGKILL"));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      const dying = child;
      child = null;
      if (!dying || dying.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => dying.once("exit", () => resolve()));
      dying.kill("SIGKILL");
      await exited;
    },
    async start() {
      child = await launch(port);
    },
  };
}

// A real redis-server for the cluster tests (Debian's, installed by test/globalSetup.ts): on 127.0.0.1 at a free
// port, nothing saved to disk, stopped by the test. restart() kills it and starts a fresh one on the same port
// (a Redis restart loses everything, as one without persistence does).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

import { REDIS_TOOL, requireTool } from "./tools.js";

export interface RunningRedis {
  url: string;
  port: number;
  /** Kills it (SIGKILL: no goodbye to the clients) and resolves once it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (the kernel picks it; redis-server cannot take port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(requireTool(REDIS_TOOL), ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`redis-server on port ${port} not ready in 10 s:\n${output}`)), 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code}):\n${output}`));
    });
  });
}

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

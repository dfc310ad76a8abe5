// A throwaway redis-server on 127.0.0.1 at a free port, nothing saved to disk: the bench's cluster run and the
// cluster tests (test/helpers/redis.ts) both start theirs through here.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** The variable that names another redis-server binary. */
export const REDIS_SERVER_ENV = "MESOGUARD_REDIS_SERVER";

/** The redis-server the bench and the cluster tests run: Debian's, or the binary $MESOGUARD_REDIS_SERVER names. */
export function redisServerPath(): string {
  return process.env[REDIS_SERVER_ENV] ?? "/usr/bin/redis-server";
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

/** Starts `binary` on `port`; resolves once it logs that it accepts connections. */
export function launchRedis(binary: string, port: number): Promise<ChildProcess> {
  const child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], {
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
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${binary} could not be started: ${error.message}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server on port ${port} exited (${code}):\n${output}`));
    });
  });
}

// `mesoguard serve [options]`: the live call server (npm start runs it).
import { pino } from "pino";

import { configHelp, describeConfig, loadServerConfig } from "../config/serverConfig.js";
import { MesoguardServer } from "../server/MesoguardServer.js";
import { createWebRoutes } from "../server/webRoutes.js";

export const SERVE_USAGE = `Usage: mesoguard serve [--config FILE] [--dev] [options]

Serves the WebSocket endpoint (/ws), /healthz, /metrics, the dashboard (/), the participant page (/join) and
the RTP ingest control API (/rtp/streams: SFUs forward participants' video as RTP; --rtp-ingest=false to turn off).
Every option can also be set by environment variable or in a JSON config file (--config FILE or
MESOGUARD_CONFIG); flags beat environment beats file.
Without a secret (MESOGUARD_SECRET) the server runs in development mode: anyone can join any room; --dev (or
MESOGUARD_DEV=1) asks for it explicitly and is refused when a secret is set. Give the secret by environment or
config file rather than --secret: a command line is visible to every local user (ps).

Options (flag, environment variable, meaning [default]):
${configHelp()}`;

export async function runServeCommand(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(SERVE_USAGE + "\n");
    return 0;
  }
  const loaded = loadServerConfig({ argv });
  const { config } = loaded;
  const log = pino({ level: config.logLevel, base: { service: "mesoguard" } });
  log.info({ config: describeConfig(loaded), configFile: loaded.configFile }, "configuration");
  if (config.devMode) {
    const banner = "DEVELOPMENT MODE: no secret is set, so joins need no token and anyone who can reach this " +
      "server can join any room and read every score. Set MESOGUARD_SECRET (16+ characters) in production.";
    log.warn(banner);
    process.stderr.write(`\n*** mesoguard: ${banner} ***\n\n`);
  }
  const server = await MesoguardServer.start(config, log);
  server.addRoute(createWebRoutes());
  if (config.rtpIngest) server.enableRtpIngest();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      server.shutdown(`server shutting down (${signal})`).then(resolve, (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  log.flush?.();
  return 0;
}

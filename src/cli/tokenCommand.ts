// `mesoguard token --room ROOM --role participant|observer [--participant ID] [--ttl SECONDS]`
import { parseArgs } from "node:util";

import { mintToken } from "../auth/tokens.js";
import { loadServerConfig } from "../config/serverConfig.js";

export const TOKEN_USAGE = `Usage: mesoguard token --room ROOM --role participant|observer [--participant ID] [--ttl SECONDS] [--config FILE]

Mints a join token signed with the server secret (MESOGUARD_SECRET, or "secret" in the config file).
--ttl defaults to 3600 seconds.`;

export function runTokenCommand(argv: string[], out: (line: string) => void): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      room: { type: "string" },
      role: { type: "string" },
      participant: { type: "string" },
      ttl: { type: "string", default: "3600" },
      config: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    out(TOKEN_USAGE);
    return 0;
  }
  const { config } = loadServerConfig({ argv: values.config ? ["--config", values.config] : [] });
  if (!config.secret) {
    process.stderr.write("mesoguard token: no secret: set MESOGUARD_SECRET (the same one the server uses)\n");
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!values.room || !values.role || !Number.isFinite(ttl) || ttl <= 0) {
    process.stderr.write(`mesoguard token: --room, --role and a positive --ttl are required\n\n${TOKEN_USAGE}\n`);
    return 2;
  }
  try {
    out(
      mintToken(config.secret, {
        room: values.room,
        role: values.role as "participant" | "observer",
        participantId: values.participant,
        exp: Math.floor(Date.now() / 1000) + ttl,
      }),
    );
    return 0;
  } catch (error) {
    process.stderr.write(`mesoguard token: ${(error as Error).message}\n`);
    return 2;
  }
}

// All of the server's configuration in one place: defaults < config file < environment < command-line flags.
// Every setting has one name in each: `verdict.windowSeconds` is MESOGUARD_VERDICT_WINDOW_SECONDS and
// --verdict-window-seconds; in the JSON config file it is {"verdict": {"windowSeconds": ...}}.
import { readFileSync } from "node:fs";

import type { VerdictConfig } from "../verdict/verdictTypes.js";

type Kind = "string" | "number" | "integer" | "boolean";

interface Setting {
  key: string;
  kind: Kind;
  default: string | number | boolean | undefined;
  help: string;
  secret?: boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

export const SETTINGS: readonly Setting[] = [
  { key: "host", kind: "string", default: "127.0.0.1", help: "interface to listen on (0.0.0.0 for all)" },
  { key: "port", kind: "integer", default: 8080, min: 0, max: 65535, help: "TCP port (0 = any free port)" },
  { key: "secret", kind: "string", default: undefined, secret: true, help: "HMAC secret for join tokens; unset = development mode (no tokens)" },
  { key: "model", kind: "string", default: "meso4-df", help: "MesoNet model name" },
  { key: "detector", kind: "string", default: "blazeface-back", choices: ["blazeface-back", "blazeface-front"], help: "face detector" },
  { key: "provider", kind: "string", default: "auto", choices: ["auto", "tensorrt", "cuda", "cpu"], help: "ONNX Runtime execution provider" },
  { key: "maxBatch", kind: "integer", default: 8, min: 1, max: 256, help: "largest MesoNet batch" },
  { key: "maxWaitMs", kind: "number", default: 2, min: 0, max: 1000, help: "longest wait for a fuller batch" },
  { key: "prepThreads", kind: "integer", default: 1, min: 1, max: 64, help: "decode/crop threads" },
  { key: "intraOpThreads", kind: "integer", default: 0, min: 0, max: 64, help: "ONNX Runtime intra-op threads (0 = default)" },
  { key: "detectEvery", kind: "integer", default: 5, min: 1, max: 1000, help: "run the face detector every k frames; tracked faces carry over between" },
  { key: "regionSearch", kind: "boolean", default: false, help: "between full detections, search only around tracked faces" },
  { key: "maxMessageBytes", kind: "integer", default: 4 * 1024 * 1024, min: 1024, max: 256 * 1024 * 1024, help: "largest WebSocket message" },
  { key: "maxFps", kind: "number", default: 30, min: 0.1, max: 1000, help: "frames per second accepted per participant (excess dropped)" },
  { key: "scoreRateHz", kind: "number", default: 5, min: 0.1, max: 1000, help: "most score messages per second per participant" },
  { key: "maxParticipantsPerRoom", kind: "integer", default: 50, min: 1, max: 10000, help: "participants per room" },
  { key: "maxObserversPerRoom", kind: "integer", default: 50, min: 1, max: 10000, help: "observers per room" },
  { key: "maxRooms", kind: "integer", default: 100, min: 1, max: 100000, help: "rooms per server" },
  { key: "sendBufferBytes", kind: "integer", default: 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024, help: "a client whose unsent data exceeds this is disconnected as too slow" },
  { key: "maxErrorsPerMinute", kind: "integer", default: 20, min: 1, max: 100000, help: "protocol errors a connection may cause per minute before it is closed" },
  { key: "shutdownTimeoutMs", kind: "integer", default: 10000, min: 0, max: 600000, help: "SIGTERM: longest wait for in-flight frames" },
  { key: "rtpIngest", kind: "boolean", default: true, help: "serve the RTP ingest control API (/rtp/streams) for SFUs forwarding participants' video" },
  { key: "rtpHost", kind: "string", default: "127.0.0.1", help: "interface the RTP ingest's UDP ports bind to (0.0.0.0 for all)" },
  { key: "rtpAdvertisedHost", kind: "string", default: undefined, help: "host told to RTP senders; unset = rtpHost (or the control request's Host when rtpHost is a wildcard)" },
  { key: "rtpPortMin", kind: "integer", default: 40000, min: 0, max: 65535, help: "lowest UDP port for RTP streams (0 with rtpPortMax 0 = any free port)" },
  { key: "rtpPortMax", kind: "integer", default: 40999, min: 0, max: 65535, help: "highest UDP port for RTP streams" },
  { key: "rtpMaxStreams", kind: "integer", default: 64, min: 1, max: 10000, help: "RTP streams registered at once" },
  { key: "rtpScoreFps", kind: "number", default: 5, min: 0.1, max: 60, help: "frames per second scored per RTP stream (every frame is decoded)" },
  { key: "rtpStreamTimeoutSeconds", kind: "number", default: 10, min: 1, max: 86400, help: "an RTP stream without packets this long is removed" },
  { key: "rtpReorderMs", kind: "integer", default: 40, min: 0, max: 2000, help: "longest wait for a missing RTP packet before it counts as lost (keyframe request)" },
  { key: "rtpKeyframeIntervalMs", kind: "integer", default: 500, min: 50, max: 60000, help: "least time between two keyframe requests (RTCP PLI/FIR) to one sender" },
  { key: "logLevel", kind: "string", default: "info", choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"], help: "log level" },
  { key: "verdict.windowSeconds", kind: "number", default: 10, min: 0.1, max: 3600, help: "rolling window" },
  { key: "verdict.emaSeconds", kind: "number", default: 3, min: 0.01, max: 3600, help: "EMA time constant" },
  { key: "verdict.minScoredFaces", kind: "integer", default: 8, min: 1, max: 100000, help: "scored faces before any verdict" },
  { key: "verdict.noFaceSeconds", kind: "number", default: 3, min: 0.1, max: 3600, help: "no face for this long = no-face" },
  { key: "verdict.suspiciousAt", kind: "number", default: 0.5, min: 0, max: 1, help: "aggregate fake score for suspicious" },
  { key: "verdict.likelyFakeAt", kind: "number", default: 0.75, min: 0, max: 1, help: "aggregate fake score for likely-fake" },
  { key: "verdict.hysteresis", kind: "number", default: 0.05, min: 0, max: 1, help: "margin below a threshold before a state is left" },
];

export type ConfigValue = string | number | boolean | undefined;

export interface ServerConfig {
  host: string;
  port: number;
  secret: string | undefined;
  devMode: boolean;
  model: string;
  detector: "blazeface-back" | "blazeface-front";
  provider: "auto" | "tensorrt" | "cuda" | "cpu";
  maxBatch: number;
  maxWaitMs: number;
  prepThreads: number;
  intraOpThreads: number;
  detectEvery: number;
  regionSearch: boolean;
  maxMessageBytes: number;
  maxFps: number;
  scoreRateHz: number;
  maxParticipantsPerRoom: number;
  maxObserversPerRoom: number;
  maxRooms: number;
  sendBufferBytes: number;
  maxErrorsPerMinute: number;
  shutdownTimeoutMs: number;
  rtpIngest: boolean;
  rtpHost: string;
  rtpAdvertisedHost: string | undefined;
  rtpPortMin: number;
  rtpPortMax: number;
  rtpMaxStreams: number;
  rtpScoreFps: number;
  rtpStreamTimeoutSeconds: number;
  rtpReorderMs: number;
  rtpKeyframeIntervalMs: number;
  logLevel: string;
  /** The verdict settings the server exposes (the rest keep verdictConfig.ts's defaults). */
  verdict: Pick<
    VerdictConfig,
    "windowSeconds" | "emaSeconds" | "minScoredFaces" | "noFaceSeconds" | "suspiciousAt" | "likelyFakeAt" | "hysteresis"
  >;
}

export function envName(key: string): string {
  return "MESOGUARD_" + key.replace(/\./g, "_").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

export function flagName(key: string): string {
  return "--" + key.replace(/\./g, "-").replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

function parseValue(setting: Setting, raw: unknown, source: string): ConfigValue {
  const where = `${setting.key} (from ${source})`;
  let value: ConfigValue;
  if (setting.kind === "boolean") {
    if (typeof raw === "boolean") value = raw;
    else if (raw === "true" || raw === "1" || raw === "") value = true;
    else if (raw === "false" || raw === "0") value = false;
    else throw new Error(`mesoguard: ${where} must be true or false, got ${JSON.stringify(raw)}`);
  } else if (setting.kind === "string") {
    if (typeof raw !== "string") throw new Error(`mesoguard: ${where} must be a string`);
    value = raw;
    if (setting.choices && !setting.choices.includes(raw)) {
      throw new Error(`mesoguard: ${where} must be one of ${setting.choices.join(", ")}, got "${raw}"`);
    }
  } else {
    const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
    if (!Number.isFinite(n) || (setting.kind === "integer" && !Number.isInteger(n))) {
      throw new Error(`mesoguard: ${where} must be ${setting.kind === "integer" ? "an integer" : "a number"}, got ${JSON.stringify(raw)}`);
    }
    if ((setting.min !== undefined && n < setting.min) || (setting.max !== undefined && n > setting.max)) {
      throw new Error(`mesoguard: ${where} must be between ${setting.min} and ${setting.max}, got ${n}`);
    }
    value = n;
  }
  return value;
}

function getPath(object: Record<string, unknown>, key: string): unknown {
  return key.split(".").reduce<unknown>((o, part) => (o && typeof o === "object" ? (o as Record<string, unknown>)[part] : undefined), object);
}

function setPath(object: Record<string, unknown>, key: string, value: ConfigValue): void {
  const parts = key.split(".");
  let o = object;
  for (const part of parts.slice(0, -1)) o = (o[part] ??= {}) as Record<string, unknown>;
  o[parts.at(-1)!] = value;
}

export interface ConfigSources {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: ServerConfig;
  /** Where each setting came from: default, file, env or flag. */
  origins: Record<string, "default" | "file" | "env" | "flag">;
  configFile?: string;
}

/**
 * Reads the configuration. argv holds only the serve command's flags: `--key value`, `--key=value`,
 * `--flag` for booleans, `--config FILE`, `--dev` (development mode even with a secret set is refused).
 */
export function loadServerConfig({ argv = [], env = process.env }: ConfigSources = {}): LoadedConfig {
  const flags = new Map<string, string | true>();
  let configFile = env.MESOGUARD_CONFIG;
  let devFlag = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("--")) throw new Error(`mesoguard serve: unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const next = argv[i + 1];
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === "--config") {
      configFile = inline ?? next;
      if (inline === undefined) i++;
      continue;
    }
    if (name === "--dev") {
      devFlag = true;
      continue;
    }
    const setting = SETTINGS.find((s) => flagName(s.key) === name);
    if (!setting) throw new Error(`mesoguard serve: unknown option ${name} (see mesoguard serve --help)`);
    if (inline !== undefined) flags.set(setting.key, inline);
    else if (setting.kind === "boolean" && (next === undefined || next.startsWith("--"))) flags.set(setting.key, true);
    else {
      if (next === undefined) throw new Error(`mesoguard serve: ${name} needs a value`);
      flags.set(setting.key, next);
      i++;
    }
  }

  let file: Record<string, unknown> = {};
  if (configFile) {
    try {
      file = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`mesoguard: cannot read config file ${configFile}: ${(error as Error).message}`);
    }
  }

  const out: Record<string, unknown> = {};
  const origins: LoadedConfig["origins"] = {};
  for (const setting of SETTINGS) {
    let value: ConfigValue = setting.default;
    let origin: "default" | "file" | "env" | "flag" = "default";
    const fromFile = getPath(file, setting.key);
    if (fromFile !== undefined) {
      value = parseValue(setting, fromFile, `config file ${configFile}`);
      origin = "file";
    }
    const fromEnv = env[envName(setting.key)];
    if (fromEnv !== undefined && fromEnv !== "") {
      value = parseValue(setting, fromEnv, envName(setting.key));
      origin = "env";
    }
    const fromFlag = flags.get(setting.key);
    if (fromFlag !== undefined) {
      value = parseValue(setting, fromFlag === true ? true : fromFlag, flagName(setting.key));
      origin = "flag";
    }
    setPath(out, setting.key, value);
    origins[setting.key] = origin;
  }
  const config = out as unknown as ServerConfig;
  const devEnv = env.MESOGUARD_DEV === "1" || env.MESOGUARD_DEV === "true";
  if ((devFlag || devEnv) && config.secret) {
    throw new Error("mesoguard: --dev (or MESOGUARD_DEV) and a secret were both given: choose tokens or development mode");
  }
  config.devMode = !config.secret;
  if (config.verdict.suspiciousAt >= config.verdict.likelyFakeAt) {
    throw new Error("mesoguard: verdict.suspiciousAt must be below verdict.likelyFakeAt");
  }
  if (config.rtpPortMin > config.rtpPortMax || (config.rtpPortMin === 0) !== (config.rtpPortMax === 0)) {
    throw new Error("mesoguard: rtpPortMin must not be above rtpPortMax, and both are 0 (any free port) or neither");
  }
  if (config.secret !== undefined && config.secret.length < 16) {
    throw new Error("mesoguard: the secret must be at least 16 characters");
  }
  return { config, origins, configFile };
}

/** The configuration as printed at start: every setting with its origin; secrets masked. */
export function describeConfig(loaded: LoadedConfig): Record<string, string> {
  const lines: Record<string, string> = {};
  for (const setting of SETTINGS) {
    const value = getPath(loaded.config as unknown as Record<string, unknown>, setting.key);
    const shown = setting.secret ? (value ? "********" : "(not set)") : String(value);
    lines[setting.key] = `${shown} (${loaded.origins[setting.key]})`;
  }
  return lines;
}

export function configHelp(): string {
  return SETTINGS.map((s) => `  ${flagName(s.key).padEnd(30)} ${envName(s.key).padEnd(38)} ${s.help} [${s.secret ? "unset" : String(s.default)}]`).join("\n");
}

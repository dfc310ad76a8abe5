// All of the server's configuration in one place: defaults < config file < environment < command-line flags.
// Every setting has one name in each: `verdict.windowSeconds` is MESOGUARD_VERDICT_WINDOW_SECONDS and
// --verdict-window-seconds; in the JSON config file it is {"verdict": {"windowSeconds": ...}}. In the resolved
// ServerConfig a setting lands in the section of its consumer (`path`: --max-batch is config.scorer.maxBatch), and
// a setting whose consumer has a default or a range takes it from there instead of restating it.
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

import { clusterSettingsProblem, type ClusterSettings } from "../cluster/clusterTypes.js";
import type { DetectorName } from "../faces/detectorModels.js";
import { DEFAULT_TRACKER_OPTIONS } from "../faces/FaceTracker.js";
import { SCORER_DEFAULTS, SCORER_LIMITS } from "../scoring/scorerOptions.js";
import type { MesoNetScorerOptions } from "../scoring/scoringTypes.js";
import { EVIDENCE_DEFAULTS, EVIDENCE_RANGES, type EvidenceSettings } from "../server/evidence/evidenceSettings.js";
import type { SessionSettings } from "../server/ParticipantSession.js";
import type { RoomLimits } from "../server/RoomRegistry.js";
import type { RtpIngestSettings } from "../sfu/RtpStreamRegistry.js";
import { WEBHOOK_DEFAULTS, webhookSettingsProblem, type WebhookSettings } from "../server/webhooks.js";
import { DEFAULT_TUNING } from "../sfu/RtpStream.js";
import { DEFAULT_VERDICT_CONFIG, VERDICT_RANGES, resolveVerdictConfig } from "../verdict/verdictConfig.js";
import type { VerdictConfig } from "../verdict/verdictTypes.js";

/** "list": strings, comma-separated in the environment and on the command line, an array or that in the file. */
type Kind = "string" | "number" | "integer" | "boolean" | "list";

export interface Setting {
  /** The name users see: the flag, the environment variable and the config file's path are made from it. */
  key: string;
  /** Where the value lands in ServerConfig (dot-separated), when not at `key`. */
  path?: string;
  kind: Kind;
  default: ConfigValue;
  help: string;
  secret?: boolean;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** The verdict settings the server exposes, with their help; defaults and ranges are the verdict module's. */
const VERDICT_HELP = {
  windowSeconds: "rolling window",
  emaSeconds: "EMA time constant",
  minScoredFaces: "scored faces before any verdict",
  noFaceSeconds: "no face for this long = no-face",
  suspiciousAt: "aggregate fake score for suspicious",
  likelyFakeAt: "aggregate fake score for likely-fake",
  hysteresis: "margin below a threshold before a state is left",
} as const satisfies Partial<Record<keyof VerdictConfig, string>>;

const EVIDENCE_HELP: Record<keyof EvidenceSettings, string> = {
  snapshotsPerFace: "most suspicious JPEG snapshots kept per face track (besides its latest)",
  snapshotLatestSeconds: "a face's latest snapshot is refreshed after this many seconds",
  snapshotBytesPerParticipant: "JPEG bytes of snapshots kept per participant",
  historyMinutes: "minutes of each room's timeline, state changes and alerts kept for dashboards",
  explainPerMinute: "explain (occlusion heatmap) requests per observer per minute",
};

function evidenceSetting(field: keyof EvidenceSettings): Setting {
  const range = EVIDENCE_RANGES[field];
  return { key: field, path: `evidence.${field}`, kind: range.integer ? "integer" : "number", default: EVIDENCE_DEFAULTS[field], min: range.min, max: range.max, help: EVIDENCE_HELP[field] };
}

function verdictSetting(field: keyof typeof VERDICT_HELP): Setting {
  const range = VERDICT_RANGES[field];
  return {
    key: `verdict.${field}`,
    kind: range.integer ? "integer" : "number",
    default: DEFAULT_VERDICT_CONFIG[field],
    min: range.min,
    max: range.max,
    help: VERDICT_HELP[field],
  };
}

/**
 * The server's ONNX Runtime intra-op threads per model: half the cores. MesoNet and the detector run side by side
 * on their own threads, beside the decode/crop thread and the event loop; ONNX Runtime's default (one thread per
 * core, per model) oversubscribed 2 cores and cost ~0.8 ms more CPU per scored frame (4 x 30 fps, 640x480).
 */
export const SERVER_INTRA_OP_THREADS = Math.max(1, Math.floor(availableParallelism() / 2));

export const SETTINGS: readonly Setting[] = [
  { key: "host", kind: "string", default: "127.0.0.1", help: "interface to listen on (0.0.0.0 for all)" },
  { key: "port", kind: "integer", default: 8080, min: 0, max: 65535, help: "TCP port (0 = any free port)" },
  { key: "secret", kind: "string", default: undefined, secret: true, help: "HMAC secret for join tokens; unset = development mode (no tokens)" },
  { key: "rtpApiKey", kind: "string", default: undefined, secret: true, help: "bearer key of the RTP control API and of /healthz details (16+ chars, not the secret); unset with a secret = both closed" },
  { key: "model", path: "scorer.model", kind: "string", default: "meso4-df", help: "model name (official or user model); a,b averages their fake scores" },
  { key: "detector", path: "scorer.detector", kind: "string", default: "blazeface-back", choices: ["blazeface-back", "blazeface-front"], help: "face detector" },
  { key: "provider", path: "scorer.provider", kind: "string", default: "auto", choices: ["auto", "tensorrt", "cuda", "cpu"], help: "ONNX Runtime execution provider" },
  { key: "maxBatch", path: "scorer.maxBatch", kind: "integer", default: SCORER_DEFAULTS.maxBatch, ...SCORER_LIMITS.maxBatch, help: "largest MesoNet batch" },
  { key: "maxWaitMs", path: "scorer.maxWaitMs", kind: "number", default: SCORER_DEFAULTS.maxWaitMs, ...SCORER_LIMITS.maxWaitMs, help: "longest wait for a fuller batch" },
  { key: "prepThreads", path: "scorer.prepThreads", kind: "integer", default: SCORER_DEFAULTS.prepThreads, ...SCORER_LIMITS.prepThreads, help: "decode/crop threads" },
  { key: "intraOpThreads", path: "scorer.intraOpThreads", kind: "integer", default: SERVER_INTRA_OP_THREADS, ...SCORER_LIMITS.intraOpThreads, help: "ONNX Runtime intra-op threads per model (0 = one per core; default: half the cores)" },
  { key: "maxFramePixels", path: "scorer.maxFramePixels", kind: "integer", default: SCORER_DEFAULTS.maxFramePixels, ...SCORER_LIMITS.maxFramePixels, help: "frames (and RTP pictures) declaring more pixels are refused before decoding" },
  { key: "maxFaces", path: "scorer.maxFaces", kind: "integer", default: SCORER_DEFAULTS.detector.maxFaces, ...SCORER_LIMITS["detector.maxFaces"], help: "faces scored per frame, the detector's most confident; more are counted as cut" },
  { key: "detectEvery", path: "session.detectEvery", kind: "integer", default: DEFAULT_TRACKER_OPTIONS.detectEvery, min: 1, max: 1000, help: "run the face detector every k frames; tracked faces carry over between" },
  { key: "regionSearch", path: "session.regionSearch", kind: "boolean", default: DEFAULT_TRACKER_OPTIONS.regionSearch, help: "between full detections, search only around tracked faces" },
  { key: "backgroundDetection", path: "session.backgroundDetection", kind: "boolean", default: true, help: "while faces are tracked, run the due detections beside their scoring: frames do not wait for the detector (false: they do, as the library's default)" },
  { key: "maxMessageBytes", kind: "integer", default: 4 * 1024 * 1024, min: 1024, max: 256 * 1024 * 1024, help: "largest WebSocket message" },
  { key: "maxFps", path: "session.maxFps", kind: "number", default: 30, min: 0.1, max: 1000, help: "frames per second accepted per participant (excess dropped)" },
  { key: "scoreRateHz", path: "session.scoreRateHz", kind: "number", default: 5, min: 0.1, max: 1000, help: "most score messages per second per participant" },
  { key: "maxParticipantsPerRoom", path: "rooms.maxParticipantsPerRoom", kind: "integer", default: 50, min: 1, max: 10000, help: "participants per room" },
  { key: "maxObserversPerRoom", path: "rooms.maxObserversPerRoom", kind: "integer", default: 50, min: 1, max: 10000, help: "observers per room" },
  { key: "maxRooms", path: "rooms.maxRooms", kind: "integer", default: 100, min: 1, max: 100000, help: "rooms per server" },
  { key: "sendBufferBytes", kind: "integer", default: 1024 * 1024, min: 1024, max: 1024 * 1024 * 1024, help: "a client whose unsent data exceeds this is disconnected as too slow" },
  { key: "maxErrorsPerMinute", kind: "integer", default: 20, min: 1, max: 100000, help: "protocol errors a connection may cause per minute before it is closed" },
  { key: "shutdownTimeoutMs", kind: "integer", default: 10000, min: 0, max: 600000, help: "SIGTERM: longest wait for in-flight frames" },
  { key: "rtpIngest", kind: "boolean", default: true, help: "serve the RTP ingest control API (/rtp/streams) for SFUs forwarding participants' video" },
  { key: "rtpHost", path: "rtp.host", kind: "string", default: "127.0.0.1", help: "interface the RTP ingest's UDP ports bind to (0.0.0.0 for all)" },
  { key: "rtpAdvertisedHost", path: "rtp.advertisedHost", kind: "string", default: undefined, help: "host told to RTP senders; unset = rtpHost (or the control request's Host when rtpHost is a wildcard)" },
  { key: "rtpPortMin", path: "rtp.portMin", kind: "integer", default: 40000, min: 0, max: 65535, help: "lowest UDP port for RTP streams (0 with rtpPortMax 0 = any free port)" },
  { key: "rtpPortMax", path: "rtp.portMax", kind: "integer", default: 40999, min: 0, max: 65535, help: "highest UDP port for RTP streams" },
  { key: "rtpMaxStreams", path: "rtp.maxStreams", kind: "integer", default: 64, min: 1, max: 10000, help: "RTP streams registered at once" },
  { key: "rtpScoreFps", path: "rtp.tuning.scoreFps", kind: "number", default: DEFAULT_TUNING.scoreFps, min: 0.1, max: 60, help: "frames per second scored per RTP stream (every frame is decoded)" },
  { key: "rtpStreamTimeoutSeconds", path: "rtp.streamTimeoutSeconds", kind: "number", default: 10, min: 1, max: 86400, help: "an RTP stream without packets this long is removed" },
  { key: "rtpReorderMs", path: "rtp.tuning.reorderMs", kind: "integer", default: DEFAULT_TUNING.reorderMs, min: 0, max: 2000, help: "longest wait for a missing RTP packet before it counts as lost (keyframe request)" },
  { key: "rtpDecoder", path: "rtp.decoder", kind: "string", default: "process", choices: ["process", "in-process"], help: "where RTP video is decoded: a child process that restarts if libavcodec crashes (process), or this process" },
  { key: "rtpKeyframeIntervalMs", path: "rtp.tuning.keyframeRequestIntervalMs", kind: "integer", default: DEFAULT_TUNING.keyframeRequestIntervalMs, min: 50, max: 60000, help: "least time between two keyframe requests (RTCP PLI/FIR) to one sender" },
  { key: "participantSeesVerdict", path: "session.participantSeesVerdict", kind: "boolean", default: false, help: "send participants their own scores (default: only that their frames are received)" },
  { key: "webhooks.urls", kind: "list", default: [], help: "comma-separated http(s) URLs that get every verdict state change, pause and dismissed flag as a signed POST" },
  { key: "webhooks.secret", kind: "string", default: undefined, secret: true, help: "HMAC-SHA256 key signing webhook bodies (16+ chars; required with webhooks.urls)" },
  { key: "webhooks.timeoutMs", kind: "integer", default: WEBHOOK_DEFAULTS.timeoutMs, min: 100, max: 120_000, help: "one webhook attempt's time limit" },
  { key: "webhooks.retries", kind: "integer", default: WEBHOOK_DEFAULTS.retries, min: 0, max: 100, help: "webhook retries after the first attempt (exponential backoff with jitter)" },
  { key: "webhooks.backoffMs", kind: "integer", default: WEBHOOK_DEFAULTS.backoffMs, min: 1, max: 60_000, help: "first webhook retry's delay; doubles per retry" },
  { key: "webhooks.queueSize", kind: "integer", default: WEBHOOK_DEFAULTS.queueSize, min: 1, max: 1_000_000, help: "webhook events waiting per URL; when full the oldest is dropped" },
  { key: "redis.url", path: "cluster.redisUrl", kind: "string", default: undefined, secret: true, help: "Redis URL (redis://[:password@]host:port[/db]) of a mesoguard cluster; unset = this process alone" },
  { key: "cluster.nodeId", kind: "string", default: undefined, help: "this node's id in the cluster registry (1-64 of A-Z a-z 0-9 . _ ~ -); unset = host-pid-random" },
  { key: "cluster.advertisedUrl", kind: "string", default: undefined, help: "the http(s) URL other nodes and SFUs reach this node at; unset = the listening address" },
  { key: "cluster.heartbeatTtlMs", kind: "integer", default: 5000, min: 300, max: 600_000, help: "a node that does not renew its registry entry for this long has left, with its participants" },
  { key: "logLevel", kind: "string", default: "info", choices: ["fatal", "error", "warn", "info", "debug", "trace", "silent"], help: "log level" },
  ...(Object.keys(VERDICT_HELP) as Array<keyof typeof VERDICT_HELP>).map(verdictSetting),
  ...(Object.keys(EVIDENCE_HELP) as Array<keyof EvidenceSettings>).map(evidenceSetting),
];

export type ConfigValue = string | number | boolean | readonly string[] | undefined;

/** The options MesoNetScorer.create takes that the server sets. */
export type ScorerSettings = Required<Pick<MesoNetScorerOptions, "model" | "provider" | "maxBatch" | "maxWaitMs" | "prepThreads" | "intraOpThreads" | "maxFramePixels" | "maxFaces">> & {
  detector: DetectorName;
};

/** The resolved configuration: server-wide settings, then one section per consumer, each handed to it whole. */
export interface ServerConfig {
  host: string;
  port: number;
  secret: string | undefined;
  /** The operator endpoints' bearer key (src/http/ApiKeyGuard.ts). */
  rtpApiKey: string | undefined;
  devMode: boolean;
  maxMessageBytes: number;
  sendBufferBytes: number;
  maxErrorsPerMinute: number;
  shutdownTimeoutMs: number;
  rtpIngest: boolean;
  logLevel: string;
  /** MesoNetScorer.create. */
  scorer: ScorerSettings;
  /** Every ParticipantSession. */
  session: SessionSettings;
  /** Room admission. */
  rooms: RoomLimits;
  /** The RTP ingest (RtpStreamRegistry). */
  rtp: RtpIngestSettings;
  /** The rolling verdict: the exposed settings over the verdict module's defaults, validated as a whole. */
  verdict: VerdictConfig;
  /** The webhooks (src/server/webhooks.ts). */
  webhooks: WebhookSettings;
  /** Snapshots, history and explanations for the dashboard (src/server/evidence/). */
  evidence: EvidenceSettings;
  /** The cluster on Redis (src/cluster/ClusterNode.ts); redisUrl unset = no cluster. */
  cluster: ClusterSettings;
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
  } else if (setting.kind === "list") {
    const items = typeof raw === "string" ? raw.split(",") : raw;
    if (!Array.isArray(items) || items.some((item) => typeof item !== "string")) {
      throw new Error(`mesoguard: ${where} must be a comma-separated string or an array of strings`);
    }
    value = (items as string[]).map((item) => item.trim()).filter((item) => item !== "");
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

function settingPath(setting: Setting): string {
  return setting.path ?? setting.key;
}

/** A setting's value in a resolved configuration. */
export function settingValue(config: ServerConfig, setting: Setting): unknown {
  return getPath(config as unknown as Record<string, unknown>, settingPath(setting));
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
    setPath(out, settingPath(setting), value);
    origins[setting.key] = origin;
  }
  const config = out as unknown as ServerConfig;
  const devEnv = env.MESOGUARD_DEV === "1" || env.MESOGUARD_DEV === "true";
  if ((devFlag || devEnv) && config.secret) {
    throw new Error("mesoguard: --dev (or MESOGUARD_DEV) and a secret were both given: choose tokens or development mode");
  }
  config.devMode = !config.secret;
  try {
    config.verdict = resolveVerdictConfig(config.verdict, (field) => `verdict.${field}`);
  } catch (error) {
    throw new Error(`mesoguard: ${(error as Error).message}`);
  }
  if (config.rtp.portMin > config.rtp.portMax || (config.rtp.portMin === 0) !== (config.rtp.portMax === 0)) {
    throw new Error("mesoguard: rtpPortMin must not be above rtpPortMax, and both are 0 (any free port) or neither");
  }
  if (config.secret !== undefined && config.secret.length < 16) {
    throw new Error("mesoguard: the secret must be at least 16 characters");
  }
  if (config.rtpApiKey !== undefined && config.rtpApiKey.length < 16) {
    throw new Error("mesoguard: the RTP API key (rtpApiKey) must be at least 16 characters");
  }
  const webhookProblem = webhookSettingsProblem(config.webhooks);
  if (webhookProblem) throw new Error(`mesoguard: ${webhookProblem}`);
  if (config.rtpApiKey !== undefined && config.rtpApiKey === config.secret) {
    throw new Error("mesoguard: the RTP API key must not be the join-token secret (whoever holds the secret can mint any token)");
  }
  const clusterProblem = clusterSettingsProblem(config.cluster);
  if (clusterProblem) throw new Error(`mesoguard: ${clusterProblem}`);
  return { config, origins, configFile };
}

/** What the offline commands (`scan --config`, `evaluate --config`) take from a config file. */
export interface ScoringConfigFile {
  model: string;
  /** Whether the file names the model (else `model` is the default). */
  modelFromFile: boolean;
  verdict: VerdictConfig;
}

/**
 * The model and verdict of a config file, read and checked by the server's own loader: a file `serve --config`
 * refuses is refused here too. Only the file counts (no environment variables, no flags).
 */
export function loadScoringConfigFile(file: string): ScoringConfigFile {
  const { config, origins } = loadServerConfig({ argv: ["--config", file], env: {} });
  return { model: config.scorer.model, modelFromFile: origins.model === "file", verdict: config.verdict };
}

/** The configuration as printed at start: every setting with its origin; secrets masked. */
export function describeConfig(loaded: LoadedConfig): Record<string, string> {
  const lines: Record<string, string> = {};
  for (const setting of SETTINGS) {
    const value = settingValue(loaded.config, setting);
    const shown = setting.secret ? (value ? "********" : "(not set)") : Array.isArray(value) ? value.join(",") : String(value);
    lines[setting.key] = `${shown} (${loaded.origins[setting.key]})`;
  }
  return lines;
}

export function configHelp(): string {
  return SETTINGS.map((s) => `  ${flagName(s.key).padEnd(30)} ${envName(s.key).padEnd(38)} ${s.help} [${s.secret ? "unset" : String(s.default)}]`).join("\n");
}

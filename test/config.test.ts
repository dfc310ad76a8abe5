// The server's configuration: defaults, file < environment < flags with each value's origin recorded, the
// errors (each names the setting and where the bad value came from), development mode vs secrets, and the
// env/flag naming. loadServerConfig is given argv and env explicitly, so nothing here reads the real ones.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { SETTINGS, configHelp, describeConfig, envName, flagName, loadServerConfig, settingValue } from "../src/config/serverConfig.js";

const dir = mkdtempSync(path.join(tmpdir(), "mesoguard-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function configFile(contents: unknown): string {
  const file = path.join(dir, `config-${++fileCount}.json`);
  writeFileSync(file, typeof contents === "string" ? contents : JSON.stringify(contents));
  return file;
}

const load = (argv: string[] = [], env: NodeJS.ProcessEnv = {}) => loadServerConfig({ argv, env });

function loadError(argv: string[] = [], env: NodeJS.ProcessEnv = {}): string {
  try {
    load(argv, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`loadServerConfig accepted ${JSON.stringify({ argv, env })}`);
}

const SECRET = "0123456789abcdef-secret";

describe("defaults", () => {
  it("every setting has its documented default, from 'default', and no secret means development mode", () => {
    const { config, origins, configFile: file } = load();
    expect(file).toBeUndefined();
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      secret: undefined,
      devMode: true,
      scorer: { model: "meso4-df", detector: "blazeface-back", provider: "auto", maxBatch: 8, maxWaitMs: 2, prepThreads: 1, intraOpThreads: Math.max(1, Math.floor(availableParallelism() / 2)) },
      session: { detectEvery: 5, regionSearch: false, backgroundDetection: true, maxFps: 30, scoreRateHz: 5 },
      rooms: { maxParticipantsPerRoom: 50, maxObserversPerRoom: 50, maxRooms: 100 },
      maxMessageBytes: 4 * 1024 * 1024,
      sendBufferBytes: 1024 * 1024,
      maxErrorsPerMinute: 20,
      shutdownTimeoutMs: 10000,
      logLevel: "info",
      verdict: { windowSeconds: 10, emaSeconds: 3, minScoredFaces: 8, noFaceSeconds: 3, suspiciousAt: 0.5, likelyFakeAt: 0.75, hysteresis: 0.05 },
    });
    // Every setting (including any not listed above) is at its table default.
    for (const setting of SETTINGS) {
      expect(settingValue(config, setting), setting.key).toBe(setting.default);
    }
    expect(Object.keys(origins).sort()).toEqual(SETTINGS.map((s) => s.key).sort());
    expect(new Set(Object.values(origins))).toEqual(new Set(["default"]));
  });

  it("the verdict defaults agree with the verdict module's", async () => {
    const { DEFAULT_VERDICT_CONFIG } = await import("../src/verdict/verdictConfig.js");
    const { config } = load();
    for (const [key, value] of Object.entries(config.verdict)) expect(DEFAULT_VERDICT_CONFIG[key as keyof typeof DEFAULT_VERDICT_CONFIG], key).toBe(value);
  });
});

describe("precedence: defaults < config file < environment < flags", () => {
  it("each value comes from the strongest source that sets it, and its origin says which", () => {
    const file = configFile({ maxFps: 10, scoreRateHz: 2, port: 1000, host: "0.0.0.0", verdict: { windowSeconds: 4, emaSeconds: 1 } });
    const env = { MESOGUARD_MAX_FPS: "11", MESOGUARD_VERDICT_WINDOW_SECONDS: "5", MESOGUARD_PORT: "2000" };
    const { config, origins, configFile: used } = load(["--config", file, "--max-fps", "12", "--port=3000"], env);
    expect(used).toBe(file);
    expect([config.session.maxFps, origins.maxFps]).toEqual([12, "flag"]);
    expect([config.port, origins.port]).toEqual([3000, "flag"]);
    expect([config.verdict.windowSeconds, origins["verdict.windowSeconds"]]).toEqual([5, "env"]);
    expect([config.session.scoreRateHz, origins.scoreRateHz]).toEqual([2, "file"]);
    expect([config.host, origins.host]).toEqual(["0.0.0.0", "file"]);
    expect([config.verdict.emaSeconds, origins["verdict.emaSeconds"]]).toEqual([1, "file"]);
    expect([config.scorer.maxBatch, origins.maxBatch]).toEqual([8, "default"]);
  });

  it("the config file can be named by MESOGUARD_CONFIG, --config FILE or --config=FILE; the flag wins", () => {
    const a = configFile({ maxRooms: 3 });
    const b = configFile({ maxRooms: 4 });
    expect(load([], { MESOGUARD_CONFIG: a }).config.rooms.maxRooms).toBe(3);
    expect(load(["--config", b], { MESOGUARD_CONFIG: a }).config.rooms.maxRooms).toBe(4);
    expect(load([`--config=${b}`]).config.rooms.maxRooms).toBe(4);
    expect(load([`--config=${b}`]).origins.maxRooms).toBe("file");
  });

  it("the secret can come from the file, and the environment overrides it", () => {
    const file = configFile({ secret: "file-secret-0123456789" });
    const fromFile = load(["--config", file]);
    expect(fromFile.config.secret).toBe("file-secret-0123456789");
    expect(fromFile.config.devMode).toBe(false);
    expect(fromFile.origins.secret).toBe("file");
    const fromEnv = load(["--config", file], { MESOGUARD_SECRET: SECRET });
    expect([fromEnv.config.secret, fromEnv.origins.secret]).toEqual([SECRET, "env"]);
  });

  it("rtpDecoder: the decoder process by default, in-process from the file, env or flag; nothing else", () => {
    expect(load().config.rtp.decoder).toBe("process");
    expect(load(["--config", configFile({ rtpDecoder: "in-process" })]).config.rtp.decoder).toBe("in-process");
    expect(load([], { MESOGUARD_RTP_DECODER: "in-process" }).config.rtp.decoder).toBe("in-process");
    expect(load(["--rtp-decoder", "process"], { MESOGUARD_RTP_DECODER: "in-process" }).config.rtp.decoder).toBe("process");
    expect(loadError(["--rtp-decoder", "thread"])).toMatch(/rtpDecoder \(from --rtp-decoder\) must be one of process, in-process, got "thread"/);
  });

  it("an empty environment variable counts as unset", () => {
    const { config, origins } = load([], { MESOGUARD_MAX_FPS: "", MESOGUARD_SECRET: "" });
    expect([config.session.maxFps, origins.maxFps]).toEqual([30, "default"]);
    expect(config.devMode).toBe(true);
  });

  it("booleans: a bare flag is true, =false / 'false' / 0 are false, env 'true'/'1'; a file takes JSON booleans", () => {
    expect(load(["--region-search"]).config.session.regionSearch).toBe(true);
    expect(load(["--region-search", "--max-fps", "9"]).config).toMatchObject({ session: { regionSearch: true, maxFps: 9 } });
    expect(load(["--region-search=false"]).config.session.regionSearch).toBe(false);
    expect(load(["--region-search", "false"]).config.session.regionSearch).toBe(false);
    expect(load(["--region-search", "0"]).config.session.regionSearch).toBe(false);
    expect(load([], { MESOGUARD_REGION_SEARCH: "true" }).config.session.regionSearch).toBe(true);
    expect(load([], { MESOGUARD_REGION_SEARCH: "1" }).config.session.regionSearch).toBe(true);
    expect(load(["--region-search=false"], { MESOGUARD_REGION_SEARCH: "1" }).config.session.regionSearch).toBe(false);
    expect(load(["--config", configFile({ regionSearch: true })]).config.session.regionSearch).toBe(true);
  });

  it("every setting can be set by its flag and by its environment variable", () => {
    for (const setting of SETTINGS) {
      const value = setting.key === "secret" ? SECRET : setting.key === "rtpApiKey" ? "an-rtp-api-key-of-16+" :
        setting.key === "redis.url" ? "redis://127.0.0.1:6379" : setting.key === "cluster.advertisedUrl" ? "http://10.0.0.2:8080" : setting.choices ? setting.choices.at(-1)! : setting.kind === "boolean" ? "true" : setting.kind === "string" ? "x" : setting.kind === "list" ? "http://127.0.0.1:9/hook" : String(setting.default);
      // Webhook URLs need the webhook secret beside them.
      const needs = setting.key === "webhooks.urls" ? { MESOGUARD_WEBHOOKS_SECRET: "a-webhook-secret-16+" } : {};
      const fromFlag = load([flagName(setting.key), value], needs);
      expect(fromFlag.origins[setting.key], setting.key).toBe("flag");
      const fromEnv = load([], { ...needs, [envName(setting.key)]: value });
      expect(fromEnv.origins[setting.key], setting.key).toBe("env");
    }
  });
});

describe("bad values name the setting and where the value came from", () => {
  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ["a non-number flag", ["--max-fps", "fast"], {}, /maxFps \(from --max-fps\) must be a number, got "fast"/],
    ["an out-of-range env value", [], { MESOGUARD_PORT: "70000" }, /port \(from MESOGUARD_PORT\) must be between 0 and 65535, got 70000/],
    ["a fractional integer", ["--max-batch", "2.5"], {}, /maxBatch \(from --max-batch\) must be an integer/],
    ["a number below the minimum", [], { MESOGUARD_VERDICT_WINDOW_SECONDS: "0" }, /verdict\.windowSeconds \(from MESOGUARD_VERDICT_WINDOW_SECONDS\) must be between/],
    ["a value outside the choices", ["--provider", "gpu"], {}, /provider \(from --provider\) must be one of auto, tensorrt, cuda, cpu, got "gpu"/],
    ["a Redis URL that is not one", ["--redis-url", "http://127.0.0.1:6379"], {}, /redis\.url must start with redis:\/\/ or rediss:\/\/, got http:\/\//],
    ["a cluster node id with a colon", [], { MESOGUARD_CLUSTER_NODE_ID: "a:b" }, /cluster\.nodeId must be 1-64 characters/],
    ["a bad boolean", [], { MESOGUARD_REGION_SEARCH: "yes" }, /regionSearch \(from MESOGUARD_REGION_SEARCH\) must be true or false/],
    ["Infinity", ["--max-fps", "Infinity"], {}, /maxFps \(from --max-fps\) must be a number/],
    ["a blank number", ["--max-fps", " "], {}, /maxFps \(from --max-fps\) must be a number/],
  ])("%s", (_, argv, env, message) => {
    expect(loadError(argv, env)).toMatch(message);
  });

  it("a bad value in the config file names the file", () => {
    const file = configFile({ detector: "haar", verdict: { minScoredFaces: "many" } });
    expect(loadError(["--config", file])).toMatch(new RegExp(`detector \\(from config file ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) must be one of blazeface-back, blazeface-front`));
    expect(loadError(["--config", configFile({ verdict: { minScoredFaces: "many" } })])).toMatch(/verdict\.minScoredFaces \(from config file .*\) must be an integer/);
    expect(loadError(["--config", configFile({ host: 127 })])).toMatch(/host \(from config file .*\) must be a string/);
  });

  it("a bad value is refused even when a stronger source would override it", () => {
    expect(loadError(["--max-fps", "5"], { MESOGUARD_MAX_FPS: "lots" })).toMatch(/MESOGUARD_MAX_FPS/);
  });

  it("a missing or unparsable config file names the file", () => {
    expect(loadError(["--config", path.join(dir, "nope.json")])).toMatch(/cannot read config file .*nope\.json/);
    const broken = configFile("{ not json");
    expect(loadError(["--config", broken])).toMatch(new RegExp(`cannot read config file ${broken.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });

  it("suspiciousAt must be below likelyFakeAt", () => {
    expect(loadError(["--verdict-suspicious-at", "0.8", "--verdict-likely-fake-at", "0.7"])).toMatch(/suspiciousAt must be below verdict\.likelyFakeAt/);
    expect(loadError(["--verdict-suspicious-at", "0.75"])).toMatch(/suspiciousAt/);
  });

  it("the whole verdict is checked at load by the verdict module's rules, not at the first join", () => {
    expect(loadError(["--verdict-hysteresis", "0.6"])).toMatch(/verdict\.hysteresis must be below verdict\.suspiciousAt \(0\.5\), got 0\.6/);
    expect(loadError(["--verdict-suspicious-at", "0"])).toMatch(/verdict\.suspiciousAt must be in \(0, 1\], got 0/);
  });
});

describe("command-line shape", () => {
  it("an unknown flag is refused by name", () => {
    expect(loadError(["--max-fsp", "3"])).toMatch(/unknown option --max-fsp/);
    expect(loadError(["--maxFps", "3"])).toMatch(/unknown option --maxFps/);
    expect(loadError(["--verdict.window-seconds", "3"])).toMatch(/unknown option/);
  });

  it("a positional argument and a flag without its value are refused", () => {
    expect(loadError(["serve"])).toMatch(/unexpected argument "serve"/);
    expect(loadError(["--max-fps"])).toMatch(/--max-fps needs a value/);
  });
});

describe("development mode and secrets", () => {
  it("--dev or MESOGUARD_DEV together with a secret is refused", () => {
    expect(loadError(["--dev"], { MESOGUARD_SECRET: SECRET })).toMatch(/--dev .* and a secret were both given/);
    expect(loadError(["--dev", "--secret", SECRET])).toMatch(/both given/);
    expect(loadError([], { MESOGUARD_DEV: "1", MESOGUARD_SECRET: SECRET })).toMatch(/both given/);
    expect(loadError(["--dev", "--config", configFile({ secret: SECRET })])).toMatch(/both given/);
  });

  it("--dev without a secret is development mode", () => {
    expect(load(["--dev"]).config.devMode).toBe(true);
    expect(load([], { MESOGUARD_DEV: "true" }).config.devMode).toBe(true);
  });

  it("a secret shorter than 16 characters is refused; 16 is enough", () => {
    expect(loadError([], { MESOGUARD_SECRET: "fifteen-chars-x" })).toMatch(/at least 16 characters/);
    expect(loadError(["--secret", "x"])).toMatch(/at least 16 characters/);
    const { config } = load([], { MESOGUARD_SECRET: "sixteen-chars-xx" });
    expect(config.devMode).toBe(false);
    expect(config.secret).toBe("sixteen-chars-xx");
  });
});

describe("participant privacy and webhooks", () => {
  it("participants do not see their verdict unless turned on", () => {
    expect(load().config.session.participantSeesVerdict).toBe(false);
    expect(load(["--participant-sees-verdict"]).config.session.participantSeesVerdict).toBe(true);
    expect(load([], { MESOGUARD_PARTICIPANT_SEES_VERDICT: "1" }).config.session.participantSeesVerdict).toBe(true);
  });

  it("webhook URLs come comma-separated from a flag or the environment, as an array from the file", () => {
    const secret = { MESOGUARD_WEBHOOKS_SECRET: "a-webhook-secret-16+" };
    expect(load().config.webhooks).toMatchObject({ urls: [], secret: undefined });
    expect(load(["--webhooks-urls", "http://a.example/h, https://b.example/h"], secret).config.webhooks.urls).toEqual(["http://a.example/h", "https://b.example/h"]);
    const file = configFile({ webhooks: { urls: ["https://c.example/h"], secret: "file-webhook-secret-16", retries: 2, queueSize: 10 } });
    const { config, origins } = load(["--config", file]);
    expect(config.webhooks).toMatchObject({ urls: ["https://c.example/h"], secret: "file-webhook-secret-16", retries: 2, queueSize: 10 });
    expect(origins["webhooks.urls"]).toBe("file");
    expect(describeConfig(load(["--config", file]))["webhooks.secret"]).toBe("******** (file)");
  });

  it.each<[string, string[], NodeJS.ProcessEnv, RegExp]>([
    ["a URL without a secret", ["--webhooks-urls", "https://a.example/h"], {}, /webhooks\.secret \(16\+ characters\) is required when webhooks\.urls is set/],
    ["a short secret", ["--webhooks-urls", "https://a.example/h"], { MESOGUARD_WEBHOOKS_SECRET: "short" }, /webhooks\.secret \(16\+ characters\) is required/],
    ["not a URL", ["--webhooks-urls", "not a url"], { MESOGUARD_WEBHOOKS_SECRET: "a-webhook-secret-16+" }, /webhooks\.urls: "not a url" is not a URL/],
    ["not http", ["--webhooks-urls", "ftp://a.example/h"], { MESOGUARD_WEBHOOKS_SECRET: "a-webhook-secret-16+" }, /webhooks\.urls: "ftp:\/\/a\.example\/h" is not http or https/],
    ["a queue of 0", ["--webhooks-queue-size", "0"], {}, /webhooks\.queueSize \(from --webhooks-queue-size\) must be between 1 and/],
  ])("refuses %s", (_, argv, env, message) => {
    expect(loadError(argv, env)).toMatch(message);
  });

  it("a list in the file must hold strings", () => {
    expect(loadError(["--config", configFile({ webhooks: { urls: [1] } })])).toMatch(/webhooks\.urls \(from config file .*\) must be a comma-separated string or an array of strings/);
  });
});

describe("describeConfig", () => {
  it("lists every setting with its value and origin, the secret masked", () => {
    const loaded = load(["--max-fps", "12"], { MESOGUARD_SECRET: SECRET });
    const described = describeConfig(loaded);
    expect(Object.keys(described)).toEqual(SETTINGS.map((s) => s.key));
    expect(described.secret).toBe("******** (env)");
    expect(JSON.stringify(described)).not.toContain(SECRET);
    expect(JSON.stringify(described)).not.toContain(SECRET.slice(0, 8));
    expect(described.maxFps).toBe("12 (flag)");
    expect(described["verdict.windowSeconds"]).toBe("10 (default)");
    expect(describeConfig(load()).secret).toBe("(not set) (default)");
  });

  it("the help lists every setting's flag and environment variable, and never a secret's value", () => {
    const help = configHelp();
    for (const setting of SETTINGS) {
      expect(help).toContain(flagName(setting.key));
      expect(help).toContain(envName(setting.key));
    }
  });
});

describe("envName / flagName", () => {
  it("map keys the documented way", () => {
    expect(envName("verdict.windowSeconds")).toBe("MESOGUARD_VERDICT_WINDOW_SECONDS");
    expect(flagName("verdict.windowSeconds")).toBe("--verdict-window-seconds");
    expect(envName("maxMessageBytes")).toBe("MESOGUARD_MAX_MESSAGE_BYTES");
    expect(flagName("maxMessageBytes")).toBe("--max-message-bytes");
    expect(envName("secret")).toBe("MESOGUARD_SECRET");
    expect(flagName("port")).toBe("--port");
    expect(envName("verdict.likelyFakeAt")).toBe("MESOGUARD_VERDICT_LIKELY_FAKE_AT");
    expect(flagName("scoreRateHz")).toBe("--score-rate-hz");
  });

  it("no two settings share a flag or an environment variable", () => {
    const flags = SETTINGS.map((s) => flagName(s.key));
    const envs = SETTINGS.map((s) => envName(s.key));
    expect(new Set(flags).size).toBe(SETTINGS.length);
    expect(new Set(envs).size).toBe(SETTINGS.length);
    expect(flags).not.toContain("--config");
    expect(flags).not.toContain("--dev");
    expect(envs).not.toContain("MESOGUARD_CONFIG");
    expect(envs).not.toContain("MESOGUARD_DEV");
  });
});

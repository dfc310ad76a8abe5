// The web build (esbuild into dist/web), the HTTP routes that serve it, and the pure browser helpers
// (reconnect backoff), without a browser.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import path from "node:path";

import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildWeb, noNodeModulesPlugin } from "../../src/install/buildWeb.js";
import { WEB_BUILD_HINT, createWebRoutes, webFileFor } from "../../src/server/webRoutes.js";
import { backoffDelay, DEFAULT_BACKOFF } from "../../src/web/common/reconnect.js";
import { STATE_LOOK } from "../../src/web/common/format.js";
import { VERDICT_STATES } from "../../src/verdict/verdictTypes.js";
import { ROOT, cleanupTemp, tempDir } from "../helpers/browser.js";

let webDir: string;
let servers: Server[] = [];

/** Serves createWebRoutes({dir}) on a free port; other requests get a 404 like MesoguardServer's. */
async function serve(dir: string): Promise<string> {
  const handler = createWebRoutes({ dir });
  const server = createServer((req, res) => {
    void Promise.resolve(handler(req, res)).then((handled) => {
      if (!handled) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"not found"}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A GET with the path sent exactly as written (fetch would normalise "..", "%2e" and friends). */
function rawGet(base: string, rawPath: string, method = "GET"): Promise<{ status: number; type: string | undefined; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: rawPath, method, headers: { accept: "*/*" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  webDir = path.join(tempDir(), "web");
  await buildWeb({ outDir: webDir });
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  servers = [];
  cleanupTemp();
});

describe("buildWeb", () => {
  it("writes minified bundles (no source maps), the CSS and the pages", () => {
    const files = readdirSync(webDir).sort();
    expect(files).toEqual(["dashboard.html", "dashboard.js", "join.html", "join.js", "styles.css"]);
    for (const name of ["dashboard.js", "join.js"]) {
      const js = readFileSync(path.join(webDir, name), "utf8");
      expect(js).not.toContain("sourceMappingURL");
      expect(js.split("\n").length).toBeLessThan(10); // minified
      // Bundled: no imports left, no Node modules, the SDK and protocol code inside.
      expect(js).not.toMatch(/\bimport\s*[{*"']|require\(|node:/);
      expect(js).toContain("/ws");
    }
    const css = readFileSync(path.join(webDir, "styles.css"), "utf8");
    expect(css.split("\n").length).toBeLessThan(5);
    for (const page of ["dashboard", "join"]) {
      const html = readFileSync(path.join(webDir, `${page}.html`), "utf8");
      expect(html).toContain(`<script type="module" src="/${page}.js"></script>`);
      expect(html).toContain('<link rel="stylesheet" href="/styles.css">');
      // Nothing from the network: every src/href is same-origin or a data: URI.
      for (const [, url] of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(url).toMatch(/^(\/[a-z]+\.(js|css)|data:)/);
    }
  });

  it("type-checks the browser code with DOM types (src/web/tsconfig.json)", () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    execFileSync(process.execPath, [tsc, "-p", path.join(ROOT, "src/web/tsconfig.json"), "--noEmit"], { stdio: "pipe" });
  }, 60_000);

  it("refuses Node modules in browser code", async () => {
    const dir = path.join(tempDir(), "bad-entry");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "entry.ts"), 'import { readFileSync } from "node:fs";\nconsole.log(readFileSync);\n');
    const failure = await build({
      entryPoints: [path.join(dir, "entry.ts")],
      bundle: true,
      write: false,
      platform: "browser",
      logLevel: "silent",
      plugins: [noNodeModulesPlugin],
    }).then(
      () => null,
      (error: { errors: Array<{ text: string }> }) => error,
    );
    expect(failure?.errors.map((e) => e.text).join("\n")).toMatch(/browser code must not import the Node module "node:fs"/);
  });
});

describe("web routes", () => {
  it("serves the pages and assets with their content types and a same-origin CSP", async () => {
    const base = await serve(webDir);
    const cases: Array<[string, string, string]> = [
      ["/", "text/html; charset=utf-8", '<script type="module" src="/dashboard.js">'],
      ["/?room=abc&token=x", "text/html; charset=utf-8", '<script type="module" src="/dashboard.js">'],
      ["/join?room=r&participant=p", "text/html; charset=utf-8", '<script type="module" src="/join.js">'],
      ["/dashboard.js", "text/javascript; charset=utf-8", "/ws"],
      ["/join.js", "text/javascript; charset=utf-8", "/ws"],
      ["/styles.css", "text/css; charset=utf-8", ".tile"],
    ];
    for (const [url, type, content] of cases) {
      const res = await fetch(base + url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get("content-type"), url).toBe(type);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+;/);
      expect(await res.text(), url).toContain(content);
    }
    const head = await rawGet(base, "/dashboard.js", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    // Other methods and unknown names are not ours (the server's 404).
    expect((await rawGet(base, "/", "POST")).status).toBe(404);
    expect((await rawGet(base, "/nope.js")).status).toBe(404);
    expect((await rawGet(base, "/healthz")).status).toBe(404);
  });

  it("never serves source maps, even one left in the web folder by an older build", async () => {
    writeFileSync(path.join(webDir, "join.js.map"), '{"version":3,"sources":["../../src/web/join.ts"]}');
    const base = await serve(webDir);
    for (const name of ["/join.js.map", "/dashboard.js.map", "/styles.css.map"]) expect((await rawGet(base, name)).status, name).toBe(404);
    expect(webFileFor("/join.js.map")).toBeNull();
  });

  it("never serves anything outside the web folder", async () => {
    const base = await serve(webDir);
    const attempts = [
      "/../package.json",
      "/..%2fpackage.json",
      "/%2e%2e/package.json",
      "/%2e%2e%2fpackage.json",
      "/dashboard.js/../../package.json",
      "/..\\package.json",
      "/%2e%2e%5cpackage.json",
      "//etc/passwd",
      "/.%2e/.%2e/etc/passwd",
      "/web/../../package.json",
      "/dashboard.html%00.js",
      "/.hidden.js",
      "/dashboard.js?x=/../../package.json",
    ];
    for (const attempt of attempts) {
      const res = await rawGet(base, attempt);
      expect(res.body, attempt).not.toContain('"name": "mesoguard"');
      expect(res.body, attempt).not.toContain("root:");
      if (attempt.startsWith("/dashboard.js?")) expect(res.status).toBe(200);
      else expect(res.status, attempt).toBe(404);
    }
    // The name check alone: one segment of safe characters with a known extension, nothing else.
    expect(webFileFor("/")).toBe("dashboard.html");
    expect(webFileFor("/join")).toBe("join.html");
    expect(webFileFor("/styles.css")).toBe("styles.css");
    expect(webFileFor("/a/b.js")).toBeNull();
    expect(webFileFor("/..js")).toBeNull();
    expect(webFileFor("/x..js")).toBeNull();
    expect(webFileFor("/package")).toBeNull();
    expect(webFileFor("/server.ts")).toBeNull();
  });

  it("answers 500 with the build command when the pages are not built", async () => {
    const missing = path.join(tempDir(), "no-such-web-dir");
    const base = await serve(missing);
    const plain = await rawGet(base, "/");
    expect(plain.status).toBe(500);
    expect(plain.type).toBe("text/plain; charset=utf-8");
    expect(plain.body).toContain("the web pages are not built");
    expect(plain.body).toContain(missing);
    expect(plain.body).toContain("npm run build");
    expect(WEB_BUILD_HINT).toContain("node dist/src/install/buildWeb.js");
    const html = await fetch(base + "/join", { headers: { accept: "text/html,application/xhtml+xml" } });
    expect(html.status).toBe(500);
    expect(html.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await html.text()).toMatch(/<h1>500: the dashboard is not built<\/h1>.*npm run build/s);
    expect((await rawGet(base, "/dashboard.js")).status).toBe(500);
    // Paths that are not the pages' still fall through.
    expect((await rawGet(base, "/metrics")).status).toBe(404);
  });
});

describe("browser helpers", () => {
  it("backs off exponentially with jitter, capped", () => {
    const mid = () => 0.5; // no jitter
    expect([1, 2, 3, 4, 5, 6, 7, 10].map((n) => backoffDelay(n, DEFAULT_BACKOFF, mid))).toEqual([
      500, 1000, 2000, 4000, 8000, 15000, 15000, 15000,
    ]);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 0)).toBe(400);
    expect(backoffDelay(1, DEFAULT_BACKOFF, () => 1)).toBe(600);
    expect(backoffDelay(50, DEFAULT_BACKOFF, () => 1)).toBe(18000);
  });

  it("gives every state a text label and an icon, not colour alone", () => {
    const icons = new Set<string>();
    for (const [state, look] of Object.entries(STATE_LOOK)) {
      expect(look.label.length, state).toBeGreaterThan(3);
      expect(look.icon.length, state).toBeGreaterThan(0);
      icons.add(look.icon);
    }
    expect(Object.keys(STATE_LOOK).sort()).toEqual([...VERDICT_STATES].sort()); // every state, paused included
    expect(icons.size).toBe(VERDICT_STATES.length); // each its own icon
  });

  it("the dashboard's legend explains every state with the tile's own label and icon", () => {
    const html = readFileSync(path.join(ROOT, "src/web/dashboard.html"), "utf8");
    const legend = html.slice(html.indexOf('<ul class="legend-states">'), html.indexOf("</ul>", html.indexOf('<ul class="legend-states">')));
    for (const state of VERDICT_STATES) {
      const row = legend.match(new RegExp(`<li><span class="badge" data-state="${state}">(.*?)</li>`))?.[1];
      expect(row, `legend row for ${state}`).toBeDefined();
      expect(row).toContain(`>${STATE_LOOK[state].icon}<`);
      expect(row).toContain(`>${STATE_LOOK[state].label}<`);
    }
  });
});

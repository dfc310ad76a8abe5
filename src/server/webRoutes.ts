// HTTP routes for the browser pages built into dist/web (src/install/buildWeb.ts):
//   /            -> dashboard.html (the live dashboard; ?room=NAME[#token=...])
//   /join        -> join.html      (the participant page; ?room=R&participant=ID...)
//   /NAME.EXT    -> a built asset in dist/web (js, css, html...), nothing else: no source maps
// Mounted with MesoguardServer.addRoute(). Only single-segment file names of safe characters are looked up,
// so there is no way out of the folder; unknown paths fall through to the server's 404. When dist/web has not
// been built the pages answer 500 with the command that builds them.
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";

import { packageRoot } from "../models/paths.js";
import { requestPath } from "../http/requestPath.js";
import type { HttpHandler } from "./MesoguardServer.js";

export const WEB_CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** Page routes: URL path -> file in the web folder. */
export const WEB_PAGES: Readonly<Record<string, string>> = {
  "/": "dashboard.html",
  "/index.html": "dashboard.html",
  "/dashboard": "dashboard.html",
  "/join": "join.html",
  "/join/": "join.html",
};

const ASSET_PATTERN = /^\/([A-Za-z0-9_-][A-Za-z0-9._-]{0,127})$/;

export const WEB_BUILD_HINT =
  "run `npm run build && node dist/src/install/buildWeb.js` (or npm ci), then restart the server";

export interface WebRoutesOptions {
  /** The built pages; default dist/web in the package root. */
  dir?: string;
}

export function defaultWebRoot(): string {
  return path.join(packageRoot(), "dist", "web");
}

/** Resolves a request path to a file name in the web folder, or null when it is not one of ours. */
export function webFileFor(pathname: string): string | null {
  const page = WEB_PAGES[pathname];
  if (page) return page;
  const match = ASSET_PATTERN.exec(pathname);
  if (!match) return null;
  const name = match[1];
  if (name.includes("..") || !Object.hasOwn(WEB_CONTENT_TYPES, path.extname(name).toLowerCase())) return null;
  return name;
}

/**
 * The Content-Security-Policy for the pages: everything from this origin only (no CDN, no inline script);
 * the WebSocket to this host; camera frames as blob:/mediastream: media.
 */
function securityHeaders(req: IncomingMessage): Record<string, string> {
  const host = req.headers.host && /^[A-Za-z0-9.\-:[\]]{1,255}$/.test(req.headers.host) ? req.headers.host : null;
  const connect = host ? `'self' ws://${host} wss://${host}` : "'self'";
  return {
    "content-security-policy":
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; ` +
      `media-src 'self' blob: mediastream:; connect-src ${connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(self), microphone=()",
  };
}

export function createWebRoutes(options: WebRoutesOptions = {}): HttpHandler {
  const root = path.resolve(options.dir ?? defaultWebRoot());
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const pathname = requestPath(req);
    if (pathname === null) return false;
    const name = webFileFor(pathname);
    if (!name) return false;
    const file = path.join(root, name);
    // Belt and braces: the pattern above already keeps names to one segment inside root.
    if (path.dirname(file) !== root) return false;

    let body: Buffer;
    try {
      const info = await stat(file);
      if (!info.isFile()) return false;
      body = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      if (await exists(root) && (await exists(path.join(root, "dashboard.html")))) return false; // built, no such asset: 404
      missingBuild(res, req, root);
      return true;
    }
    const type = WEB_CONTENT_TYPES[path.extname(name).toLowerCase()];
    res.writeHead(200, {
      "content-type": type,
      "content-length": body.byteLength,
      "cache-control": "no-cache",
      ...securityHeaders(req),
    });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function missingBuild(res: ServerResponse, req: IncomingMessage, root: string): void {
  const message = `mesoguard: the web pages are not built (${root} is missing): ${WEB_BUILD_HINT}.`;
  const wantsHtml = (req.headers.accept ?? "").includes("text/html");
  const body = wantsHtml
    ? `<!doctype html><meta charset="utf-8"><title>mesoguard: pages not built</title>` +
      `<h1>500: the dashboard is not built</h1><p>${escapeHtml(message)}</p>`
    : `${message}\n`;
  res.writeHead(500, {
    "content-type": wantsHtml ? "text/html; charset=utf-8" : "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

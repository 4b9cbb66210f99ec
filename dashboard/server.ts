// The dashboard's HTTP server: node:http, a small router, static files from dashboard/public/
// (plain ES modules, no build step, no CDN). Every page, file and API call needs a super admin
// (dashboard/auth.ts); state-changing calls need same-origin headers and the session's CSRF token.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { OperationError } from "../control/errors";
import { bearerOf, cookieValue, crossSiteProblem, sameSecret, SESSION_COOKIE, sessionCookie, Sessions, type Authenticator, type Principal, type Session } from "./auth";
import { DashboardFleet, HttpError, isBadInput, parseForm, upgradeFormSchema } from "./fleet";
import { z } from "zod";

export const PUBLIC_DIR = path.join(__dirname, "public");
const MAX_BODY = 64 * 1024;
const STATIC: Record<string, string> = {
  "/static/app.js": "application/javascript; charset=utf-8",
  "/static/ui.js": "application/javascript; charset=utf-8",
  "/static/style.css": "text/css; charset=utf-8",
};
const PAGES = [/^\/$/, /^\/history$/, /^\/runtimes\/[^/]+$/, /^\/rollouts\/[^/]+$/];

const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  "Cache-Control": "no-store",
};

export interface DashboardServerOptions {
  fleet: DashboardFleet;
  auth: Authenticator;
  host: string;
  port: number;
  log?: (line: string) => void;
}

export interface RunningDashboard {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

type Who = { principal: Principal; session: Session | null };
type Handler = (req: IncomingMessage, res: ServerResponse, who: Who, params: string[], url: URL) => Promise<unknown>;

const emptyBody = z.strictObject({});
const upgradeOne = z.strictObject({ to: z.string().max(200).optional() });

export async function startDashboardServer(opts: DashboardServerOptions): Promise<RunningDashboard> {
  const sessions = new Sessions();
  const { fleet, auth } = opts;
  const bearerCache = new Map<string, { principal: Principal; until: number }>();
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];
  const get = (pattern: RegExp, handler: Handler) => routes.push({ method: "GET", pattern, handler });
  const post = (pattern: RegExp, handler: Handler) => routes.push({ method: "POST", pattern, handler });

  get(/^\/api\/session$/, async (_q, _r, who) => ({ user: who.principal.user, csrf: who.session?.csrf ?? null, stack: fleet.stack, auth: auth.kind }));
  get(/^\/api\/overview$/, async (_q, _r, who) => fleet.overview(who.principal.store));
  get(/^\/api\/releases$/, async () => fleet.releaseTags());
  post(/^\/api\/releases\/check$/, async (req, _r, who) => {
    parseForm(emptyBody, await readJson(req));
    return fleet.checkForUpdates(who.principal.store, who.principal.user);
  });
  post(/^\/api\/plan$/, async (req) => fleet.preview(parseForm(upgradeFormSchema, await readJson(req))));
  post(/^\/api\/rollouts$/, async (req, res, who) => {
    const form = parseForm(upgradeFormSchema, await readJson(req));
    res.statusCode = 201;
    return fleet.start(who.principal.store, who.principal.user, form);
  });
  get(/^\/api\/rollouts\/([^/]+)$/, async (_q, _r, who, [id]) => fleet.rollout(who.principal.store, id!));
  post(/^\/api\/rollouts\/([^/]+)\/(pause|resume|abort)$/, async (req, _r, who, [id, action]) => {
    parseForm(emptyBody, await readJson(req));
    const { store, user } = who.principal;
    if (action === "resume") return fleet.resume(store, user, id!);
    return fleet.pauseOrAbort(store, user, id!, action === "pause" ? "paused" : "aborted");
  });
  get(/^\/api\/history$/, async (_q, _r, who, _p, url) => {
    const limit = url.searchParams.get("limit");
    const cursor = url.searchParams.get("cursor");
    const runtime = url.searchParams.get("runtime");
    return fleet.history(who.principal.store, {
      ...(limit !== null ? { limit: Number(limit) } : {}),
      ...(cursor ? { cursor } : {}),
      ...(runtime ? { accountId: runtime } : {}),
    });
  });
  get(/^\/api\/runtimes\/([^/]+)$/, async (_q, _r, who, [id]) => fleet.runtime(who.principal.store, id!));
  post(/^\/api\/runtimes\/([^/]+)\/upgrade$/, async (req, res, who, [id]) => {
    const body = parseForm(upgradeOne, await readJson(req));
    res.statusCode = 201;
    return fleet.upgradeRuntime(who.principal.store, who.principal.user, id!, body.to);
  });
  post(/^\/api\/runtimes\/([^/]+)\/(restart|logs)$/, async (req, _r, who, [id, action]) => {
    parseForm(emptyBody, await readJson(req));
    return fleet.hostAction(who.principal.store, who.principal.user, id!, action as "restart" | "logs");
  });

  const log = opts.log ?? (() => undefined);

  async function identify(req: IncomingMessage): Promise<Who | null> {
    const session = sessions.get(cookieValue(req, SESSION_COOKIE));
    if (session) return { principal: session, session };
    const bearer = bearerOf(req);
    if (!bearer) return null;
    const key = createHash("sha256").update(bearer).digest("hex");
    const cached = bearerCache.get(key);
    if (cached && cached.until > Date.now()) return { principal: cached.principal, session: null };
    const principal = await auth.verify(bearer);
    if (!principal) return null;
    bearerCache.set(key, { principal, until: Date.now() + 5 * 60_000 });
    return { principal, session: null };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const host = req.headers.host ?? "";
    // DNS rebinding: a page on another name resolving to 127.0.0.1 must not reach us.
    if (!allowedHosts.has(host)) return sendJson(res, 421, { error: `Host ${JSON.stringify(host)} is not this dashboard` });
    const url = new URL(req.url ?? "/", `http://${host}`);
    const method = req.method ?? "GET";

    // Login: a page URL carrying ?token= becomes a session cookie, and the token leaves the URL.
    const token = url.searchParams.get("token");
    if (method === "GET" && token !== null && PAGES.some((p) => p.test(url.pathname))) {
      const principal = await auth.verify(token);
      if (!principal) return sendUnauthorized(res, true, "that token is not valid");
      const session = sessions.create(principal);
      url.searchParams.delete("token");
      res.setHeader("Set-Cookie", sessionCookie(session.id, false));
      res.setHeader("Location", `${url.pathname}${url.search}`);
      res.statusCode = 303;
      res.end();
      return;
    }

    const who = await identify(req);
    const isApi = url.pathname.startsWith("/api/");
    if (!who) return sendUnauthorized(res, !isApi, "sign in: open the URL `fleet dashboard` printed (or send Authorization: Bearer)");

    if (method === "POST") {
      // A session cookie rides along on any request the browser makes; a bearer header does not.
      if (who.session) {
        const problem = crossSiteProblem(req, allowedOrigins);
        if (problem) return sendJson(res, 403, { error: `refused as a cross-site request: ${problem}; nothing was changed`, kind: "forbidden" });
        const csrf = req.headers["x-csrf-token"];
        if (typeof csrf !== "string" || !sameSecret(csrf, who.session.csrf)) {
          return sendJson(res, 403, { error: "refused: the form's CSRF token is missing or stale (reload the page); nothing was changed", kind: "forbidden" });
        }
      } else if (req.headers.origin !== undefined && !allowedOrigins.has(req.headers.origin)) {
        return sendJson(res, 403, { error: `refused as a cross-site request: Origin ${JSON.stringify(req.headers.origin)} is not this dashboard; nothing was changed`, kind: "forbidden" });
      }
      if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
        return sendJson(res, 415, { error: "expected a JSON body (Content-Type: application/json); nothing was changed", kind: "bad-input" });
      }
    }

    if (method === "GET" && STATIC[url.pathname]) {
      const body = await readFile(path.join(PUBLIC_DIR, url.pathname.slice("/static/".length)));
      res.writeHead(200, { "Content-Type": STATIC[url.pathname]! });
      res.end(body);
      return;
    }
    if (method === "GET" && PAGES.some((p) => p.test(url.pathname))) {
      const body = await readFile(path.join(PUBLIC_DIR, "index.html"));
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(body);
      return;
    }
    if (method === "POST" && url.pathname === "/api/logout" && who.session) {
      who.session.expiresAt = 0;
      res.setHeader("Set-Cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
      return sendJson(res, 200, { ok: true });
    }
    for (const route of routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      if (route.method !== method) continue;
      const params = m.slice(1).map((s) => decodeURIComponent(s));
      try {
        const result = await route.handler(req, res, who, params, url);
        return sendJson(res, res.statusCode >= 200 && res.statusCode < 300 ? res.statusCode : 200, result);
      } catch (err) {
        return sendError(res, err);
      }
    }
    if (routes.some((r) => r.pattern.test(url.pathname))) return sendJson(res, 405, { error: `${method} is not allowed here` });
    return sendJson(res, 404, { error: `no such page or API: ${url.pathname}` });
  }

  function sendError(res: ServerResponse, err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    if (isBadInput(err)) return sendJson(res, 400, { error: `${message}; nothing was changed`, kind: "bad-input" });
    if (err instanceof HttpError) return sendJson(res, err.status, { error: message, kind: err.status === 409 ? "conflict" : "failed", ...err.extra });
    if (err instanceof OperationError) return sendJson(res, 409, { error: message, kind: "conflict" });
    log(`error: ${message}`);
    // Anything else is the store or the stack being unreachable: say so, show no partial data.
    return sendJson(res, 503, { error: `the fleet store or stack could not be read: ${message}`, kind: "unavailable" });
  }

  const server = createServer((req, res) => {
    const started = Date.now();
    res.on("finish", () => log(`${req.method} ${(req.url ?? "").split("?")[0]} ${res.statusCode} ${Date.now() - started}ms`));
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const names = new Set([opts.host, "127.0.0.1", "localhost", "[::1]"].map((h) => (h.includes(":") && !h.startsWith("[") ? `[${h}]` : h)));
  allowedHosts = new Set([...names].map((h) => `${h}:${port}`));
  allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  const shownHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return {
    server,
    port,
    url: `http://${shownHost}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8" });
  res.end(text);
}

function sendUnauthorized(res: ServerResponse, html: boolean, why: string) {
  if (!html) return sendJson(res, 401, { error: `unauthorized: ${why}`, kind: "unauthorized" });
  res.writeHead(401, { "Content-Type": "text/html; charset=utf-8", "WWW-Authenticate": 'Bearer realm="fleet dashboard"' });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in required · Fleet dashboard</title></head>` +
      `<body><main><h1>Sign in required</h1><p>The fleet dashboard is for super admins. ${escapeHtml(why)}.</p></main></body></html>`,
  );
}

function escapeHtml(s: string) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `the request body is larger than ${MAX_BODY} bytes; nothing was changed`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "the request body is not valid JSON; nothing was changed");
  }
}

// The dashboard's HTTP server: Hono on node:http through store/http.ts (the layer the store's
// events endpoint uses too), static files from dashboard/public/ (plain ES modules, no build step,
// no CDN). Every page, file and API call needs a super admin (dashboard/auth.ts's guard);
// state-changing calls need same-origin headers and the session's CSRF token.
import path from "node:path";
import { serveStatic } from "@hono/node-server/serve-static";
import type { Context } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { z } from "zod";
import { isBadInput, OperationError, UsageError } from "../control/errors";
import { authenticate, httpApp, internalError, limitBody, listen, onlyMethods, Refusal, refuse, sendJson, storeRefusal, type Authenticated, type Listening } from "../store/http";
import { clearSessionCookie, dashboardGuard, Sessions, setSessionCookie, unauthorized, type Authenticator, type Who } from "./auth";
import { DashboardFleet, HttpError, parseForm, upgradeFormSchema } from "./fleet";

export const PUBLIC_DIR = path.join(__dirname, "public");
const STATIC_FILES = ["app.js", "ui.js", "analysis.js", "style.css"];
const PAGES = ["/", "/history", "/runtimes/:id", "/rollouts/:id"];
const PAGE_PATTERNS = [/^\/$/, /^\/history$/, /^\/runtimes\/[^/]+$/, /^\/rollouts\/[^/]+$/];

export interface DashboardServerOptions {
  fleet: DashboardFleet;
  auth: Authenticator;
  host: string;
  port: number;
  log?: (line: string) => void;
}

export interface RunningDashboard extends Listening {
  url: string;
}

type Ctx = Context<Authenticated<Who>>;

const emptyBody = z.strictObject({});
const upgradeOne = z.strictObject({ to: z.string().max(200).optional() });

export async function startDashboardServer(opts: DashboardServerOptions): Promise<RunningDashboard> {
  const sessions = new Sessions();
  const { fleet, auth } = opts;
  const log = opts.log ?? (() => undefined);
  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();

  const app = httpApp<Authenticated<Who>>({ classify: (err) => classify(err, log) });

  app.use(async (c, next) => {
    const started = Date.now();
    await next();
    log(`${c.req.method} ${c.req.path} ${c.res.status} ${Date.now() - started}ms`);
  });
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      xFrameOptions: "DENY",
      referrerPolicy: "no-referrer",
      // Plain HTTP on loopback; TLS in front of a wider bind is where HSTS belongs.
      strictTransportSecurity: false,
    }),
  );
  app.use(async (c, next) => {
    await next();
    c.res.headers.set("Cache-Control", "no-store");
  });
  // DNS rebinding: a page on another name resolving to 127.0.0.1 must not reach us.
  app.use(async (c, next) => {
    const host = c.req.header("host") ?? "";
    if (!allowedHosts.has(host)) refuse(421, `Host ${JSON.stringify(host)} is not this dashboard`);
    await next();
  });
  // Login: a page URL carrying ?token= becomes a session cookie, and the token leaves the URL.
  app.use(async (c, next) => {
    const token = c.req.query("token");
    if (c.req.method !== "GET" || token === undefined || !PAGE_PATTERNS.some((p) => p.test(c.req.path))) return next();
    const principal = await auth.verify(token);
    if (!principal) throw unauthorized(c, "that token is not valid");
    const session = sessions.create(principal);
    const url = new URL(c.req.url);
    url.searchParams.delete("token");
    setSessionCookie(c, session.id, false);
    return c.redirect(`${url.pathname}${url.search}`, 303);
  });
  app.use(authenticate(dashboardGuard(sessions, auth, () => allowedOrigins)));
  app.post("*", async (c, next) => {
    if (!/^application\/json\b/.test(c.req.header("content-type") ?? "")) refuse(415, "expected a JSON body (Content-Type: application/json); nothing was changed");
    await next();
  });
  app.use(limitBody);

  for (const file of STATIC_FILES) app.get(`/static/${file}`, serveStatic({ path: path.join(PUBLIC_DIR, file) }));
  for (const page of PAGES) app.get(page, serveStatic({ path: path.join(PUBLIC_DIR, "index.html") }));

  const api: string[] = [];
  const get = (p: string, handler: (c: Ctx) => Promise<unknown>) => {
    api.push(p);
    app.get(p, async (c) => sendJson(c, 200, await handler(c)));
  };
  const post = (p: string, status: 200 | 201, handler: (c: Ctx, body: unknown) => Promise<unknown>) => {
    api.push(p);
    app.post(p, async (c) => sendJson(c, status, await handler(c, await readJson(c))));
  };
  const who = (c: Ctx) => c.get("principal").principal;
  // A route's own path segment (always there when the route matched; fleet.ts checks its shape).
  const param = (c: Ctx, name: string) => c.req.param(name) ?? "";

  post("/api/logout", 200, async (c) => {
    const { session } = c.get("principal");
    if (!session) refuse(404, `no such page or API: ${c.req.path}`);
    session.expiresAt = 0;
    clearSessionCookie(c);
    return { ok: true };
  });
  get("/api/session", async (c) => {
    const { principal, session } = c.get("principal");
    return { user: principal.user, csrf: session?.csrf ?? null, stack: fleet.stack, auth: auth.kind };
  });
  get("/api/overview", async (c) => fleet.overview(who(c).store));
  get("/api/releases", async () => fleet.releaseTags());
  post("/api/releases/check", 200, async (c, body) => {
    parseForm(emptyBody, body);
    return fleet.checkForUpdates(who(c).store, who(c).user);
  });
  post("/api/plan", 200, async (_c, body) => fleet.preview(parseForm(upgradeFormSchema, body)));
  post("/api/rollouts", 201, async (c, body) => fleet.start(who(c).store, who(c).user, parseForm(upgradeFormSchema, body)));
  get("/api/rollouts/:id", async (c) => fleet.rollout(who(c).store, param(c, "id")));
  post("/api/rollouts/:id/:action{pause|resume|abort}", 200, async (c, body) => {
    parseForm(emptyBody, body);
    const { store, user } = who(c);
    const id = param(c, "id");
    if (param(c, "action") === "resume") return fleet.resume(store, user, id);
    return fleet.pauseOrAbort(store, user, id, param(c, "action") === "pause" ? "paused" : "aborted");
  });
  get("/api/history", async (c) => history(c));
  get("/api/runtimes/:id", async (c) => fleet.runtime(who(c).store, param(c, "id")));
  post("/api/runtimes/:id/upgrade", 201, async (c, body) => fleet.upgradeRuntime(who(c).store, who(c).user, param(c, "id"), parseForm(upgradeOne, body).to));
  post("/api/runtimes/:id/:action{restart|logs}", 200, async (c, body) => {
    parseForm(emptyBody, body);
    return fleet.hostAction(who(c).store, who(c).user, param(c, "id"), param(c, "action") as "restart" | "logs");
  });
  onlyMethods(app, api);

  async function history(c: Ctx) {
    const limit = c.req.query("limit");
    const cursor = c.req.query("cursor") || undefined;
    const runtime = c.req.query("runtime") || undefined;
    if (limit !== undefined && !/^\d{1,6}$/.test(limit)) throw new UsageError(`limit: ${JSON.stringify(limit)} is not a number from 1 to 200`);
    const query = { ...(limit !== undefined ? { limit: Number(limit) } : {}), ...(runtime !== undefined ? { accountId: runtime } : {}) };
    const { store } = who(c);
    try {
      return await fleet.history(store, { ...query, ...(cursor !== undefined ? { cursor } : {}) });
    } catch (err) {
      if (cursor === undefined || isBadInput(err)) throw err;
      // A cursor is the store's own opaque token: when the same query without it answers, the
      // cursor was the problem (400), not the store (503).
      await fleet.history(store, query).catch(() => {
        throw err;
      });
      throw new UsageError(`cursor: ${JSON.stringify(cursor)} is not a history cursor (use the one a previous page gave)`);
    }
  }

  const listening = await listen(app, opts.host, opts.port);
  const { port } = listening;
  const names = new Set([opts.host, "127.0.0.1", "localhost", "[::1]"].map((h) => (h.includes(":") && !h.startsWith("[") ? `[${h}]` : h)));
  allowedHosts = new Set([...names].map((h) => `${h}:${port}`));
  allowedOrigins = new Set([...allowedHosts].map((h) => `http://${h}`));
  const shownHost = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return { ...listening, url: `http://${shownHost}:${port}/` };
}

/**
 * What a failed API call answers: bad input 400, a refusal its own status, a store error by its
 * kind (store/http.ts storeRefusal: 400/404/409, 503 for a store that cannot be read), and anything
 * else 500 "internal error" with the detail in the log only.
 */
function classify(err: unknown, log: (line: string) => void): Refusal {
  const message = err instanceof Error ? err.message : String(err);
  if (isBadInput(err)) return new Refusal(400, `${message}; nothing was changed`);
  if (err instanceof HttpError) return new Refusal(err.status as 400, message, err.extra);
  if (err instanceof OperationError) return new Refusal(409, message);
  return storeRefusal(err) ?? internalError(err, log);
}

/** The body of a POST: JSON within the one size limit (empty means `{}`). */
async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Refusal(400, "the request body is not valid JSON; nothing was changed");
  }
}

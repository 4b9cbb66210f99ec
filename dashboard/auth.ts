// Who may use the dashboard: super admins only. Two ways to prove it:
// - local (no Convex deployment): a shared secret token (FLEET_DASHBOARD_TOKEN, or one generated
//   and printed at start). `/?token=...` turns it into a session cookie (HttpOnly, SameSite=Strict);
//   API clients may send `Authorization: Bearer <token>` instead.
// - Convex (FLEET_CONVEX_URL set): the credential is the admin's Convex JWT. The dashboard does not
//   judge it itself: it opens a store with that JWT and asks a super-admin-only query, so Convex's
//   own check (FLEET_SUPER_ADMINS) decides. Every later read and write of that session goes through
//   the same per-user store, so Convex checks each call too.
// Actions (POST) with a session cookie also need the same-origin headers and the session's CSRF token.
// All of it is one Guard (store/http.ts), the way the events endpoint plugs in its signature check.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { Refusal, refuse, type Guard } from "../store/http";
import type { FleetStore } from "../store/types";

export const SESSION_COOKIE = "fleet_dashboard_session";
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const MAX_SESSIONS = 1_000;

export interface Principal {
  /** Who, for the record (initiatedBy, activity actor). */
  user: string;
  /** The store this principal's requests read and act through. */
  store: FleetStore;
}

export interface Session extends Principal {
  id: string;
  csrf: string;
  expiresAt: number;
}

/** Turns a presented credential into a principal, or null when it is not a super admin's. */
export interface Authenticator {
  readonly kind: "token" | "convex";
  verify(credential: string): Promise<Principal | null>;
}

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** Constant-time comparison of two secrets of any length. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function generateToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Local mode: one token, one shared store. */
export function tokenAuthenticator(token: string, store: FleetStore, user: string): Authenticator {
  if (token.length < 16) throw new Error("FLEET_DASHBOARD_TOKEN: expected at least 16 characters");
  return {
    kind: "token",
    verify: async (credential) => (sameSecret(credential, token) ? { user, store } : null),
  };
}

/**
 * Convex mode: `openAs(jwt)` opens a store that calls Convex with the user's JWT; the probe is a
 * super-admin-only query (getConfig). A refused or failing probe means no session.
 */
export function convexAuthenticator(openAs: (jwt: string) => Promise<FleetStore>): Authenticator {
  return {
    kind: "convex",
    async verify(jwt) {
      if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(jwt)) return null;
      let store: FleetStore | undefined;
      try {
        store = await openAs(jwt);
        await store.getConfig();
        return { user: subjectOf(jwt), store };
      } catch {
        await store?.close().catch(() => undefined);
        return null;
      }
    },
  };
}

/** The JWT's subject, for the record only (Convex has already verified the signature). */
function subjectOf(jwt: string): string {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: unknown; email?: unknown };
    const who = typeof payload.email === "string" ? payload.email : typeof payload.sub === "string" ? payload.sub : "convex-user";
    return `${who.slice(0, 100)} (dashboard)`;
  } catch {
    return "convex-user (dashboard)";
  }
}

export class Sessions {
  private readonly byId = new Map<string, Session>();

  create(principal: Principal, now = Date.now()): Session {
    this.sweep(now);
    if (this.byId.size >= MAX_SESSIONS) {
      const oldest = [...this.byId.values()].sort((a, b) => a.expiresAt - b.expiresAt)[0];
      if (oldest) this.byId.delete(oldest.id);
    }
    const session: Session = { ...principal, id: generateToken(), csrf: generateToken(), expiresAt: now + SESSION_TTL_MS };
    this.byId.set(session.id, session);
    return session;
  }

  get(id: string | undefined, now = Date.now()): Session | null {
    if (!id) return null;
    const s = this.byId.get(id);
    if (!s) return null;
    if (s.expiresAt <= now) {
      this.byId.delete(id);
      return null;
    }
    return s;
  }

  all(): Session[] {
    return [...this.byId.values()];
  }

  private sweep(now: number) {
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
  }
}

/** The headers a same-origin judgement reads (lowercase names, as node:http and Hono give them). */
export interface RequestHeaders {
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/**
 * Why a state-changing request must be refused as cross-site, or null when it is same-origin.
 * Browsers send Origin on every POST and Sec-Fetch-Site on every request; both must agree.
 */
export function crossSiteProblem(req: RequestHeaders, allowedOrigins: ReadonlySet<string>): string | null {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") return `Sec-Fetch-Site is ${JSON.stringify(site)} (expected same-origin)`;
  const origin = req.headers.origin;
  if (origin === undefined) return "the request has no Origin header";
  if (typeof origin !== "string" || !allowedOrigins.has(origin)) return `Origin ${JSON.stringify(origin)} is not this dashboard`;
  return null;
}

export function setSessionCookie(c: Context, id: string, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, id, { path: "/", httpOnly: true, sameSite: "Strict", maxAge: SESSION_TTL_MS / 1000, secure });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Strict" });
}

/** Who is asking: the principal, and the session when the credential was a session cookie. */
export interface Who {
  principal: Principal;
  session: Session | null;
}

/** 401 and no data: a JSON line for the API, a sign-in page for everything else. */
export function unauthorized(c: Context, why: string): Refusal {
  if (c.req.path.startsWith("/api/")) return new Refusal(401, `unauthorized: ${why}`);
  const page =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in required · Fleet dashboard</title></head>` +
    `<body><main><h1>Sign in required</h1><p>The fleet dashboard is for super admins. ${escapeHtml(why)}.</p></main></body></html>`;
  return new Refusal(401, `unauthorized: ${why}`, {}, new Response(page, { status: 401, headers: { "Content-Type": "text/html; charset=utf-8", "WWW-Authenticate": 'Bearer realm="fleet dashboard"' } }));
}

function escapeHtml(s: string) {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const BEARER_CACHE_MS = 5 * 60_000;

/**
 * The dashboard's credential check (store/http.ts's Guard): a session cookie or a bearer token
 * makes a principal; a POST with a session cookie must also be same-origin and carry the
 * session's CSRF token (a cookie rides along on any request the browser makes; a bearer header
 * does not, so a bearer POST needs only an Origin, when sent, that is this dashboard).
 */
export function dashboardGuard(sessions: Sessions, auth: Authenticator, allowedOrigins: () => ReadonlySet<string>): Guard<Who> {
  const bearerCache = new Map<string, { principal: Principal; until: number }>();

  async function identify(c: Context): Promise<Who | null> {
    const session = sessions.get(getCookie(c, SESSION_COOKIE));
    if (session) return { principal: session, session };
    const bearer = /^Bearer ([^\s]+)$/.exec(c.req.header("authorization") ?? "")?.[1];
    if (!bearer) return null;
    const key = createHash("sha256").update(bearer).digest("hex");
    const cached = bearerCache.get(key);
    if (cached && cached.until > Date.now()) return { principal: cached.principal, session: null };
    const principal = await auth.verify(bearer);
    if (!principal) return null;
    bearerCache.set(key, { principal, until: Date.now() + BEARER_CACHE_MS });
    return { principal, session: null };
  }

  return async (c) => {
    const who = await identify(c);
    if (!who) throw unauthorized(c, "sign in: open the URL `fleet dashboard` printed (or send Authorization: Bearer)");
    if (c.req.method !== "POST") return who;
    if (who.session) {
      const problem = crossSiteProblem({ headers: c.req.header() }, allowedOrigins());
      if (problem) refuse(403, `refused as a cross-site request: ${problem}; nothing was changed`);
      const csrf = c.req.header("x-csrf-token");
      if (csrf === undefined || !sameSecret(csrf, who.session.csrf)) refuse(403, "refused: the form's CSRF token is missing or stale (reload the page); nothing was changed");
    } else {
      const origin = c.req.header("origin");
      if (origin !== undefined && !allowedOrigins().has(origin)) refuse(403, `refused as a cross-site request: Origin ${JSON.stringify(origin)} is not this dashboard; nothing was changed`);
    }
    return who;
  };
}

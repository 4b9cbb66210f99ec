// The local Convex stand-in: the project's own convex/ functions, schema and HTTP router, run by
// convex-test's engine, served on loopback with the HTTP interface a deployment has:
//   - the deployment URL (`/api/query`, `/api/mutation`, `/api/action`), spoken by
//     ConvexHttpClient (convex/browser): `{path, format: "convex_encoded_json", args: [args]}` in,
//     `{status: "success", value, logLines}` or, with HTTP 560, `{status: "error", errorMessage,
//     errorData?, logLines}` out, so a ConvexError's data reaches the caller as on a deployment;
//   - the site URL (the router in convex/http.ts: `/fleet/events`), on a second port;
//   - an admin port for the lab only: the test JWT issuer (its JWKS and tokens), stopping and
//     starting the two listeners (an outage), and running the crons on demand.
// A bearer token is checked the way convex/auth.config.ts tells Convex to (issuer, audience =
// application id, signature against the JWKS URL); the verified claims become the identity
// (`tokenIdentifier` = `${iss}|${sub}`). A missing token is an anonymous caller; a bad one is 401.
// What it does not do: keep data across a restart of the process (state is in memory; `stop()`
// keeps it), run crons by itself, enforce Convex's limits unless `transactionLimits` (default on),
// run calls concurrently (they are serialised, which Convex's serialisable transactions allow).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { convexTest } from "convex-test";
import { makeFunctionReference, type AuthConfig, type SchemaDefinition, type GenericSchema } from "convex/server";
import { ConvexError, convexToJson, jsonToConvex, type JSONValue, type Value } from "convex/values";
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";
import type { Context } from "hono";
import { httpApp, listen, Refusal, refuse, sendJson, type Listening } from "../../store/http";
import { testIssuer, type TestIssuer, type TokenOptions } from "./issuer";

export const CONVEX_DIR = path.resolve(__dirname, "..", "..", "convex");
const UDF_FAILED = 560; // what a deployment answers when a function throws (convex/browser reads it)

export interface StandinOptions {
  convexDir?: string;
  /** The deployment's environment (FLEET_HMAC_SECRET, FLEET_SUPER_ADMINS...); FLEET_AUTH_ISSUER defaults to the lab issuer. */
  env?: Record<string, string>;
  /** Subjects of the lab issuer made super admins (FLEET_SUPER_ADMINS = `<issuer>|<subject>`, added to env's). */
  superAdmins?: string[];
  host?: string;
  /** 0 (the default) picks free ports once; a restart after `stop()` reuses them. */
  ports?: { api?: number; site?: number; admin?: number };
  transactionLimits?: boolean;
}

export interface ConvexStandin {
  /** The deployment URL (FLEET_CONVEX_URL). */
  url: string;
  /** The HTTP actions' URL (FLEET_CONVEX_SITE_URL). */
  siteUrl: string;
  adminUrl: string;
  issuer: TestIssuer;
  running(): boolean;
  /** Closes the deployment and site listeners (connections refused); the data stays. */
  stop(): Promise<void>;
  /** Listens again on the same ports. */
  start(): Promise<void>;
  /** Runs code against the database in-process (seeding a test); never reachable over HTTP. */
  run<T>(fn: (ctx: never) => Promise<T>): Promise<T>;
  /** Forgets every document: a fresh, empty deployment on the same URLs. */
  reset(): Promise<void>;
  /** Runs every cron in convex/crons.ts once, now; returns each one's result by name. */
  runCrons(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

type Kind = "query" | "mutation" | "action";
interface Registered {
  isQuery?: boolean;
  isMutation?: boolean;
  isAction?: boolean;
  isPublic?: boolean;
}
type Identity = { issuer: string; subject: string; tokenIdentifier: string } & Record<string, JSONValue | undefined>;

/** convex-test's module map, built from the directory (vitest would give it `import.meta.glob`). */
export function convexModules(dir: string): Record<string, () => Promise<unknown>> {
  const walk = (d: string): string[] =>
    fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
  const files = walk(dir).filter((f) => /\.(ts|js)$/.test(f) && !/\.(test|d)\.ts$/.test(f) && path.basename(f) !== "test.setup.ts");
  return Object.fromEntries(files.map((f) => [`./convex/${path.relative(dir, f).split(path.sep).join("/")}`, () => import(pathToFileURL(f).href)]));
}

/** The verifier for the providers auth.config.ts lists: the first that accepts the token wins. */
async function tokenVerifier(config: AuthConfig): Promise<(token: string) => Promise<Identity>> {
  const checks = await Promise.all(
    config.providers.map(async (p) => {
      if ("type" in p && p.type === "customJwt") {
        const keys = createRemoteJWKSet(new URL(p.jwks));
        return (t: string) => jwtVerify(t, keys, { issuer: p.issuer, algorithms: [p.algorithm], ...(p.applicationID ? { audience: p.applicationID } : {}) });
      }
      // OIDC: the issuer's discovery document names its keys.
      const oidc = p as { domain: string; applicationID: string };
      const domain = oidc.domain.replace(/\/$/, "");
      const discovery = (await (await fetch(`${domain}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
      const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
      return (t: string) => jwtVerify(t, keys, { issuer: [domain, `${domain}/`], audience: oidc.applicationID });
    }),
  );
  return async (token) => {
    let last: unknown = new Error("no auth provider is configured (convex/auth.config.ts)");
    for (const check of checks) {
      try {
        const { payload } = await check(token);
        return identityOf(payload);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  };
}

function identityOf(claims: JWTPayload): Identity {
  // The registered claims are the token's envelope; the rest (email, name...) is the identity.
  const rest: Record<string, unknown> = { ...claims };
  for (const k of ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]) delete rest[k];
  const { iss, sub } = claims;
  if (!iss || !sub) throw new Error("the token has no iss or sub");
  return { ...(rest as Record<string, JSONValue | undefined>), issuer: iss, subject: sub, tokenIdentifier: `${iss}|${sub}` };
}

export async function startConvexStandin(opts: StandinOptions = {}): Promise<ConvexStandin> {
  const dir = opts.convexDir ?? CONVEX_DIR;
  const host = opts.host ?? "127.0.0.1";
  const admin = httpApp({ classify: (e) => new Refusal(500, e instanceof Error ? e.message : String(e)) });
  const adminListener = await listen(admin, host, opts.ports?.admin ?? 0);
  const adminUrl = `http://${host}:${adminListener.port}`;
  const issuer = await testIssuer(adminUrl);
  // The deployment's environment: convex/ reads process.env, as on Convex.
  const admins = [opts.env?.FLEET_SUPER_ADMINS, ...(opts.superAdmins ?? []).map((sub) => `${adminUrl}|${sub}`)].filter((s) => s);
  Object.assign(process.env, { FLEET_AUTH_ISSUER: adminUrl, ...opts.env, ...(admins.length > 0 ? { FLEET_SUPER_ADMINS: admins.join(",") } : {}) });

  const modules = convexModules(dir);
  const load = (file: string) => modules[`./convex/${file}.ts`]?.() ?? modules[`./convex/${file}.js`]?.() ?? Promise.resolve(undefined);
  const schema = ((await load("schema")) as { default: SchemaDefinition<GenericSchema, boolean> }).default;
  const authConfig = ((await load("auth.config")) as { default?: AuthConfig } | undefined)?.default ?? { providers: [] };
  const verify = await tokenVerifier(authConfig);
  const fresh = () => convexTest({ schema, modules, transactionLimits: opts.transactionLimits ?? true });
  let t = fresh();

  // One call at a time: convex-test's in-memory database is not built for interleaved transactions.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn);
    queue = next.catch(() => undefined);
    return next;
  };

  const registered = async (fnPath: string): Promise<Registered | undefined> => {
    const [file, name = "default"] = fnPath.split(":");
    if (!file || /(^|\/)_generated|\.\./.test(file)) return undefined;
    const mod = (await load(file).catch(() => undefined)) as Record<string, Registered> | undefined;
    return mod?.[name];
  };
  const run = (kind: Kind, fnPath: string, args: Record<string, Value>, identity: Identity | null) => {
    const caller = identity ? t.withIdentity(identity) : t;
    if (kind === "query") return caller.query(makeFunctionReference<"query">(fnPath), args);
    if (kind === "mutation") return caller.mutation(makeFunctionReference<"mutation">(fnPath), args);
    return caller.action(makeFunctionReference<"action">(fnPath), args);
  };

  const failed = (c: Context, errorMessage: string, errorData?: JSONValue) =>
    sendJson(c, UDF_FAILED as never, { status: "error", errorMessage, ...(errorData !== undefined ? { errorData } : {}), logLines: [] });

  const api = httpApp({ classify: (e) => new Refusal(500, e instanceof Error ? e.message : String(e)) });
  for (const kind of ["query", "mutation", "action"] as const) {
    api.post(`/api/${kind}`, async (c) => {
      const auth = c.req.header("authorization");
      let identity: Identity | null = null;
      if (auth !== undefined) {
        const token = /^Bearer (.+)$/.exec(auth)?.[1];
        if (!token) refuse(401, "the Authorization header is not `Bearer <JWT>`");
        try {
          identity = await verify(token);
        } catch (e) {
          // As a deployment does: a token it cannot verify is refused before any function runs.
          return c.json({ code: "Unauthenticated", message: `Could not verify the token: ${e instanceof Error ? e.message : String(e)}` }, 401);
        }
      }
      const body = (await c.req.json().catch(() => null)) as { path?: unknown; args?: unknown } | null;
      if (body === null || typeof body.path !== "string" || !Array.isArray(body.args) || body.args.length !== 1) {
        refuse(400, "expected {path, format, args: [args]}");
      }
      const fn = await registered(body.path);
      const is = { query: fn?.isQuery, mutation: fn?.isMutation, action: fn?.isAction }[kind];
      if (!fn || !is || !fn.isPublic) return failed(c, `Could not find public function for '${body.path}'`);
      try {
        const value = await serial(() => run(kind, body.path as string, jsonToConvex((body.args as JSONValue[])[0]!) as Record<string, Value>, identity));
        return sendJson(c, 200, { status: "success", value: convexToJson(value as Value), logLines: [] });
      } catch (e) {
        if (e instanceof ConvexError) return failed(c, e.message, convexToJson(e.data as Value));
        return failed(c, `Uncaught ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      }
    });
  }

  const site = httpApp({ classify: (e) => new Refusal(500, e instanceof Error ? e.message : String(e)) });
  site.all("*", async (c) => {
    const url = new URL(c.req.url);
    const hasBody = c.req.method !== "GET" && c.req.method !== "HEAD";
    const res = await serial(() =>
      t.fetch(`${url.pathname}${url.search}`, { method: c.req.method, headers: c.req.raw.headers, ...(hasBody ? { body: c.req.raw.body, duplex: "half" } : {}) } as RequestInit),
    );
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  });

  let apiListener: Listening | null = null;
  let siteListener: Listening | null = null;
  let ports = { api: opts.ports?.api ?? 0, site: opts.ports?.site ?? 0 };
  const start = async () => {
    if (apiListener) return;
    apiListener = await listen(api, host, ports.api);
    siteListener = await listen(site, host, ports.site);
    // Longer than a client's idle keep-alive, so a reused connection is never closed under a request.
    for (const l of [apiListener, siteListener]) l.server.keepAliveTimeout = 75_000;
    ports = { api: apiListener.port, site: siteListener.port };
  };
  const stop = async () => {
    await Promise.all([apiListener?.close(), siteListener?.close()]);
    apiListener = siteListener = null;
  };

  const runCrons = async () => {
    const crons = ((await load("crons")) as { default: { crons: Record<string, { name: string; args: JSONValue[] }> } }).default.crons;
    const out: Record<string, unknown> = {};
    for (const [id, job] of Object.entries(crons)) {
      const fn = await registered(job.name);
      const kind: Kind = fn?.isAction ? "action" : fn?.isQuery ? "query" : "mutation";
      out[id] = await serial(() => run(kind, job.name, jsonToConvex(job.args[0] ?? {}) as Record<string, Value>, null));
    }
    return out;
  };

  let restartTimer: NodeJS.Timeout | undefined;
  admin.get("/.well-known/jwks.json", (c) => c.json(issuer.jwks()));
  admin.post("/admin/token", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { subject?: unknown } & TokenOptions;
    if (typeof body.subject !== "string" || body.subject.length === 0) refuse(400, "subject: expected a non-empty string");
    return c.json({ token: await issuer.token(body.subject, body) });
  });
  admin.post("/admin/stop", async (c) => {
    const body = (await c.req.json().catch(() => ({}))) as { ms?: unknown };
    await stop();
    clearTimeout(restartTimer);
    if (typeof body.ms === "number") restartTimer = setTimeout(() => void start(), body.ms);
    return c.json({ ok: true, running: false });
  });
  admin.post("/admin/start", async (c) => {
    clearTimeout(restartTimer);
    await start();
    return c.json({ ok: true, running: true });
  });
  admin.post("/admin/reset", async (c) => {
    await serial(async () => void (t = fresh()));
    return c.json({ ok: true });
  });
  admin.post("/admin/crons", async (c) => c.json({ ok: true, results: await runCrons() }));

  await start();
  return {
    url: `http://${host}:${ports.api}`,
    siteUrl: `http://${host}:${ports.site}`,
    adminUrl,
    issuer,
    running: () => apiListener !== null,
    stop,
    start,
    runCrons,
    run: <T>(fn: (ctx: never) => Promise<T>) => serial(() => t.run(fn as never)) as Promise<T>,
    reset: () => serial(async () => void (t = fresh())),
    async close() {
      clearTimeout(restartTimer);
      await stop();
      await adminListener.close();
    },
  };
}

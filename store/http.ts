// The HTTP layer both servers share (the dashboard, and the embedded store's signed events
// endpoint): Hono on node:http, with one body-size limit, one JSON error shape and one way to plug
// in a credential check. Each server brings its own credential (a session or bearer token; an
// HMAC signature) as a Guard; everything a server refuses leaves through one error handler.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import { Hono, type Context, type Env, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { MAX_BODY_BYTES } from "../protocol/signature";
import { errorBody, errorKind, INTERNAL_ERROR, STATUS_FOR_STORE_ERROR, type ErrorBody, type ErrorKind } from "../protocol/httpError";
import { DomainError, RolloutTransitionError } from "./domain";
import { FleetStoreHttpError } from "./convex";
import { StoreError } from "./local";

export { MAX_BODY_BYTES };

export { errorKind, type ErrorBody, type ErrorKind };

/** A request refused with a status and one line; thrown from a guard, a middleware or a handler. */
export class Refusal extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
    /** A finished response (a sign-in page) instead of the JSON shape. */
    res?: Response,
  ) {
    super(status, { message: error, ...(res ? { res } : {}) });
    this.name = "Refusal";
  }

  get body(): ErrorBody {
    return errorBody(this.status, this.error, this.extra);
  }
}

export function refuse(status: ContentfulStatusCode, error: string, extra?: Record<string, unknown>): never {
  throw new Refusal(status, error, extra);
}

const JSON_TYPE = "application/json; charset=utf-8";

export function sendJson(c: Context, status: ContentfulStatusCode, body: unknown): Response {
  return c.body(JSON.stringify(body), status, { "Content-Type": JSON_TYPE });
}

/**
 * What a store's error answers (protocol/httpError.ts STATUS_FOR_STORE_ERROR), or null when the
 * error is not the store's. The Convex adapter's refusals keep their status; its 5xx is an outage.
 */
export function storeRefusal(err: unknown): Refusal | null {
  if (err instanceof StoreError || err instanceof DomainError) return new Refusal(STATUS_FOR_STORE_ERROR[err.kind], err.message);
  if (err instanceof RolloutTransitionError) return new Refusal(STATUS_FOR_STORE_ERROR.transition, err.message);
  if (err instanceof FleetStoreHttpError) return new Refusal(err.status >= 500 ? 503 : (err.status as ContentfulStatusCode), err.status >= 500 ? `the fleet store is unavailable: ${err.message}` : err.message);
  return null;
}

/** An error nobody expected: 500 with no detail for the caller; the detail goes to the log. */
export function internalError(err: unknown, log: (line: string) => void, context = "error"): Refusal {
  log(`${context}: ${err instanceof Error ? err.message : String(err)}`);
  return new Refusal(500, INTERNAL_ERROR);
}

/** The one body-size limit: refused before the body is read when Content-Length says so, else while it streams. */
export const limitBody: MiddlewareHandler = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => {
    // The rest of the body is never read: the connection cannot carry a next request.
    c.header("Connection", "close");
    return refuse(413, `the request body is larger than ${MAX_BODY_BYTES} bytes; nothing was changed`);
  },
});

/**
 * A credential check: who is asking (a principal the handlers read with `c.get("principal")`),
 * or a Refusal (401 for no or a wrong credential, 403 for a good one that may not do this).
 */
export type Guard<P> = (c: Context) => Promise<P>;

export interface Authenticated<P> extends Env {
  Variables: { principal: P };
}

export function authenticate<P>(guard: Guard<P>): MiddlewareHandler<Authenticated<P>> {
  return createMiddleware<Authenticated<P>>(async (c, next) => {
    c.set("principal", await guard(c));
    await next();
  });
}

export interface HttpAppOptions {
  /** What an error that is not a Refusal means (bad input, a conflict, an outage...). */
  classify: (err: unknown, c: Context) => Refusal;
  /** Called with every refusal, for the server's log (never a secret). */
  refused?: (c: Context, refusal: Refusal) => void;
}

/** A Hono app with the shared error handling: every refusal is one JSON line in the one shape. */
export function httpApp<E extends Env>(opts: HttpAppOptions): Hono<E> {
  const app = new Hono<E>();
  app.onError((err, c) => {
    const refusal = err instanceof Refusal ? err : err instanceof HTTPException && err.status < 500 ? new Refusal(err.status, err.message || "bad request") : opts.classify(err, c);
    opts.refused?.(c, refusal);
    return refusal.res ? refusal.getResponse() : sendJson(c, refusal.status, refusal.body);
  });
  app.notFound((c) => {
    const refusal = new Refusal(404, `no such page or API: ${c.req.path}`);
    opts.refused?.(c, refusal);
    return sendJson(c, 404, refusal.body);
  });
  return app;
}

/** 405 for every other method on paths that exist (register after the real routes). */
export function onlyMethods<E extends Env>(app: Hono<E>, paths: Iterable<string>): void {
  for (const p of new Set(paths)) app.all(p, (c) => refuse(405, `${c.req.method} is not allowed here`));
}

export interface Listening {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Serves the app on node:http; resolves once listening (rejects on EADDRINUSE and the like). */
export async function listen<E extends Env>(app: Hono<E>, host: string, port: number): Promise<Listening> {
  // No overriding of the global Request/Response: the process also runs other HTTP clients.
  const server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

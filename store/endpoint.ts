// The embedded store's HTTP endpoint: the same POST /fleet/events protocol as the Convex
// deployment (convex/http.ts) in front of the local store, so agents on hosts (and any machine
// writer) speak one protocol whichever store is in use. HMAC over `${timestamp}.${body}`
// (protocol/signature.ts), stale timestamps and replayed signatures refused, each event applied
// once by its id, per-runtime agent keys scoped to their own runtime of their own stack (protocol/credential.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EVENTS_PATH, KEY_ID_HEADER, MAX_BODY_BYTES, MAX_SKEW_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "../protocol/signature";
import { checkEvent, requestSecret } from "../protocol/request";
import { applyEvent } from "./domain/events";
import { StoreError } from "./local";
import type { FleetStore } from "./types";

// The events' one definition and their one applier, shared with the Convex endpoint.
export { fleetEventSchema, type FleetEvent } from "../protocol/events";
export { applyEvent } from "./domain/events";

export interface EndpointOptions {
  store: FleetStore;
  /** FLEET_HMAC_SECRET: the shared key, and the root of every agent's derived key. */
  hmacSecret: string;
  /** Loopback by default; the endpoint is for the machine's own agents and writers. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  now?: () => number;
  /** One line per refused or failed request (never a secret or a signature). */
  log?: (line: string) => void;
}

export interface Endpoint {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Processed event ids and seen signatures kept in memory (bounded): enough for one machine's writers. */
const MAX_REMEMBERED = 20_000;

export async function startEndpoint(opts: EndpointOptions): Promise<Endpoint> {
  if (!opts.hmacSecret) throw new Error("FLEET_HMAC_SECRET: missing: the endpoint cannot check signatures without it");
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => undefined);
  const seen = new Map<string, number>(); // signature -> seenAt
  const done = new Map<string, Promise<string>>(); // event id -> JSON result

  const remember = <V>(m: Map<string, V>, k: string, v: V) => {
    m.set(k, v);
    if (m.size > MAX_REMEMBERED) m.delete(m.keys().next().value as string);
  };
  const purgeSeen = (t: number) => {
    for (const [sig, at] of seen) {
      if (t - at <= 2 * MAX_SKEW_MS) break; // insertion order = time order
      seen.delete(sig);
    }
  };

  async function handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    if ((req.url ?? "").split("?")[0] !== EVENTS_PATH) return { status: 404, body: { ok: false, error: "not found" } };
    if (req.method !== "POST") return { status: 405, body: { ok: false, error: "method not allowed" } };
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === "string" ? v : null;
    };
    const timestamp = header(TIMESTAMP_HEADER);
    const signature = header(SIGNATURE_HEADER);
    const keyId = header(KEY_ID_HEADER);
    const t = now();
    const head = await requestSecret(opts.hmacSecret, { timestamp, signature, keyId }, t);
    if (!head.ok) return { status: head.status, body: { ok: false, error: head.error } };
    const body = await readBody(req);
    if (body === null) return { status: 413, body: { ok: false, error: "body too large" } };
    const checked = await checkEvent(head, keyId, body);
    if (!checked.ok) return { status: checked.status, body: { ok: false, error: checked.error } };
    // Replay: a signature seen before is refused (as Convex's ingest does, after the checks).
    const sig = head.signature.toLowerCase();
    purgeSeen(t);
    if (seen.has(sig)) return { status: 409, body: { ok: false, error: "replayed request" } };
    remember(seen, sig, t);
    const event = checked.event;
    const previous = done.get(event.id);
    if (previous !== undefined) {
      const result = await previous.catch(() => "null");
      return { status: 200, body: { ok: true, duplicate: true, result: JSON.parse(result) as unknown } };
    }
    const applying = applyEvent(opts.store, event, keyId).then((r) => JSON.stringify(r ?? null));
    remember(done, event.id, applying);
    try {
      return { status: 200, body: { ok: true, duplicate: false, result: JSON.parse(await applying) as unknown } };
    } catch (e) {
      done.delete(event.id); // a failed event may be retried under the same id
      if (e instanceof StoreError) return { status: 400, body: { ok: false, error: e.message } };
      log(`endpoint: ${event.type} ${event.id} failed: ${(e as Error).message}`);
      return { status: 500, body: { ok: false, error: "internal error" } };
    }
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    handle(req).then(
      ({ status, body }) => {
        if (status >= 400) log(`endpoint: ${req.method} ${req.url} -> ${status} ${(body as { error?: string }).error ?? ""} (key ${req.headers[KEY_ID_HEADER] ?? "default"})`);
        const text = JSON.stringify(body);
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      },
      (e: unknown) => {
        log(`endpoint: ${(e as Error).message}`);
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error: "internal error" }));
      },
    );
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", () => resolve(tooLarge ? null : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

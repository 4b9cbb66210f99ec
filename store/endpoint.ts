// The embedded store's HTTP endpoint: the same POST /fleet/events protocol as the Convex
// deployment (convex/http.ts) in front of the local store, so agents on hosts (and any machine
// writer) speak one protocol whichever store is in use. HMAC over `${timestamp}.${body}`
// (protocol/signature.ts), stale timestamps and replayed signatures refused, each event applied
// once by its id, per-runtime agent keys scoped to their own runtime of their own stack
// (protocol/credential.ts). Served with store/http.ts (Hono), as the dashboard is: the signature
// and the event's checks (protocol/request.ts, shared with convex/http.ts) are this server's Guard.
import { EVENTS_PATH, KEY_ID_HEADER, SIGNATURE_HEADER, SIGNATURE_RETENTION_MS, TIMESTAMP_HEADER } from "../protocol/signature";
import { checkEvent, requestSecret } from "../protocol/request";
import { runtimesNamed, type FleetEvent } from "../protocol/events";
import { ingestEvent, type EventLedger } from "./domain/events";
import { authenticate, httpApp, internalError, limitBody, listen, onlyMethods, refuse, sendJson, storeRefusal, type Authenticated, type Guard, type Listening } from "./http";
import type { FleetStore } from "./types";

// The events' one definition and their one applier, shared with the Convex endpoint.
export { fleetEventSchema, type FleetEvent } from "../protocol/events";
export { applyEvent, ingestEvent, type EventLedger } from "./domain/events";

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
  /**
   * The fleet this endpoint serves (`fleet endpoint` passes its stack config): an event about a
   * runtime it does not know is refused with 404 and creates nothing, so a writer cannot add an
   * unconfigured runtime (or one of another stack) to the fleet's counts. Without it, any runtime
   * the signature's scope allows is accepted.
   */
  knows?: (stack: string, accountId: string) => boolean;
}

export interface Endpoint extends Omit<Listening, "server"> {
  url: string;
  host: string;
}

function isLedger(store: unknown): store is EventLedger {
  const s = store as Partial<EventLedger>;
  return typeof s.claimSignature === "function" && typeof s.claimEvent === "function" && typeof s.recordEventResult === "function" && typeof s.forgetEvent === "function";
}

/** Bounded memory of one process: enough for one machine's writers (used when the store keeps no ledger). */
const MAX_REMEMBERED = 20_000;

export function memoryLedger(): EventLedger {
  const seen = new Map<string, number>(); // signature -> seenAt (insertion order = time order)
  const done = new Map<string, string | null>(); // event id -> JSON result (null while applying)
  const remember = <V>(m: Map<string, V>, k: string, v: V) => {
    m.set(k, v);
    if (m.size > MAX_REMEMBERED) m.delete(m.keys().next().value as string);
  };
  return {
    async claimSignature(signature, at) {
      for (const [sig, t] of seen) {
        if (at - t <= SIGNATURE_RETENTION_MS) break;
        seen.delete(sig);
      }
      if (seen.has(signature)) return false;
      remember(seen, signature, at);
      return true;
    },
    async claimEvent(eventId) {
      if (done.has(eventId)) {
        const result = done.get(eventId);
        return result === null || result === undefined ? { fresh: false } : { fresh: false, result };
      }
      remember(done, eventId, null);
      return { fresh: true };
    },
    async recordEventResult(eventId, result) {
      remember(done, eventId, result);
    },
    async forgetEvent(eventId) {
      if (done.get(eventId) === null) done.delete(eventId);
    },
  };
}

export async function startEndpoint(opts: EndpointOptions): Promise<Endpoint> {
  if (!opts.hmacSecret) throw new Error("FLEET_HMAC_SECRET: missing: the endpoint cannot check signatures without it");
  const now = opts.now ?? Date.now;
  const log = opts.log ?? (() => undefined);
  const ledger: EventLedger = isLedger(opts.store) ? opts.store : memoryLedger();
  // Events being applied by this process: a concurrent repeat waits for the first one's answer.
  const inflight = new Map<string, Promise<string>>();

  /** The machine writer's credential and its event: protocol/request.ts's checks, in their order. */
  const signedRequest: Guard<SignedRequest> = async (c) => {
    const keyId = c.req.header(KEY_ID_HEADER) ?? null;
    const t = now();
    const head = await requestSecret(opts.hmacSecret, { timestamp: c.req.header(TIMESTAMP_HEADER) ?? null, signature: c.req.header(SIGNATURE_HEADER) ?? null, keyId }, t);
    if (!head.ok) refuse(head.status, head.error);
    const checked = await checkEvent(head, keyId, await c.req.text());
    if (!checked.ok) refuse(checked.status, checked.error);
    return { keyId, signature: head.signature, event: checked.event, at: t };
  };

  const app = httpApp<Authenticated<SignedRequest>>({
    classify: (e) => storeRefusal(e) ?? internalError(e, log, "endpoint"),
    refused: (c, r) => log(`endpoint: ${c.req.method} ${c.req.path} -> ${r.status} ${r.error} (key ${c.req.header(KEY_ID_HEADER) ?? "default"})`),
  });
  app.use(limitBody);
  app.post(EVENTS_PATH, authenticate(signedRequest), async (c) => {
    const { keyId, signature, event, at: t } = c.get("principal");
    const stranger = opts.knows === undefined ? undefined : runtimesNamed(event).find((r) => !opts.knows!(r.stack, r.accountId));
    if (stranger !== undefined) refuse(404, `unknown runtime ${stranger.stack}/${stranger.accountId}: it is not in the stack config this endpoint serves; nothing was changed`);
    // The one ingest sequence (store/domain/events.ts, as Convex's ingest runs it). The ledger is
    // the store's own when it keeps one, so a replay is refused across restarts.
    let out;
    try {
      out = await ingestEvent(ledger, opts.store, event, keyId, signature, t, inflight);
    } catch (e) {
      throw storeRefusal(e) ?? internalError(e, log, `endpoint: ${event.type} ${event.id} failed`);
    }
    if (out.status === "replay") refuse(409, "replayed request");
    return sendJson(c, 200, { ok: true, duplicate: out.status === "duplicate", result: JSON.parse(out.result) as unknown });
  });
  onlyMethods(app, [EVENTS_PATH]);

  const host = opts.host ?? "127.0.0.1";
  const { port, close } = await listen(app, host, opts.port ?? 0);
  return { url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`, host, port, close };
}

/** What a good signature proves: which key signed this body, and when the request arrived. */
interface SignedRequest {
  keyId: string | null;
  signature: string;
  event: FleetEvent;
  at: number;
}

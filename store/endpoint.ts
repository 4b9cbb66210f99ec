// The embedded store's HTTP endpoint: the same POST /fleet/events protocol as the Convex
// deployment (convex/http.ts) in front of the local store, so agents on hosts (and any machine
// writer) speak one protocol whichever store is in use. HMAC over `${timestamp}.${body}`
// (convex/signature.ts), stale timestamps and replayed signatures refused, each event applied
// once by its id, per-runtime agent keys scoped to their own runtime (agent/credential.ts). Served
// with store/http.ts (Hono), as the dashboard is: the signature is this server's Guard.
import { z } from "zod";
import { EVENTS_PATH, KEY_ID_HEADER, MAX_SKEW_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyPayload } from "../convex/signature";
import { agentEventProblem, isAgentKeyId, secretForKey } from "../agent/credential";
import { ALERT_RULES, ALERT_SEVERITIES } from "../fleet/alerts";
import { RUNTIME_STATUSES } from "../fleet/health";
import { authenticate, httpApp, limitBody, listen, onlyMethods, Refusal, refuse, sendJson, type Authenticated, type Guard, type Listening } from "./http";
import { StoreError } from "./local";
import { ROLLOUT_STATUSES, RUNTIME_PROVIDERS, RUNTIME_ROLLOUT_STATES, UPGRADE_RESULTS, type FleetStore } from "./types";

// Shapes of the events (mirror of convex/http.ts vFleetEvent; the store checks versions itself).
const strategy = z.enum(["rolling", "canary", "immediate"]);
const num = z.number().finite();
const metrics = z.strictObject({
  uptimePercent: num.optional(),
  healthCheckSuccessRate: num.optional(),
  avgResponseTimeMs: num.optional(),
  p99ResponseTimeMs: num.optional(),
  notificationDeliveryRate: num.optional(),
  avgDeliveryLatencyMs: num.optional(),
  errorRate: num.optional(),
  crashCount24h: num.optional(),
});
const observation = z.strictObject({
  stack: z.string(),
  accountId: z.string(),
  provider: z.enum(RUNTIME_PROVIDERS).optional(),
  providerId: z.string().optional(),
  ipAddress: z.string().optional(),
  region: z.string().optional(),
  openclawVersion: z.string().optional(),
  runtimeServiceVersion: z.string().optional(),
  dockerImageTag: z.string().optional(),
  status: z.enum(RUNTIME_STATUSES).optional(),
  lastHealthCheck: num.optional(),
  healthScore: num.optional(),
  metrics: metrics.optional(),
  isCanary: z.boolean().optional(),
  pin: z.string().nullable().optional(),
  observedAt: num.optional(),
});
const pending = z.strictObject({
  targetOpenclawVersion: z.string(),
  targetRuntimeVersion: z.string(),
  initiatedAt: num,
  initiatedBy: z.string(),
  strategy,
  rolloutId: z.string().optional(),
  deadline: num.optional(),
});
const upgrade = z.strictObject({
  eventId: z.string().min(1),
  stack: z.string(),
  accountId: z.string(),
  rolloutId: z.string().optional(),
  fromOpenclaw: z.string(),
  toOpenclaw: z.string(),
  fromRuntimeService: z.string(),
  toRuntimeService: z.string(),
  status: z.enum(UPGRADE_RESULTS),
  startedAt: num,
  completedAt: num.optional(),
  durationMs: num.optional(),
  error: z.string().optional(),
  initiatedBy: z.string(),
  reason: z.string().optional(),
  executor: z.enum(["pulumi", "agent"]),
});
const release = z.strictObject({ openclaw: z.string(), runtimeService: z.string() });
const holder = z.strictObject({ pid: num, host: z.string(), user: z.string(), startedAt: num, rolloutId: z.string().optional() });
const details = z.record(z.string(), z.union([z.string(), num, z.boolean(), z.null()]));
const alert = z.strictObject({
  key: z.string(),
  rule: z.enum(ALERT_RULES),
  severity: z.enum(ALERT_SEVERITIES),
  stack: z.string().optional(),
  accountId: z.string().optional(),
  rolloutId: z.string().optional(),
  message: z.string(),
  details: details.optional(),
});
const id = z.string().min(1).max(200);
const runtimeState = z.strictObject({ accountId: z.string(), state: z.enum(RUNTIME_ROLLOUT_STATES), error: z.string().optional() });

export const fleetEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ id, type: z.literal("runtime.upsert"), runtimes: z.array(observation).max(1000) }),
  z.strictObject({ id, type: z.literal("runtime.pending"), stack: z.string(), accountId: z.string(), pending: pending.nullable() }),
  z.strictObject({
    id,
    type: z.literal("upgrade.started"),
    stack: z.string(),
    accountId: z.string(),
    rolloutId: z.string().optional(),
    targetOpenclawVersion: z.string(),
    targetRuntimeVersion: z.string(),
    strategy,
    initiatedBy: z.string(),
    at: num.optional(),
  }),
  z.strictObject({ id, type: z.literal("upgrade.result"), upgrade }),
  z.strictObject({
    id,
    type: z.literal("rollout.created"),
    rollout: z.strictObject({
      rolloutId: z.string(),
      stack: z.string(),
      target: release,
      strategy,
      options: z.record(z.string(), z.union([num, z.boolean()])),
      initiatedBy: z.string(),
      reason: z.string().optional(),
      batches: z.array(z.array(z.string())),
      previous: z.array(z.array(release)).optional(),
      status: z.enum(ROLLOUT_STATUSES).optional(),
      createdAt: num.optional(),
    }),
  }),
  z.strictObject({
    id,
    type: z.literal("rollout.updated"),
    rolloutId: z.string(),
    patch: z.strictObject({
      status: z.enum(ROLLOUT_STATUSES).optional(),
      currentBatch: num.optional(),
      runtimeStates: z.array(runtimeState).optional(),
      gate: z
        .strictObject({ at: num, batch: num, decision: z.enum(["go", "wait", "pause", "halt"]), reason: z.string(), measures: z.record(z.string(), num).optional() })
        .optional(),
      reason: z.string().optional(),
      at: num.optional(),
    }),
  }),
  z.strictObject({ id, type: z.literal("rollout.lock"), stack: z.string(), holder }),
  z.strictObject({
    id,
    type: z.literal("rollout.unlock"),
    stack: z.string(),
    holder: z.strictObject({ pid: num, host: z.string() }),
    mode: z.enum(["release", "break"]),
  }),
  z.strictObject({ id, type: z.literal("alert.open"), alert }),
  z.strictObject({ id, type: z.literal("alert.update"), alert }),
  z.strictObject({ id, type: z.literal("alert.close"), key: z.string() }),
  z.strictObject({
    id,
    type: z.literal("activity"),
    activity: z.strictObject({
      actor: z.string(),
      action: z.string(),
      message: z.string(),
      stack: z.string().optional(),
      accountId: z.string().optional(),
      rolloutId: z.string().optional(),
      at: num.optional(),
    }),
  }),
]);
export type FleetEvent = z.infer<typeof fleetEventSchema>;

/** Applies one event to the store; what the poster gets back (the same as convex/http.ts). */
export async function applyEvent(store: FleetStore, event: FleetEvent, keyId: string | null): Promise<unknown> {
  switch (event.type) {
    case "runtime.upsert": {
      await store.upsertRuntimes(event.runtimes);
      // An agent's heartbeat learns its pending upgrade from the answer (no second request).
      if (isAgentKeyId(keyId)) {
        const rt = event.runtimes[0]!;
        return { count: 1, pendingUpgrade: await store.getPendingUpgrade(rt.stack, rt.accountId) };
      }
      return { count: event.runtimes.length };
    }
    case "runtime.pending":
      await store.setPendingUpgrade(event.stack, event.accountId, event.pending);
      return null;
    case "upgrade.started": {
      const { id: _id, type: _type, ...start } = event;
      void _id;
      void _type;
      await store.markUpgradeStarted(start);
      return null;
    }
    case "upgrade.result":
      return await store.recordUpgrade(event.upgrade);
    case "rollout.created":
      return await store.createRollout(event.rollout);
    case "rollout.updated":
      return await store.updateRollout(event.rolloutId, event.patch);
    case "rollout.lock":
      return await store.acquireLock(event.stack, event.holder);
    case "rollout.unlock":
      return { released: event.mode === "break" ? await store.breakLock(event.stack, event.holder) : await store.releaseLock(event.stack, event.holder) };
    case "alert.open":
    case "alert.update":
      return await store.openAlert(event.alert);
    case "alert.close":
      return { closed: await store.closeAlert(event.key) };
    case "activity":
      await store.appendActivity(event.activity);
      return null;
  }
}

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

export interface Endpoint extends Omit<Listening, "server"> {
  url: string;
  host: string;
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

  /** The machine writer's credential: a fresh timestamp, a known key, and an HMAC over the body. */
  const signedRequest: Guard<SignedRequest> = async (c) => {
    const timestamp = c.req.header(TIMESTAMP_HEADER);
    const signature = c.req.header(SIGNATURE_HEADER);
    const keyId = c.req.header(KEY_ID_HEADER) ?? null;
    if (timestamp === undefined || signature === undefined) refuse(401, "missing signature headers");
    const t = now();
    if (!/^\d{1,16}$/.test(timestamp) || Math.abs(t - Number(timestamp)) > MAX_SKEW_MS) refuse(401, "stale or invalid timestamp");
    const secret = await secretForKey(opts.hmacSecret, keyId);
    if (secret === null) refuse(401, "unknown key");
    const body = await c.req.text();
    if (!(await verifyPayload(secret, timestamp, body, signature))) refuse(401, "bad signature");
    return { keyId, signature, body, at: t };
  };

  const app = httpApp<Authenticated<SignedRequest>>({
    classify: (e) => {
      log(`endpoint: ${(e as Error).message}`);
      return new Refusal(500, "internal error");
    },
    refused: (c, r) => log(`endpoint: ${c.req.method} ${c.req.path} -> ${r.status} ${r.error} (key ${c.req.header(KEY_ID_HEADER) ?? "default"})`),
  });
  app.use(limitBody);
  app.post(EVENTS_PATH, authenticate(signedRequest), async (c) => {
    const { keyId, signature, body, at: t } = c.get("principal");
    const sig = signature.toLowerCase();
    purgeSeen(t);
    if (seen.has(sig)) refuse(409, "replayed request");
    remember(seen, sig, t);
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      refuse(400, "body is not JSON");
    }
    if (typeof raw !== "object" || raw === null || typeof (raw as { id?: unknown }).id !== "string" || (raw as { id: string }).id.length === 0) {
      refuse(400, "event needs a string id");
    }
    if (isAgentKeyId(keyId)) {
      const problem = agentEventProblem(keyId, raw);
      if (problem !== null) refuse(403, problem);
    }
    const parsed = fleetEventSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      refuse(400, `invalid event: ${issue ? `${issue.path.join(".") || "(event)"}: ${issue.message}` : "invalid"}`);
    }
    const event = parsed.data;
    const previous = done.get(event.id);
    if (previous !== undefined) {
      const result = await previous.catch(() => "null");
      return sendJson(c, 200, { ok: true, duplicate: true, result: JSON.parse(result) as unknown });
    }
    const applying = applyEvent(opts.store, event, keyId).then((r) => JSON.stringify(r ?? null));
    remember(done, event.id, applying);
    try {
      return sendJson(c, 200, { ok: true, duplicate: false, result: JSON.parse(await applying) as unknown });
    } catch (e) {
      done.delete(event.id); // a failed event may be retried under the same id
      if (e instanceof StoreError) refuse(400, e.message);
      log(`endpoint: ${event.type} ${event.id} failed: ${(e as Error).message}`);
      refuse(500, "internal error");
    }
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
  body: string;
  at: number;
}

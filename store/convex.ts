// The Convex adapter: machine writes go to the HMAC-signed HTTP endpoint (/fleet/events) with an
// event id each (a retried post is applied once); reads, and the two admin writes (system config,
// alert acknowledge), go through Convex queries/mutations as a super admin. Both go through a tiny
// transport, so the contract suite drives the real functions through convex-test.
import { EVENTS_PATH, signedHeaders } from "../protocol/signature";
import type {
  ActivityInput,
  ActivityRecord,
  AlertInput,
  AlertRecord,
  AlertStatus,
  ConfigValue,
  FleetOverview,
  FleetStore,
  HistoryQuery,
  LockHolder,
  LockResult,
  Page,
  PendingUpgrade,
  RolloutDetail,
  RolloutInput,
  RolloutPatch,
  RolloutRecord,
  RuntimeDetail,
  RuntimeObservation,
  RuntimeRecord,
  RuntimeStatus,
  SystemConfigEntry,
  SystemConfigKey,
  UpgradeEvent,
  UpgradeStart,
} from "./types";

/** How the adapter reaches a deployment. `name` is a Convex function path like "runtimes:get". */
export interface ConvexTransport {
  /** POST a body with headers to the deployment's HTTP actions (`EVENTS_PATH`). */
  post(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }>;
  query(name: string, args: Record<string, unknown>): Promise<unknown>;
  mutation(name: string, args: Record<string, unknown>): Promise<unknown>;
}

export interface ConvexStoreOptions {
  transport: ConvexTransport;
  /** FLEET_HMAC_SECRET of the deployment. */
  hmacSecret: string;
  /** Key id sent as x-fleet-key-id: none or "default" for the shared key (an agent's is `stack/accountId`). */
  keyId?: string;
  /** Retries of a failed post (network error or 5xx); the same event id is reused. */
  retries?: number;
  now?: () => number;
}

export class FleetStoreHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "FleetStoreHttpError";
  }
}

/** Removes undefined fields (Convex validators reject explicit undefined in JSON bodies' absence semantics). */
function clean<T>(o: T): T {
  return JSON.parse(JSON.stringify(o)) as T;
}

const UPSERT_CHUNK = 200;

export class ConvexFleetStore implements FleetStore {
  readonly kind = "convex" as const;
  private readonly t: ConvexTransport;
  private readonly now: () => number;

  constructor(private readonly opts: ConvexStoreOptions) {
    this.t = opts.transport;
    this.now = opts.now ?? Date.now;
  }

  /** Posts one event, signed; retries reuse the event id so the server applies it once. */
  private async send<T>(event: { type: string; id?: string } & Record<string, unknown>): Promise<T> {
    return (await this.sendWithStatus<T>(event)).result;
  }

  /** `duplicate`: the server had applied this event id before and returned the first result. */
  private async sendWithStatus<T>(event: { type: string; id?: string } & Record<string, unknown>): Promise<{ result: T; duplicate: boolean }> {
    const full = clean({ ...event, id: event.id ?? `ev_${crypto.randomUUID()}` });
    const body = JSON.stringify(full);
    const attempts = 1 + (this.opts.retries ?? 2);
    let lastError: unknown;
    let lastTs = 0;
    for (let i = 0; i < attempts; i++) {
      try {
        // A retry must not reuse a timestamp: the same signature twice is refused as a replay.
        lastTs = Math.max(this.now(), lastTs + 1);
        const headers = await signedHeaders(this.opts.hmacSecret, body, lastTs, this.opts.keyId);
        const res = await this.t.post(EVENTS_PATH, body, headers);
        const parsed = JSON.parse(res.body) as { ok: boolean; result?: T; duplicate?: boolean; error?: string };
        if (res.status === 200 && parsed.ok) return { result: parsed.result as T, duplicate: parsed.duplicate === true };
        lastError = new FleetStoreHttpError(res.status, parsed.error ?? `HTTP ${res.status}`);
        if (res.status < 500) break;
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError;
  }

  async upsertRuntimes(observations: RuntimeObservation[]): Promise<void> {
    for (let i = 0; i < observations.length; i += UPSERT_CHUNK) {
      await this.send({ type: "runtime.upsert", runtimes: observations.slice(i, i + UPSERT_CHUNK) });
    }
  }

  async listRuntimes(filter: { stack?: string; status?: RuntimeStatus } = {}): Promise<RuntimeRecord[]> {
    const out: RuntimeRecord[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page = (await this.t.query("runtimes:list", clean({ ...filter, cursor, limit: 500 }))) as Page<RuntimeRecord>;
      out.push(...page.items);
      if (page.isDone || page.cursor === null) break;
      cursor = page.cursor;
    }
    return out.sort((a, b) => a.stack.localeCompare(b.stack) || (a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0));
  }

  async getRuntime(stack: string, accountId: string, opts: { upgrades?: number } = {}): Promise<RuntimeDetail | null> {
    return (await this.t.query("runtimes:get", clean({ stack, accountId, upgrades: opts.upgrades }))) as RuntimeDetail | null;
  }

  async setPendingUpgrade(stack: string, accountId: string, pending: PendingUpgrade | null): Promise<void> {
    await this.send({ type: "runtime.pending", stack, accountId, pending });
  }

  async getPendingUpgrade(stack: string, accountId: string): Promise<PendingUpgrade | null> {
    return (await this.t.query("runtimes:getPendingUpgrade", { stack, accountId })) as PendingUpgrade | null;
  }

  async markUpgradeStarted(start: UpgradeStart): Promise<void> {
    await this.send({ type: "upgrade.started", ...start });
  }

  async recordUpgrade(event: UpgradeEvent): Promise<{ recorded: boolean }> {
    // The upgrade's own id is the event id: a hook's outbox replaying it is applied once.
    const r = await this.sendWithStatus<{ recorded: boolean }>({ type: "upgrade.result", id: `upgrade:${event.eventId}`, upgrade: event });
    return { recorded: r.result.recorded && !r.duplicate };
  }

  async listUpgrades(q: HistoryQuery = {}): Promise<Page<UpgradeEvent>> {
    return (await this.t.query("history:list", clean({ ...q, cursor: q.cursor ?? null }))) as Page<UpgradeEvent>;
  }

  async createRollout(input: RolloutInput): Promise<RolloutRecord> {
    const r = await this.sendWithStatus<RolloutRecord | null>({ type: "rollout.created", id: `rollout.created:${input.rolloutId}`, rollout: input });
    // A repeat answers the record as it is now (as the local store does), not as first created.
    return r.duplicate || r.result === null ? await this.readRollout(input.rolloutId) : r.result;
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch): Promise<RolloutRecord> {
    const r = await this.send<RolloutRecord | null>({ type: "rollout.updated", rolloutId, patch });
    return r ?? (await this.readRollout(rolloutId));
  }

  /** A repeated post of a large rollout gets no stored result back: read the record instead. */
  private async readRollout(rolloutId: string): Promise<RolloutRecord> {
    const detail = await this.getRollout(rolloutId);
    if (detail === null) throw new FleetStoreHttpError(404, `no rollout ${rolloutId}`);
    const { runtimes, ...record } = detail;
    void runtimes;
    return record;
  }

  async getRollout(rolloutId: string): Promise<RolloutDetail | null> {
    return (await this.t.query("rollouts:get", { rolloutId })) as RolloutDetail | null;
  }

  async listRollouts(filter: { stack?: string; limit?: number } = {}): Promise<RolloutRecord[]> {
    return (await this.t.query("rollouts:list", clean(filter))) as RolloutRecord[];
  }

  async activeRollout(stack: string): Promise<RolloutRecord | null> {
    return (await this.t.query("rollouts:active", { stack })) as RolloutRecord | null;
  }

  async acquireLock(stack: string, holder: LockHolder): Promise<LockResult> {
    return await this.send<LockResult>({ type: "rollout.lock", stack, holder });
  }

  async releaseLock(stack: string, holder: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    const r = await this.send<{ released: boolean }>({ type: "rollout.unlock", stack, holder: { pid: holder.pid, host: holder.host }, mode: "release" });
    return r.released;
  }

  async breakLock(stack: string, expected: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    const r = await this.send<{ released: boolean }>({ type: "rollout.unlock", stack, holder: { pid: expected.pid, host: expected.host }, mode: "break" });
    return r.released;
  }

  async getLock(stack: string): Promise<LockHolder | null> {
    return (await this.t.query("rollouts:lock", { stack })) as LockHolder | null;
  }

  async getConfig(): Promise<SystemConfigEntry[]> {
    return (await this.t.query("systemConfig:get", {})) as SystemConfigEntry[];
  }

  /** An admin write: the caller's identity (the auth token) is recorded as updatedBy; `updatedBy` is informational here. */
  async setConfig(key: SystemConfigKey, value: ConfigValue, updatedBy: string): Promise<void> {
    void updatedBy;
    await this.t.mutation("systemConfig:set", { key, value });
  }

  async openAlert(alert: AlertInput): Promise<AlertRecord> {
    return await this.send<AlertRecord>({ type: "alert.open", alert });
  }

  async closeAlert(key: string): Promise<boolean> {
    return (await this.send<{ closed: boolean }>({ type: "alert.close", key })).closed;
  }

  async listAlerts(filter: { status?: AlertStatus; stack?: string; accountId?: string; limit?: number } = {}): Promise<AlertRecord[]> {
    return (await this.t.query("alerts:list", clean(filter))) as AlertRecord[];
  }

  async acknowledgeAlert(alertId: string, by: string): Promise<boolean> {
    void by;
    return (await this.t.mutation("alerts:acknowledge", { alertId })) as boolean;
  }

  async appendActivity(activity: ActivityInput): Promise<void> {
    await this.send({ type: "activity", activity });
  }

  async listActivities(filter: { stack?: string; accountId?: string; limit?: number } = {}): Promise<ActivityRecord[]> {
    return (await this.t.query("activities:list", clean(filter))) as ActivityRecord[];
  }

  async overview(filter: { stack?: string; recentRollouts?: number } = {}): Promise<FleetOverview> {
    return (await this.t.query("overview:get", clean(filter))) as FleetOverview;
  }

  async close(): Promise<void> {}
}

/** No connection was made: nothing reached the deployment, so any call may be sent again as it was. */
const NOT_CONNECTED = ["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"];
/** The connection broke mid-call: the answer was lost, so only a read may be sent again as it was. */
const CUT_OFF = [...NOT_CONNECTED, "ECONNRESET", "EPIPE", "UND_ERR_SOCKET"];

function errorCodes(e: unknown): string[] {
  const codes: string[] = [];
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 4; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

export function isUnreachable(e: unknown, read = false): boolean {
  return errorCodes(e).some((c) => (read ? CUT_OFF : NOT_CONNECTED).includes(c));
}

/**
 * Retries while the deployment is unreachable, backing off, for up to `forMs`: a short outage
 * stalls the caller (a rollout waits) instead of failing it. A signed post is resent only when it
 * never left (the same signature twice is refused as a replay); a read also when it was cut off.
 */
export async function whileUnreachable<T>(fn: () => Promise<T>, forMs: number, read: boolean, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      return await fn();
    } catch (e) {
      if (!isUnreachable(e, read) || Date.now() + wait > deadline) throw e;
      await sleep(wait);
    }
  }
}

/**
 * The production transport: fetch to `<deployment>.convex.site` for HTTP actions and
 * ConvexHttpClient (auth token = a super admin's JWT) for queries and mutations. While the
 * deployment cannot be reached, calls are retried for `retryForMs` (default 60 s).
 */
export async function httpTransport(opts: { url: string; siteUrl?: string; authToken?: string; retryForMs?: number }): Promise<ConvexTransport> {
  const { ConvexHttpClient } = await import("convex/browser");
  const { makeFunctionReference } = await import("convex/server");
  const client = new ConvexHttpClient(opts.url);
  if (opts.authToken) client.setAuth(opts.authToken);
  const site = (opts.siteUrl ?? opts.url.replace(/\.convex\.cloud\/?$/, ".convex.site")).replace(/\/$/, "");
  const forMs = opts.retryForMs ?? 60_000;
  // Still unreachable when the retries are spent: the store is unavailable (503 on the dashboard,
  // the outbox for the hooks), said once with the deployment's address rather than as a raw fetch error.
  const unavailable = async <T>(call: Promise<T>, read: boolean): Promise<T> => {
    try {
      return await call;
    } catch (e) {
      if (!isUnreachable(e, read)) throw e;
      const err = new FleetStoreHttpError(503, `the Convex deployment ${opts.url} cannot be reached: ${e instanceof Error ? e.message : String(e)}`);
      (err as { cause?: unknown }).cause = e;
      throw err;
    }
  };
  return {
    post: (path, body, headers) =>
      unavailable(
        whileUnreachable(async () => {
          const res = await fetch(`${site}${path}`, { method: "POST", body, headers });
          return { status: res.status, body: await res.text() };
        }, forMs, false),
        false,
      ),
    query: (name, args) => unavailable(whileUnreachable(() => client.query(makeFunctionReference<"query">(name), args), forMs, true), true),
    mutation: (name, args) => unavailable(whileUnreachable(() => client.mutation(makeFunctionReference<"mutation">(name), args), forMs, false), false),
  };
}

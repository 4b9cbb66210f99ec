// The embedded local store: one SQLite file (Node 24's built-in node:sqlite, no server, no native
// npm module). WAL journal + synchronous=FULL + busy_timeout; every write is one IMMEDIATE
// transaction, so a kill -9 mid-write leaves the last committed state intact and two processes
// writing at once serialize instead of corrupting the file.
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { accessSync, constants as fsConstants, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { StoreErrorKind } from "../protocol/httpError";
import { PROCESSED_EVENT_RETENTION_MS, SIGNATURE_RETENTION_MS } from "../protocol/signature";
import * as domain from "./domain";
import { DomainError, RolloutTransitionError, clean, type AlertRow } from "./domain";
import { ACTIVE_ROLLOUT_STATUSES } from "./domain/lifecycle";
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
  RolloutRuntimeState,
  RuntimeDetail,
  RuntimeObservation,
  RuntimeRecord,
  RuntimeRolloutState,
  RuntimeStatus,
  SystemConfigEntry,
  SystemConfigKey,
  UpgradeEvent,
  UpgradeStart,
} from "./types";

export type { StoreErrorKind };

/**
 * Every error of the local store. `io`: the file could not be read or written (the message names
 * it); the others are a refused transition (the domain's message, one line naming the value).
 */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly kind: StoreErrorKind = "invalid",
    readonly file?: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runtimes (
  stack TEXT NOT NULL, account_id TEXT NOT NULL, status TEXT NOT NULL, openclaw TEXT NOT NULL,
  doc TEXT NOT NULL, PRIMARY KEY (stack, account_id));
CREATE INDEX IF NOT EXISTS runtimes_status ON runtimes (stack, status);
CREATE TABLE IF NOT EXISTS upgrade_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, stack TEXT NOT NULL,
  account_id TEXT NOT NULL, rollout_id TEXT, started_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS upgrade_events_runtime ON upgrade_events (stack, account_id, started_at, seq);
CREATE INDEX IF NOT EXISTS upgrade_events_time ON upgrade_events (started_at, seq);
CREATE INDEX IF NOT EXISTS upgrade_events_rollout ON upgrade_events (rollout_id, started_at, seq);
CREATE TABLE IF NOT EXISTS rollouts (
  rollout_id TEXT PRIMARY KEY, stack TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,
  seq INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rollouts_stack ON rollouts (stack, created_at, seq);
CREATE TABLE IF NOT EXISTS rollout_runtimes (
  rollout_id TEXT NOT NULL, account_id TEXT NOT NULL, state TEXT NOT NULL, error TEXT,
  updated_at INTEGER NOT NULL, from_openclaw TEXT, from_runtime_service TEXT, PRIMARY KEY (rollout_id, account_id));
CREATE TABLE IF NOT EXISTS locks (stack TEXT PRIMARY KEY, holder TEXT NOT NULL, acquired_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lease_generations (stack TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS system_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, status TEXT NOT NULL, stack TEXT,
  account_id TEXT, opened_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_key ON alerts (key, status);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, opened_at);
CREATE TABLE IF NOT EXISTS activities (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, stack TEXT, account_id TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS activities_at ON activities (at, id);
CREATE TABLE IF NOT EXISTS processed_events (event_id TEXT PRIMARY KEY, type TEXT NOT NULL, received_at INTEGER NOT NULL, result TEXT);
CREATE INDEX IF NOT EXISTS processed_events_received ON processed_events (received_at);
CREATE TABLE IF NOT EXISTS seen_signatures (signature TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS seen_signatures_seen ON seen_signatures (seen_at);
`;

type Row = Record<string, SQLInputValue>;

export interface LocalStoreOptions {
  /** The database file (the CLI passes `.fleet/<stack>.db`, or FLEET_STORE_PATH). */
  path: string;
  /** Milliseconds a writer waits for another process's transaction (default 10 s). */
  busyTimeoutMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** The ledger's retention periods: one definition, shared with Convex's purge (protocol/signature.ts). */
export { PROCESSED_EVENT_RETENTION_MS, SIGNATURE_RETENTION_MS };

/** `WHERE a = ? AND b = ?` for the filters that are set. */
function whereOf(filters: [column: string, value: SQLInputValue | undefined][], extra: { clause: string; params: SQLInputValue[] }[] = []) {
  const set = filters.filter((f): f is [string, SQLInputValue] => f[1] !== undefined);
  const clauses = [...set.map(([c]) => `${c} = ?`), ...extra.map((e) => e.clause)];
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params: [...set.map(([, v]) => v), ...extra.flatMap((e) => e.params)] };
}

function writable(path: string): NodeJS.ErrnoException | null {
  try {
    accessSync(path, fsConstants.W_OK);
    return null;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
}

/**
 * Whether the store can be written before anything is touched: the directory (SQLite creates the
 * -wal and -shm files beside the database) and every file that exists. Returns the refusal, or
 * whether to run without the shared-memory map (directory not writable, files are).
 */
function writeAccess(path: string): { problem: StoreError } | { noSharedMemory: boolean } {
  const files = [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f));
  for (const f of files) {
    const e = writable(f);
    if (e) return { problem: new StoreError(`store ${f} is not writable (${e.code ?? e.message}): nothing was recorded`, "io", f) };
  }
  const dir = dirname(path);
  const dirProblem = writable(dir);
  if (dirProblem === null) return { noSharedMemory: false };
  // Without a writable directory SQLite cannot create the -wal file; with an existing one it can
  // still write, if it keeps the WAL index in its own memory (EXCLUSIVE locking) instead of a
  // memory-mapped -shm it cannot create or grow.
  if (files.includes(path) && files.includes(`${path}-wal`)) return { noSharedMemory: true };
  return { problem: new StoreError(`store directory ${dir} is not writable (${dirProblem.code ?? dirProblem.message}): nothing was recorded`, "io", dir) };
}

export class LocalFleetStore implements FleetStore {
  readonly kind = "local" as const;
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly now: () => number;

  constructor(opts: LocalStoreOptions) {
    this.path = opts.path;
    // Read at each call (not captured): a test that sets the system clock moves the store with it.
    this.now = opts.now ?? (() => Date.now());
    try {
      mkdirSync(dirname(opts.path), { recursive: true });
    } catch (e) {
      throw new StoreError(`store directory ${dirname(opts.path)} cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, "io", dirname(opts.path));
    }
    const access = writeAccess(opts.path);
    if ("problem" in access) throw access.problem;
    this.db = this.io(() => new DatabaseSync(opts.path, { timeout: opts.busyTimeoutMs ?? 10_000 }));
    this.io(() => {
      this.db.exec(`PRAGMA busy_timeout = ${Math.floor(opts.busyTimeoutMs ?? 10_000)}`);
      if (access.noSharedMemory) this.db.exec("PRAGMA locking_mode = EXCLUSIVE");
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = FULL");
      this.db.exec("PRAGMA foreign_keys = ON");
    });
    this.tx(() => this.db.exec(SCHEMA));
  }

  /** Runs SQLite work; its errors become StoreErrors naming the file, the domain's keep their message. */
  private io<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.storeError(e);
    }
  }

  private storeError(e: unknown): unknown {
    if (e instanceof StoreError) return e;
    if (e instanceof RolloutTransitionError) return new StoreError(e.message, "transition");
    if (e instanceof DomainError) return new StoreError(e.message, e.kind);
    // A closed store is one that cannot be read: an outage naming the file, not a program error.
    if (e instanceof Error && (e as { code?: string }).code === "ERR_INVALID_STATE") return new StoreError(`store ${this.path}: ${e.message}`, "io", this.path);
    if (e instanceof Error && (e as { code?: string }).code === "ERR_SQLITE_ERROR") {
      return new StoreError(`store ${this.path}: ${(e as { errstr?: string }).errstr ?? e.message}`, "io", this.path);
    }
    return e;
  }

  /** One IMMEDIATE transaction: the write lock is taken up front, so concurrent writers wait (busy_timeout) rather than fail mid-way. */
  private tx<T>(fn: () => T): T {
    return this.io(() => {
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const out = fn();
        this.db.exec("COMMIT");
        return out;
      } catch (e) {
        if (this.db.isTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  private all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.io(() => this.db.prepare(sql).all(...params) as Row[]);
  }
  private one(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.io(() => this.db.prepare(sql).get(...params) as Row | undefined);
  }
  private run(sql: string, ...params: SQLInputValue[]) {
    return this.db.prepare(sql).run(...params);
  }

  // Runtimes -------------------------------------------------------------------------------

  private readRuntime(stack: string, accountId: string): RuntimeRecord | null {
    const row = this.one("SELECT doc FROM runtimes WHERE stack = ? AND account_id = ?", stack, accountId);
    return row ? (JSON.parse(row.doc as string) as RuntimeRecord) : null;
  }

  private writeRuntime(r: RuntimeRecord) {
    this.run(
      "INSERT INTO runtimes (stack, account_id, status, openclaw, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT (stack, account_id) DO UPDATE SET status = excluded.status, openclaw = excluded.openclaw, doc = excluded.doc",
      r.stack,
      r.accountId,
      r.status,
      r.openclawVersion,
      JSON.stringify(clean(r)),
    );
  }

  async upsertRuntimes(observations: RuntimeObservation[]): Promise<void> {
    const now = this.now();
    this.tx(() => {
      for (const o of observations) {
        const next = domain.observeRuntime(this.readRuntime(o.stack, o.accountId), o, now);
        if (next !== null) this.writeRuntime(next);
      }
    });
  }

  async listRuntimes(filter: { stack?: string; status?: RuntimeStatus } = {}): Promise<RuntimeRecord[]> {
    const w = whereOf([["stack", filter.stack], ["status", filter.status]]);
    return this.all(`SELECT doc FROM runtimes ${w.sql} ORDER BY stack, account_id`, ...w.params).map((r) => JSON.parse(r.doc as string) as RuntimeRecord);
  }

  async getRuntime(stack: string, accountId: string, opts: { upgrades?: number } = {}): Promise<RuntimeDetail | null> {
    const r = this.readRuntime(stack, accountId);
    if (r === null) return null;
    const n = Math.min(Math.max(0, opts.upgrades ?? 10), 100);
    const recent = this.all(
      "SELECT doc FROM upgrade_events WHERE stack = ? AND account_id = ? ORDER BY started_at DESC, seq DESC LIMIT ?",
      stack,
      accountId,
      n,
    ).map((x) => JSON.parse(x.doc as string) as UpgradeEvent);
    return { ...r, recentUpgrades: recent };
  }

  async setPendingUpgrade(stack: string, accountId: string, pending: PendingUpgrade | null): Promise<void> {
    const now = this.now();
    this.tx(() => this.writeRuntime(domain.withPendingUpgrade(this.readRuntime(stack, accountId), stack, accountId, pending, now)));
  }

  async getPendingUpgrade(stack: string, accountId: string): Promise<PendingUpgrade | null> {
    return this.readRuntime(stack, accountId)?.pendingUpgrade ?? null;
  }

  async markUpgradeStarted(start: UpgradeStart): Promise<void> {
    const now = this.now();
    this.tx(() => {
      const { runtime, at } = domain.startUpgrade(this.readRuntime(start.stack, start.accountId), start, now);
      this.writeRuntime(runtime);
      this.applyRolloutState(domain.rolloutStateOnStart(start, at));
    });
  }

  // Upgrade history ------------------------------------------------------------------------

  async recordUpgrade(event: UpgradeEvent): Promise<{ recorded: boolean }> {
    const now = this.now();
    return this.tx(() => {
      // Checked first, then a repeat is answered as one (as the endpoints check a post, then dedupe it).
      const ev = domain.upgradeRecord(event);
      if (this.one("SELECT 1 AS x FROM upgrade_events WHERE event_id = ?", ev.eventId)) return { recorded: false };
      this.run(
        "INSERT INTO upgrade_events (event_id, stack, account_id, rollout_id, started_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
        ev.eventId,
        ev.stack,
        ev.accountId,
        ev.rolloutId ?? null,
        ev.startedAt,
        JSON.stringify(ev),
      );
      const next = domain.runtimeUpgraded(this.readRuntime(ev.stack, ev.accountId), ev, now);
      if (next !== null) this.writeRuntime(next);
      this.applyRolloutState(domain.rolloutStateOnResult(ev, now));
      return { recorded: true };
    });
  }

  async listUpgrades(q: HistoryQuery = {}): Promise<Page<UpgradeEvent>> {
    const limit = Math.min(Math.max(1, q.limit ?? 50), 500);
    const after: { clause: string; params: SQLInputValue[] }[] = [];
    if (q.cursor) {
      const [t, s] = q.cursor.split(":").map(Number);
      if (!Number.isFinite(t) || !Number.isFinite(s)) throw new StoreError(`bad cursor ${JSON.stringify(q.cursor)}`);
      after.push({ clause: "(started_at < ? OR (started_at = ? AND seq < ?))", params: [t!, t!, s!] });
    }
    const w = whereOf([["stack", q.stack], ["account_id", q.accountId], ["rollout_id", q.rolloutId]], after);
    const rows = this.all(
      `SELECT seq, started_at, doc FROM upgrade_events ${w.sql} ORDER BY started_at DESC, seq DESC LIMIT ?`,
      ...w.params,
      limit + 1,
    );
    const more = rows.length > limit;
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((r) => JSON.parse(r.doc as string) as UpgradeEvent),
      cursor: more && last ? `${last.started_at as number}:${last.seq as number}` : null,
      isDone: !more,
    };
  }

  // Rollouts -------------------------------------------------------------------------------

  private readRollout(rolloutId: string): RolloutRecord | null {
    const row = this.one("SELECT doc FROM rollouts WHERE rollout_id = ?", rolloutId);
    return row ? (JSON.parse(row.doc as string) as RolloutRecord) : null;
  }

  private writeRollout(r: RolloutRecord, insert = false) {
    if (insert) {
      const seq = Number((this.one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM rollouts") as Row).n);
      this.run("INSERT INTO rollouts (rollout_id, stack, status, created_at, seq, doc) VALUES (?, ?, ?, ?, ?, ?)", r.rolloutId, r.stack, r.status, r.createdAt, seq, JSON.stringify(clean(r)));
    } else {
      this.run("UPDATE rollouts SET status = ?, doc = ? WHERE rollout_id = ?", r.status, JSON.stringify(clean(r)), r.rolloutId);
    }
  }

  private rolloutRuntimeRows(rolloutId: string, accountIds?: readonly string[]): RolloutRuntimeState[] {
    const rows =
      accountIds === undefined
        ? this.all("SELECT account_id, state, error, updated_at, from_openclaw, from_runtime_service FROM rollout_runtimes WHERE rollout_id = ? ORDER BY account_id", rolloutId)
        : accountIds.flatMap((a) => this.all("SELECT account_id, state, error, updated_at, from_openclaw, from_runtime_service FROM rollout_runtimes WHERE rollout_id = ? AND account_id = ?", rolloutId, a));
    return rows.map(
      (x): RolloutRuntimeState =>
        clean({
          accountId: x.account_id as string,
          state: x.state as RuntimeRolloutState,
          error: (x.error as string | null) ?? undefined,
          updatedAt: Number(x.updated_at),
          from: x.from_openclaw ? { openclaw: x.from_openclaw as string, runtimeService: (x.from_runtime_service as string | null) ?? "" } : undefined,
        }),
    );
  }

  private writeRolloutRuntime(rolloutId: string, s: RolloutRuntimeState) {
    this.run(
      "INSERT INTO rollout_runtimes (rollout_id, account_id, state, error, updated_at, from_openclaw, from_runtime_service) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rollout_id, account_id) DO UPDATE SET state = excluded.state, error = excluded.error, updated_at = excluded.updated_at",
      rolloutId,
      s.accountId,
      s.state,
      s.error ?? null,
      s.updatedAt,
      s.from?.openclaw ?? null,
      s.from?.runtimeService ?? null,
    );
  }

  private runtimeStatesOf(rolloutId: string, accountIds: readonly string[]): Map<string, RolloutRuntimeState> {
    return new Map(this.rolloutRuntimeRows(rolloutId, [...new Set(accountIds)]).map((x) => [x.accountId, x]));
  }

  /** An upgrade's start or result in its rollout (domain.rolloutStateOn*); a rollout this store does not hold is skipped. */
  private applyRolloutState(write: domain.RolloutStateWrite | null) {
    if (write === null) return;
    const r = this.readRollout(write.rolloutId);
    if (r === null) return;
    const out = domain.setRuntimeStates(r, write.rolloutId, this.runtimeStatesOf(write.rolloutId, write.changes.map((c) => c.accountId)), write.changes, write.at);
    for (const s of out.runtimes) this.writeRolloutRuntime(write.rolloutId, s);
    this.writeRollout(out.rollout);
  }

  async createRollout(input: RolloutInput): Promise<RolloutRecord> {
    const now = this.now();
    return this.tx(() => {
      // A repeat of a recorded id is answered with the record as it is now (idempotent by id).
      const existing = this.readRollout(input.rolloutId);
      if (existing !== null) return existing;
      const { rollout, runtimes, activity } = domain.createRollout(input, now);
      this.writeRollout(rollout, true);
      for (const s of runtimes) this.writeRolloutRuntime(rollout.rolloutId, s);
      this.insertActivity(activity);
      return rollout;
    });
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch): Promise<RolloutRecord> {
    const now = this.now();
    return this.tx(() => {
      // One read, one transition (its runtime states included), one write.
      const rollout = this.readRollout(rolloutId);
      const lease = rollout !== null && patch.generation !== undefined ? this.readLease(rollout.stack) : null;
      const out = domain.updateRollout(rollout, rolloutId, this.runtimeStatesOf(rolloutId, (patch.runtimeStates ?? []).map((s) => s.accountId)), patch, now, lease);
      for (const s of out.runtimes) this.writeRolloutRuntime(rolloutId, s);
      this.writeRollout(out.rollout);
      return out.rollout;
    });
  }

  async getRollout(rolloutId: string): Promise<RolloutDetail | null> {
    const r = this.readRollout(rolloutId);
    if (r === null) return null;
    return { ...r, runtimes: this.rolloutRuntimeRows(rolloutId) };
  }

  async listRollouts(filter: { stack?: string; limit?: number } = {}): Promise<RolloutRecord[]> {
    const n = Math.min(Math.max(1, filter.limit ?? 20), 200);
    const rows =
      filter.stack !== undefined
        ? this.all("SELECT doc FROM rollouts WHERE stack = ? ORDER BY created_at DESC, seq DESC LIMIT ?", filter.stack, n)
        : this.all("SELECT doc FROM rollouts ORDER BY created_at DESC, seq DESC LIMIT ?", n);
    return rows.map((r) => JSON.parse(r.doc as string) as RolloutRecord);
  }

  async activeRollout(stack: string): Promise<RolloutRecord | null> {
    const row = this.one(
      `SELECT doc FROM rollouts WHERE stack = ? AND status IN (${ACTIVE_ROLLOUT_STATUSES.map(() => "?").join(", ")}) ORDER BY created_at DESC, seq DESC LIMIT 1`,
      stack,
      ...ACTIVE_ROLLOUT_STATUSES,
    );
    return row ? (JSON.parse(row.doc as string) as RolloutRecord) : null;
  }

  // Lock -----------------------------------------------------------------------------------

  private readLock(stack: string): LockHolder | null {
    const row = this.one("SELECT holder FROM locks WHERE stack = ?", stack);
    return row ? (JSON.parse(row.holder as string) as LockHolder) : null;
  }

  /** The holder (locks) and the newest generation given out (lease_generations, kept after a release). */
  private readLease(stack: string): domain.LeaseRow {
    const g = this.one("SELECT generation FROM lease_generations WHERE stack = ?", stack);
    return domain.leaseRowOf(this.readLock(stack), g ? Number(g.generation) : 0);
  }

  private writeLease(stack: string, row: domain.LeaseRow, now: number) {
    if (row.holder === null) this.run("DELETE FROM locks WHERE stack = ?", stack);
    else this.run("INSERT INTO locks (stack, holder, acquired_at) VALUES (?, ?, ?) ON CONFLICT (stack) DO UPDATE SET holder = excluded.holder", stack, JSON.stringify(row.holder), now);
    this.run("INSERT INTO lease_generations (stack, generation) VALUES (?, ?) ON CONFLICT (stack) DO UPDATE SET generation = excluded.generation", stack, row.generation);
  }

  async acquireLock(stack: string, holder: LockHolder): Promise<LockResult> {
    const now = this.now();
    return this.tx(() => {
      const { result, write, activity } = domain.acquireLock(this.readLease(stack), stack, holder, now);
      if (write !== null) this.writeLease(stack, write, now);
      if (activity !== null) this.insertActivity(activity);
      return result;
    });
  }

  private removeLock(stack: string, expected: Pick<LockHolder, "pid" | "host">, mode: "release" | "break"): boolean {
    const now = this.now();
    return this.tx(() => {
      const { removed, write, activity } = domain.removeLock(this.readLease(stack), stack, expected, mode, now);
      if (write !== null) this.writeLease(stack, write, now);
      if (activity !== null) this.insertActivity(activity);
      return removed;
    });
  }

  async releaseLock(stack: string, holder: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    return this.removeLock(stack, holder, "release");
  }

  async breakLock(stack: string, expected: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    return this.removeLock(stack, expected, "break");
  }

  async getLock(stack: string): Promise<LockHolder | null> {
    return this.readLock(stack);
  }

  // Config ---------------------------------------------------------------------------------

  async getConfig(): Promise<SystemConfigEntry[]> {
    return this.all("SELECT key, value, updated_at, updated_by FROM system_config ORDER BY key").map((r) => ({
      key: r.key as SystemConfigKey,
      value: JSON.parse(r.value as string) as ConfigValue,
      updatedAt: Number(r.updated_at),
      updatedBy: r.updated_by as string,
    }));
  }

  private configValue(key: SystemConfigKey): ConfigValue | undefined {
    const row = this.one("SELECT value FROM system_config WHERE key = ?", key);
    return row ? (JSON.parse(row.value as string) as ConfigValue) : undefined;
  }

  async setConfig(key: SystemConfigKey, value: ConfigValue, updatedBy: string): Promise<void> {
    const now = this.now();
    this.tx(() => {
      const { entry, activity } = domain.setConfigEntry(key, value, updatedBy, now);
      this.run(
        "INSERT INTO system_config (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        entry.key,
        JSON.stringify(entry.value),
        entry.updatedAt,
        entry.updatedBy,
      );
      this.insertActivity(activity);
    });
  }

  // Alerts ---------------------------------------------------------------------------------

  private liveAlert(key: string): { id: number; row: AlertRow } | null {
    const row = this.one("SELECT id, doc FROM alerts WHERE key = ? AND status IN ('open', 'acknowledged') ORDER BY id LIMIT 1", key);
    return row ? { id: Number(row.id), row: JSON.parse(row.doc as string) as AlertRow } : null;
  }

  private writeAlert(id: number, a: AlertRow): AlertRecord {
    const rec: AlertRecord = clean({ ...a, alertId: String(id) });
    this.run("UPDATE alerts SET status = ?, doc = ? WHERE id = ?", a.status, JSON.stringify(rec), id);
    return rec;
  }

  async openAlert(alert: AlertInput): Promise<AlertRecord> {
    const now = this.now();
    return this.tx(() => {
      const live = this.liveAlert(alert.key);
      const { row, isNew } = domain.openOrUpdateAlert(live?.row ?? null, alert, now);
      if (!isNew && live) return this.writeAlert(live.id, row);
      const res = this.run("INSERT INTO alerts (key, status, stack, account_id, opened_at, doc) VALUES (?, ?, ?, ?, ?, '{}')", row.key, row.status, row.stack ?? null, row.accountId ?? null, row.openedAt);
      return this.writeAlert(Number(res.lastInsertRowid), row);
    });
  }

  async closeAlert(key: string): Promise<boolean> {
    const now = this.now();
    return this.tx(() => {
      const live = this.liveAlert(key);
      const closed = domain.closeAlert(live?.row ?? null, now);
      if (closed === null || !live) return false;
      this.writeAlert(live.id, closed.row);
      return true;
    });
  }

  async listAlerts(filter: { status?: AlertStatus; stack?: string; accountId?: string; limit?: number } = {}): Promise<AlertRecord[]> {
    const w = whereOf([["status", filter.status], ["stack", filter.stack], ["account_id", filter.accountId]]);
    const n = Math.min(Math.max(1, filter.limit ?? 100), 500);
    return this.all(`SELECT doc FROM alerts ${w.sql} ORDER BY opened_at DESC, id DESC LIMIT ?`, ...w.params, n).map(
      (r) => JSON.parse(r.doc as string) as AlertRecord,
    );
  }

  async acknowledgeAlert(alertId: string, by: string): Promise<boolean> {
    if (!/^\d+$/.test(alertId)) return false;
    const now = this.now();
    return this.tx(() => {
      const row = this.one("SELECT id, doc FROM alerts WHERE id = ?", Number(alertId));
      const next = domain.acknowledgeAlert(row ? (JSON.parse(row.doc as string) as AlertRow) : null, by, now);
      if (next === null || !row) return false;
      this.writeAlert(Number(row.id), next);
      return true;
    });
  }

  // Activities -----------------------------------------------------------------------------

  private insertActivity(rec: ActivityRecord) {
    this.run("INSERT INTO activities (at, stack, account_id, doc) VALUES (?, ?, ?, ?)", rec.at, rec.stack ?? null, rec.accountId ?? null, JSON.stringify(clean(rec)));
  }

  async appendActivity(activity: ActivityInput): Promise<void> {
    const now = this.now();
    this.tx(() => this.insertActivity(domain.activityRecord(activity, now)));
  }

  async listActivities(filter: { stack?: string; accountId?: string; limit?: number } = {}): Promise<ActivityRecord[]> {
    const w = whereOf([["stack", filter.stack], ["account_id", filter.accountId]]);
    const n = Math.min(Math.max(1, filter.limit ?? 50), 500);
    return this.all(`SELECT doc FROM activities ${w.sql} ORDER BY at DESC, id DESC LIMIT ?`, ...w.params, n).map(
      (r) => JSON.parse(r.doc as string) as ActivityRecord,
    );
  }

  // Overview -------------------------------------------------------------------------------

  /** Counts come from GROUP BY over indexed columns (cheap at 10,000 rows in SQLite). */
  async overview(filter: { stack?: string; recentRollouts?: number } = {}): Promise<FleetOverview> {
    const now = this.now();
    const where = filter.stack !== undefined ? "WHERE stack = ?" : "";
    const params: SQLInputValue[] = filter.stack !== undefined ? [filter.stack] : [];
    const byStatus: Record<string, number> = {};
    for (const r of this.all(`SELECT status, COUNT(*) AS n FROM runtimes ${where} GROUP BY status`, ...params)) byStatus[r.status as string] = Number(r.n);
    const byVersion: Record<string, number> = {};
    for (const r of this.all(`SELECT openclaw, COUNT(*) AS n FROM runtimes ${where} GROUP BY openclaw`, ...params)) byVersion[r.openclaw as string] = Number(r.n);
    const min = this.configValue("min_supported_openclaw");
    const latest = this.configValue("latest_openclaw_version");
    const rollouts = await this.listRollouts({ ...(filter.stack !== undefined ? { stack: filter.stack } : {}), limit: Math.min(filter.recentRollouts ?? 5, 50) });
    const alerts = { critical: 0, high: 0, medium: 0 };
    for (const r of this.all("SELECT doc FROM alerts WHERE status IN ('open', 'acknowledged')")) alerts[(JSON.parse(r.doc as string) as AlertRecord).severity] += 1;
    return domain.assembleOverview({ statusCounts: byStatus, versionCounts: byVersion, minSupported: min, latest, rollouts, openAlerts: alerts, now });
  }

  // Machine events (the embedded endpoint): seen ids and signatures survive a restart ----------

  /**
   * Claims a machine event id, once: `fresh` for the first claim; a repeat gets the result stored
   * by recordEventResult (if any). Ids older than PROCESSED_EVENT_RETENTION_MS are forgotten.
   */
  async claimEvent(eventId: string, type: string): Promise<{ fresh: boolean; result?: string }> {
    const now = this.now();
    return this.tx(() => {
      this.run("DELETE FROM processed_events WHERE received_at < ?", now - PROCESSED_EVENT_RETENTION_MS);
      const row = this.one("SELECT result FROM processed_events WHERE event_id = ?", eventId);
      if (row) return row.result === null ? { fresh: false } : { fresh: false, result: row.result as string };
      this.run("INSERT INTO processed_events (event_id, type, received_at) VALUES (?, ?, ?)", eventId, type, now);
      return { fresh: true };
    });
  }

  /** Stores what the first post of an event got back (a repeat is answered with it). */
  async recordEventResult(eventId: string, result: string): Promise<void> {
    this.tx(() => this.run("UPDATE processed_events SET result = ? WHERE event_id = ?", result, eventId));
  }

  /** Releases a claimed event id whose apply failed (no result recorded), so a retry under the same id is applied. */
  async forgetEvent(eventId: string): Promise<void> {
    this.tx(() => this.run("DELETE FROM processed_events WHERE event_id = ? AND result IS NULL", eventId));
  }

  /** Claims a request signature seen at `at`: false when it was seen before (a replay). */
  async claimSignature(signature: string, at: number): Promise<boolean> {
    return this.tx(() => {
      this.run("DELETE FROM seen_signatures WHERE seen_at < ?", at - SIGNATURE_RETENTION_MS);
      if (this.one("SELECT 1 AS x FROM seen_signatures WHERE signature = ?", signature)) return false;
      this.run("INSERT INTO seen_signatures (signature, seen_at) VALUES (?, ?)", signature, at);
      return true;
    });
  }

  /** Integrity check (used by the crash test and `fleet` diagnostics). */
  integrityCheck(): string {
    return String((this.one("PRAGMA integrity_check") as Row).integrity_check);
  }

  async close(): Promise<void> {
    if (this.db.isOpen) this.db.close();
  }
}

export function openLocalStore(opts: LocalStoreOptions): LocalFleetStore {
  return new LocalFleetStore(opts);
}

// The embedded local store: one SQLite file (Node 24's built-in node:sqlite, no server, no native
// npm module). WAL journal + synchronous=FULL + busy_timeout; every write is one IMMEDIATE
// transaction, so a kill -9 mid-write leaves the last committed state intact and two processes
// writing at once serialize instead of corrupting the file.
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { isRolloutId, isStackName } from "../fleet/ids";
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";
import {
  ACTIVE_ROLLOUT_STATUSES,
  COUNT_FIELD,
  MAX_GATE_DECISIONS,
  ROLLOUT_STATE_FOR_RESULT,
  TERMINAL_ROLLOUT_STATUSES,
  batchAccounts,
  assembleOverview,
  configProblem,
  firstSighting,
  runtimeAfterUpgrade,
  upgradeVersionProblem,
} from "../convex/rules";
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
  Release,
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

export class StoreError extends Error {
  constructor(message: string) {
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
CREATE TABLE IF NOT EXISTS system_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, status TEXT NOT NULL, stack TEXT,
  account_id TEXT, opened_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_key ON alerts (key, status);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts (status, opened_at);
CREATE TABLE IF NOT EXISTS activities (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, stack TEXT, account_id TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS activities_at ON activities (at, id);
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

/** `WHERE a = ? AND b = ?` for the filters that are set. */
function whereOf(filters: [column: string, value: SQLInputValue | undefined][], extra: { clause: string; params: SQLInputValue[] }[] = []) {
  const set = filters.filter((f): f is [string, SQLInputValue] => f[1] !== undefined);
  const clauses = [...set.map(([c]) => `${c} = ?`), ...extra.map((e) => e.clause)];
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params: [...set.map(([, v]) => v), ...extra.flatMap((e) => e.params)] };
}

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function checkTag(field: string, value: string | undefined | null) {
  if (value !== undefined && value !== null && !isReleaseTag(value)) throw new StoreError(`${field}: ${releaseTagProblem(value)}`);
}

/** RolloutInput.previous (shaped like its batches) by account id. */
export function previousByAccount(input: Pick<RolloutInput, "batches" | "previous">): Map<string, Release> {
  const out = new Map<string, Release>();
  input.batches.forEach((ids, b) => ids.forEach((id, i) => {
    const p = input.previous?.[b]?.[i];
    if (p) out.set(id, p);
  }));
  return out;
}

export class LocalFleetStore implements FleetStore {
  readonly kind = "local" as const;
  private readonly db: DatabaseSync;
  private readonly now: () => number;

  constructor(opts: LocalStoreOptions) {
    mkdirSync(dirname(opts.path), { recursive: true });
    this.now = opts.now ?? Date.now;
    this.db = new DatabaseSync(opts.path, { timeout: opts.busyTimeoutMs ?? 10_000 });
    this.db.exec(`PRAGMA busy_timeout = ${Math.floor(opts.busyTimeoutMs ?? 10_000)}`);
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("PRAGMA synchronous = FULL");
    this.db.exec("PRAGMA foreign_keys = ON");
    this.tx(() => this.db.exec(SCHEMA));
  }

  /** One IMMEDIATE transaction: the write lock is taken up front, so concurrent writers wait (busy_timeout) rather than fail mid-way. */
  private tx<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (e) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
  }

  private all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.db.prepare(sql).all(...params) as Row[];
  }
  private one(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.db.prepare(sql).get(...params) as Row | undefined;
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

  private applyObservation(obs: RuntimeObservation, now: number) {
    checkTag("openclawVersion", obs.openclawVersion);
    checkTag("runtimeServiceVersion", obs.runtimeServiceVersion);
    checkTag("pin", obs.pin);
    if (obs.healthScore !== undefined && !(obs.healthScore >= 0 && obs.healthScore <= 100)) throw new StoreError(`healthScore ${obs.healthScore} is not within 0..100`);
    const at = obs.observedAt ?? now;
    const existing = this.readRuntime(obs.stack, obs.accountId);
    const { pin, observedAt, stack: _stack, accountId: _accountId, ...rest } = obs;
    void observedAt;
    const fields = clean(rest);
    if (existing === null) {
      const first = firstSighting(obs);
      if ("problem" in first) throw new StoreError(first.problem);
      this.writeRuntime({
        ...first.base,
        ...fields,
        ...(pin ? { pin } : {}),
        createdAt: at,
        updatedAt: at,
      });
      return;
    }
    const next: RuntimeRecord = { ...existing, ...fields, updatedAt: Math.max(existing.updatedAt, at) };
    if (pin === null) delete next.pin;
    else if (pin !== undefined) next.pin = pin;
    this.writeRuntime(next);
  }

  async upsertRuntimes(observations: RuntimeObservation[]): Promise<void> {
    const now = this.now();
    this.tx(() => {
      for (const o of observations) this.applyObservation(o, now);
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
    if (pending) {
      checkTag("targetOpenclawVersion", pending.targetOpenclawVersion);
      checkTag("targetRuntimeVersion", pending.targetRuntimeVersion);
    }
    const now = this.now();
    this.tx(() => {
      const r = this.readRuntime(stack, accountId);
      if (r === null) throw new StoreError(`no runtime ${stack}/${accountId}`);
      const next = { ...r, updatedAt: now };
      if (pending) next.pendingUpgrade = clean(pending);
      else delete next.pendingUpgrade;
      this.writeRuntime(next);
    });
  }

  async getPendingUpgrade(stack: string, accountId: string): Promise<PendingUpgrade | null> {
    return this.readRuntime(stack, accountId)?.pendingUpgrade ?? null;
  }

  async markUpgradeStarted(start: UpgradeStart): Promise<void> {
    checkTag("targetOpenclawVersion", start.targetOpenclawVersion);
    checkTag("targetRuntimeVersion", start.targetRuntimeVersion);
    const at = start.at ?? this.now();
    this.tx(() => {
      const r = this.readRuntime(start.stack, start.accountId);
      if (r === null) throw new StoreError(`no runtime ${start.stack}/${start.accountId}`);
      const pendingUpgrade: PendingUpgrade = clean({
        targetOpenclawVersion: start.targetOpenclawVersion,
        targetRuntimeVersion: start.targetRuntimeVersion,
        initiatedAt: at,
        initiatedBy: start.initiatedBy,
        strategy: start.strategy,
        rolloutId: start.rolloutId,
      });
      this.writeRuntime({ ...r, status: "upgrading", pendingUpgrade, updatedAt: Math.max(r.updatedAt, at) });
      if (start.rolloutId !== undefined && this.readRollout(start.rolloutId) !== null) {
        this.setRuntimeStates(start.rolloutId, [{ accountId: start.accountId, state: "upgrading" }], at);
      }
    });
  }

  // Upgrade history ------------------------------------------------------------------------

  async recordUpgrade(event: UpgradeEvent): Promise<{ recorded: boolean }> {
    const problem = upgradeVersionProblem(event);
    if (problem !== null) throw new StoreError(problem);
    const now = this.now();
    return this.tx(() => {
      if (this.one("SELECT 1 AS x FROM upgrade_events WHERE event_id = ?", event.eventId)) return { recorded: false };
      const ev = clean(event);
      this.run(
        "INSERT INTO upgrade_events (event_id, stack, account_id, rollout_id, started_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
        ev.eventId,
        ev.stack,
        ev.accountId,
        ev.rolloutId ?? null,
        ev.startedAt,
        JSON.stringify(ev),
      );
      const r = this.readRuntime(ev.stack, ev.accountId);
      if (r !== null) {
        const next: RuntimeRecord = { ...r, ...runtimeAfterUpgrade(ev), updatedAt: Math.max(r.updatedAt, now) };
        delete next.pendingUpgrade;
        this.writeRuntime(next);
      }
      if (ev.rolloutId !== undefined && this.readRollout(ev.rolloutId) !== null) {
        this.setRuntimeStates(
          ev.rolloutId,
          [{ accountId: ev.accountId, state: ROLLOUT_STATE_FOR_RESULT[ev.status], ...(ev.error ? { error: ev.error } : {}) }],
          ev.completedAt ?? now,
        );
      }
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

  private setRuntimeStates(rolloutId: string, states: { accountId: string; state: RuntimeRolloutState; error?: string }[], at: number) {
    const r = this.readRollout(rolloutId);
    if (r === null) throw new StoreError(`no rollout ${rolloutId}`);
    const counts = { ...r.counts };
    for (const s of states) {
      const prev = this.one("SELECT state FROM rollout_runtimes WHERE rollout_id = ? AND account_id = ?", rolloutId, s.accountId);
      if (prev) counts[COUNT_FIELD[prev.state as RuntimeRolloutState]] -= 1;
      else counts.total += 1;
      counts[COUNT_FIELD[s.state]] += 1;
      this.run(
        "INSERT INTO rollout_runtimes (rollout_id, account_id, state, error, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (rollout_id, account_id) DO UPDATE SET state = excluded.state, error = excluded.error, updated_at = excluded.updated_at",
        rolloutId,
        s.accountId,
        s.state,
        s.error ?? null,
        at,
      );
    }
    this.writeRollout({ ...r, counts, updatedAt: Math.max(r.updatedAt, at), lastProgressAt: Math.max(r.lastProgressAt, at) });
  }

  async createRollout(input: RolloutInput): Promise<RolloutRecord> {
    if (!isRolloutId(input.rolloutId)) throw new StoreError(`${JSON.stringify(input.rolloutId)} is not a rollout id (ro_ + 6..40 of a-z0-9)`);
    if (!isStackName(input.stack)) throw new StoreError(`${JSON.stringify(input.stack)} is not a stack name`);
    checkTag("target.openclaw", input.target.openclaw);
    checkTag("target.runtimeService", input.target.runtimeService);
    const { accounts, problem } = batchAccounts(input.batches);
    if (problem !== null) throw new StoreError(problem);
    const now = this.now();
    return this.tx(() => {
      const existing = this.readRollout(input.rolloutId);
      if (existing !== null) return existing;
      const at = input.createdAt ?? now;
      const status = input.status ?? "planned";
      const r: RolloutRecord = clean({
        rolloutId: input.rolloutId,
        stack: input.stack,
        target: input.target,
        strategy: input.strategy,
        options: clean(input.options),
        initiatedBy: input.initiatedBy,
        reason: input.reason,
        batches: input.batches,
        status,
        currentBatch: 0,
        gates: [],
        counts: { total: accounts.length, pending: accounts.length, upgrading: 0, succeeded: 0, failed: 0, rolledBack: 0, skipped: 0 },
        createdAt: at,
        updatedAt: at,
        startedAt: status === "running" ? at : undefined,
        lastProgressAt: at,
      });
      this.writeRollout(r, true);
      const ins = this.db.prepare(
        "INSERT INTO rollout_runtimes (rollout_id, account_id, state, updated_at, from_openclaw, from_runtime_service) VALUES (?, ?, 'pending', ?, ?, ?)",
      );
      const from = previousByAccount(input);
      for (const a of accounts) ins.run(r.rolloutId, a, at, from.get(a)?.openclaw ?? null, from.get(a)?.runtimeService ?? null);
      this.insertActivity({ actor: input.initiatedBy, action: "rollout.created", message: `rollout ${r.rolloutId} of ${r.stack} to ${r.target.openclaw} (${r.strategy})`, stack: r.stack, rolloutId: r.rolloutId }, now);
      return r;
    });
  }

  async updateRollout(rolloutId: string, patch: RolloutPatch): Promise<RolloutRecord> {
    const now = this.now();
    const at = patch.at ?? now;
    return this.tx(() => {
      if (patch.runtimeStates && patch.runtimeStates.length > 0) this.setRuntimeStates(rolloutId, patch.runtimeStates, at);
      const r = this.readRollout(rolloutId);
      if (r === null) throw new StoreError(`no rollout ${rolloutId}`);
      const next: RolloutRecord = { ...r, updatedAt: Math.max(r.updatedAt, at) };
      if (patch.status !== undefined && patch.status !== r.status) {
        next.status = patch.status;
        next.lastProgressAt = Math.max(r.lastProgressAt, at);
        if (patch.status === "running" && r.startedAt === undefined) next.startedAt = at;
        if (TERMINAL_ROLLOUT_STATUSES.has(patch.status)) next.completedAt = at;
      }
      if (patch.currentBatch !== undefined && patch.currentBatch !== r.currentBatch) {
        if (!(patch.currentBatch >= 0 && patch.currentBatch <= r.batches.length)) throw new StoreError(`currentBatch ${patch.currentBatch} is outside 0..${r.batches.length}`);
        next.currentBatch = patch.currentBatch;
        next.lastProgressAt = Math.max(r.lastProgressAt, at);
      }
      if (patch.gate !== undefined) next.gates = [...r.gates, clean(patch.gate)].slice(-MAX_GATE_DECISIONS);
      if (patch.statusReason !== undefined) next.statusReason = patch.statusReason;
      this.writeRollout(next);
      return next;
    });
  }

  async getRollout(rolloutId: string): Promise<RolloutDetail | null> {
    const r = this.readRollout(rolloutId);
    if (r === null) return null;
    const runtimes = this.all(
      "SELECT account_id, state, error, updated_at, from_openclaw, from_runtime_service FROM rollout_runtimes WHERE rollout_id = ? ORDER BY account_id",
      rolloutId,
    ).map(
      (x): RolloutRuntimeState =>
        clean({
          accountId: x.account_id as string,
          state: x.state as RuntimeRolloutState,
          error: (x.error as string | null) ?? undefined,
          updatedAt: Number(x.updated_at),
          from: x.from_openclaw ? { openclaw: x.from_openclaw as string, runtimeService: (x.from_runtime_service as string | null) ?? "" } : undefined,
        }),
    );
    return { ...r, runtimes };
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

  async acquireLock(stack: string, holder: LockHolder): Promise<LockResult> {
    const now = this.now();
    return this.tx(() => {
      const row = this.one("SELECT holder FROM locks WHERE stack = ?", stack);
      if (!row) {
        this.run("INSERT INTO locks (stack, holder, acquired_at) VALUES (?, ?, ?)", stack, JSON.stringify(clean(holder)), now);
        this.insertActivity({ actor: `${holder.user}@${holder.host}`, action: "lock.acquire", message: `rollout lock of ${stack} taken (pid ${holder.pid})`, stack }, now);
        return { ok: true, holder: clean(holder) };
      }
      const current = JSON.parse(row.holder as string) as LockHolder;
      if (current.pid === holder.pid && current.host === holder.host && current.rolloutId === holder.rolloutId) return { ok: true, holder: current };
      return { ok: false, holder: current };
    });
  }

  private compareAndDelete(stack: string, expected: Pick<LockHolder, "pid" | "host">, mode: "release" | "break"): boolean {
    const now = this.now();
    return this.tx(() => {
      const row = this.one("SELECT holder FROM locks WHERE stack = ?", stack);
      if (!row) return false;
      const current = JSON.parse(row.holder as string) as LockHolder;
      if (current.pid !== expected.pid || current.host !== expected.host) return false;
      this.run("DELETE FROM locks WHERE stack = ?", stack);
      this.insertActivity({ actor: "local", action: `lock.${mode}`, message: `rollout lock of ${stack} ${mode === "break" ? "broken" : "released"} (was pid ${current.pid} on ${current.host})`, stack }, now);
      return true;
    });
  }

  async releaseLock(stack: string, holder: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    return this.compareAndDelete(stack, holder, "release");
  }

  async breakLock(stack: string, expected: Pick<LockHolder, "pid" | "host">): Promise<boolean> {
    return this.compareAndDelete(stack, expected, "break");
  }

  async getLock(stack: string): Promise<LockHolder | null> {
    const row = this.one("SELECT holder FROM locks WHERE stack = ?", stack);
    return row ? (JSON.parse(row.holder as string) as LockHolder) : null;
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
    const problem = configProblem(key, value);
    if (problem !== null) throw new StoreError(problem);
    const now = this.now();
    this.tx(() => {
      this.run(
        "INSERT INTO system_config (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        key,
        JSON.stringify(value),
        now,
        updatedBy,
      );
      this.insertActivity({ actor: updatedBy, action: "config.set", message: `${key} = ${JSON.stringify(value)}` }, now);
    });
  }

  // Alerts ---------------------------------------------------------------------------------

  private liveAlert(key: string): { id: number; doc: AlertRecord } | null {
    const row = this.one("SELECT id, doc FROM alerts WHERE key = ? AND status IN ('open', 'acknowledged') ORDER BY id LIMIT 1", key);
    return row ? { id: Number(row.id), doc: JSON.parse(row.doc as string) as AlertRecord } : null;
  }

  private writeAlert(id: number, a: AlertRecord) {
    this.run("UPDATE alerts SET status = ?, doc = ? WHERE id = ?", a.status, JSON.stringify(clean(a)), id);
  }

  async openAlert(alert: AlertInput): Promise<AlertRecord> {
    const now = this.now();
    return this.tx(() => {
      const live = this.liveAlert(alert.key);
      if (live) {
        const next = clean({ ...live.doc, severity: alert.severity, message: alert.message, details: alert.details, updatedAt: now });
        this.writeAlert(live.id, next);
        return next;
      }
      const res = this.run("INSERT INTO alerts (key, status, stack, account_id, opened_at, doc) VALUES (?, 'open', ?, ?, ?, '{}')", alert.key, alert.stack ?? null, alert.accountId ?? null, now);
      const id = Number(res.lastInsertRowid);
      const rec: AlertRecord = clean({ ...alert, alertId: String(id), status: "open" as const, openedAt: now, updatedAt: now });
      this.writeAlert(id, rec);
      return rec;
    });
  }

  async closeAlert(key: string): Promise<boolean> {
    const now = this.now();
    return this.tx(() => {
      const live = this.liveAlert(key);
      if (!live) return false;
      this.writeAlert(live.id, { ...live.doc, status: "closed", closedAt: now, updatedAt: now });
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
    const now = this.now();
    return this.tx(() => {
      const row = this.one("SELECT id, doc FROM alerts WHERE id = ?", Number(alertId));
      if (!row || !/^\d+$/.test(alertId)) return false;
      const doc = JSON.parse(row.doc as string) as AlertRecord;
      if (doc.status !== "open") return false;
      this.writeAlert(Number(row.id), { ...doc, status: "acknowledged", acknowledgedAt: now, acknowledgedBy: by, updatedAt: now });
      return true;
    });
  }

  // Activities -----------------------------------------------------------------------------

  private insertActivity(a: ActivityInput, now: number) {
    const rec: ActivityRecord = clean({ ...a, at: a.at ?? now });
    this.run("INSERT INTO activities (at, stack, account_id, doc) VALUES (?, ?, ?, ?)", rec.at, rec.stack ?? null, rec.accountId ?? null, JSON.stringify(rec));
  }

  async appendActivity(activity: ActivityInput): Promise<void> {
    const now = this.now();
    this.tx(() => this.insertActivity(activity, now));
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
    return assembleOverview({ statusCounts: byStatus, versionCounts: byVersion, minSupported: min, latest, rollouts, openAlerts: alerts, now });
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

// The model-based test of the FleetStore, shared by every adapter it runs against: fast-check
// sequences of store commands run against an adapter and a plain in-memory model written from the
// interface's promises; after every step every read must agree with the model, and a command
// refused by one is refused by the other, with the same message. convex/storeModel.test.ts runs it
// on the local store and on convex-test (edge-runtime); test/unit/store-model-http.test.ts on the
// Convex adapter over its HTTP transport against the local Convex stand-in (node).
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ConvexError } from "convex/values";
import { isReleaseTag } from "../../fleet/versions";
import { isAccountId, isStackName } from "../../fleet/ids";
import { rolloutSummary, statusBreakdown, versionBreakdown } from "../../fleet/overview";
import type {
  ActivityInput,
  ActivityRecord,
  AlertInput,
  AlertRecord,
  ConfigValue,
  FleetOverview,
  FleetStore,
  LockHolder,
  PendingUpgrade,
  RolloutDetail,
  RolloutInput,
  RolloutPatch,
  RolloutRecord,
  RolloutRuntimeState,
  RolloutStatus,
  RuntimeObservation,
  RuntimeRecord,
  RuntimeRolloutState,
  SystemConfigEntry,
  SystemConfigKey,
  UpgradeEvent,
  UpgradeStart,
} from "../../store/types";

const T0 = 1_760_000_000_000;
const STACK = "prod";
const ACCOUNTS = ["a", "b", "c"] as const;
const ROLLOUTS = ["ro_model0001", "ro_model0002"] as const;
/** Only ever used with invalid batches (a repeat of a valid id is answered from the record). */
const BAD_BATCH_ROLLOUT = "ro_badbatch01";
const GOOD_TAGS = ["v1.2.3", "v1.2.5", "v1.3.0"];

// The model ---------------------------------------------------------------------------------

type Outcome = { ok: unknown } | { error: string };

interface ModelRollout {
  rec: RolloutRecord;
  runtimes: Map<string, RolloutRuntimeState>;
}

class Model {
  /** The admin the store records as setting config and acknowledging alerts (Real.superAdmin). */
  constructor(readonly superAdmin: string) {}
  now = T0;
  runtimes = new Map<string, RuntimeRecord>();
  upgrades: UpgradeEvent[] = [];
  rollouts = new Map<string, ModelRollout>();
  rolloutOrder: string[] = [];
  locks = new Map<string, LockHolder>();
  /** The newest lease generation given out per stack (kept after a release). */
  generations = new Map<string, number>();
  config = new Map<SystemConfigKey, SystemConfigEntry>();
  alerts: AlertRecord[] = [];
  activities: ActivityRecord[] = [];


  clone(): Model {
    const m = new Model(this.superAdmin);
    m.now = this.now;
    m.runtimes = new Map(structuredClone([...this.runtimes]));
    m.upgrades = structuredClone(this.upgrades);
    m.rollouts = new Map([...this.rollouts].map(([k, v]) => [k, { rec: structuredClone(v.rec), runtimes: new Map(structuredClone([...v.runtimes])) }]));
    m.rolloutOrder = [...this.rolloutOrder];
    m.locks = new Map(structuredClone([...this.locks]));
    m.generations = new Map(this.generations);
    m.config = new Map(structuredClone([...this.config]));
    m.alerts = structuredClone(this.alerts);
    m.activities = structuredClone(this.activities);
    return m;
  }
}

class Refused extends Error {}
const refuse = (message = "refused"): never => {
  throw new Refused(message);
};
const tag = (v: string | null | undefined) => {
  if (v !== undefined && v !== null && !isReleaseTag(v)) refuse();
};
/** The id patterns every store refuses alike (fleet/ids.ts). */
const ids = (r: { stack?: string; accountId?: string }) => {
  if ((r.stack !== undefined && !isStackName(r.stack)) || (r.accountId !== undefined && !isAccountId(r.accountId))) refuse();
};
const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
const key = (stack: string, accountId: string) => `${stack}/${accountId}`;
const COUNT: Record<RuntimeRolloutState, keyof RolloutRecord["counts"]> = { pending: "pending", upgrading: "upgrading", succeeded: "succeeded", failed: "failed", rolled_back: "rolledBack", skipped: "skipped" };
const FINISHED: RolloutStatus[] = ["completed", "halted", "aborted", "failed"];
/** Which status may follow which (a finished rollout is final; planned is never re-entered). */
const MAY_FOLLOW: Record<RolloutStatus, RolloutStatus[]> = {
  planned: ["running", "aborted", "failed"],
  running: ["paused", "halted", "completed", "failed", "aborted"],
  paused: ["running", "halted", "completed", "aborted", "failed"],
  halted: [],
  completed: [],
  aborted: [],
  failed: [],
};
const ACTION: Record<RolloutStatus, string> = { planned: "set planned", running: "resume", paused: "pause", halted: "halt", completed: "complete", aborted: "abort", failed: "fail" };

function setStates(m: Model, rolloutId: string, states: { accountId: string; state: RuntimeRolloutState; error?: string }[], at: number, ignoreMissing: boolean) {
  const r = m.rollouts.get(rolloutId);
  if (!r) return ignoreMissing ? undefined : refuse();
  for (const s of states) {
    const prev = r.runtimes.get(s.accountId);
    if (prev) r.rec.counts[COUNT[prev.state]] -= 1;
    else r.rec.counts.total += 1;
    r.rec.counts[COUNT[s.state]] += 1;
    r.runtimes.set(s.accountId, defined({ accountId: s.accountId, state: s.state, error: s.error || undefined, updatedAt: at, from: prev?.from }));
  }
  r.rec.updatedAt = Math.max(r.rec.updatedAt, at);
  r.rec.lastProgressAt = Math.max(r.rec.lastProgressAt, at);
}

const modelOps = {
  upsertRuntimes(m: Model, obs: RuntimeObservation[]) {
    for (const o of obs) {
      ids(o);
      tag(o.openclawVersion);
      tag(o.runtimeServiceVersion);
      tag(o.pin);
      if (o.healthScore !== undefined && !(o.healthScore >= 0 && o.healthScore <= 100)) refuse();
      const at = o.observedAt ?? m.now;
      const k = key(o.stack, o.accountId);
      const cur = m.runtimes.get(k);
      const { pin, observedAt: _at, ...fields } = o;
      if (!cur) {
        if (o.openclawVersion === undefined || o.runtimeServiceVersion === undefined) refuse();
        m.runtimes.set(k, defined({ provider: "existing" as const, providerId: "", ipAddress: "", region: "", dockerImageTag: o.openclawVersion!, status: "provisioning" as const, isCanary: false, ...defined(fields), openclawVersion: o.openclawVersion!, runtimeServiceVersion: o.runtimeServiceVersion!, pin: pin ?? undefined, lastObservedAt: at, createdAt: at, updatedAt: at }));
        continue;
      }
      if (cur.lastObservedAt !== undefined && at < cur.lastObservedAt) continue; // stale: nothing changes
      const next: RuntimeRecord = { ...cur, ...defined(fields), lastObservedAt: at, updatedAt: Math.max(cur.updatedAt, at) };
      if (pin === null) delete next.pin;
      else if (pin !== undefined) next.pin = pin;
      m.runtimes.set(k, next);
    }
    return undefined;
  },
  setPendingUpgrade(m: Model, accountId: string, pending: PendingUpgrade | null) {
    ids({ accountId });
    if (pending) {
      tag(pending.targetOpenclawVersion);
      tag(pending.targetRuntimeVersion);
    }
    const cur = m.runtimes.get(key(STACK, accountId)) ?? refuse();
    const next = { ...cur, updatedAt: m.now };
    if (pending) next.pendingUpgrade = pending;
    else delete next.pendingUpgrade;
    m.runtimes.set(key(STACK, accountId), next);
    return undefined;
  },
  markUpgradeStarted(m: Model, s: UpgradeStart) {
    ids(s);
    tag(s.targetOpenclawVersion);
    tag(s.targetRuntimeVersion);
    const cur = m.runtimes.get(key(s.stack, s.accountId)) ?? refuse();
    const at = s.at ?? m.now;
    m.runtimes.set(key(s.stack, s.accountId), { ...cur, status: "upgrading", updatedAt: Math.max(cur.updatedAt, at), pendingUpgrade: defined({ targetOpenclawVersion: s.targetOpenclawVersion, targetRuntimeVersion: s.targetRuntimeVersion, initiatedAt: at, initiatedBy: s.initiatedBy, strategy: s.strategy, rolloutId: s.rolloutId }) });
    if (s.rolloutId) setStates(m, s.rolloutId, [{ accountId: s.accountId, state: "upgrading" }], at, true);
    return undefined;
  },
  recordUpgrade(m: Model, ev: UpgradeEvent) {
    ids(ev);
    for (const v of [ev.fromOpenclaw, ev.toOpenclaw, ev.fromRuntimeService, ev.toRuntimeService]) tag(v);
    if (m.upgrades.some((u) => u.eventId === ev.eventId)) return { recorded: false };
    m.upgrades.push(ev);
    const k = key(ev.stack, ev.accountId);
    const cur = m.runtimes.get(k);
    if (cur) {
      const next: RuntimeRecord = { ...cur, updatedAt: Math.max(cur.updatedAt, m.now) };
      delete next.pendingUpgrade;
      if (ev.status === "success" || ev.status === "noop") Object.assign(next, { openclawVersion: ev.toOpenclaw, runtimeServiceVersion: ev.toRuntimeService, dockerImageTag: ev.toOpenclaw, status: "online" });
      else if (ev.status === "rolled_back") Object.assign(next, { openclawVersion: ev.fromOpenclaw, runtimeServiceVersion: ev.fromRuntimeService, dockerImageTag: ev.fromOpenclaw, status: "online" });
      else next.status = "error";
      m.runtimes.set(k, next);
    }
    const state = ({ success: "succeeded", noop: "succeeded", failed: "failed", rolled_back: "rolled_back" } as const)[ev.status];
    if (ev.rolloutId) setStates(m, ev.rolloutId, [{ accountId: ev.accountId, state, ...(ev.error ? { error: ev.error } : {}) }], ev.completedAt ?? m.now, true);
    return { recorded: true };
  },
  createRollout(m: Model, input: RolloutInput) {
    const existing = m.rollouts.get(input.rolloutId);
    if (existing) return existing.rec;
    if (!/^ro_[a-z0-9]{6,40}$/.test(input.rolloutId)) refuse();
    tag(input.target.openclaw);
    tag(input.target.runtimeService);
    const all = input.batches.flat();
    if (new Set(all).size !== all.length) refuse();
    all.forEach((accountId) => ids({ accountId }));
    const at = input.createdAt ?? m.now;
    const status = input.status ?? "planned";
    const rec: RolloutRecord = defined({
      rolloutId: input.rolloutId,
      stack: input.stack,
      target: input.target,
      strategy: input.strategy,
      options: input.options,
      initiatedBy: input.initiatedBy,
      reason: input.reason,
      batches: input.batches,
      status,
      currentBatch: 0,
      gates: [],
      counts: { total: all.length, pending: all.length, upgrading: 0, succeeded: 0, failed: 0, rolledBack: 0, skipped: 0 },
      createdAt: at,
      updatedAt: at,
      startedAt: status === "running" ? at : undefined,
      completedAt: FINISHED.includes(status) ? at : undefined,
      lastProgressAt: at,
      generation: input.generation,
    });
    const runtimes = new Map<string, RolloutRuntimeState>();
    input.batches.forEach((b, bi) => b.forEach((a, i) => runtimes.set(a, defined({ accountId: a, state: "pending" as const, updatedAt: at, from: input.previous?.[bi]?.[i] }))));
    m.rollouts.set(input.rolloutId, { rec, runtimes });
    m.rolloutOrder.push(input.rolloutId);
    m.activities.push({ at: m.now, actor: input.initiatedBy, action: "rollout.created", message: `rollout ${rec.rolloutId} of ${rec.stack} to ${rec.target.openclaw} (${rec.strategy})`, stack: rec.stack, rolloutId: rec.rolloutId });
    return rec;
  },
  updateRollout(m: Model, rolloutId: string, patch: RolloutPatch) {
    const at = patch.at ?? m.now;
    const existing = m.rollouts.get(rolloutId) ?? refuse();
    // An orchestrator's write older than the record's or the stack lease's generation is refused.
    if (patch.generation !== undefined) {
      const newest = Math.max(existing.rec.generation ?? 0, m.generations.get(existing.rec.stack) ?? 0);
      const lease = m.locks.get(existing.rec.stack);
      const who = lease && lease.generation === newest ? ` (held by ${lease.user}@${lease.host}, pid ${lease.pid})` : "";
      if (patch.generation < newest) refuse(`stale write to rollout ${rolloutId}: generation ${patch.generation} was taken over by generation ${newest}${who}`);
    }
    if (patch.runtimeStates?.length) setStates(m, rolloutId, patch.runtimeStates, at, false);
    const r = m.rollouts.get(rolloutId) ?? refuse();
    const rec = r.rec;
    rec.updatedAt = Math.max(rec.updatedAt, at);
    if (patch.generation !== undefined) rec.generation = Math.max(rec.generation ?? 0, patch.generation);
    if (patch.status !== undefined && patch.status !== rec.status) {
      if (!MAY_FOLLOW[rec.status].includes(patch.status)) {
        refuse(FINISHED.includes(rec.status) ? `rollout ${rolloutId} already ended (${rec.status}): cannot ${ACTION[patch.status]} it` : `rollout ${rolloutId} is ${rec.status}: cannot ${ACTION[patch.status]} it`);
      }
      rec.status = patch.status;
      rec.lastProgressAt = Math.max(rec.lastProgressAt, at);
      if (patch.status === "running" && rec.startedAt === undefined) rec.startedAt = at;
      if (FINISHED.includes(patch.status)) rec.completedAt = at;
      if (patch.status === "paused") rec.pausedAt = at;
      else delete rec.pausedAt;
    }
    if (patch.step) {
      const steps = [...(rec.steps ?? [])];
      const i = steps.findIndex((x) => x.kind === patch.step!.kind && x.batch === patch.step!.batch);
      if (i >= 0) steps[i] = defined(patch.step);
      else steps.push(defined(patch.step));
      rec.steps = steps;
    }
    if (patch.stepIndex !== undefined) rec.stepIndex = patch.stepIndex;
    if (patch.currentBatch !== undefined && patch.currentBatch !== rec.currentBatch) {
      if (patch.currentBatch < 0 || patch.currentBatch > rec.batches.length) refuse();
      rec.currentBatch = patch.currentBatch;
      rec.lastProgressAt = Math.max(rec.lastProgressAt, at);
    }
    if (patch.gate) rec.gates = [...rec.gates, patch.gate].slice(-500);
    if (patch.statusReason !== undefined) rec.statusReason = patch.statusReason;
    return rec;
  },
  acquireLock(m: Model, holder: LockHolder) {
    const cur = m.locks.get(STACK);
    const ours = cur !== undefined && cur.pid === holder.pid && cur.host === holder.host && cur.rolloutId === holder.rolloutId;
    const until = (seconds: number | undefined) => (seconds === undefined ? undefined : m.now + seconds * 1000);
    if (holder.generation !== undefined && (!ours || cur.generation !== holder.generation)) return { ok: false, holder: cur ?? null };
    if (ours) {
      const leaseSeconds = holder.leaseSeconds ?? cur.leaseSeconds;
      const renewed = defined({ ...cur, leaseSeconds, expiresAt: until(leaseSeconds) });
      m.locks.set(STACK, renewed);
      return { ok: true, holder: renewed };
    }
    if (!cur || (cur.expiresAt !== undefined && cur.expiresAt <= m.now)) {
      const generation = (m.generations.get(STACK) ?? 0) + 1;
      const taken = defined({ ...holder, generation, expiresAt: until(holder.leaseSeconds) });
      m.locks.set(STACK, taken);
      m.generations.set(STACK, generation);
      m.activities.push(
        cur
          ? { at: m.now, actor: `${holder.user}@${holder.host}`, action: "lock.takeover", message: `rollout lease of ${STACK} taken over (pid ${holder.pid}, generation ${generation}) from expired pid ${cur.pid} on ${cur.host}`, stack: STACK }
          : { at: m.now, actor: `${holder.user}@${holder.host}`, action: "lock.acquire", message: `rollout lock of ${STACK} taken (pid ${holder.pid})`, stack: STACK },
      );
      return { ok: true, holder: taken };
    }
    return { ok: false, holder: cur };
  },
  removeLock(m: Model, expected: Pick<LockHolder, "pid" | "host">, mode: "release" | "break") {
    const cur = m.locks.get(STACK);
    if (!cur || cur.pid !== expected.pid || cur.host !== expected.host) return false;
    m.locks.delete(STACK);
    m.activities.push({ at: m.now, actor: mode === "release" ? `${cur.user}@${cur.host}` : "store", action: `lock.${mode}`, message: `rollout lock of ${STACK} ${mode === "break" ? "broken" : "released"} (was pid ${cur.pid} on ${cur.host})`, stack: STACK });
    return true;
  },
  openAlert(m: Model, a: AlertInput) {
    ids(a);
    const live = m.alerts.find((x) => x.key === a.key && x.status !== "closed");
    if (live) {
      Object.assign(live, { severity: a.severity, message: a.message, updatedAt: m.now });
      if (a.details === undefined) delete live.details;
      else live.details = a.details;
      return live;
    }
    const rec: AlertRecord = defined({ ...a, alertId: String(m.alerts.length + 1), status: "open" as const, openedAt: m.now, updatedAt: m.now });
    m.alerts.push(rec);
    return rec;
  },
  closeAlert(m: Model, k: string) {
    const live = m.alerts.find((x) => x.key === k && x.status !== "closed");
    if (!live) return false;
    Object.assign(live, { status: "closed", closedAt: m.now, updatedAt: m.now });
    return true;
  },
  acknowledgeAlert(m: Model, alertId: string) {
    const a = m.alerts.find((x) => x.alertId === alertId);
    if (!a || a.status !== "open") return false;
    Object.assign(a, { status: "acknowledged", acknowledgedAt: m.now, acknowledgedBy: m.superAdmin, updatedAt: m.now });
    return true;
  },
  appendActivity(m: Model, a: ActivityInput) {
    m.activities.push(defined({ ...a, at: a.at ?? m.now }));
    return undefined;
  },
  setConfig(m: Model, k: SystemConfigKey, value: ConfigValue) {
    const ok = k === "upgrade_batch_percent" ? typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 100 : k === "upgrade_strategy" ? ["rolling", "canary", "immediate"].includes(value as string) : isReleaseTag(value);
    if (!ok) refuse();
    m.config.set(k, { key: k, value, updatedAt: m.now, updatedBy: m.superAdmin });
    m.activities.push({ at: m.now, actor: m.superAdmin, action: "config.set", message: `${k} = ${JSON.stringify(value)}` });
    return undefined;
  },
};

/** What the reads answer, from the model (ids as the model numbers them). */
function modelReads(m: Model) {
  const runtimes = [...m.runtimes.values()].sort((x, y) => (x.accountId < y.accountId ? -1 : 1));
  const newest = <T,>(xs: T[], time: (x: T) => number) => xs.map((x, i) => ({ x, i })).sort((p, q) => time(q.x) - time(p.x) || q.i - p.i).map((p) => p.x);
  const upgrades = newest(m.upgrades, (u) => u.startedAt);
  const rollouts = newest(m.rolloutOrder.map((id) => m.rollouts.get(id)!.rec), (r) => r.createdAt);
  const live = m.alerts.filter((a) => a.status !== "closed");
  const statusCounts: Record<string, number> = {};
  const versionCounts: Record<string, number> = {};
  for (const r of runtimes) {
    statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1;
    versionCounts[r.openclawVersion] = (versionCounts[r.openclawVersion] ?? 0) + 1;
  }
  const min = m.config.get("min_supported_openclaw")?.value as string | undefined;
  const latest = m.config.get("latest_openclaw_version")?.value as string | undefined;
  const status = statusBreakdown(statusCounts);
  const overview: FleetOverview = {
    total: status.total,
    byStatus: status.rows,
    byOpenclawVersion: versionBreakdown(versionCounts, min !== undefined ? { minSupported: min } : {}),
    ...(min !== undefined ? { minSupportedOpenclaw: min } : {}),
    ...(latest !== undefined ? { latestOpenclawVersion: latest } : {}),
    recentRollouts: rollouts.slice(0, 5).map((r) => ({
      rolloutId: r.rolloutId,
      stack: r.stack,
      target: r.target,
      strategy: r.strategy,
      status: r.status,
      createdAt: r.createdAt,
      ...rolloutSummary(r.counts, defined({ startedAt: r.startedAt, completedAt: r.completedAt, now: m.now })),
    })),
    openAlerts: { critical: live.filter((a) => a.severity === "critical").length, high: live.filter((a) => a.severity === "high").length, medium: live.filter((a) => a.severity === "medium").length },
  };
  return {
    runtimes,
    details: Object.fromEntries(ACCOUNTS.map((a) => {
      const r = m.runtimes.get(key(STACK, a));
      return [a, r ? { ...r, recentUpgrades: upgrades.filter((u) => u.accountId === a).slice(0, 10) } : null];
    })),
    onlineRuntimes: runtimes.filter((r) => r.status === "online"),
    upgradePages: pages(upgrades),
    accountUpgradePages: pages(upgrades.filter((u) => u.stack === STACK && u.accountId === "a")),
    rolloutUpgradePages: Object.fromEntries(ROLLOUTS.map((id) => [id, pages(upgrades.filter((u) => u.rolloutId === id))])),
    rollouts: Object.fromEntries(ROLLOUTS.map((id) => {
      const r = m.rollouts.get(id);
      return [id, r ? ({ ...r.rec, runtimes: [...r.runtimes.values()].sort((x, y) => (x.accountId < y.accountId ? -1 : 1)) } satisfies RolloutDetail) : null];
    })),
    list: rollouts,
    active: rollouts.find((r) => ["planned", "running", "paused"].includes(r.status)) ?? null,
    lock: m.locks.get(STACK) ?? null,
    alerts: newest(m.alerts, (a) => a.openedAt),
    openAlerts: newest(m.alerts, (a) => a.openedAt).filter((a) => a.status === "open"),
    alertsOfA: newest(m.alerts, (a) => a.openedAt).filter((a) => a.accountId === "a"),
    activities: newest(m.activities, (a) => a.at),
    activitiesOfA: newest(m.activities, (a) => a.at).filter((a) => a.accountId === "a"),
    overview,
    stackOverview: overview,
    config: [...m.config.values()].sort((x, y) => x.key.localeCompare(y.key)),
  };
}

const PAGE = 3;
function pages<T>(items: T[]): { items: T[]; isDone: boolean }[] {
  const out: { items: T[]; isDone: boolean }[] = [];
  for (let i = 0; ; i += PAGE) {
    const isDone = i + PAGE >= items.length;
    out.push({ items: items.slice(i, i + PAGE), isDone });
    if (isDone) return out;
  }
}

// The adapters ------------------------------------------------------------------------------

export interface Real {
  store: FleetStore;
  /** Who the store records as the admin (on Convex the caller's identity, elsewhere the argument). */
  superAdmin: string;
  /** The adapter's alert ids by the model's. */
  alertIds: Map<string, string>;
  cleanup(): Promise<void>;
}

async function storeReads(real: Real) {
  const s = real.store;
  const modelId = new Map([...real.alertIds].map(([m, r]) => [r, m]));
  const ours = (a: AlertRecord) => ({ ...a, alertId: modelId.get(a.alertId) ?? `unknown:${a.alertId}` });
  const allPages = async (q: { rolloutId?: string; stack?: string; accountId?: string }) => {
    const out: { items: UpgradeEvent[]; isDone: boolean }[] = [];
    let cursor: string | null = null;
    for (;;) {
      const p = await s.listUpgrades({ ...q, limit: PAGE, cursor });
      out.push({ items: p.items, isDone: p.isDone });
      if (p.isDone || p.cursor === null) return out;
      cursor = p.cursor;
    }
  };
  const details: Record<string, unknown> = {};
  for (const a of ACCOUNTS) details[a] = await s.getRuntime(STACK, a);
  const rollouts: Record<string, unknown> = {};
  const rolloutUpgradePages: Record<string, unknown> = {};
  for (const id of ROLLOUTS) {
    rollouts[id] = await s.getRollout(id);
    rolloutUpgradePages[id] = await allPages({ rolloutId: id });
  }
  return {
    runtimes: await s.listRuntimes(),
    details,
    onlineRuntimes: await s.listRuntimes({ stack: STACK, status: "online" }),
    upgradePages: await allPages({}),
    accountUpgradePages: await allPages({ stack: STACK, accountId: "a" }),
    rolloutUpgradePages,
    rollouts,
    list: await s.listRollouts(),
    active: await s.activeRollout(STACK),
    lock: await s.getLock(STACK),
    alerts: (await s.listAlerts()).map(ours),
    openAlerts: (await s.listAlerts({ status: "open" })).map(ours),
    alertsOfA: (await s.listAlerts({ accountId: "a" })).map(ours),
    activities: await s.listActivities(),
    activitiesOfA: await s.listActivities({ accountId: "a" }),
    overview: await s.overview(),
    stackOverview: await s.overview({ stack: STACK }),
    config: await s.getConfig(),
  };
}

function errorMessage(e: unknown): string {
  if (e instanceof ConvexError) return (e.data as { message?: string }).message ?? String(e.data);
  return e instanceof Error ? e.message : String(e);
}

// Commands ----------------------------------------------------------------------------------

class StoreCommand implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly label: string,
    readonly onModel: (m: Model) => unknown,
    readonly onStore: (r: Real) => Promise<unknown>,
    /** Compares only whether it was refused (the value is store-shaped, e.g. an alert id). */
    readonly normalise: (value: unknown, r: Real, m: Model) => unknown = (v) => v,
  ) {}
  check() {
    return true;
  }
  async run(model: Model, real: Real) {
    model.now += 1_000;
    vi.setSystemTime(model.now);
    const next = model.clone();
    let expected: Outcome;
    try {
      expected = { ok: this.onModel(next) };
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      expected = { error: e.message };
    }
    let actual: Outcome;
    try {
      actual = { ok: await this.onStore(real) };
    } catch (e) {
      actual = { error: errorMessage(e) };
    }
    if ("ok" in expected) {
      expect(actual, this.label).toEqual({ ok: this.normalise(expected.ok, real, next) });
      Object.assign(model, next);
    } else {
      expect("error" in actual, `${this.label}: the store accepted what the model refuses (${JSON.stringify(actual)})`).toBe(true);
      // The lifecycle's refusals are compared word for word: they reach the user as they are.
      if (expected.error !== "refused") expect((actual as { error: string }).error, this.label).toBe(expected.error);
    }
    expect(await storeReads(real), `reads after ${this.label}`).toEqual(modelReads(model));
  }
  toString() {
    return this.label;
  }
}

const account = fc.constantFrom(...ACCOUNTS);
/** Ids the rest of the system refuses (issue 18.3): a path and markup. */
const BAD_STACK = "../../x";
const BAD_ACCOUNT = "<b>X</b>";
/** Mostly a known account, sometimes one no store may accept. */
const anyAccount = fc.oneof({ weight: 9, arbitrary: account }, { weight: 1, arbitrary: fc.constant(BAD_ACCOUNT) });
const anyStack = fc.oneof({ weight: 9, arbitrary: fc.constant(STACK) }, { weight: 1, arbitrary: fc.constant(BAD_STACK) });
const goodTag = fc.constantFrom(...GOOD_TAGS);
const anyTag = fc.oneof({ weight: 9, arbitrary: goodTag }, { weight: 1, arbitrary: fc.constantFrom("latest", "v1.2") });
const time = fc.integer({ min: 0, max: 40 }).map((k) => T0 + k * 1_000);
const rolloutId = fc.constantFrom(...ROLLOUTS);
const holders: LockHolder[] = [
  { pid: 10, host: "ci-1", user: "alice", startedAt: T0, rolloutId: "ro_model0001" },
  { pid: 10, host: "ci-1", user: "alice", startedAt: T0 },
  { pid: 20, host: "ci-2", user: "bob", startedAt: T0 },
  // Leases that expire within a few commands (each command is a second), and heartbeats.
  { pid: 10, host: "ci-1", user: "alice", startedAt: T0, rolloutId: "ro_model0001", leaseSeconds: 2 },
  { pid: 20, host: "ci-2", user: "bob", startedAt: T0, rolloutId: "ro_model0001", leaseSeconds: 3 },
  { pid: 10, host: "ci-1", user: "alice", startedAt: T0, rolloutId: "ro_model0001", leaseSeconds: 2, generation: 1 },
  { pid: 20, host: "ci-2", user: "bob", startedAt: T0, rolloutId: "ro_model0001", leaseSeconds: 3, generation: 2 },
];
const holder = fc.constantFrom(...holders);
const rolloutState = fc.constantFrom<RuntimeRolloutState>("pending", "upgrading", "succeeded", "failed", "rolled_back", "skipped");
const status = fc.constantFrom<RolloutStatus>("planned", "running", "paused", "halted", "completed", "aborted", "failed");

/** A first sighting (every field an observer reports), mostly valid. */
const sighting: fc.Arbitrary<RuntimeObservation> = fc.record(
  {
    stack: fc.constant(STACK),
    accountId: account,
    openclawVersion: anyTag,
    runtimeServiceVersion: goodTag,
    status: fc.constantFrom("online", "degraded", "upgrading"),
    healthScore: fc.integer({ min: 0, max: 100 }),
    isCanary: fc.boolean(),
    observedAt: time,
  },
  { requiredKeys: ["stack", "accountId", "openclawVersion", "runtimeServiceVersion"] },
);
/** A later report: any subset of fields, some stale, some invalid (bad ids among them). */
const report: fc.Arbitrary<RuntimeObservation> = fc.record(
  {
    stack: anyStack,
    accountId: anyAccount,
    openclawVersion: anyTag,
    runtimeServiceVersion: goodTag,
    status: fc.constantFrom("online", "degraded", "offline", "error"),
    healthScore: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 100 }) }, { weight: 1, arbitrary: fc.constant(150) }),
    region: fc.constantFrom("nyc1", "ams3"),
    isCanary: fc.boolean(),
    pin: fc.option(goodTag, { nil: null }),
    observedAt: time,
  },
  { requiredKeys: ["stack", "accountId"] },
);
const observation = fc.oneof(sighting, report);

/** Options as the CLI and the dashboard record them (the string ones: the CLI's flags, `source`). */
const options = fc.oneof(
  fc.constant({}),
  fc.record({ batchPercent: fc.integer({ min: 1, max: 100 }), autoRollback: fc.boolean() }, { requiredKeys: [] }),
  fc.constantFrom<Record<string, unknown>>({ batch: "10%" }, { ramp: "1,50%" }, { canary: "a" }, { source: "dashboard" }, { batch: "2", source: "dashboard", batchPercent: 50 }),
);

const batches = fc.shuffledSubarray([...ACCOUNTS], { minLength: 1 }).chain((ids) => fc.constantFrom([ids], [ids.slice(0, 1), ids.slice(1)].filter((b) => b.length > 0)));

/** Mostly one thing at a time, as the orchestrator patches; sometimes several, some out of bounds. */
const step = fc.record(
  {
    kind: fc.constantFrom("deploy" as const, "bake" as const, "gate" as const),
    batch: fc.integer({ min: 0, max: 1 }),
    state: fc.constantFrom("running" as const, "done" as const),
    startedAt: time,
    until: fc.option(time, { nil: undefined }),
  },
  { requiredKeys: ["kind", "batch", "state", "startedAt"] },
).map((x) => defined(x));
const generation = fc.integer({ min: 0, max: 3 });
const patch: fc.Arbitrary<RolloutPatch> = fc.oneof(
  status.map((s) => ({ status: s })),
  fc.record({ status, generation }),
  fc.record({ step, stepIndex: fc.integer({ min: 0, max: 5 }), generation: fc.option(generation, { nil: undefined }) }).map((x) => defined(x)),
  fc.record({ runtimeStates: fc.array(fc.record({ accountId: account, state: rolloutState }), { minLength: 1, maxLength: 1 }), generation }),
  fc.integer({ min: -1, max: 3 }).map((b) => ({ currentBatch: b })),
  fc.array(fc.record({ accountId: account, state: rolloutState, error: fc.constantFrom("boom", undefined) }), { minLength: 1, maxLength: 2 }).map((xs) => ({ runtimeStates: xs.map((x) => defined(x)) })),
  fc.record({ at: time, batch: fc.integer({ min: 0, max: 2 }), decision: fc.constantFrom("go" as const, "halt" as const), reason: fc.constant("gate"), measures: fc.constant({ healthyPercent: 100 }) }).map((g) => ({ gate: g })),
  fc.record(
    {
      status,
      currentBatch: fc.integer({ min: 0, max: 2 }),
      runtimeStates: fc.array(fc.record({ accountId: account, state: rolloutState }), { maxLength: 2 }),
      statusReason: fc.constantFrom("paused by alice", "every runtime upgraded"),
      at: time,
    },
    { requiredKeys: [] },
  ),
);

function commands(): fc.Arbitrary<Iterable<fc.AsyncCommand<Model, Real>>> {
  const cmds: fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] = [
    fc.array(sighting, { minLength: 1, maxLength: 3 }).map((obs) => new StoreCommand(`upsertRuntimes ${JSON.stringify(obs)}`, (m) => modelOps.upsertRuntimes(m, obs), async (r) => r.store.upsertRuntimes(obs))),
    fc.array(sighting, { minLength: 1, maxLength: 3 }).map((obs) => new StoreCommand(`upsertRuntimes ${JSON.stringify(obs)}`, (m) => modelOps.upsertRuntimes(m, obs), async (r) => r.store.upsertRuntimes(obs))),
    fc.array(observation, { minLength: 1, maxLength: 3 }).map((obs) => new StoreCommand(`upsertRuntimes ${JSON.stringify(obs)}`, (m) => modelOps.upsertRuntimes(m, obs), async (r) => r.store.upsertRuntimes(obs))),
    fc.tuple(anyAccount, fc.option(fc.record({ targetOpenclawVersion: anyTag, targetRuntimeVersion: goodTag, initiatedAt: time, initiatedBy: fc.constant("alice"), strategy: fc.constantFrom("rolling" as const, "canary" as const), rolloutId: fc.option(rolloutId, { nil: undefined }) }, { requiredKeys: ["targetOpenclawVersion", "targetRuntimeVersion", "initiatedAt", "initiatedBy", "strategy"] }), { nil: null, freq: 4 })).map(
      ([a, p]) => new StoreCommand(`setPendingUpgrade ${a} ${JSON.stringify(p)}`, (m) => modelOps.setPendingUpgrade(m, a, p), async (r) => r.store.setPendingUpgrade(STACK, a, p)),
    ),
    fc.record({ stack: anyStack, accountId: anyAccount, rolloutId: fc.option(rolloutId, { nil: undefined }), targetOpenclawVersion: anyTag, targetRuntimeVersion: goodTag, strategy: fc.constantFrom("rolling" as const, "canary" as const), initiatedBy: fc.constant("ci"), at: fc.option(time, { nil: undefined }) }).map((s0) => {
      const s = defined(s0);
      return new StoreCommand(`markUpgradeStarted ${JSON.stringify(s)}`, (m) => modelOps.markUpgradeStarted(m, s), async (r) => r.store.markUpgradeStarted(s));
    }),
    fc.record({
      eventId: fc.constantFrom("e1", "e2", "e3", "e4"),
      stack: fc.constant(STACK),
      accountId: fc.constantFrom(...ACCOUNTS, "ghost", BAD_ACCOUNT),
      rolloutId: fc.option(rolloutId, { nil: undefined }),
      fromOpenclaw: goodTag,
      toOpenclaw: anyTag,
      fromRuntimeService: goodTag,
      toRuntimeService: goodTag,
      status: fc.constantFrom("success" as const, "failed" as const, "rolled_back" as const, "noop" as const),
      startedAt: time,
      completedAt: fc.option(time, { nil: undefined }),
      error: fc.option(fc.constantFrom("health check failed", ""), { nil: undefined }),
      initiatedBy: fc.constant("ci"),
      executor: fc.constantFrom("pulumi" as const, "agent" as const),
    }).map((e0) => {
      const ev = defined(e0);
      return new StoreCommand(`recordUpgrade ${JSON.stringify(ev)}`, (m) => modelOps.recordUpgrade(m, ev), async (r) => r.store.recordUpgrade(ev));
    }),
    fc.record({ id: fc.oneof({ weight: 8, arbitrary: rolloutId }, { weight: 1, arbitrary: fc.constant("bad id") }), batches, options, target: goodTag, status: fc.option(fc.constantFrom<RolloutStatus>("planned", "running"), { nil: undefined }), createdAt: fc.option(time, { nil: undefined }), withPrevious: fc.boolean(), dup: fc.integer({ min: 0, max: 9 }) }).map((x) => {
      const dupBatches = x.dup === 0;
      const badBatch = x.dup === 1;
      const input: RolloutInput = defined({
        rolloutId: dupBatches || badBatch ? BAD_BATCH_ROLLOUT : x.id,
        stack: STACK,
        target: { openclaw: x.target, runtimeService: "v0.5.2" },
        strategy: "canary" as const,
        options: x.options as RolloutInput["options"],
        initiatedBy: x.options && "source" in x.options ? "admin@dashboard" : "alice",
        batches: dupBatches ? [["a"], ["a"]] : badBatch ? [["a", BAD_ACCOUNT]] : x.batches,
        previous: x.withPrevious ? x.batches.map((b) => b.map(() => ({ openclaw: "v1.2.3", runtimeService: "v0.5.0" }))) : undefined,
        status: x.status,
        createdAt: x.createdAt,
      });
      return new StoreCommand(`createRollout ${JSON.stringify(input)}`, (m) => modelOps.createRollout(m, input), async (r) => r.store.createRollout(input));
    }),
    fc.tuple(rolloutId, patch).map(([id, p]) => new StoreCommand(`updateRollout ${id} ${JSON.stringify(p)}`, (m) => modelOps.updateRollout(m, id, p), async (r) => r.store.updateRollout(id, p))),
    fc.tuple(rolloutId, patch).map(([id, p]) => new StoreCommand(`updateRollout ${id} ${JSON.stringify(p)}`, (m) => modelOps.updateRollout(m, id, p), async (r) => r.store.updateRollout(id, p))),
    holder.map((h) => new StoreCommand(`acquireLock ${JSON.stringify(h)}`, (m) => modelOps.acquireLock(m, h), async (r) => r.store.acquireLock(STACK, h))),
    fc.tuple(holder, fc.constantFrom("release" as const, "break" as const)).map(([h, mode]) =>
      new StoreCommand(`${mode}Lock ${h.pid}@${h.host}`, (m) => modelOps.removeLock(m, h, mode), async (r) => (mode === "release" ? r.store.releaseLock(STACK, { pid: h.pid, host: h.host }) : r.store.breakLock(STACK, { pid: h.pid, host: h.host }))),
    ),
    fc.record({ key: fc.constantFrom("runtime_offline:prod/a", "health_degraded:prod/b"), severity: fc.constantFrom("critical" as const, "high" as const, "medium" as const), message: fc.constantFrom("offline 6 min", "offline 7 min"), details: fc.option(fc.constant({ minutes: 6 }), { nil: undefined }), stack: anyStack, badAccount: fc.integer({ min: 0, max: 9 }) }).map((x) => {
      const a: AlertInput = defined({ key: x.key, rule: x.key.startsWith("runtime") ? ("runtime_offline" as const) : ("health_degraded" as const), severity: x.severity, stack: x.stack, accountId: x.badAccount === 0 ? BAD_ACCOUNT : x.key.endsWith("/a") ? "a" : "b", message: x.message, details: x.details });
      return new StoreCommand(
        `openAlert ${JSON.stringify(a)}`,
        (m) => modelOps.openAlert(m, a),
        async (r) => {
          const rec = await r.store.openAlert(a);
          const known = [...r.alertIds].find(([, real]) => real === rec.alertId);
          if (!known) r.alertIds.set(String(r.alertIds.size + 1), rec.alertId);
          return { ...rec, alertId: known?.[0] ?? String(r.alertIds.size) };
        },
      );
    }),
    fc.constantFrom("runtime_offline:prod/a", "health_degraded:prod/b").map((k) => new StoreCommand(`closeAlert ${k}`, (m) => modelOps.closeAlert(m, k), async (r) => r.store.closeAlert(k))),
    fc.constantFrom("1", "2", "3", "9").map((id) => new StoreCommand(`acknowledgeAlert #${id}`, (m) => modelOps.acknowledgeAlert(m, id), async (r) => r.store.acknowledgeAlert(r.alertIds.get(id) ?? "nope", r.superAdmin))),
    fc.record({ actor: fc.constant("alice"), action: fc.constant("note"), message: fc.constantFrom("one", "two"), stack: fc.constant(STACK), accountId: fc.option(account, { nil: undefined }), at: fc.option(time, { nil: undefined }) }).map((a0) => {
      const a = defined(a0);
      return new StoreCommand(`appendActivity ${JSON.stringify(a)}`, (m) => modelOps.appendActivity(m, a), async (r) => r.store.appendActivity(a));
    }),
    fc.constantFrom<[SystemConfigKey, ConfigValue]>(["min_supported_openclaw", "v1.2.5"], ["latest_openclaw_version", "v1.3.0"], ["upgrade_batch_percent", 20], ["upgrade_batch_percent", 0], ["upgrade_strategy", "yolo"], ["min_supported_openclaw", "latest"]).map(
      ([k, v]) => new StoreCommand(`setConfig ${k}=${JSON.stringify(v)}`, (m) => modelOps.setConfig(m, k, v), async (r) => r.store.setConfig(k, v, r.superAdmin)),
    ),
  ];
  // Every sequence starts from a small fleet and one recorded rollout (both generated), so the
  // generated commands reach the upgrade and lifecycle transitions instead of "no such runtime".
  const prelude = fc.tuple(fc.constantFrom(...GOOD_TAGS), fc.constantFrom(...GOOD_TAGS), options, fc.constantFrom<RolloutStatus>("planned", "running"), batches).map(([v1, v2, opts, st, b]) => {
    const obs: RuntimeObservation[] = ACCOUNTS.map((a, i) => ({ stack: STACK, accountId: a, openclawVersion: i === 0 ? v1 : v2, runtimeServiceVersion: "v0.5.0", status: "online" as const, observedAt: T0 }));
    const input: RolloutInput = { rolloutId: ROLLOUTS[0], stack: STACK, target: { openclaw: "v1.3.0", runtimeService: "v0.5.2" }, strategy: "rolling", options: opts as RolloutInput["options"], initiatedBy: "alice", batches: b, status: st };
    return [
      new StoreCommand(`upsertRuntimes ${JSON.stringify(obs)}`, (m) => modelOps.upsertRuntimes(m, obs), async (r) => r.store.upsertRuntimes(obs)),
      new StoreCommand(`createRollout ${JSON.stringify(input)}`, (m) => modelOps.createRollout(m, input), async (r) => r.store.createRollout(input)),
    ];
  });
  return fc.tuple(prelude, fc.commands(cmds, { maxCommands: 16 })).map(([p, c]) => [...p, ...c]);
}

// The runs ----------------------------------------------------------------------------------

export interface StoreModelAdapter {
  name: string;
  /** A fresh, empty store for one sequence. */
  make(): Promise<Real>;
}

/** One test per adapter: `runs` generated sequences, each on a fresh store, agree with the model. */
export function runStoreModel(adapters: StoreModelAdapter[], runs: number, opts: { timeout?: number } = {}): void {
  describe("the store against its model", () => {
    beforeAll(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
    });
    afterEach(() => {
      vi.setSystemTime(T0);
    });
    afterAll(() => {
      vi.useRealTimers();
    });

    for (const adapter of adapters) {
      it(`${adapter.name}: ${runs} generated command sequences agree with the model after every step`, { timeout: opts.timeout ?? 120_000 }, async () => {
        await fc.assert(
          fc.asyncProperty(commands(), async (cmds) => {
            const real = await adapter.make();
            try {
              await fc.asyncModelRun(() => ({ model: new Model(real.superAdmin), real }), cmds);
            } finally {
              await real.cleanup();
            }
          }),
          { numRuns: runs },
        );
      });
    }
  });
}

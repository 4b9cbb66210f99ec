// The monitor: probes every runtime of a stack, keeps a rolling window of samples per runtime
// (a small state file next to the store), derives the seed's metrics, status and health score
// (fleet/health.ts), writes to the store only what changed, evaluates the alert rules
// (fleet/alerts.ts), and hands each alert transition to the notifier once. Time comes from an
// injected clock: one `cycle()` is one probe round, so tests step time without sleeping.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { reconcileAlerts, rolloutAlerts, runtimeAlerts, type DesiredAlert } from "../fleet/alerts";
import { assessHealth, METRIC_TARGETS, type RuntimeMetrics, type RuntimeStatus } from "../fleet/health";
import type { FleetStore, RuntimeObservation, RuntimeRecord, UpgradeEvent } from "../store/types";
import type { AlertNotice, DeliveryReport, Notifier } from "./notify";
import { healthProbeOf, type ProbeResult, type ProbeTarget } from "../control/probe";
import { addSample, emptyWindow, windowMetrics, type RuntimeWindow, type Sample } from "../fleet/metrics";

const numberAt = (o: Record<string, unknown> | undefined, k: string): number | undefined => {
  const v = o?.[k];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
};

/** A probe as a sample (the runtime's own counters when its /health reports them). */
export function sampleOf(p: ProbeResult): Sample {
  const metrics = p.health?.metrics as Record<string, unknown> | undefined;
  const s: Sample = { at: p.at, up: p.reachable, ok: p.healthy };
  if (p.reachable) s.ms = p.latencyMs;
  const set = (k: keyof Sample, v: number | undefined) => {
    if (v !== undefined) (s as unknown as Record<string, number>)[k] = v;
  };
  set("req", numberAt(metrics, "requests"));
  set("err", numberAt(metrics, "errors"));
  set("nd", numberAt(metrics, "notificationsDelivered"));
  set("nf", numberAt(metrics, "notificationsFailed"));
  set("dl", numberAt(metrics, "avgDeliveryLatencyMs"));
  set("upt", numberAt(p.health, "uptimeSeconds"));
  return s;
}

// ---------------------------------------------------------------------------------------------
// What is worth writing (pure)
// ---------------------------------------------------------------------------------------------

/** A steady runtime refreshes its lastHealthCheck this often (well under the 5-minute offline rule). */
export const HEALTH_CHECK_REFRESH_MS = 2 * 60_000;

function metricChanged(key: keyof RuntimeMetrics, a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return a !== b;
  if (key === "crashCount24h") return a !== b;
  if (key === "avgResponseTimeMs" || key === "p99ResponseTimeMs" || key === "avgDeliveryLatencyMs") {
    // Latency jitters on every probe: only a real move is news, and under the seed's target
    // (where it costs no score) only a large one.
    const target = METRIC_TARGETS[key];
    const hi = Math.max(a, b);
    return hi <= target ? Math.abs(a - b) > Math.max(100, 0.5 * hi) : Math.abs(a - b) > Math.max(50, 0.25 * hi);
  }
  return Math.abs(a - b) >= 0.5;
}

/** The fields of `next` that differ enough from the stored record to be written, or null. */
export function changedObservation(prev: RuntimeRecord | undefined, next: RuntimeObservation, now: number): RuntimeObservation | null {
  if (prev === undefined) return next;
  let changed = false;
  if (next.status !== undefined && next.status !== prev.status) changed = true;
  if (next.healthScore !== undefined && next.healthScore !== prev.healthScore) changed = true;
  if (next.openclawVersion !== undefined && next.openclawVersion !== prev.openclawVersion) changed = true;
  if (next.runtimeServiceVersion !== undefined && next.runtimeServiceVersion !== prev.runtimeServiceVersion) changed = true;
  if (next.metrics) {
    const keys = new Set([...Object.keys(next.metrics), ...Object.keys(prev.metrics ?? {})]) as Set<keyof RuntimeMetrics>;
    for (const k of keys) if (metricChanged(k, prev.metrics?.[k], next.metrics[k])) changed = true;
  }
  if (next.lastHealthCheck !== undefined && (prev.lastHealthCheck === undefined || next.lastHealthCheck - prev.lastHealthCheck >= HEALTH_CHECK_REFRESH_MS)) changed = true;
  if (!changed) return null;
  return { ...next, observedAt: now };
}

// ---------------------------------------------------------------------------------------------
// The monitor
// ---------------------------------------------------------------------------------------------

export interface MonitorTarget {
  accountId: string;
  /** Null when its address is not known (a droplet whose stack output could not be read). */
  address: string | null;
  port: number;
  openclaw: string;
  runtimeService: string;
  provider: RuntimeObservation["provider"];
  canary: boolean;
}

export interface MonitorClock {
  now(): number;
}

export interface MonitorDeps {
  store: FleetStore;
  stack: string;
  /** The stack's runtimes now (re-read every cycle: the stack config is the desired state). */
  targets: () => Promise<MonitorTarget[]> | MonitorTarget[];
  minSupportedOpenclaw?: () => string | undefined;
  probe: (targets: ProbeTarget[], now: () => number) => Promise<ProbeResult[]>;
  clock?: MonitorClock;
  /** The window state file (null: in memory only). */
  stateFile: string | null;
  notifier?: Notifier;
  /** Upgrades older than this with no result are no longer "upgrading" (a dead executor). */
  upgradingForAtMostMs?: number;
}

export interface RuntimeReport {
  accountId: string;
  address: string | null;
  status: RuntimeStatus | "unknown";
  healthScore?: number;
  reachable?: boolean;
  healthy?: boolean;
  latencyMs?: number;
  openclaw?: string;
  runtimeService?: string;
  activeConversations?: number;
  /** The runtime says OpenClaw's own auto-updater is on (`autoUpdate` in /health): a second updater. */
  autoUpdate?: true;
  metrics?: RuntimeMetrics;
  error?: string;
}

export interface CycleReport {
  stack: string;
  at: number;
  runtimes: RuntimeReport[];
  /** Runtimes whose record was written this cycle. */
  written: number;
  alerts: { opened: string[]; updated: number; closed: string[]; open: number };
  notifications?: DeliveryReport;
  probeMs: number;
}

interface StateFile {
  version: 1;
  stack: string;
  windows: Record<string, RuntimeWindow>;
}

export class Monitor {
  private windows: Record<string, RuntimeWindow>;
  private readonly clock: MonitorClock;

  constructor(private readonly deps: MonitorDeps) {
    this.clock = deps.clock ?? { now: () => Date.now() };
    this.windows = deps.stateFile ? readState(deps.stateFile, deps.stack) : {};
  }

  window(accountId: string): RuntimeWindow | undefined {
    return this.windows[accountId];
  }

  async cycle(): Promise<CycleReport> {
    const { store, stack } = this.deps;
    const now = this.clock.now();
    const targets = await this.deps.targets();
    const probeable = targets.filter((t): t is MonitorTarget & { address: string } => t.address !== null);
    const t0 = performance.now();
    const probes = new Map(
      (await this.deps.probe(probeable.map((t) => ({ accountId: t.accountId, address: t.address, port: t.port })), () => now)).map((p) => [p.accountId, p]),
    );
    const probeMs = Math.round(performance.now() - t0);
    const records = new Map((await store.listRuntimes({ stack })).map((r) => [r.accountId, r]));
    const lastUpgrades = await this.lastUpgrades(new Set(targets.map((t) => t.accountId)));

    const reports: RuntimeReport[] = [];
    const writes: RuntimeObservation[] = [];
    const desired: DesiredAlert[] = [];
    const minSupported = this.deps.minSupportedOpenclaw?.();
    const known = new Set<string>();
    for (const t of targets) {
      known.add(t.accountId);
      const p = probes.get(t.accountId);
      const record = records.get(t.accountId);
      if (!p) {
        reports.push({ accountId: t.accountId, address: t.address, status: "unknown", error: "no address: the stack output fleetRuntimes.<id>.address is not available" });
        continue;
      }
      const w = addSample(this.windows[t.accountId] ?? emptyWindow(now), sampleOf(p));
      this.windows[t.accountId] = w;
      const metrics = windowMetrics(w, now);
      const upgrading = record?.status === "upgrading" && record.pendingUpgrade !== undefined && now - record.pendingUpgrade.initiatedAt <= (this.deps.upgradingForAtMostMs ?? 3_600_000);
      const { status, healthScore } = assessHealth({
        probe: healthProbeOf(p, { openclaw: t.openclaw, runtimeService: t.runtimeService }),
        metrics,
        upgrading,
        ...(w.lastUp !== undefined ? { lastHealthCheck: w.lastUp } : {}),
        now,
      });
      const openclaw = p.version?.openclaw ?? record?.openclawVersion ?? t.openclaw;
      const runtimeService = p.version?.runtimeService ?? record?.runtimeServiceVersion ?? t.runtimeService;
      const obs: RuntimeObservation = {
        stack,
        accountId: t.accountId,
        status,
        healthScore,
        metrics,
        openclawVersion: openclaw,
        runtimeServiceVersion: runtimeService,
        ...(w.lastUp !== undefined ? { lastHealthCheck: w.lastUp } : {}),
        ...(record === undefined ? { provider: t.provider, ipAddress: t.address ?? "", isCanary: t.canary, dockerImageTag: runtimeService } : {}),
      };
      const write = changedObservation(record, obs, now);
      if (write) writes.push(write);
      const active = numberAt(p.health, "activeConversations");
      reports.push({
        accountId: t.accountId,
        address: t.address,
        status,
        healthScore,
        reachable: p.reachable,
        healthy: p.healthy,
        latencyMs: p.latencyMs,
        openclaw,
        runtimeService,
        ...(active !== undefined ? { activeConversations: active } : {}),
        ...(p.health?.autoUpdate === true ? { autoUpdate: true as const } : {}),
        metrics,
        ...(p.error ? { error: p.error } : {}),
      });
      const last = lastUpgrades.get(t.accountId);
      desired.push(
        ...runtimeAlerts(
          {
            stack,
            accountId: t.accountId,
            status,
            openclawVersion: openclaw,
            healthScore,
            metrics,
            createdAt: record?.createdAt ?? w.firstSeen,
            ...(w.lastUp !== undefined ? { lastHealthCheck: w.lastUp } : {}),
            ...(last ? { lastUpgrade: { eventId: last.eventId, status: last.status, toOpenclaw: last.toOpenclaw, ...(last.error ? { error: last.error } : {}) } } : {}),
          },
          { now, ...(minSupported ? { minSupportedOpenclaw: minSupported } : {}) },
        ),
      );
    }
    // Runtimes no longer in the stack config keep no window.
    for (const id of Object.keys(this.windows)) if (!known.has(id)) delete this.windows[id];
    if (writes.length > 0) await store.upsertRuntimes(writes);

    const active = await store.activeRollout(stack);
    if (active) desired.push(...rolloutAlerts({ stack, rolloutId: active.rolloutId, status: active.status, lastProgressAt: active.lastProgressAt, currentBatch: active.currentBatch }, { now }));
    const alerts = await this.reconcile(desired, known, now);
    this.saveState();
    const notifications = this.deps.notifier ? await this.deps.notifier.deliver() : undefined;
    return { stack, at: now, runtimes: reports, written: writes.length, alerts, ...(notifications ? { notifications } : {}), probeMs };
  }

  /** Each runtime's newest upgrade record (one history page of the stack). */
  private async lastUpgrades(ids: Set<string>): Promise<Map<string, UpgradeEvent>> {
    const out = new Map<string, UpgradeEvent>();
    const page = await this.deps.store.listUpgrades({ stack: this.deps.stack, limit: 500 });
    for (const e of page.items) if (ids.has(e.accountId) && !out.has(e.accountId)) out.set(e.accountId, e);
    return out;
  }

  private async reconcile(desired: DesiredAlert[], runtimes: Set<string>, now: number): Promise<CycleReport["alerts"]> {
    const { store, stack } = this.deps;
    // Open alerts of exactly the subjects evaluated: this stack's runtimes and rollouts.
    const live = [...(await store.listAlerts({ status: "open", stack, limit: 500 })), ...(await store.listAlerts({ status: "acknowledged", stack, limit: 500 }))].filter(
      (a) => (a.accountId !== undefined && runtimes.has(a.accountId)) || a.rule === "rollout_stalled",
    );
    const byKey = new Map(live.map((a) => [a.key, a]));
    const plan = reconcileAlerts(byKey.keys(), desired);
    const notices: AlertNotice[] = [];
    const notice = (a: { key: string; alertId: string; severity: DesiredAlert["severity"]; rule: string; message: string; stack?: string; accountId?: string }, transition: AlertNotice["transition"]): AlertNotice => ({
      key: a.key,
      alertId: a.alertId,
      transition,
      severity: a.severity,
      rule: a.rule,
      message: a.message,
      at: now,
      ...(a.stack ? { stack: a.stack } : {}),
      ...(a.accountId ? { accountId: a.accountId } : {}),
    });
    for (const d of plan.open) notices.push(notice(await store.openAlert(d), "opened"));
    let updated = 0;
    for (const d of plan.update) {
      const cur = byKey.get(d.key)!;
      // An unchanged alert is not rewritten (a steady fleet writes nothing); a still-unsent
      // "opened" (the monitor died between open and notify) is queued again below.
      if (cur.message !== d.message || cur.severity !== d.severity) {
        await store.openAlert(d);
        updated++;
      }
      notices.push(notice(cur, "opened"));
    }
    for (const key of plan.close) {
      const cur = byKey.get(key)!;
      if (await store.closeAlert(key)) notices.push(notice({ ...cur, message: `recovered: ${cur.message}` }, "closed"));
    }
    this.deps.notifier?.add(notices);
    return { opened: plan.open.map((d) => d.key), updated, closed: plan.close, open: plan.open.length + plan.update.length };
  }

  private saveState() {
    const file = this.deps.stateFile;
    if (!file) return;
    mkdirSync(path.dirname(file), { recursive: true });
    const state: StateFile = { version: 1, stack: this.deps.stack, windows: this.windows };
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(state));
    renameSync(tmp, file);
  }
}

function readState(file: string, stack: string): Record<string, RuntimeWindow> {
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as Partial<StateFile>;
    if (s.version === 1 && s.stack === stack && typeof s.windows === "object" && s.windows !== null) return s.windows;
  } catch {
    // no state yet, or unreadable: start fresh windows
  }
  return {};
}

/** Where the monitor keeps its windows and notification ledger: beside the store file. */
export function monitorFiles(storePath: string, stack: string): { state: string; ledger: string } {
  const dir = path.dirname(storePath);
  return { state: path.join(dir, `monitor-${stack}.json`), ledger: path.join(dir, `notifications-${stack}.json`) };
}

// The FleetStore: the ONE interface through which the CLI, orchestrator, post-deploy hooks, agent,
// monitor and dashboard record and read fleet state. Two adapters implement it: Convex
// (store/convex.ts, the record in production) and an embedded SQLite file (store/local.ts, the
// default when no Convex deployment is configured). One contract suite (store/contract.ts) runs
// against both. Times are epoch milliseconds; every method is async.
import type { z } from "zod";
import type { RuntimeMetrics, RuntimeStatus } from "../fleet/health";
import type { AlertRule, AlertSeverity } from "../fleet/alerts";
import type * as p from "../protocol/records";

export type { RuntimeMetrics, RuntimeStatus, AlertRule, AlertSeverity };
// The record shapes are defined once, in protocol/records.ts; these are their types.
export { RUNTIME_PROVIDERS, ROLLOUT_STATUSES, UPGRADE_RESULTS, RUNTIME_ROLLOUT_STATES, SYSTEM_CONFIG_KEYS, MAX_GATE_DECISIONS, MAX_RECORDED_STEPS, MAX_RECORDED_ANALYSES } from "../protocol/records";

// Which statuses are active is a lifecycle rule (store/domain/lifecycle.ts).
export { ACTIVE_ROLLOUT_STATUSES } from "./domain/lifecycle";

export type RuntimeProvider = z.infer<typeof p.provider>;
export type UpgradeStrategy = z.infer<typeof p.strategy>;
export type Executor = z.infer<typeof p.executor>;
export type RolloutStatus = z.infer<typeof p.rolloutStatus>;
export type UpgradeResult = z.infer<typeof p.upgradeResult>;
export type RuntimeRolloutState = z.infer<typeof p.runtimeRolloutState>;
export type AlertStatus = z.infer<typeof p.alertStatus>;

export type Release = z.infer<typeof p.release>;
export type PendingUpgrade = z.infer<typeof p.pendingUpgrade>;
/**
 * What an observer saw of one runtime. Identity is (stack, accountId). Fields left out keep their
 * stored value; a runtime seen for the first time needs the infrastructure and version fields.
 */
export type RuntimeObservation = z.infer<typeof p.runtimeObservation>;
export type RuntimeRecord = z.infer<typeof p.runtimeRecord>;
export type UpgradeStart = z.infer<typeof p.upgradeStart>;
/** One runtime's upgrade attempt, as the executor (Pulumi hook or agent) reported it. */
export type UpgradeEvent = z.infer<typeof p.upgradeEvent>;

export interface RuntimeDetail extends RuntimeRecord {
  /** Most recent first. */
  recentUpgrades: UpgradeEvent[];
}

export type RolloutOptions = z.infer<typeof p.rolloutOptions>;
export type GateDecision = z.infer<typeof p.gateDecision>;
export type RolloutCounts = z.infer<typeof p.rolloutCounts>;
export type RolloutInput = z.infer<typeof p.rolloutInput>;
export type RolloutRecord = z.infer<typeof p.rolloutRecord>;
export type RolloutRuntimeState = z.infer<typeof p.rolloutRuntimeState>;
export type RolloutStep = z.infer<typeof p.rolloutStep>;

export interface RolloutDetail extends RolloutRecord {
  runtimes: RolloutRuntimeState[];
}

export type RolloutPatch = z.infer<typeof p.rolloutPatch>;
export type LockHolder = z.infer<typeof p.lockHolder>;

/** A refused renewal of a lease nobody holds any more has no holder to name. */
export type LockResult = { ok: true; holder: LockHolder } | { ok: false; holder: LockHolder | null };

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null when there is none. */
  cursor: string | null;
  isDone: boolean;
}

export interface HistoryQuery {
  stack?: string;
  accountId?: string;
  rolloutId?: string;
  limit?: number;
  cursor?: string | null;
}

export type SystemConfigKey = z.infer<typeof p.configKey>;
export type ConfigValue = z.infer<typeof p.configValue>;
export type SystemConfigEntry = z.infer<typeof p.systemConfigEntry>;
export type AlertInput = z.infer<typeof p.alertInput>;
export type AlertRecord = z.infer<typeof p.alertRecord>;
export type ActivityInput = z.infer<typeof p.activityInput>;
export type ActivityRecord = z.infer<typeof p.activityRecord>;
export type RecentRolloutRow = z.infer<typeof p.recentRolloutRow>;
export type FleetOverview = z.infer<typeof p.fleetOverview>;

export interface FleetStore {
  readonly kind: "convex" | "local";

  // Runtimes -------------------------------------------------------------------------------
  /** Records observed state of many runtimes at once (creates unseen ones). */
  upsertRuntimes(observations: RuntimeObservation[]): Promise<void>;
  /** All runtimes of a stack (or of every stack), optionally by status. */
  listRuntimes(filter?: { stack?: string; status?: RuntimeStatus }): Promise<RuntimeRecord[]>;
  /** One runtime with its last `upgrades` (default 10) upgrade events, newest first. */
  getRuntime(stack: string, accountId: string, opts?: { upgrades?: number }): Promise<RuntimeDetail | null>;
  /** Sets (or, with null, clears) the upgrade an agent-executed runtime should apply. */
  setPendingUpgrade(stack: string, accountId: string, pending: PendingUpgrade | null): Promise<void>;
  getPendingUpgrade(stack: string, accountId: string): Promise<PendingUpgrade | null>;

  /**
   * An upgrade of this runtime begins: it turns `upgrading`, its pending upgrade is set, and inside
   * a rollout its state turns `upgrading`. `recordUpgrade` ends it.
   */
  markUpgradeStarted(start: UpgradeStart): Promise<void>;

  // Upgrade history ------------------------------------------------------------------------
  /**
   * Records one upgrade result; idempotent by eventId (false when already recorded). A success
   * moves the runtime to the new versions; any result clears its pending upgrade; a result with
   * a rolloutId moves that runtime's rollout state.
   */
  recordUpgrade(event: UpgradeEvent): Promise<{ recorded: boolean }>;
  /** Newest first; fleet-wide, per stack, per runtime or per rollout; cursor-paginated. */
  listUpgrades(query?: HistoryQuery): Promise<Page<UpgradeEvent>>;

  // Rollouts -------------------------------------------------------------------------------
  /** Records a new run (status `planned` unless given); every batched runtime starts `pending`. Idempotent by rolloutId. */
  createRollout(input: RolloutInput): Promise<RolloutRecord>;
  /** A patch with `generation` older than the record's or the stack lease's is refused (a stale orchestrator). */
  updateRollout(rolloutId: string, patch: RolloutPatch): Promise<RolloutRecord>;
  getRollout(rolloutId: string): Promise<RolloutDetail | null>;
  /** Newest first. */
  listRollouts(filter?: { stack?: string; limit?: number }): Promise<RolloutRecord[]>;
  /** The newest planned/running/paused rollout of a stack, if any. */
  activeRollout(stack: string): Promise<RolloutRecord | null>;

  // The per-stack lease (compare-and-set, fenced by its generation) -------------------------
  /**
   * Takes the stack's lease if free or expired (the store assigns the next generation and the
   * expiry from `leaseSeconds`); otherwise returns who holds it. The same holder (pid+host+
   * rolloutId) taking it again renews it; with `generation` set it is a heartbeat, refused
   * (ok: false) once another generation holds the lease.
   */
  acquireLock(stack: string, holder: LockHolder): Promise<LockResult>;
  /** Releases the lock only if `holder` holds it (pid+host match). */
  releaseLock(stack: string, holder: Pick<LockHolder, "pid" | "host">): Promise<boolean>;
  /** Removes the lock if it is still held by `expected` (the stale holder the caller inspected). */
  breakLock(stack: string, expected: Pick<LockHolder, "pid" | "host">): Promise<boolean>;
  getLock(stack: string): Promise<LockHolder | null>;

  // System config --------------------------------------------------------------------------
  getConfig(): Promise<SystemConfigEntry[]>;
  /** Validates with fleet/ rules (release tags, strategy, percent). */
  setConfig(key: SystemConfigKey, value: ConfigValue, updatedBy: string): Promise<void>;

  // Alerts ---------------------------------------------------------------------------------
  /** Opens an alert, or updates it if one with the same key is already open/acknowledged. */
  openAlert(alert: AlertInput): Promise<AlertRecord>;
  /** Closes the open alert with this key; false when none was open. */
  closeAlert(key: string): Promise<boolean>;
  listAlerts(filter?: { status?: AlertStatus; stack?: string; accountId?: string; limit?: number }): Promise<AlertRecord[]>;
  acknowledgeAlert(alertId: string, by: string): Promise<boolean>;

  // Activities -----------------------------------------------------------------------------
  appendActivity(activity: ActivityInput): Promise<void>;
  /** Newest first. */
  listActivities(filter?: { stack?: string; accountId?: string; limit?: number }): Promise<ActivityRecord[]>;

  // Overview -------------------------------------------------------------------------------
  /** Totals by status and version, recent rollouts, open alerts: from maintained counts. */
  overview(filter?: { stack?: string; recentRollouts?: number }): Promise<FleetOverview>;

  close(): Promise<void>;
}

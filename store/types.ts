// The FleetStore: the ONE interface through which the CLI, orchestrator, post-deploy hooks, agent,
// monitor and dashboard record and read fleet state. Two adapters implement it: Convex
// (store/convex.ts, the record in production) and an embedded SQLite file (store/local.ts, the
// default when no Convex deployment is configured). One contract suite (store/contract.ts) runs
// against both. Times are epoch milliseconds; every method is async.
import type { RuntimeMetrics, RuntimeStatus } from "../fleet/health";
import type { AlertRule, AlertSeverity } from "../fleet/alerts";
import type { StatusRow, VersionRow } from "../fleet/overview";

export type { RuntimeMetrics, RuntimeStatus, AlertRule, AlertSeverity };

export const RUNTIME_PROVIDERS = ["digitalocean", "existing", "fly", "aws", "gcp"] as const;
export type RuntimeProvider = (typeof RUNTIME_PROVIDERS)[number];
export type UpgradeStrategy = "rolling" | "canary" | "immediate";
export type Executor = "pulumi" | "agent";

export const ROLLOUT_STATUSES = ["planned", "running", "paused", "halted", "completed", "aborted", "failed"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
/** Statuses in which a rollout still holds (or may resume into) the stack. */
export const ACTIVE_ROLLOUT_STATUSES: readonly RolloutStatus[] = ["planned", "running", "paused"];

export const UPGRADE_RESULTS = ["success", "failed", "rolled_back", "noop"] as const;
export type UpgradeResult = (typeof UPGRADE_RESULTS)[number];

export const RUNTIME_ROLLOUT_STATES = ["pending", "upgrading", "succeeded", "failed", "rolled_back", "skipped"] as const;
export type RuntimeRolloutState = (typeof RUNTIME_ROLLOUT_STATES)[number];

export type AlertStatus = "open" | "acknowledged" | "closed";

export interface Release {
  openclaw: string;
  runtimeService: string;
}

export interface PendingUpgrade {
  targetOpenclawVersion: string;
  targetRuntimeVersion: string;
  initiatedAt: number;
  initiatedBy: string;
  strategy: UpgradeStrategy;
  rolloutId?: string;
  /**
   * Agent runtimes: the agent defers the upgrade while the runtime reports active conversations,
   * but not past this time (epoch ms); without it the agent proceeds at once.
   */
  deadline?: number;
}

/**
 * What an observer saw of one runtime. Identity is (stack, accountId). Fields left out keep their
 * stored value; a runtime seen for the first time needs the infrastructure and version fields.
 */
export interface RuntimeObservation {
  stack: string;
  accountId: string;
  provider?: RuntimeProvider;
  providerId?: string;
  ipAddress?: string;
  region?: string;
  openclawVersion?: string;
  runtimeServiceVersion?: string;
  dockerImageTag?: string;
  status?: RuntimeStatus;
  lastHealthCheck?: number;
  healthScore?: number;
  metrics?: RuntimeMetrics;
  isCanary?: boolean;
  /** Pinned release, or null to clear the pin. */
  pin?: string | null;
  /** When it was observed (defaults to the store's clock). */
  observedAt?: number;
}

export interface RuntimeRecord {
  stack: string;
  accountId: string;
  provider: RuntimeProvider;
  providerId: string;
  ipAddress: string;
  region: string;
  openclawVersion: string;
  runtimeServiceVersion: string;
  dockerImageTag: string;
  status: RuntimeStatus;
  lastHealthCheck?: number;
  healthScore?: number;
  metrics?: RuntimeMetrics;
  pendingUpgrade?: PendingUpgrade;
  isCanary: boolean;
  pin?: string;
  /** The newest observation applied (observedAt); an older one does not overwrite it. */
  lastObservedAt?: number;
  createdAt: number;
  updatedAt: number;
}

export interface UpgradeStart {
  stack: string;
  accountId: string;
  rolloutId?: string;
  targetOpenclawVersion: string;
  targetRuntimeVersion: string;
  strategy: UpgradeStrategy;
  initiatedBy: string;
  at?: number;
}

/** One runtime's upgrade attempt, as the executor (Pulumi hook or agent) reported it. */
export interface UpgradeEvent {
  /** Unique per attempt; a repeated record with the same id is ignored. */
  eventId: string;
  stack: string;
  accountId: string;
  rolloutId?: string;
  fromOpenclaw: string;
  toOpenclaw: string;
  fromRuntimeService: string;
  toRuntimeService: string;
  status: UpgradeResult;
  startedAt: number;
  completedAt?: number;
  durationMs?: number;
  error?: string;
  initiatedBy: string;
  reason?: string;
  executor: Executor;
}

export interface RuntimeDetail extends RuntimeRecord {
  /** Most recent first. */
  recentUpgrades: UpgradeEvent[];
}

export interface RolloutOptions {
  batchPercent?: number;
  waitSeconds?: number;
  bakeMinutes?: number;
  maxBatchFailurePercent?: number;
  pauseOnFailurePercent?: number;
  minHealthyPercent?: number;
  autoRollback?: boolean;
  skipUpgraded?: boolean;
  allowDowngrade?: boolean;
}

export interface GateDecision {
  at: number;
  batch: number;
  decision: "go" | "wait" | "pause" | "halt";
  reason: string;
  /** Numbers the gate looked at (failure %, healthy %, ...). */
  measures?: Record<string, number>;
}

export interface RolloutCounts {
  total: number;
  pending: number;
  upgrading: number;
  succeeded: number;
  failed: number;
  rolledBack: number;
  skipped: number;
}

export interface RolloutInput {
  rolloutId: string;
  stack: string;
  target: Release;
  strategy: UpgradeStrategy;
  options: RolloutOptions;
  initiatedBy: string;
  reason?: string;
  /** Account ids per batch, in order (the canary batch first). */
  batches: string[][];
  /**
   * Each batched runtime's versions before the rollout, in the same shape as `batches`: what a
   * rollback restores, kept with the record so a resumed rollout still knows it.
   */
  previous?: Release[][];
  status?: RolloutStatus;
  createdAt?: number;
}

export interface RolloutRecord {
  rolloutId: string;
  stack: string;
  target: Release;
  strategy: UpgradeStrategy;
  options: RolloutOptions;
  initiatedBy: string;
  /** Why it was started (as given by whoever started it; never overwritten). */
  reason?: string;
  batches: string[][];
  status: RolloutStatus;
  /** Why it is in its current status (halt reason, "paused by ...", "every runtime upgraded"). */
  statusReason?: string;
  currentBatch: number;
  gates: GateDecision[];
  counts: RolloutCounts;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  completedAt?: number;
  /** Last time a batch advanced or a runtime state changed; the stalled-rollout alert reads it. */
  lastProgressAt: number;
}

export interface RolloutRuntimeState {
  accountId: string;
  state: RuntimeRolloutState;
  /** Its versions before the rollout (from RolloutInput.previous). */
  from?: Release;
  error?: string;
  updatedAt: number;
}

export interface RolloutDetail extends RolloutRecord {
  runtimes: RolloutRuntimeState[];
}

export interface RolloutPatch {
  status?: RolloutStatus;
  currentBatch?: number;
  /** Per-runtime states to set (counts are kept in step). */
  runtimeStates?: { accountId: string; state: RuntimeRolloutState; error?: string }[];
  /** Appended to the gate log (the log keeps the newest MAX_GATE_DECISIONS). */
  gate?: GateDecision;
  /** Why the status is what it is now (the start reason stays as it was). */
  statusReason?: string;
  at?: number;
}

export const MAX_GATE_DECISIONS = 500;

export interface LockHolder {
  pid: number;
  host: string;
  user: string;
  startedAt: number;
  rolloutId?: string;
}

export type LockResult = { ok: true; holder: LockHolder } | { ok: false; holder: LockHolder };

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

export const SYSTEM_CONFIG_KEYS = [
  "latest_openclaw_version",
  "latest_runtime_version",
  "min_supported_openclaw",
  "upgrade_strategy",
  "upgrade_batch_percent",
] as const;
export type SystemConfigKey = (typeof SYSTEM_CONFIG_KEYS)[number];
export type ConfigValue = string | number | boolean;

export interface SystemConfigEntry {
  key: SystemConfigKey;
  value: ConfigValue;
  updatedAt: number;
  updatedBy: string;
}

export interface AlertInput {
  /** Identity across evaluations: rule + subject (see fleet/alerts.ts alertKey). */
  key: string;
  rule: AlertRule;
  severity: AlertSeverity;
  stack?: string;
  accountId?: string;
  rolloutId?: string;
  message: string;
  details?: Record<string, string | number | boolean | null>;
}

export interface AlertRecord extends AlertInput {
  alertId: string;
  status: AlertStatus;
  openedAt: number;
  updatedAt: number;
  closedAt?: number;
  acknowledgedAt?: number;
  acknowledgedBy?: string;
}

export interface ActivityInput {
  actor: string;
  action: string;
  message: string;
  stack?: string;
  accountId?: string;
  rolloutId?: string;
  at?: number;
}

export interface ActivityRecord extends Required<Pick<ActivityInput, "actor" | "action" | "message">> {
  at: number;
  stack?: string;
  accountId?: string;
  rolloutId?: string;
}

export interface RecentRolloutRow {
  rolloutId: string;
  stack: string;
  target: Release;
  strategy: UpgradeStrategy;
  status: RolloutStatus;
  createdAt: number;
  successRate: number;
  failureRate: number;
  durationMs?: number;
}

export interface FleetOverview {
  total: number;
  byStatus: StatusRow[];
  byOpenclawVersion: VersionRow[];
  minSupportedOpenclaw?: string;
  latestOpenclawVersion?: string;
  recentRollouts: RecentRolloutRow[];
  openAlerts: { critical: number; high: number; medium: number };
}

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
  updateRollout(rolloutId: string, patch: RolloutPatch): Promise<RolloutRecord>;
  getRollout(rolloutId: string): Promise<RolloutDetail | null>;
  /** Newest first. */
  listRollouts(filter?: { stack?: string; limit?: number }): Promise<RolloutRecord[]>;
  /** The newest planned/running/paused rollout of a stack, if any. */
  activeRollout(stack: string): Promise<RolloutRecord | null>;

  // The per-stack rollout lock (compare-and-set) -------------------------------------------
  /** Takes the stack's lock if free; otherwise returns who holds it. Re-acquiring by the same holder (same pid+host+rolloutId) succeeds. */
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

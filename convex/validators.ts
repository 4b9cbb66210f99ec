// Shared validators, defined once and spread into tables (schema.ts) and function args/returns.
// They mirror the types in store/types.ts (the FleetStore contract).
import { v, type Infer } from "convex/values";

export const vRuntimeStatus = v.union(
  v.literal("provisioning"),
  v.literal("online"),
  v.literal("degraded"),
  v.literal("offline"),
  v.literal("upgrading"),
  v.literal("error"),
);
export const vProvider = v.union(v.literal("digitalocean"), v.literal("existing"), v.literal("fly"), v.literal("aws"), v.literal("gcp"));
export const vStrategy = v.union(v.literal("rolling"), v.literal("canary"), v.literal("immediate"));
export const vExecutor = v.union(v.literal("pulumi"), v.literal("agent"));
export const vRolloutStatus = v.union(
  v.literal("planned"),
  v.literal("running"),
  v.literal("paused"),
  v.literal("halted"),
  v.literal("completed"),
  v.literal("aborted"),
  v.literal("failed"),
);
export const vUpgradeResult = v.union(v.literal("success"), v.literal("failed"), v.literal("rolled_back"), v.literal("noop"));
export const vRuntimeRolloutState = v.union(
  v.literal("pending"),
  v.literal("upgrading"),
  v.literal("succeeded"),
  v.literal("failed"),
  v.literal("rolled_back"),
  v.literal("skipped"),
);
export const vSeverity = v.union(v.literal("critical"), v.literal("high"), v.literal("medium"));
export const vAlertStatus = v.union(v.literal("open"), v.literal("acknowledged"), v.literal("closed"));
export const vAlertRule = v.union(
  v.literal("runtime_offline"),
  v.literal("high_error_rate"),
  v.literal("upgrade_failed"),
  v.literal("version_below_minimum"),
  v.literal("health_degraded"),
  v.literal("rollout_stalled"),
);
export const vConfigKey = v.union(
  v.literal("latest_openclaw_version"),
  v.literal("latest_runtime_version"),
  v.literal("min_supported_openclaw"),
  v.literal("upgrade_strategy"),
  v.literal("upgrade_batch_percent"),
);
export const vConfigValue = v.union(v.string(), v.number(), v.boolean());
export const vDetails = v.record(v.string(), v.union(v.string(), v.number(), v.boolean(), v.null()));

/** Seed section 5 metrics; rates are percentages 0..100 (fleet/health.ts). */
export const metricsFields = {
  uptimePercent: v.optional(v.number()),
  healthCheckSuccessRate: v.optional(v.number()),
  avgResponseTimeMs: v.optional(v.number()),
  p99ResponseTimeMs: v.optional(v.number()),
  notificationDeliveryRate: v.optional(v.number()),
  avgDeliveryLatencyMs: v.optional(v.number()),
  errorRate: v.optional(v.number()),
  crashCount24h: v.optional(v.number()),
};
export const vMetrics = v.object(metricsFields);

export const vRelease = v.object({ openclaw: v.string(), runtimeService: v.string() });

export const pendingUpgradeFields = {
  targetOpenclawVersion: v.string(),
  targetRuntimeVersion: v.string(),
  initiatedAt: v.number(),
  initiatedBy: v.string(),
  strategy: vStrategy,
  rolloutId: v.optional(v.string()),
  /** An agent defers while its runtime is busy, but not past this time (epoch ms). */
  deadline: v.optional(v.number()),
};
export const vPendingUpgrade = v.object(pendingUpgradeFields);

/** A runtime row's own fields (schema `runtimes`, minus the v1 link). */
export const runtimeFields = {
  stack: v.string(),
  accountId: v.string(),
  provider: vProvider,
  providerId: v.string(),
  ipAddress: v.string(),
  region: v.string(),
  openclawVersion: v.string(),
  runtimeServiceVersion: v.string(),
  dockerImageTag: v.string(),
  status: vRuntimeStatus,
  lastHealthCheck: v.optional(v.number()),
  healthScore: v.optional(v.number()),
  metrics: v.optional(vMetrics),
  pendingUpgrade: v.optional(vPendingUpgrade),
  isCanary: v.boolean(),
  pin: v.optional(v.string()),
  /** The newest observation applied (observedAt); an older one does not overwrite it. */
  lastObservedAt: v.optional(v.number()),
  createdAt: v.number(),
  updatedAt: v.number(),
};
export const vRuntime = v.object(runtimeFields);
export type RuntimeDoc = Infer<typeof vRuntime>;

export const runtimeObservationFields = {
  stack: v.string(),
  accountId: v.string(),
  provider: v.optional(vProvider),
  providerId: v.optional(v.string()),
  ipAddress: v.optional(v.string()),
  region: v.optional(v.string()),
  openclawVersion: v.optional(v.string()),
  runtimeServiceVersion: v.optional(v.string()),
  dockerImageTag: v.optional(v.string()),
  status: v.optional(vRuntimeStatus),
  lastHealthCheck: v.optional(v.number()),
  healthScore: v.optional(v.number()),
  metrics: v.optional(vMetrics),
  isCanary: v.optional(v.boolean()),
  pin: v.optional(v.union(v.string(), v.null())),
  observedAt: v.optional(v.number()),
};
export const vRuntimeObservation = v.object(runtimeObservationFields);
export type RuntimeObservation = Infer<typeof vRuntimeObservation>;

export const upgradeEventFields = {
  eventId: v.string(),
  stack: v.string(),
  accountId: v.string(),
  rolloutId: v.optional(v.string()),
  fromOpenclaw: v.string(),
  toOpenclaw: v.string(),
  fromRuntimeService: v.string(),
  toRuntimeService: v.string(),
  status: vUpgradeResult,
  startedAt: v.number(),
  completedAt: v.optional(v.number()),
  durationMs: v.optional(v.number()),
  error: v.optional(v.string()),
  initiatedBy: v.string(),
  reason: v.optional(v.string()),
  executor: vExecutor,
};
export const vUpgradeEvent = v.object(upgradeEventFields);
export type UpgradeEventDoc = Infer<typeof vUpgradeEvent>;

export const vRolloutOptions = v.object({
  batchPercent: v.optional(v.number()),
  waitSeconds: v.optional(v.number()),
  bakeMinutes: v.optional(v.number()),
  maxBatchFailurePercent: v.optional(v.number()),
  pauseOnFailurePercent: v.optional(v.number()),
  minHealthyPercent: v.optional(v.number()),
  autoRollback: v.optional(v.boolean()),
  skipUpgraded: v.optional(v.boolean()),
  allowDowngrade: v.optional(v.boolean()),
});

export const vGateDecision = v.object({
  at: v.number(),
  batch: v.number(),
  decision: v.union(v.literal("go"), v.literal("wait"), v.literal("pause"), v.literal("halt")),
  reason: v.string(),
  measures: v.optional(v.record(v.string(), v.number())),
});

export const vRolloutCounts = v.object({
  total: v.number(),
  pending: v.number(),
  upgrading: v.number(),
  succeeded: v.number(),
  failed: v.number(),
  rolledBack: v.number(),
  skipped: v.number(),
});
export type RolloutCounts = Infer<typeof vRolloutCounts>;

export const rolloutFields = {
  rolloutId: v.string(),
  stack: v.string(),
  target: vRelease,
  strategy: vStrategy,
  options: vRolloutOptions,
  initiatedBy: v.string(),
  reason: v.optional(v.string()),
  batches: v.array(v.array(v.string())),
  status: vRolloutStatus,
  statusReason: v.optional(v.string()),
  currentBatch: v.number(),
  gates: v.array(vGateDecision),
  counts: vRolloutCounts,
  createdAt: v.number(),
  updatedAt: v.number(),
  startedAt: v.optional(v.number()),
  completedAt: v.optional(v.number()),
  lastProgressAt: v.number(),
};
export const vRollout = v.object(rolloutFields);
export type RolloutDoc = Infer<typeof vRollout>;

export const rolloutInputFields = {
  rolloutId: v.string(),
  stack: v.string(),
  target: vRelease,
  strategy: vStrategy,
  options: vRolloutOptions,
  initiatedBy: v.string(),
  reason: v.optional(v.string()),
  batches: v.array(v.array(v.string())),
  /** Each runtime's versions before the rollout, shaped like `batches`. */
  previous: v.optional(v.array(v.array(vRelease))),
  status: v.optional(vRolloutStatus),
  createdAt: v.optional(v.number()),
};
export const vRolloutInput = v.object(rolloutInputFields);

export const vRolloutRuntimeState = v.object({
  accountId: v.string(),
  state: vRuntimeRolloutState,
  from: v.optional(vRelease),
  error: v.optional(v.string()),
  updatedAt: v.number(),
});

export const vRolloutPatch = v.object({
  status: v.optional(vRolloutStatus),
  currentBatch: v.optional(v.number()),
  runtimeStates: v.optional(v.array(v.object({ accountId: v.string(), state: vRuntimeRolloutState, error: v.optional(v.string()) }))),
  gate: v.optional(vGateDecision),
  statusReason: v.optional(v.string()),
  at: v.optional(v.number()),
});

export const vLockHolder = v.object({
  pid: v.number(),
  host: v.string(),
  user: v.string(),
  startedAt: v.number(),
  rolloutId: v.optional(v.string()),
});
export const vLockResult = v.object({ ok: v.boolean(), holder: vLockHolder });

export const alertInputFields = {
  key: v.string(),
  rule: vAlertRule,
  severity: vSeverity,
  stack: v.optional(v.string()),
  accountId: v.optional(v.string()),
  rolloutId: v.optional(v.string()),
  message: v.string(),
  details: v.optional(vDetails),
};
export const vAlertInput = v.object(alertInputFields);
export const alertFields = {
  ...alertInputFields,
  status: vAlertStatus,
  openedAt: v.number(),
  updatedAt: v.number(),
  closedAt: v.optional(v.number()),
  acknowledgedAt: v.optional(v.number()),
  acknowledgedBy: v.optional(v.string()),
};
export const vAlertRecord = v.object({ alertId: v.string(), ...alertFields });

export const activityFields = {
  at: v.number(),
  actor: v.string(),
  action: v.string(),
  message: v.string(),
  stack: v.optional(v.string()),
  accountId: v.optional(v.string()),
  rolloutId: v.optional(v.string()),
};
export const vActivity = v.object(activityFields);
export const vActivityInput = v.object({ ...activityFields, at: v.optional(v.number()) });

export const vConfigEntry = v.object({ key: vConfigKey, value: vConfigValue, updatedAt: v.number(), updatedBy: v.string() });

export function vPage<T extends Parameters<typeof v.array>[0]>(item: T) {
  return v.object({ items: v.array(item), cursor: v.union(v.string(), v.null()), isDone: v.boolean() });
}

export const vStatusRow = v.object({ status: vRuntimeStatus, count: v.number(), percent: v.number() });
export const vVersionRow = v.object({
  label: v.string(),
  versions: v.array(v.string()),
  count: v.number(),
  percent: v.number(),
  belowMinimum: v.boolean(),
});
export const vRecentRollout = v.object({
  rolloutId: v.string(),
  stack: v.string(),
  target: vRelease,
  strategy: vStrategy,
  status: vRolloutStatus,
  createdAt: v.number(),
  successRate: v.number(),
  failureRate: v.number(),
  durationMs: v.optional(v.number()),
});
export const vOverview = v.object({
  total: v.number(),
  byStatus: v.array(vStatusRow),
  byOpenclawVersion: v.array(vVersionRow),
  minSupportedOpenclaw: v.optional(v.string()),
  latestOpenclawVersion: v.optional(v.string()),
  recentRollouts: v.array(vRecentRollout),
  openAlerts: v.object({ critical: v.number(), high: v.number(), medium: v.number() }),
});

// The store records and commands that travel between writers and stores, defined once. The
// TypeScript types (store/types.ts), the Convex validators (convex/validators.ts, derived with
// zodToConvex) and both endpoints' event checks come from these schemas. Strict objects
// throughout: a Convex v.object refuses undeclared fields, so zod must too, or the two disagree.
import { z } from "zod";
import { ALERT_RULES, ALERT_SEVERITIES } from "../fleet/alerts";
import { STRATEGIES } from "../fleet/config";
import { RUNTIME_STATUSES } from "../fleet/health";
import { parseRamp, parseSizeStep } from "../fleet/plan";
import { STEP_KINDS, STEP_STATES } from "../fleet/steps";
import { analysisMode, analysisResult } from "./analysis";
import { MAX_ERROR, MAX_MESSAGE, MAX_NAME, MAX_REASON, accountId, eventId, name, nonNegative, num, percent, releaseTag, rolloutId, stackName, text } from "./fields";

// Enumerations -------------------------------------------------------------------------------
export { RUNTIME_STATUSES, ALERT_RULES, ALERT_SEVERITIES, STRATEGIES };
export const RUNTIME_PROVIDERS = ["digitalocean", "existing", "fly", "aws", "gcp"] as const;
export const EXECUTORS = ["pulumi", "agent"] as const;
export const ROLLOUT_STATUSES = ["planned", "running", "paused", "halted", "completed", "aborted", "failed"] as const;
export const UPGRADE_RESULTS = ["success", "failed", "rolled_back", "noop"] as const;
export const RUNTIME_ROLLOUT_STATES = ["pending", "upgrading", "succeeded", "failed", "rolled_back", "skipped"] as const;
export const ALERT_STATUSES = ["open", "acknowledged", "closed"] as const;
export const GATE_DECISIONS = ["go", "wait", "pause", "halt"] as const;
export const SYSTEM_CONFIG_KEYS = [
  "latest_openclaw_version",
  "latest_runtime_version",
  "min_supported_openclaw",
  "upgrade_strategy",
  "upgrade_batch_percent",
] as const;
export const MAX_GATE_DECISIONS = 500;
/** Steps a rollout record keeps (the newest; a running one always): Convex documents stay small. */
export const MAX_RECORDED_STEPS = 64;
/** Analysis results a record keeps in full (the newest); older analysis steps keep their outcome line. */
export const MAX_RECORDED_ANALYSES = 3;
export { STEP_KINDS, STEP_STATES };

export const runtimeStatus = z.enum(RUNTIME_STATUSES);
export const provider = z.enum(RUNTIME_PROVIDERS);
export const strategy = z.enum(STRATEGIES);
export const executor = z.enum(EXECUTORS);
export const rolloutStatus = z.enum(ROLLOUT_STATUSES);
export const upgradeResult = z.enum(UPGRADE_RESULTS);
export const runtimeRolloutState = z.enum(RUNTIME_ROLLOUT_STATES);
export const alertRule = z.enum(ALERT_RULES);
export const alertSeverity = z.enum(ALERT_SEVERITIES);
export const alertStatus = z.enum(ALERT_STATUSES);
export const configKey = z.enum(SYSTEM_CONFIG_KEYS);
export const configValue = z.union([z.string().max(MAX_NAME), num, z.boolean()]);

// Runtimes -----------------------------------------------------------------------------------
/** Seed section 5 metrics; rates are percentages 0..100 (fleet/health.ts). */
export const metricsFields = {
  uptimePercent: num.optional(),
  healthCheckSuccessRate: num.optional(),
  avgResponseTimeMs: num.optional(),
  p99ResponseTimeMs: num.optional(),
  notificationDeliveryRate: num.optional(),
  avgDeliveryLatencyMs: num.optional(),
  errorRate: num.optional(),
  crashCount24h: num.optional(),
};
export const metrics = z.strictObject(metricsFields);

export const release = z.strictObject({ openclaw: releaseTag, runtimeService: releaseTag });

export const pendingUpgradeFields = {
  targetOpenclawVersion: releaseTag,
  targetRuntimeVersion: releaseTag,
  initiatedAt: num,
  initiatedBy: name,
  strategy,
  rolloutId: rolloutId.optional(),
  /** An agent defers while its runtime is busy, but not past this time (epoch ms). */
  deadline: num.optional(),
};
export const pendingUpgrade = z.strictObject(pendingUpgradeFields);

const providerId = text(MAX_NAME);
const ipAddress = text(253);
const region = text(64);
const dockerImageTag = text(128);

/** A runtime row's own fields (schema `runtimes`, minus the v1 link). */
export const runtimeFields = {
  stack: stackName,
  accountId,
  provider,
  providerId,
  ipAddress,
  region,
  openclawVersion: releaseTag,
  runtimeServiceVersion: releaseTag,
  dockerImageTag,
  status: runtimeStatus,
  lastHealthCheck: num.optional(),
  healthScore: num.optional(),
  metrics: metrics.optional(),
  pendingUpgrade: pendingUpgrade.optional(),
  isCanary: z.boolean(),
  pin: releaseTag.optional(),
  /** The newest observation applied (its observedAt); an older one does not overwrite it. */
  lastObservedAt: num.optional(),
  createdAt: num,
  updatedAt: num,
};
export const runtimeRecord = z.strictObject(runtimeFields);

/**
 * What an observer saw of one runtime. Identity is (stack, accountId). Fields left out keep their
 * stored value; a runtime seen for the first time needs the infrastructure and version fields.
 */
export const runtimeObservationFields = {
  stack: stackName,
  accountId,
  provider: provider.optional(),
  providerId: providerId.optional(),
  ipAddress: ipAddress.optional(),
  region: region.optional(),
  openclawVersion: releaseTag.optional(),
  runtimeServiceVersion: releaseTag.optional(),
  dockerImageTag: dockerImageTag.optional(),
  status: runtimeStatus.optional(),
  lastHealthCheck: num.optional(),
  healthScore: num.optional(),
  metrics: metrics.optional(),
  isCanary: z.boolean().optional(),
  /** Pinned release, or null to clear the pin. */
  pin: releaseTag.nullable().optional(),
  /** When it was observed (defaults to the store's clock). */
  observedAt: num.optional(),
};
export const runtimeObservation = z.strictObject(runtimeObservationFields);

// Upgrades -----------------------------------------------------------------------------------
export const upgradeStartFields = {
  stack: stackName,
  accountId,
  rolloutId: rolloutId.optional(),
  targetOpenclawVersion: releaseTag,
  targetRuntimeVersion: releaseTag,
  strategy,
  initiatedBy: name,
  at: num.optional(),
};
export const upgradeStart = z.strictObject(upgradeStartFields);

/** One runtime's upgrade attempt, as the executor (Pulumi hook or agent) reported it. */
export const upgradeEventFields = {
  /** Unique per attempt; a repeated record with the same id is ignored. */
  eventId,
  stack: stackName,
  accountId,
  rolloutId: rolloutId.optional(),
  fromOpenclaw: releaseTag,
  toOpenclaw: releaseTag,
  fromRuntimeService: releaseTag,
  toRuntimeService: releaseTag,
  status: upgradeResult,
  startedAt: num,
  completedAt: num.optional(),
  durationMs: num.optional(),
  error: text(MAX_ERROR).optional(),
  initiatedBy: name,
  reason: text(MAX_REASON).optional(),
  executor,
};
export const upgradeEvent = z.strictObject(upgradeEventFields);

// Rollouts -----------------------------------------------------------------------------------
/** A short label (`source: "dashboard"`). */
const label = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not a label (a-z, 0-9, '_', '-', at most 32)` });
/** Why `parse` refuses a value, or null: the fleet/ parser's own message. */
const problemOf = (parse: (value: string) => unknown) => (value: unknown) => {
  try {
    parse(String(value));
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};
const sizeStepProblem = problemOf((v) => parseSizeStep(v, "batch"));
const rampProblem = problemOf((v) => parseRamp(v, "ramp"));
const sizeStep = z.string().max(16).refine((v) => sizeStepProblem(v) === null, { error: (iss) => sizeStepProblem(iss.input) ?? "invalid" });
const ramp = z.string().max(MAX_NAME).refine((v) => rampProblem(v) === null, { error: (iss) => rampProblem(iss.input) ?? "invalid" });

/**
 * The options a rollout records: the gate settings it runs with, and the options as given to
 * `fleet rollout` (batch, ramp, canary: control/options.ts `recorded`) or the dashboard (source).
 */
export const rolloutOptionsFields = {
  batchPercent: percent.optional(),
  waitSeconds: nonNegative.optional(),
  bakeMinutes: nonNegative.optional(),
  maxBatchFailurePercent: percent.optional(),
  pauseOnFailurePercent: percent.optional(),
  minHealthyPercent: percent.optional(),
  autoRollback: z.boolean().optional(),
  skipUpgraded: z.boolean().optional(),
  allowDowngrade: z.boolean().optional(),
  batch: sizeStep.optional(),
  ramp: ramp.optional(),
  canary: accountId.optional(),
  source: label.optional(),
  /** The canary analysis (issue 15): off, observe (recorded only) or enforce (its decision acts). */
  analysis: analysisMode.optional(),
  /** The analysis window of a batch without a bake (seconds; 0: none). */
  analysisWindowSeconds: nonNegative.optional(),
};
export const rolloutOptions = z.strictObject(rolloutOptionsFields);

export const gateDecision = z.strictObject({
  at: num,
  batch: num,
  decision: z.enum(GATE_DECISIONS),
  reason: text(MAX_MESSAGE),
  /** Numbers the gate looked at (failure %, healthy %, ...). */
  measures: z.record(z.string().max(64), num).optional(),
});

export const rolloutCounts = z.strictObject({
  total: num,
  pending: num,
  upgrading: num,
  succeeded: num,
  failed: num,
  rolledBack: num,
  skipped: num,
});

/** One step of the rollout's plan as it ran (fleet/steps.ts): its state, times and outcome. */
export const rolloutStep = z.strictObject({
  kind: z.enum(STEP_KINDS),
  batch: nonNegative,
  state: z.enum(STEP_STATES),
  startedAt: num,
  /** A timed step's end (bake, analysis, wait): a resumed step keeps it. */
  until: num.optional(),
  endedAt: num.optional(),
  outcome: text(MAX_MESSAGE).optional(),
  /** The runtimes a rollback step restores (recorded before it touches them). */
  accountIds: z.array(accountId).max(8192).optional(),
  /** What an analysis step's analyzer returned. */
  analysis: analysisResult.optional(),
});

/** Account ids per batch, in order (the canary batch first); Convex arrays hold at most 8192. */
const batches = z.array(z.array(accountId).max(8192)).max(8192);

/** What a rollout is, as its starter gave it: the same in its input and its record. */
const rolloutGiven = {
  rolloutId,
  stack: stackName,
  target: release,
  strategy,
  options: rolloutOptions,
  initiatedBy: name,
  /** Why it was started (as given by whoever started it; never overwritten). */
  reason: text(MAX_REASON).optional(),
  batches,
};

export const rolloutInputFields = {
  ...rolloutGiven,
  /** Each runtime's versions before the rollout, shaped like `batches`: what a rollback restores. */
  previous: z.array(z.array(release)).optional(),
  status: rolloutStatus.optional(),
  createdAt: num.optional(),
  /** The lease generation of the orchestrator that records it. */
  generation: nonNegative.optional(),
};
export const rolloutInput = z.strictObject(rolloutInputFields);

export const rolloutFields = {
  ...rolloutGiven,
  status: rolloutStatus,
  /** Why it is in its current status (halt reason, "paused by ...", "every runtime upgraded"). */
  statusReason: text(MAX_MESSAGE).optional(),
  currentBatch: num,
  gates: z.array(gateDecision),
  counts: rolloutCounts,
  createdAt: num,
  updatedAt: num,
  startedAt: num.optional(),
  completedAt: num.optional(),
  /** Last time a batch advanced or a runtime state changed; the stalled-rollout alert reads it. */
  lastProgressAt: num,
  /** The steps as they ran (the newest MAX_RECORDED_STEPS) and the plan index of the next one. */
  steps: z.array(rolloutStep).max(MAX_RECORDED_STEPS).optional(),
  stepIndex: nonNegative.optional(),
  /** The lease generation of the newest orchestrator that wrote it: an older one is refused. */
  generation: nonNegative.optional(),
  /** When it was paused (cleared when it runs again): what `fleet status` measures a pause from. */
  pausedAt: num.optional(),
};
export const rolloutRecord = z.strictObject(rolloutFields);

export const rolloutRuntimeState = z.strictObject({
  accountId,
  state: runtimeRolloutState,
  /** Its versions before the rollout (from the input's `previous`). */
  from: release.optional(),
  error: text(MAX_ERROR).optional(),
  updatedAt: num,
});

export const rolloutPatch = z.strictObject({
  status: rolloutStatus.optional(),
  currentBatch: num.optional(),
  /** Per-runtime states to set (counts are kept in step). */
  runtimeStates: z.array(z.strictObject({ accountId, state: runtimeRolloutState, error: text(MAX_ERROR).optional() })).max(8192).optional(),
  /** Appended to the gate log (the log keeps the newest MAX_GATE_DECISIONS). */
  gate: gateDecision.optional(),
  /** Why the status is what it is now (the start reason stays as it was). */
  statusReason: text(MAX_MESSAGE).optional(),
  /** A step started or ended (replaces the recorded step of the same kind and batch). */
  step: rolloutStep.optional(),
  /** The plan index of the next step. */
  stepIndex: nonNegative.optional(),
  /** The writer's lease generation (orchestrators only): an older one than the record's or the stack lease's is refused. */
  generation: nonNegative.optional(),
  at: num.optional(),
});

/**
 * The stack's lease: who holds it, since when, until when (renewed by the holder's heartbeat) and
 * its generation (one more for each new holder; the store assigns it). `leaseSeconds` is asked
 * for by the taker; a holder without one never expires (a lock of an older version). Taking it
 * with `generation` set is a renewal: it succeeds only while that generation still holds it.
 */
export const lockHolder = z.strictObject({
  pid: num,
  host: name,
  user: name,
  startedAt: num,
  rolloutId: rolloutId.optional(),
  leaseSeconds: z.number().positive().max(86_400).optional(),
  generation: nonNegative.optional(),
  expiresAt: num.optional(),
});
export const lockRef = z.strictObject({ pid: num, host: name });

// System config, alerts, activities ----------------------------------------------------------
export const systemConfigEntry = z.strictObject({ key: configKey, value: configValue, updatedAt: num, updatedBy: name });

export const alertDetails = z.record(z.string().max(64), z.union([z.string().max(MAX_MESSAGE), num, z.boolean(), z.null()]));
export const alertInputFields = {
  /** Identity across evaluations: rule + subject (see fleet/alerts.ts alertKey). */
  key: name,
  rule: alertRule,
  severity: alertSeverity,
  stack: stackName.optional(),
  accountId: accountId.optional(),
  rolloutId: rolloutId.optional(),
  message: text(MAX_MESSAGE),
  details: alertDetails.optional(),
};
export const alertInput = z.strictObject(alertInputFields);
export const alertFields = {
  ...alertInputFields,
  status: alertStatus,
  openedAt: num,
  updatedAt: num,
  closedAt: num.optional(),
  acknowledgedAt: num.optional(),
  acknowledgedBy: name.optional(),
};
export const alertRecord = z.strictObject({ alertId: z.string(), ...alertFields });

export const activityFields = {
  at: num,
  actor: name,
  action: text(64),
  message: text(MAX_MESSAGE),
  stack: stackName.optional(),
  accountId: accountId.optional(),
  rolloutId: rolloutId.optional(),
};
export const activityRecord = z.strictObject(activityFields);
export const activityInput = z.strictObject({ ...activityFields, at: num.optional() });

// Overview rows ------------------------------------------------------------------------------
export const statusRow = z.strictObject({ status: runtimeStatus, count: num, percent: num });
export const versionRow = z.strictObject({ label: z.string(), versions: z.array(z.string()), count: num, percent: num, belowMinimum: z.boolean() });
export const recentRolloutRow = z.strictObject({
  rolloutId,
  stack: stackName,
  target: release,
  strategy,
  status: rolloutStatus,
  createdAt: num,
  successRate: num,
  failureRate: num,
  durationMs: num.optional(),
});
export const fleetOverview = z.strictObject({
  total: num,
  byStatus: z.array(statusRow),
  byOpenclawVersion: z.array(versionRow),
  minSupportedOpenclaw: z.string().optional(),
  latestOpenclawVersion: z.string().optional(),
  recentRollouts: z.array(recentRolloutRow),
  openAlerts: z.strictObject({ critical: num, high: num, medium: num }),
});
export const lockResult = z.strictObject({ ok: z.boolean(), holder: lockHolder.nullable() });

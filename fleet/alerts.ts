// Alert rules (seed section 5): given what is observed and the time, which alerts should be open.
// Pure: the Convex crons and the monitor evaluate the same rules, then reconcile with what is open
// so an alert opens once, is updated while it lasts, and closes itself when the condition clears.
import { isReleaseTag, isSupported } from "./versions";
import type { RuntimeMetrics, RuntimeStatus } from "./health";

export const ALERT_RULES = [
  "runtime_offline",
  "high_error_rate",
  "upgrade_failed",
  "version_below_minimum",
  "health_degraded",
  "rollout_stalled",
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

export const ALERT_SEVERITIES = ["critical", "high", "medium"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const RULE_SEVERITY: Record<AlertRule, AlertSeverity> = {
  runtime_offline: "critical",
  high_error_rate: "high",
  upgrade_failed: "high",
  version_below_minimum: "medium",
  health_degraded: "medium",
  rollout_stalled: "medium",
};

export interface AlertThresholds {
  /** No health check for longer than this: offline (seed: >5 min). */
  offlineAfterMs: number;
  /** Error rate percentage (over the last 15 minutes) above which the rule fires (seed: >5%). */
  errorRatePercent: number;
  /** Health score under this fires (seed: <80). */
  healthScoreBelow: number;
  /** A running or planned rollout without progress for longer than this is stalled (seed: >1h). */
  rolloutStalledAfterMs: number;
}

export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = {
  offlineAfterMs: 5 * 60_000,
  errorRatePercent: 5,
  healthScoreBelow: 80,
  rolloutStalledAfterMs: 60 * 60_000,
};

/** An alert that should be open now. `key` identifies it across evaluations (rule + subject). */
export interface DesiredAlert {
  key: string;
  rule: AlertRule;
  severity: AlertSeverity;
  stack?: string;
  accountId?: string;
  rolloutId?: string;
  message: string;
  details: Record<string, string | number | boolean | null>;
}

/** The observed state of one runtime, as far as the rules need it. */
export interface RuntimeAlertInput {
  stack: string;
  accountId: string;
  status: RuntimeStatus;
  openclawVersion: string;
  lastHealthCheck?: number;
  healthScore?: number;
  metrics?: RuntimeMetrics;
  /** The runtime's most recent upgrade result, if any. */
  lastUpgrade?: { eventId: string; status: "success" | "failed" | "rolled_back" | "noop"; toOpenclaw: string; error?: string };
  createdAt: number;
}

export interface RolloutAlertInput {
  stack: string;
  rolloutId: string;
  status: string;
  /** Last time a batch advanced or a runtime result came in (creation time until then). */
  lastProgressAt: number;
  currentBatch: number;
}

export function alertKey(rule: AlertRule, subject: string): string {
  return `${rule}:${subject}`;
}

const minutes = (ms: number) => Math.round(ms / 60_000);

/** Alerts that should be open for one runtime at `now`. */
export function runtimeAlerts(
  rt: RuntimeAlertInput,
  ctx: { now: number; minSupportedOpenclaw?: string; thresholds?: Partial<AlertThresholds> },
): DesiredAlert[] {
  const t = { ...DEFAULT_ALERT_THRESHOLDS, ...ctx.thresholds };
  const subject = `${rt.stack}/${rt.accountId}`;
  const out: DesiredAlert[] = [];
  const add = (rule: AlertRule, message: string, details: DesiredAlert["details"]) =>
    out.push({ key: alertKey(rule, subject), rule, severity: RULE_SEVERITY[rule], stack: rt.stack, accountId: rt.accountId, message, details });

  // A runtime being provisioned or upgraded is expected to miss checks; the rollout gates watch it.
  const expectedSilent = rt.status === "provisioning" || rt.status === "upgrading";
  const since = rt.lastHealthCheck ?? rt.createdAt;
  const silentFor = ctx.now - since;
  // The seed's rule is time-based ("no health check for >5 min"): a runtime that just went
  // offline shows as offline at once, but the critical alert waits for the threshold, counted
  // from its last answered health check.
  const offline = !expectedSilent && silentFor > t.offlineAfterMs;
  if (offline) {
    add(
      "runtime_offline",
      rt.lastHealthCheck === undefined
        ? `${rt.accountId}: no health check since it was registered ${minutes(silentFor)} min ago`
        : `${rt.accountId}: no health check for ${minutes(silentFor)} min`,
      { lastHealthCheck: rt.lastHealthCheck ?? null, silentForMs: silentFor },
    );
  }
  const errorRate = rt.metrics?.errorRate;
  if (typeof errorRate === "number" && errorRate > t.errorRatePercent) {
    add("high_error_rate", `${rt.accountId}: error rate ${errorRate}% over 15 min (> ${t.errorRatePercent}%)`, {
      errorRate,
      threshold: t.errorRatePercent,
    });
  }
  const up = rt.lastUpgrade;
  if (up && (up.status === "failed" || up.status === "rolled_back")) {
    add(
      "upgrade_failed",
      `${rt.accountId}: upgrade to ${up.toOpenclaw} ${up.status === "failed" ? "failed" : "was rolled back"}${up.error ? `: ${up.error}` : ""}`,
      { eventId: up.eventId, toOpenclaw: up.toOpenclaw, status: up.status, error: up.error ?? null },
    );
  }
  const min = ctx.minSupportedOpenclaw;
  if (min !== undefined && isReleaseTag(min)) {
    const below = !isReleaseTag(rt.openclawVersion) || !isSupported(rt.openclawVersion, min);
    if (below) {
      add("version_below_minimum", `${rt.accountId}: OpenClaw ${rt.openclawVersion} is below the minimum supported ${min}`, {
        openclawVersion: rt.openclawVersion,
        minSupported: min,
      });
    }
  }
  // An offline runtime's score says nothing new; the critical alert covers it.
  if (!offline && rt.status !== "offline" && !expectedSilent && typeof rt.healthScore === "number" && rt.healthScore < t.healthScoreBelow) {
    add("health_degraded", `${rt.accountId}: health score ${rt.healthScore} (< ${t.healthScoreBelow})`, {
      healthScore: rt.healthScore,
      threshold: t.healthScoreBelow,
    });
  }
  return out;
}

/** A planned or running rollout that made no progress for too long. Paused is deliberate: not stalled. */
export function rolloutAlerts(ro: RolloutAlertInput, ctx: { now: number; thresholds?: Partial<AlertThresholds> }): DesiredAlert[] {
  const t = { ...DEFAULT_ALERT_THRESHOLDS, ...ctx.thresholds };
  if (ro.status !== "running" && ro.status !== "planned") return [];
  const idle = ctx.now - ro.lastProgressAt;
  if (idle <= t.rolloutStalledAfterMs) return [];
  return [
    {
      key: alertKey("rollout_stalled", ro.rolloutId),
      rule: "rollout_stalled",
      severity: RULE_SEVERITY.rollout_stalled,
      stack: ro.stack,
      rolloutId: ro.rolloutId,
      message: `rollout ${ro.rolloutId} (${ro.stack}) ${ro.status} with no progress for ${minutes(idle)} min (batch ${ro.currentBatch})`,
      details: { idleMs: idle, status: ro.status, currentBatch: ro.currentBatch },
    },
  ];
}

/** What to do with the alerts currently open for a set of subjects, given what should be open. */
export interface AlertPlan {
  open: DesiredAlert[];
  update: DesiredAlert[];
  /** Keys of open alerts whose condition cleared. */
  close: string[];
}

/**
 * Reconciles: a desired alert not open yet opens; one already open is updated (its message or
 * details may have changed); an open alert no longer desired closes. `openKeys` must be the keys
 * of the open (or acknowledged) alerts for exactly the subjects that were evaluated.
 */
export function reconcileAlerts(openKeys: Iterable<string>, desired: readonly DesiredAlert[]): AlertPlan {
  const open = new Set(openKeys);
  const want = new Map<string, DesiredAlert>();
  for (const d of desired) want.set(d.key, d);
  const plan: AlertPlan = { open: [], update: [], close: [] };
  for (const [key, d] of want) (open.has(key) ? plan.update : plan.open).push(d);
  for (const key of open) if (!want.has(key)) plan.close.push(key);
  return plan;
}

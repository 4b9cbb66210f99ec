// Health: one definition of a runtime's status and its 0..100 health score, from what a probe
// saw and the metrics the monitor collected. Pure: the monitor, the orchestrator's gates, the
// Convex backend and the dashboard all derive status the same way.

export const RUNTIME_STATUSES = ["provisioning", "online", "degraded", "offline", "upgrading", "error"] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];

/**
 * The seed's section-5 metrics. Every rate is a percentage 0..100; `errorRate` is the share of
 * requests that failed over the last 15 minutes (the window the "high error rate" alert uses).
 * Every field is optional: a monitor reports what it measured.
 */
export interface RuntimeMetrics {
  uptimePercent?: number;
  healthCheckSuccessRate?: number;
  avgResponseTimeMs?: number;
  p99ResponseTimeMs?: number;
  notificationDeliveryRate?: number;
  avgDeliveryLatencyMs?: number;
  errorRate?: number;
  crashCount24h?: number;
}

export const METRIC_KEYS = [
  "uptimePercent",
  "healthCheckSuccessRate",
  "avgResponseTimeMs",
  "p99ResponseTimeMs",
  "notificationDeliveryRate",
  "avgDeliveryLatencyMs",
  "errorRate",
  "crashCount24h",
] as const satisfies readonly (keyof RuntimeMetrics)[];

/** The seed's targets. */
export const METRIC_TARGETS = {
  uptimePercent: 99.9,
  healthCheckSuccessRate: 99,
  avgResponseTimeMs: 500,
  p99ResponseTimeMs: 2000,
  notificationDeliveryRate: 99,
  avgDeliveryLatencyMs: 5000,
  errorRate: 1,
  crashCount24h: 0,
} as const;

/** One `/health` + `/version` probe of a runtime. */
export interface HealthProbe {
  /** A TCP/HTTP answer came back at all. */
  reachable: boolean;
  /** `/health` answered 2xx with a healthy body. */
  healthy: boolean;
  latencyMs?: number;
  /** What `/version` reported. */
  openclawVersion?: string;
  runtimeServiceVersion?: string;
  /** What the runtime should run (its desired versions); a mismatch of either degrades it. */
  expectedOpenclawVersion?: string;
  expectedRuntimeServiceVersion?: string;
  checkedAt: number;
}

/** A runtime's two versions (what it reports, or what it should run). */
export interface RuntimeVersions {
  openclaw?: string | undefined;
  runtimeService?: string | undefined;
}

/**
 * On target: BOTH versions are exactly the wanted ones. The one meaning, for the bake, the batch
 * check, the fleet gate, the agent's verify and the overview. A version not reported is not on
 * target.
 */
export function isOnTarget(seen: RuntimeVersions | undefined, want: { openclaw: string; runtimeService: string }): boolean {
  return seen?.openclaw === want.openclaw && seen?.runtimeService === want.runtimeService;
}

export interface HealthThresholds {
  /** No successful health check for longer than this: offline (seed: 5 minutes). */
  offlineAfterMs: number;
  /** A score under this is degraded (seed: "Health score < 80"). */
  degradedBelowScore: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = {
  offlineAfterMs: 5 * 60_000,
  degradedBelowScore: 80,
};

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
const finite = (n: number | undefined): n is number => typeof n === "number" && Number.isFinite(n);

/**
 * Health score 0..100: 100 is a healthy runtime meeting every target; each missed target costs
 * points in proportion to how far it is missed, capped per metric so one bad number does not
 * hide the others. Unreachable is 0; reachable but unhealthy at most 20.
 */
export function healthScore(probe: HealthProbe | undefined, metrics: RuntimeMetrics = {}): number {
  if (probe && !probe.reachable) return 0;
  let score = 100;
  const m = metrics;
  if (finite(m.uptimePercent) && m.uptimePercent < METRIC_TARGETS.uptimePercent) {
    score -= clamp((METRIC_TARGETS.uptimePercent - m.uptimePercent) * 10, 0, 30);
  }
  if (finite(m.healthCheckSuccessRate) && m.healthCheckSuccessRate < METRIC_TARGETS.healthCheckSuccessRate) {
    score -= clamp((METRIC_TARGETS.healthCheckSuccessRate - m.healthCheckSuccessRate) * 2, 0, 20);
  }
  const latency = probe?.latencyMs ?? m.avgResponseTimeMs;
  if (finite(latency) && latency > METRIC_TARGETS.avgResponseTimeMs) {
    score -= clamp(((latency - METRIC_TARGETS.avgResponseTimeMs) / METRIC_TARGETS.avgResponseTimeMs) * 10, 0, 15);
  }
  if (finite(m.p99ResponseTimeMs) && m.p99ResponseTimeMs > METRIC_TARGETS.p99ResponseTimeMs) {
    score -= clamp(((m.p99ResponseTimeMs - METRIC_TARGETS.p99ResponseTimeMs) / METRIC_TARGETS.p99ResponseTimeMs) * 10, 0, 10);
  }
  if (finite(m.notificationDeliveryRate) && m.notificationDeliveryRate < METRIC_TARGETS.notificationDeliveryRate) {
    score -= clamp(METRIC_TARGETS.notificationDeliveryRate - m.notificationDeliveryRate, 0, 15);
  }
  if (finite(m.avgDeliveryLatencyMs) && m.avgDeliveryLatencyMs > METRIC_TARGETS.avgDeliveryLatencyMs) {
    score -= clamp(((m.avgDeliveryLatencyMs - METRIC_TARGETS.avgDeliveryLatencyMs) / METRIC_TARGETS.avgDeliveryLatencyMs) * 5, 0, 5);
  }
  if (finite(m.errorRate) && m.errorRate > METRIC_TARGETS.errorRate) {
    score -= clamp((m.errorRate - METRIC_TARGETS.errorRate) * 4, 0, 40);
  }
  if (finite(m.crashCount24h) && m.crashCount24h > 0) {
    score -= clamp(m.crashCount24h * 5, 0, 20);
  }
  if (probe && !probe.healthy) score = Math.min(score, 20);
  return Math.round(clamp(score, 0, 100));
}

export interface StatusInput {
  probe?: HealthProbe;
  metrics?: RuntimeMetrics;
  /** An upgrade is in progress on this runtime (pending upgrade started, not yet reported). */
  upgrading?: boolean;
  /** Still being created: no probe expected yet. */
  provisioning?: boolean;
  /** Time of the last successful health check, when there is no fresh probe. */
  lastHealthCheck?: number;
  now: number;
}

/**
 * Status, in priority order: upgrading; provisioning; offline (unreachable, or no successful
 * check for longer than `offlineAfterMs`); error (reachable, `/health` failing); degraded
 * (wrong version, or score under the threshold); online.
 */
export function deriveStatus(input: StatusInput, thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS): RuntimeStatus {
  if (input.upgrading) return "upgrading";
  if (input.provisioning && input.probe === undefined) return "provisioning";
  const { probe } = input;
  if (probe === undefined) {
    const last = input.lastHealthCheck;
    if (last === undefined || input.now - last > thresholds.offlineAfterMs) return "offline";
    const score = healthScore(undefined, input.metrics);
    return score < thresholds.degradedBelowScore ? "degraded" : "online";
  }
  if (!probe.reachable) return "offline";
  if (!probe.healthy) return "error";
  const differs = (seen: string | undefined, want: string | undefined) => want !== undefined && seen !== undefined && seen !== want;
  if (differs(probe.openclawVersion, probe.expectedOpenclawVersion) || differs(probe.runtimeServiceVersion, probe.expectedRuntimeServiceVersion)) {
    return "degraded";
  }
  return healthScore(probe, input.metrics) < thresholds.degradedBelowScore ? "degraded" : "online";
}

/** Status and score together, as the monitor records them. */
export function assessHealth(
  input: StatusInput,
  thresholds: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS,
): { status: RuntimeStatus; healthScore: number } {
  return { status: deriveStatus(input, thresholds), healthScore: healthScore(input.probe, input.metrics) };
}

/** Runtimes counted as healthy by fleet-wide gates: online (degraded, error, offline are not). */
export function isHealthyStatus(status: RuntimeStatus): boolean {
  return status === "online";
}

/** A probe judged against what the runtime should run: online, on target, and both (healthy). */
export interface HealthVerdict {
  /** Its status is online, versions aside (not offline, error or degraded). */
  online: boolean;
  onTarget: boolean;
  /** The one meaning every gate uses: online AND on target. */
  healthy: boolean;
}

/**
 * Healthy, the one meaning every gate uses: online AND on target (both versions). `want` is what
 * this runtime should run now: the rollout's target for a runtime of a batch already deployed,
 * its desired (stack config) versions for one the rollout has not reached yet.
 */
export function judgeHealth(probe: HealthProbe | undefined, want: { openclaw: string; runtimeService: string }, metrics?: RuntimeMetrics): HealthVerdict {
  if (probe === undefined) return { online: false, onTarget: false, healthy: false };
  const { expectedOpenclawVersion: _o, expectedRuntimeServiceVersion: _r, ...versionsAside } = probe;
  const online = isHealthyStatus(deriveStatus({ probe: versionsAside, now: probe.checkedAt, ...(metrics ? { metrics } : {}) }));
  const onTarget = isOnTarget({ openclaw: probe.openclawVersion, runtimeService: probe.runtimeServiceVersion }, want);
  return { online, onTarget, healthy: online && onTarget };
}

export function isHealthy(probe: HealthProbe | undefined, want: { openclaw: string; runtimeService: string }, metrics?: RuntimeMetrics): boolean {
  return judgeHealth(probe, want, metrics).healthy;
}

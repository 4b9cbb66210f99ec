// Gates between batches: the one place that decides go on, wait, pause or halt. Pure.

export interface RuntimeOutcome {
  accountId: string;
  /** The engine reported the runtime's deploy as succeeded. */
  deployed: boolean;
  /** `/health` answered healthy after the deploy (undefined: not probed). */
  healthy?: boolean;
  /** `/version` reported exactly the target (undefined: not probed). */
  versionMatches?: boolean;
  error?: string;
}

export function runtimeFailed(o: RuntimeOutcome): boolean {
  return !o.deployed || o.healthy === false || o.versionMatches === false;
}

export function failureReason(o: RuntimeOutcome): string | undefined {
  if (!o.deployed) return o.error ?? "deploy failed";
  if (o.healthy === false) return o.error ?? "unhealthy after the upgrade";
  if (o.versionMatches === false) return o.error ?? "reports a different version than the target";
  return undefined;
}

export interface GateThresholds {
  /** Halt when a batch's failure rate exceeds this (percent). */
  maxBatchFailurePercent: number;
  /** Pause for a human when the rollout's failure rate so far exceeds this (percent). */
  pauseOnFailurePercent: number;
  /** Hold the next batch while fewer than this share of the fleet is healthy (percent). */
  minHealthyPercent: number;
  autoRollback: boolean;
}

/**
 * The gate defaults, the one home: fleet:policy's schema defaults, the CLI's help, the dashboard
 * form and a record written without them all read these.
 */
export const DEFAULT_GATE_THRESHOLDS: Readonly<GateThresholds> = Object.freeze({
  maxBatchFailurePercent: 20,
  pauseOnFailurePercent: 5,
  minHealthyPercent: 95,
  autoRollback: true,
});

/** Thresholds as a rollout record holds them, each missing one at its default. */
export function thresholdsOf(o: Partial<GateThresholds>): GateThresholds {
  return {
    maxBatchFailurePercent: o.maxBatchFailurePercent ?? DEFAULT_GATE_THRESHOLDS.maxBatchFailurePercent,
    pauseOnFailurePercent: o.pauseOnFailurePercent ?? DEFAULT_GATE_THRESHOLDS.pauseOnFailurePercent,
    minHealthyPercent: o.minHealthyPercent ?? DEFAULT_GATE_THRESHOLDS.minHealthyPercent,
    autoRollback: o.autoRollback ?? DEFAULT_GATE_THRESHOLDS.autoRollback,
  };
}

export type GateAction = "continue" | "wait" | "pause" | "halt";

export interface GateDecision {
  action: GateAction;
  reason: string;
  /** Runtimes to restore to their previous versions now. */
  rollback: string[];
  failed: string[];
}

const pct = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);
const fmt = (n: number) => `${Math.round(n * 10) / 10}%`;

export interface BatchGateInput {
  kind: "canary" | "batch";
  outcomes: readonly RuntimeOutcome[];
  /** Runtimes processed and failed in the rollout so far, this batch included. */
  processed: number;
  failedSoFar: number;
}

/** After a batch's deploy and probe: which runtimes failed, what to roll back, go on or stop. */
export function batchGate(input: BatchGateInput, t: GateThresholds): GateDecision {
  const failed = input.outcomes.filter(runtimeFailed).map((o) => o.accountId);
  const rollback = t.autoRollback ? failed : [];
  const batchRate = pct(failed.length, input.outcomes.length);
  const fleetRate = pct(input.failedSoFar, input.processed);
  if (input.kind === "canary" && failed.length > 0) {
    return { action: "halt", reason: `canary failed: ${describe(input.outcomes)}`, rollback, failed };
  }
  if (batchRate > t.maxBatchFailurePercent) {
    return {
      action: "halt",
      reason: `batch failure rate ${fmt(batchRate)} exceeds --max-batch-failure ${fmt(t.maxBatchFailurePercent)} (${describe(input.outcomes)})`,
      rollback,
      failed,
    };
  }
  if (failed.length > 0 && fleetRate > t.pauseOnFailurePercent) {
    return {
      action: "pause",
      reason: `rollout failure rate ${fmt(fleetRate)} exceeds --pause-on-failure ${fmt(t.pauseOnFailurePercent)}; resume or abort`,
      rollback,
      failed,
    };
  }
  const note = failed.length > 0 ? ` with ${failed.length} failed (${describe(input.outcomes)})` : "";
  return { action: "continue", reason: `batch passed${note}`, rollback, failed };
}

function describe(outcomes: readonly RuntimeOutcome[]): string {
  const bad = outcomes.filter(runtimeFailed).map((o) => `${o.accountId}: ${failureReason(o)}`);
  return bad.length > 0 ? bad.join("; ") : "all healthy";
}

export interface HealthGateInput {
  healthy: number;
  total: number;
  /** How many times this gate already said wait for the same batch. */
  waits: number;
  maxWaits: number;
}

/** Before the next batch: the whole fleet must be healthy enough; wait a little, then halt. */
export function healthGate(input: HealthGateInput, t: GateThresholds): GateDecision {
  const healthyRate = pct(input.healthy, input.total);
  if (input.total === 0 || healthyRate >= t.minHealthyPercent) {
    return { action: "continue", reason: `fleet health ${fmt(healthyRate)}`, rollback: [], failed: [] };
  }
  const reason = `fleet health ${fmt(healthyRate)} (${input.healthy}/${input.total}) is below --min-healthy ${fmt(t.minHealthyPercent)}`;
  if (input.waits < input.maxWaits) return { action: "wait", reason, rollback: [], failed: [] };
  return { action: "halt", reason: `${reason} after ${input.waits} checks`, rollback: [], failed: [] };
}

export interface BakeProbe {
  at: number;
  healthy: boolean;
  versionMatches: boolean;
  error?: string;
}

/** The canary's bake: every probe must find it healthy and on the target. */
export function bakeGate(accountIds: readonly string[], probes: ReadonlyMap<string, readonly BakeProbe[]>, t: GateThresholds): GateDecision {
  const failed = accountIds.filter((id) => (probes.get(id) ?? []).some((p) => !p.healthy || !p.versionMatches));
  if (failed.length === 0) return { action: "continue", reason: "canary stayed healthy through the bake", rollback: [], failed: [] };
  const why = failed
    .map((id) => {
      const bad = (probes.get(id) ?? []).find((p) => !p.healthy || !p.versionMatches);
      return `${id}: ${bad?.error ?? (bad?.healthy === false ? "unhealthy" : "wrong version")} during the bake`;
    })
    .join("; ");
  return { action: "halt", reason: `canary failed: ${why}`, rollback: t.autoRollback ? failed : [], failed };
}

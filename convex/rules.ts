// Store rules shared by both FleetStore adapters (Convex functions and store/local.ts), so the
// two cannot drift: config validation, what an upgrade result does to a runtime and a rollout.
// Pure: no Convex server imports (store/local.ts runs it under plain Node).
import type { RuntimeStatus } from "../fleet/health";
import { rolloutSummary, statusBreakdown, versionBreakdown } from "../fleet/overview";
import type { FleetOverview, Release, RolloutRecord, RuntimeObservation } from "../store/types";
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";

export type ConfigKey = "latest_openclaw_version" | "latest_runtime_version" | "min_supported_openclaw" | "upgrade_strategy" | "upgrade_batch_percent";
export type UpgradeResult = "success" | "failed" | "rolled_back" | "noop";
export type RuntimeRolloutState = "pending" | "upgrading" | "succeeded" | "failed" | "rolled_back" | "skipped";
export type CountField = "pending" | "upgrading" | "succeeded" | "failed" | "rolledBack" | "skipped";

/** Why a system config value is refused, or null when it is fine. */
export function configProblem(key: ConfigKey, value: string | number | boolean): string | null {
  switch (key) {
    case "latest_openclaw_version":
    case "latest_runtime_version":
    case "min_supported_openclaw":
      return isReleaseTag(value) ? null : `${key}: ${releaseTagProblem(value)}`;
    case "upgrade_strategy":
      return value === "rolling" || value === "canary" || value === "immediate" ? null : `${key}: ${JSON.stringify(value)} is not rolling, canary or immediate`;
    case "upgrade_batch_percent":
      return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 100 ? null : `${key}: ${JSON.stringify(value)} is not an integer 1..100`;
    default:
      return `unknown config key ${JSON.stringify(key)}`;
  }
}

/** A runtime's rollout state after an upgrade result. */
export const ROLLOUT_STATE_FOR_RESULT: Record<UpgradeResult, RuntimeRolloutState> = {
  success: "succeeded",
  noop: "succeeded",
  failed: "failed",
  rolled_back: "rolled_back",
};

export const COUNT_FIELD: Record<RuntimeRolloutState, CountField> = {
  pending: "pending",
  upgrading: "upgrading",
  succeeded: "succeeded",
  failed: "failed",
  rolled_back: "rolledBack",
  skipped: "skipped",
};

/** Rollout statuses after which the run is over (completedAt is set). */
export const TERMINAL_ROLLOUT_STATUSES: ReadonlySet<string> = new Set(["completed", "aborted", "failed", "halted"]);
export const ACTIVE_ROLLOUT_STATUSES = ["planned", "running", "paused"] as const;
export const MAX_GATE_DECISIONS = 500;

/**
 * What an upgrade result does to the runtime: success/noop land it on the target versions
 * (online), rolled_back puts it back on the source versions (online), failed keeps its versions
 * and marks it error. Always clears the pending upgrade.
 */
export function runtimeAfterUpgrade(ev: {
  status: UpgradeResult;
  fromOpenclaw: string;
  toOpenclaw: string;
  fromRuntimeService: string;
  toRuntimeService: string;
}): { openclawVersion?: string; runtimeServiceVersion?: string; dockerImageTag?: string; status: "online" | "error" } {
  if (ev.status === "success" || ev.status === "noop") {
    return { openclawVersion: ev.toOpenclaw, runtimeServiceVersion: ev.toRuntimeService, dockerImageTag: ev.toOpenclaw, status: "online" };
  }
  if (ev.status === "rolled_back") {
    return { openclawVersion: ev.fromOpenclaw, runtimeServiceVersion: ev.fromRuntimeService, dockerImageTag: ev.fromOpenclaw, status: "online" };
  }
  return { status: "error" };
}

/** Versions in an upgrade event that are not release tags. */
export function upgradeVersionProblem(ev: { fromOpenclaw: string; toOpenclaw: string; fromRuntimeService: string; toRuntimeService: string }): string | null {
  for (const [field, value] of Object.entries({ fromOpenclaw: ev.fromOpenclaw, toOpenclaw: ev.toOpenclaw, fromRuntimeService: ev.fromRuntimeService, toRuntimeService: ev.toRuntimeService })) {
    if (!isReleaseTag(value)) return `${field}: ${releaseTagProblem(value)}`;
  }
  return null;
}

/** Checks a rollout's batches: no account twice, no batch over the array limit. Returns the accounts. */
export function batchAccounts(batches: string[][]): { accounts: string[]; problem: string | null } {
  const seen = new Set<string>();
  for (const batch of batches) {
    if (batch.length > 8192) return { accounts: [], problem: "a batch holds at most 8192 runtimes" };
    for (const a of batch) {
      if (seen.has(a)) return { accounts: [], problem: `${a} appears in more than one batch` };
      seen.add(a);
    }
  }
  return { accounts: [...seen], problem: null };
}

type FirstObservation = Pick<
  RuntimeObservation,
  "stack" | "accountId" | "provider" | "providerId" | "ipAddress" | "region" | "openclawVersion" | "runtimeServiceVersion" | "dockerImageTag" | "status" | "isCanary"
>;
type RuntimeProvider = NonNullable<RuntimeObservation["provider"]>;

/** What a runtime seen for the first time starts as; its observation fills in the rest. */
export function firstSighting(obs: FirstObservation):
  | { problem: string }
  | {
      base: Required<Omit<FirstObservation, "provider" | "status">> & { provider: RuntimeProvider; status: RuntimeStatus };
    } {
  if (obs.openclawVersion === undefined || obs.runtimeServiceVersion === undefined) {
    return { problem: `${obs.stack}/${obs.accountId}: a runtime seen for the first time needs openclawVersion and runtimeServiceVersion` };
  }
  return {
    base: {
      stack: obs.stack,
      accountId: obs.accountId,
      provider: obs.provider ?? "existing",
      providerId: obs.providerId ?? "",
      ipAddress: obs.ipAddress ?? "",
      region: obs.region ?? "",
      openclawVersion: obs.openclawVersion,
      runtimeServiceVersion: obs.runtimeServiceVersion,
      dockerImageTag: obs.dockerImageTag ?? obs.openclawVersion,
      status: obs.status ?? "provisioning",
      isCanary: obs.isCanary ?? false,
    },
  };
}

/**
 * The fleet overview from its parts, as both adapters answer it: each gathers the counts its own
 * way (Convex from maintained counters, the local store with GROUP BY), the rest is this.
 */
export function assembleOverview(parts: {
  /** The maintained total, where there is one (else the sum over statuses). */
  total?: number;
  statusCounts: Partial<Record<string, number>>;
  versionCounts: Record<string, number>;
  minSupported: unknown;
  latest: unknown;
  rollouts: readonly Pick<RolloutRecord, "rolloutId" | "stack" | "target" | "strategy" | "status" | "createdAt" | "counts" | "startedAt" | "completedAt">[];
  openAlerts: FleetOverview["openAlerts"];
  now: number;
}): FleetOverview {
  const min = typeof parts.minSupported === "string" ? parts.minSupported : undefined;
  const latest = typeof parts.latest === "string" ? parts.latest : undefined;
  const status = statusBreakdown(parts.statusCounts);
  return {
    total: parts.total ?? status.total,
    byStatus: status.rows,
    byOpenclawVersion: versionBreakdown(parts.versionCounts, min !== undefined ? { minSupported: min } : {}),
    ...(min !== undefined ? { minSupportedOpenclaw: min } : {}),
    ...(latest !== undefined ? { latestOpenclawVersion: latest } : {}),
    recentRollouts: parts.rollouts.map((r) => ({
      rolloutId: r.rolloutId,
      stack: r.stack,
      target: r.target as Release,
      strategy: r.strategy,
      status: r.status,
      createdAt: r.createdAt,
      ...rolloutSummary(r.counts, {
        ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}),
        ...(r.completedAt !== undefined ? { completedAt: r.completedAt } : {}),
        now: parts.now,
      }),
    })),
    openAlerts: parts.openAlerts,
  };
}

// The fleet overview from its parts, as both adapters answer it: each gathers the counts its own
// way (Convex from maintained counters, the local store with GROUP BY), the rest is this.
import { rolloutSummary, statusBreakdown, versionBreakdown } from "../../fleet/overview";
import type { FleetOverview, RolloutRecord } from "../types";

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
      target: r.target,
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

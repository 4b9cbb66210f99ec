// The fleet overview (seed section 3): read from maintained counters, never by scanning the fleet,
// so it stays inside Convex's transaction limits at 10,000+ runtimes.
import { v } from "convex/values";
import { query, type QueryCtx } from "./_generated/server";
import { requireSuperAdmin } from "./auth";
import { vOverview } from "./validators";
import { readCounters } from "./runtimes";
import { listRollouts } from "./rollouts";
import { openAlertCounts } from "./alerts";
import { configValue } from "./systemConfig";
import { rolloutSummary, statusBreakdown, versionBreakdown } from "../fleet/overview";

export async function buildOverview(ctx: QueryCtx, stack: string | undefined, recent: number, now: number) {
  const counters = await readCounters(ctx, stack);
  const min = await configValue(ctx, "min_supported_openclaw");
  const latest = await configValue(ctx, "latest_openclaw_version");
  const status = statusBreakdown(counters.status);
  const rollouts = await listRollouts(ctx, stack, recent);
  return {
    total: counters.total,
    byStatus: status.rows,
    byOpenclawVersion: versionBreakdown(counters.openclaw, typeof min === "string" ? { minSupported: min } : {}),
    ...(typeof min === "string" ? { minSupportedOpenclaw: min } : {}),
    ...(typeof latest === "string" ? { latestOpenclawVersion: latest } : {}),
    recentRollouts: rollouts.map((r) => ({
      rolloutId: r.rolloutId,
      stack: r.stack,
      target: r.target,
      strategy: r.strategy,
      status: r.status,
      createdAt: r.createdAt,
      ...rolloutSummary(r.counts, { ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}), ...(r.completedAt !== undefined ? { completedAt: r.completedAt } : {}), now }),
    })),
    openAlerts: await openAlertCounts(ctx),
  };
}

export const get = query({
  args: { stack: v.optional(v.string()), recentRollouts: v.optional(v.number()) },
  returns: vOverview,
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await buildOverview(ctx, args.stack, Math.min(args.recentRollouts ?? 5, 50), Date.now());
  },
});

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
import { assembleOverview } from "../store/domain";

export async function buildOverview(ctx: QueryCtx, stack: string | undefined, recent: number, now: number) {
  const counters = await readCounters(ctx, stack);
  const min = await configValue(ctx, "min_supported_openclaw");
  const latest = await configValue(ctx, "latest_openclaw_version");
  const rollouts = await listRollouts(ctx, stack, recent);
  return assembleOverview({
    total: counters.total,
    statusCounts: counters.status,
    versionCounts: counters.openclaw,
    minSupported: min,
    latest,
    rollouts,
    openAlerts: await openAlertCounts(ctx),
    now,
  });
}

export const get = query({
  args: { stack: v.optional(v.string()), recentRollouts: v.optional(v.number()) },
  returns: vOverview,
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await buildOverview(ctx, args.stack, Math.min(args.recentRollouts ?? 5, 50), Date.now());
  },
});

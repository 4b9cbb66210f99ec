// Upgrade history: one row per upgrade attempt in `upgradeEvents` (a runtime's last 10 come from
// the index, not from an ever-growing array on the runtime).
import { v } from "convex/values";
import { query, type MutationCtx, type QueryCtx } from "./_generated/server";
import type { Doc } from "./_generated/dataModel";
import { requireSuperAdmin } from "./auth";
import { vPage, vUpgradeEvent, type UpgradeEventDoc } from "./validators";
import * as domain from "../store/domain";
import { findRuntime, fromDomain, toRuntime, writeRuntime } from "./runtimes";
import { applyRolloutState } from "./rollouts";

export function toUpgradeEvent(row: Doc<"upgradeEvents">): UpgradeEventDoc {
  const { _id, _creationTime, ...rest } = row;
  void _id;
  void _creationTime;
  return rest;
}


/**
 * Records one upgrade result, once per eventId (returns false for a repeat). Moves the runtime:
 * success and noop put it on the target versions and online; rolled_back back on the source
 * versions and online; failed leaves versions and marks it error. Any result clears the pending
 * upgrade, and a result inside a rollout moves that runtime's rollout state.
 */
export async function recordUpgradeEvent(ctx: MutationCtx, event: UpgradeEventDoc, now: number): Promise<boolean> {
  // Checked first, then a repeat is answered as one (the same order as the local store).
  const ev = fromDomain(() => domain.upgradeRecord(event));
  const seen = await ctx.db
    .query("upgradeEvents")
    .withIndex("by_event_id", (q) => q.eq("eventId", ev.eventId))
    .first();
  if (seen !== null) return false;
  await ctx.db.insert("upgradeEvents", ev);
  const row = await findRuntime(ctx, ev.stack, ev.accountId);
  const next = domain.runtimeUpgraded(row === null ? null : toRuntime(row), ev, now);
  if (next !== null) await writeRuntime(ctx, row, next);
  await applyRolloutState(ctx, domain.rolloutStateOnResult(ev, now));
  return true;
}

export async function recentUpgrades(ctx: QueryCtx, stack: string, accountId: string, n: number): Promise<UpgradeEventDoc[]> {
  const rows = await ctx.db
    .query("upgradeEvents")
    .withIndex("by_stack_account_time", (q) => q.eq("stack", stack).eq("accountId", accountId))
    .order("desc")
    .take(Math.max(0, n));
  return rows.map(toUpgradeEvent);
}

export async function lastUpgrade(ctx: QueryCtx, stack: string, accountId: string): Promise<UpgradeEventDoc | undefined> {
  return (await recentUpgrades(ctx, stack, accountId, 1))[0];
}

export async function listUpgradesPage(
  ctx: QueryCtx,
  args: { stack?: string; accountId?: string; rolloutId?: string; cursor: string | null; limit: number },
) {
  const base = ctx.db.query("upgradeEvents");
  const { stack, accountId, rolloutId } = args;
  const q =
    rolloutId !== undefined
      ? base.withIndex("by_rollout_time", (i) => i.eq("rolloutId", rolloutId))
      : stack !== undefined && accountId !== undefined
        ? base.withIndex("by_stack_account_time", (i) => i.eq("stack", stack).eq("accountId", accountId))
        : stack !== undefined
          ? base.withIndex("by_stack_time", (i) => i.eq("stack", stack))
          : base.withIndex("by_time");
  const filtered =
    accountId !== undefined && (stack === undefined || rolloutId !== undefined)
      ? q.filter((f) => f.eq(f.field("accountId"), accountId))
      : q;
  const page = await filtered.order("desc").paginate({ cursor: args.cursor, numItems: Math.min(Math.max(1, args.limit), 500) });
  return { items: page.page.map(toUpgradeEvent), cursor: page.isDone ? null : page.continueCursor, isDone: page.isDone };
}

/** Paginated upgrade history, newest first: fleet-wide, per stack, per runtime or per rollout. */
export const list = query({
  args: {
    stack: v.optional(v.string()),
    accountId: v.optional(v.string()),
    rolloutId: v.optional(v.string()),
    cursor: v.optional(v.union(v.string(), v.null())),
    limit: v.optional(v.number()),
  },
  returns: vPage(vUpgradeEvent),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await listUpgradesPage(ctx, { ...args, cursor: args.cursor ?? null, limit: args.limit ?? 50 });
  },
});

/** The convex-native pagination shape (for usePaginatedQuery in the dashboard). */
export const page = query({
  args: {
    stack: v.optional(v.string()),
    accountId: v.optional(v.string()),
    paginationOpts: v.object({ numItems: v.number(), cursor: v.union(v.string(), v.null()), id: v.optional(v.number()) }),
  },
  returns: v.object({
    page: v.array(vUpgradeEvent),
    isDone: v.boolean(),
    continueCursor: v.string(),
    splitCursor: v.optional(v.union(v.string(), v.null())),
    pageStatus: v.optional(v.union(v.literal("SplitRecommended"), v.literal("SplitRequired"), v.null())),
  }),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    const { stack, accountId } = args;
    const base = ctx.db.query("upgradeEvents");
    const q =
      stack !== undefined && accountId !== undefined
        ? base.withIndex("by_stack_account_time", (i) => i.eq("stack", stack).eq("accountId", accountId))
        : stack !== undefined
          ? base.withIndex("by_stack_time", (i) => i.eq("stack", stack))
          : base.withIndex("by_time");
    const result = await q.order("desc").paginate(args.paginationOpts);
    return { ...result, page: result.page.map(toUpgradeEvent) };
  },
});

// Activities: who did what, when.
import { v, type Infer } from "convex/values";
import { query, type MutationCtx, type QueryCtx } from "./_generated/server";
import type { Doc } from "./_generated/dataModel";
import { requireSuperAdmin } from "./auth";
import { vActivity, vActivityInput } from "./validators";
import { activityRecord } from "../store/domain";
import type { ActivityRecord } from "../store/types";

/** Writes an activity the domain produced. */
export async function appendActivityRecord(ctx: MutationCtx, a: ActivityRecord) {
  await ctx.db.insert("activities", a);
}

export async function appendActivity(ctx: MutationCtx, a: Infer<typeof vActivityInput>, now: number) {
  await appendActivityRecord(ctx, activityRecord(a, now));
}

function toActivity(row: Doc<"activities">): Infer<typeof vActivity> {
  const { _id, _creationTime, ...rest } = row;
  void _id;
  void _creationTime;
  return rest;
}

export async function listActivities(ctx: QueryCtx, f: { stack?: string; accountId?: string; limit: number }) {
  const n = Math.min(Math.max(1, f.limit), 500);
  const { stack, accountId } = f;
  const base = ctx.db.query("activities");
  const q =
    accountId !== undefined
      ? base.withIndex("by_account_at", (i) => i.eq("accountId", accountId))
      : stack !== undefined
        ? base.withIndex("by_stack_at", (i) => i.eq("stack", stack))
        : base.withIndex("by_at");
  const filtered = accountId !== undefined && stack !== undefined ? q.filter((x) => x.eq(x.field("stack"), stack)) : q;
  return (await filtered.order("desc").take(n)).map(toActivity);
}

export const list = query({
  args: { stack: v.optional(v.string()), accountId: v.optional(v.string()), limit: v.optional(v.number()) },
  returns: v.array(vActivity),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await listActivities(ctx, { ...args, limit: args.limit ?? 50 });
  },
});

// Phase 2.1 migration: one `runtimes` row per v1 account that carries runtime fields. Idempotent:
// an account already linked (runtimes.by_account_doc) is skipped, so it can run again safely.
// Run: npx convex run migrations:accountsToRuntimes '{"stack":"prod","cursor":null}'
import { v } from "convex/values";
import { internalMutation, type MutationCtx } from "./_generated/server";
import { internal } from "./_generated/api";
import type { Doc } from "./_generated/dataModel";
import { adjustCounters } from "./runtimes";
import { isReleaseTag } from "../fleet/versions";
import { isAccountId } from "../fleet/ids";

/** The fleet account id for a v1 account: its slug when valid, else derived from its document id. */
export function fleetAccountId(account: Doc<"accounts">): string {
  if (account.slug !== undefined && isAccountId(account.slug)) return account.slug;
  return `acc-${account._id.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 58)}`;
}

export async function migrateAccount(ctx: MutationCtx, account: Doc<"accounts">, stack: string, now: number) {
  const linked = await ctx.db.query("runtimes").withIndex("by_account_doc", (q) => q.eq("accountDocId", account._id)).first();
  if (linked !== null) return "skipped" as const;
  const ip = account.dropletIp ?? account.ipAddress;
  if (account.openclawVersion === undefined && account.dropletId === undefined && ip === undefined) return "no_runtime" as const;
  const accountId = fleetAccountId(account);
  const existing = await ctx.db.query("runtimes").withIndex("by_stack_account", (q) => q.eq("stack", stack).eq("accountId", accountId)).unique();
  if (existing !== null) {
    await ctx.db.patch(existing._id, { accountDocId: account._id });
    return "linked" as const;
  }
  // v1 recorded versions by hand; anything that is not a release tag is kept visible as `unknown`.
  const openclaw = account.openclawVersion !== undefined && isReleaseTag(account.openclawVersion) ? account.openclawVersion : "unknown";
  const runtimeService = account.runtimeServiceVersion !== undefined && isReleaseTag(account.runtimeServiceVersion) ? account.runtimeServiceVersion : "unknown";
  const doc = {
    stack,
    accountId,
    accountDocId: account._id,
    provider: "digitalocean" as const,
    providerId: account.dropletId ?? "",
    ipAddress: ip ?? "",
    region: account.region ?? "",
    openclawVersion: openclaw,
    runtimeServiceVersion: runtimeService,
    dockerImageTag: openclaw,
    status: "offline" as const, // until the monitor's first health check says otherwise
    isCanary: false,
    createdAt: now,
    updatedAt: now,
  };
  await ctx.db.insert("runtimes", doc);
  await adjustCounters(ctx, null, doc);
  return "created" as const;
}

export const accountsToRuntimes = internalMutation({
  args: { stack: v.string(), cursor: v.union(v.string(), v.null()), pageSize: v.optional(v.number()), chain: v.optional(v.boolean()) },
  returns: v.object({ created: v.number(), linked: v.number(), skipped: v.number(), isDone: v.boolean(), cursor: v.union(v.string(), v.null()) }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const page = await ctx.db.query("accounts").paginate({ cursor: args.cursor, numItems: args.pageSize ?? 200 });
    const tally = { created: 0, linked: 0, skipped: 0 };
    for (const account of page.page) {
      const r = await migrateAccount(ctx, account, args.stack, now);
      if (r === "created") tally.created++;
      else if (r === "linked") tally.linked++;
      else tally.skipped++;
    }
    if (!page.isDone && args.chain !== false) {
      await ctx.scheduler.runAfter(0, internal.migrations.accountsToRuntimes, { stack: args.stack, cursor: page.continueCursor, ...(args.pageSize ? { pageSize: args.pageSize } : {}) });
    }
    return { ...tally, isDone: page.isDone, cursor: page.isDone ? null : page.continueCursor };
  },
});

// System config (seed section 1): the fleet's latest and minimum releases and upgrade defaults.
import { v, type Infer } from "convex/values";
import { mutation, query, type MutationCtx, type QueryCtx } from "./_generated/server";
import { requireSuperAdmin } from "./auth";
import { vConfigEntry, vConfigKey, vConfigValue } from "./validators";
import { setConfigEntry } from "../store/domain";
import { fromDomain } from "./runtimes";
import { appendActivityRecord } from "./activities";

type Key = Infer<typeof vConfigKey>;
type Value = Infer<typeof vConfigValue>;

export async function readConfig(ctx: QueryCtx) {
  const rows = await ctx.db.query("systemConfig").take(100);
  return rows.map(({ key, value, updatedAt, updatedBy }) => ({ key, value, updatedAt, updatedBy })).sort((a, b) => a.key.localeCompare(b.key));
}

export async function configValue(ctx: QueryCtx, key: Key): Promise<Value | undefined> {
  const row = await ctx.db.query("systemConfig").withIndex("by_key", (q) => q.eq("key", key)).unique();
  return row?.value;
}

export async function writeConfig(ctx: MutationCtx, key: Key, value: Value, updatedBy: string, now: number) {
  const { entry, activity } = fromDomain(() => setConfigEntry(key, value, updatedBy, now));
  const row = await ctx.db.query("systemConfig").withIndex("by_key", (q) => q.eq("key", key)).unique();
  if (row === null) await ctx.db.insert("systemConfig", entry);
  else await ctx.db.replace(row._id, entry);
  await appendActivityRecord(ctx, activity);
}

export const get = query({
  args: {},
  returns: v.array(vConfigEntry),
  handler: async (ctx) => {
    await requireSuperAdmin(ctx);
    return await readConfig(ctx);
  },
});

export const set = mutation({
  args: { key: vConfigKey, value: vConfigValue },
  returns: v.null(),
  handler: async (ctx, args) => {
    const who = await requireSuperAdmin(ctx);
    await writeConfig(ctx, args.key, args.value, who, Date.now());
    return null;
  },
});

// Runtimes: observed state, pending upgrades, the seed's runtime API, maintained counters.
import { ConvexError, v } from "convex/values";
import { internalMutation, mutation, query, type MutationCtx, type QueryCtx } from "./_generated/server";
import type { Doc } from "./_generated/dataModel";
import { requireSuperAdmin } from "./auth";
import {
  runtimeObservationFields,
  vPendingUpgrade,
  vRuntime,
  vRuntimeObservation,
  vRuntimeStatus,
  vStrategy,
  vUpgradeEvent,
  type RuntimeDoc,
  type RuntimeObservation,
} from "./validators";
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";
import { recordUpgradeEvent, recentUpgrades } from "./history";
import { firstSighting } from "./rules";

type RuntimeRow = Doc<"runtimes">;
type CounterDimension = "total" | "status" | "openclaw" | "alerts";
/** The pseudo-stack that holds fleet-wide counters (live alerts by severity). */
export const ALL_STACKS = "*";

// Counters -----------------------------------------------------------------------------------

export async function bump(ctx: MutationCtx, stack: string, dimension: CounterDimension, key: string, delta: number) {
  const row = await ctx.db
    .query("fleetCounters")
    .withIndex("by_stack_dimension_key", (q) => q.eq("stack", stack).eq("dimension", dimension).eq("key", key))
    .unique();
  if (row === null) {
    if (delta !== 0) await ctx.db.insert("fleetCounters", { stack, dimension, key, count: delta });
  } else if (row.count + delta === 0) {
    await ctx.db.delete(row._id);
  } else {
    await ctx.db.patch(row._id, { count: row.count + delta });
  }
}

/** Moves the counters from `before` to `after` (null = the runtime does not exist on that side). */
export async function adjustCounters(
  ctx: MutationCtx,
  before: Pick<RuntimeDoc, "stack" | "status" | "openclawVersion"> | null,
  after: Pick<RuntimeDoc, "stack" | "status" | "openclawVersion"> | null,
) {
  if (before && after && before.stack === after.stack) {
    if (before.status !== after.status) {
      await bump(ctx, before.stack, "status", before.status, -1);
      await bump(ctx, after.stack, "status", after.status, 1);
    }
    if (before.openclawVersion !== after.openclawVersion) {
      await bump(ctx, before.stack, "openclaw", before.openclawVersion, -1);
      await bump(ctx, after.stack, "openclaw", after.openclawVersion, 1);
    }
    return;
  }
  if (before) {
    await bump(ctx, before.stack, "total", "all", -1);
    await bump(ctx, before.stack, "status", before.status, -1);
    await bump(ctx, before.stack, "openclaw", before.openclawVersion, -1);
  }
  if (after) {
    await bump(ctx, after.stack, "total", "all", 1);
    await bump(ctx, after.stack, "status", after.status, 1);
    await bump(ctx, after.stack, "openclaw", after.openclawVersion, 1);
  }
}

/** Reads the counters of one stack, or of all stacks (a few hundred rows at most). */
export async function readCounters(ctx: QueryCtx, stack?: string) {
  const rows =
    stack === undefined
      ? await ctx.db.query("fleetCounters").take(5000)
      : await ctx.db
          .query("fleetCounters")
          .withIndex("by_stack_dimension_key", (q) => q.eq("stack", stack))
          .take(5000);
  const out = { total: 0, status: {} as Record<string, number>, openclaw: {} as Record<string, number> };
  for (const r of rows) {
    if (r.dimension === "total") out.total += r.count;
    else if (r.dimension !== "alerts") out[r.dimension][r.key] = (out[r.dimension][r.key] ?? 0) + r.count;
  }
  return out;
}

// Helpers ------------------------------------------------------------------------------------

export async function findRuntime(ctx: QueryCtx, stack: string | undefined, accountId: string): Promise<RuntimeRow | null> {
  if (stack !== undefined) {
    return await ctx.db
      .query("runtimes")
      .withIndex("by_stack_account", (q) => q.eq("stack", stack).eq("accountId", accountId))
      .unique();
  }
  return await ctx.db
    .query("runtimes")
    .withIndex("by_account", (q) => q.eq("accountId", accountId))
    .first();
}

export function toRuntime(row: RuntimeRow): RuntimeDoc {
  const { _id, _creationTime, accountDocId, ...rest } = row;
  void _id;
  void _creationTime;
  void accountDocId;
  return rest;
}

function bad(message: string): never {
  throw new ConvexError({ code: "invalid", message });
}

function checkTag(field: string, value: string | undefined) {
  if (value !== undefined && !isReleaseTag(value)) bad(`${field}: ${releaseTagProblem(value)}`);
}

/** Writes a runtime row and keeps the counters in step. */
export async function writeRuntime(ctx: MutationCtx, row: RuntimeRow, patch: Partial<RuntimeDoc>) {
  const after = { ...row, ...patch };
  await ctx.db.patch(row._id, patch);
  await adjustCounters(ctx, row, after);
}

/** Applies one observation: creates the runtime on first sight, else patches what was given. */
export async function applyObservation(ctx: MutationCtx, obs: RuntimeObservation, now: number): Promise<void> {
  checkTag("openclawVersion", obs.openclawVersion);
  checkTag("runtimeServiceVersion", obs.runtimeServiceVersion);
  if (obs.pin !== undefined && obs.pin !== null) checkTag("pin", obs.pin);
  if (obs.healthScore !== undefined && !(obs.healthScore >= 0 && obs.healthScore <= 100)) bad(`healthScore ${obs.healthScore} is not within 0..100`);
  const at = obs.observedAt ?? now;
  const existing = await findRuntime(ctx, obs.stack, obs.accountId);
  const { pin, observedAt, stack: _stack, accountId: _accountId, ...fields } = obs;
  void observedAt;
  const defined = Object.fromEntries(Object.entries(fields).filter(([, x]) => x !== undefined)) as Partial<RuntimeDoc>;
  if (existing === null) {
    const first = firstSighting(obs);
    if ("problem" in first) bad(first.problem);
    const doc: RuntimeDoc = {
      ...first.base,
      ...defined,
      ...(pin ? { pin } : {}),
      createdAt: at,
      updatedAt: at,
    };
    await ctx.db.insert("runtimes", doc);
    await adjustCounters(ctx, null, doc);
    return;
  }
  const patch: Partial<RuntimeDoc> = { ...defined, updatedAt: Math.max(existing.updatedAt, at) };
  if (pin !== undefined) patch.pin = pin ?? undefined;
  await writeRuntime(ctx, existing, patch);
}

export async function upsertRuntimes(ctx: MutationCtx, observations: RuntimeObservation[], now: number) {
  // ~4 index reads per new runtime: 500 stays well inside the 4,096 queries a transaction may make.
  if (observations.length > 500) bad(`at most 500 runtimes per upsert (got ${observations.length})`);
  for (const obs of observations) await applyObservation(ctx, obs, now);
}

export async function setPendingUpgrade(
  ctx: MutationCtx,
  stack: string,
  accountId: string,
  pending: Doc<"runtimes">["pendingUpgrade"] | null,
  now: number,
) {
  const row = await findRuntime(ctx, stack, accountId);
  if (row === null) bad(`no runtime ${stack}/${accountId}`);
  if (pending) {
    checkTag("targetOpenclawVersion", pending.targetOpenclawVersion);
    checkTag("targetRuntimeVersion", pending.targetRuntimeVersion);
  }
  await writeRuntime(ctx, row, { pendingUpgrade: pending ?? undefined, updatedAt: now });
}

/** The seed's markUpgradePending: the runtime is about to be upgraded to `target`. */
export async function markUpgrading(
  ctx: MutationCtx,
  args: { stack: string; accountId: string; targetOpenclawVersion: string; targetRuntimeVersion: string; initiatedBy: string; strategy: "rolling" | "canary" | "immediate"; rolloutId?: string; at: number },
) {
  const row = await findRuntime(ctx, args.stack, args.accountId);
  if (row === null) bad(`no runtime ${args.stack}/${args.accountId}`);
  checkTag("targetOpenclawVersion", args.targetOpenclawVersion);
  checkTag("targetRuntimeVersion", args.targetRuntimeVersion);
  await writeRuntime(ctx, row, {
    status: "upgrading",
    pendingUpgrade: {
      targetOpenclawVersion: args.targetOpenclawVersion,
      targetRuntimeVersion: args.targetRuntimeVersion,
      initiatedAt: args.at,
      initiatedBy: args.initiatedBy,
      strategy: args.strategy,
      ...(args.rolloutId ? { rolloutId: args.rolloutId } : {}),
    },
    updatedAt: args.at,
  });
}

export async function listRuntimesPage(
  ctx: QueryCtx,
  args: { stack?: string; status?: RuntimeDoc["status"]; cursor: string | null; limit: number },
) {
  const { stack, status } = args;
  const base = ctx.db.query("runtimes");
  const q =
    stack !== undefined && status !== undefined
      ? base.withIndex("by_stack_status", (i) => i.eq("stack", stack).eq("status", status))
      : stack !== undefined
        ? base.withIndex("by_stack_account", (i) => i.eq("stack", stack))
        : status !== undefined
          ? base.withIndex("by_status", (i) => i.eq("status", status))
          : base;
  const page = await q.paginate({ cursor: args.cursor, numItems: Math.min(Math.max(1, args.limit), 1000) });
  return { items: page.page.map(toRuntime), cursor: page.isDone ? null : page.continueCursor, isDone: page.isDone };
}

// Public API (super admin) --------------------------------------------------------------------

const vDetail = v.object({ ...vRuntime.fields, recentUpgrades: v.array(vUpgradeEvent) });

/** The seed's `runtimes.get`: one runtime with its last `upgrades` (default 10) upgrade events. */
export const get = query({
  args: { accountId: v.string(), stack: v.optional(v.string()), upgrades: v.optional(v.number()) },
  returns: v.union(vDetail, v.null()),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    const row = await findRuntime(ctx, args.stack, args.accountId);
    if (row === null) return null;
    const recent = await recentUpgrades(ctx, row.stack, row.accountId, Math.min(args.upgrades ?? 10, 100));
    return { ...toRuntime(row), recentUpgrades: recent };
  },
});

export const list = query({
  args: {
    stack: v.optional(v.string()),
    status: v.optional(vRuntimeStatus),
    cursor: v.optional(v.union(v.string(), v.null())),
    limit: v.optional(v.number()),
  },
  returns: v.object({ items: v.array(vRuntime), cursor: v.union(v.string(), v.null()), isDone: v.boolean() }),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await listRuntimesPage(ctx, { stack: args.stack, status: args.status, cursor: args.cursor ?? null, limit: args.limit ?? 500 });
  },
});

export const getPendingUpgrade = query({
  args: { stack: v.string(), accountId: v.string() },
  returns: v.union(vPendingUpgrade, v.null()),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    const row = await findRuntime(ctx, args.stack, args.accountId);
    return row?.pendingUpgrade ?? null;
  },
});

const vRuntimeRef = { accountId: v.string(), stack: v.string() };

export const upsert = mutation({
  args: { runtimes: v.array(vRuntimeObservation) },
  returns: v.null(),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    await upsertRuntimes(ctx, args.runtimes, Date.now());
    return null;
  },
});

/** The seed's markUpgradePending. */
export const markUpgradePending = mutation({
  args: { ...vRuntimeRef, targetOpenclawVersion: v.string(), targetRuntimeVersion: v.string(), strategy: v.optional(vStrategy), rolloutId: v.optional(v.string()) },
  returns: v.null(),
  handler: async (ctx, args) => {
    const who = await requireSuperAdmin(ctx);
    await markUpgrading(ctx, { ...args, strategy: args.strategy ?? "immediate", initiatedBy: who, at: Date.now() });
    return null;
  },
});

/** Shared by markUpgradeComplete / markRolledBack: records an upgrade event for the runtime's pending upgrade. */
async function completeUpgrade(
  ctx: MutationCtx,
  who: string,
  args: { stack: string; accountId: string; version: string; runtimeServiceVersion?: string; status: "success" | "failed" | "rolled_back"; error?: string; eventId?: string },
) {
  const row = await findRuntime(ctx, args.stack, args.accountId);
  if (row === null) bad(`no runtime ${args.stack}/${args.accountId}`);
  checkTag("version", args.version);
  const now = Date.now();
  const pending = row.pendingUpgrade;
  const rolledBack = args.status === "rolled_back";
  const eventId = args.eventId ?? `admin:${row.stack}:${row.accountId}:${now}`;
  await recordUpgradeEvent(ctx, {
    eventId,
    stack: row.stack,
    accountId: row.accountId,
    ...(pending?.rolloutId ? { rolloutId: pending.rolloutId } : {}),
    // An event reads "from -> to": a rollback is the attempt to `to` that ended back on `from`.
    fromOpenclaw: rolledBack ? args.version : row.openclawVersion,
    toOpenclaw: rolledBack ? (pending?.targetOpenclawVersion ?? row.openclawVersion) : (pending?.targetOpenclawVersion ?? args.version),
    fromRuntimeService: row.runtimeServiceVersion,
    toRuntimeService: args.runtimeServiceVersion ?? pending?.targetRuntimeVersion ?? row.runtimeServiceVersion,
    status: args.status,
    startedAt: pending?.initiatedAt ?? now,
    completedAt: now,
    durationMs: now - (pending?.initiatedAt ?? now),
    ...(args.error ? { error: args.error } : {}),
    initiatedBy: who,
    executor: "pulumi",
  }, now);
}

/** The seed's markUpgradeComplete (status success or failed). */
export const markUpgradeComplete = mutation({
  args: { ...vRuntimeRef, version: v.string(), runtimeServiceVersion: v.optional(v.string()), status: v.union(v.literal("success"), v.literal("failed")), error: v.optional(v.string()), eventId: v.optional(v.string()) },
  returns: v.null(),
  handler: async (ctx, args) => {
    const who = await requireSuperAdmin(ctx);
    await completeUpgrade(ctx, who, args);
    return null;
  },
});

/** The seed's markRolledBack: the runtime is back on `version`. */
export const markRolledBack = mutation({
  args: { ...vRuntimeRef, version: v.string(), eventId: v.optional(v.string()) },
  returns: v.null(),
  handler: async (ctx, args) => {
    const who = await requireSuperAdmin(ctx);
    await completeUpgrade(ctx, who, { ...args, status: "rolled_back" });
    return null;
  },
});

/** The seed's updateStatus. */
export const updateStatus = mutation({
  args: { ...vRuntimeRef, status: vRuntimeStatus },
  returns: v.null(),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    await applyObservation(ctx, { stack: args.stack, accountId: args.accountId, status: args.status }, Date.now());
    return null;
  },
});

export const setPending = mutation({
  args: { ...vRuntimeRef, pending: v.union(vPendingUpgrade, v.null()) },
  returns: v.null(),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    await setPendingUpgrade(ctx, args.stack, args.accountId, args.pending, Date.now());
    return null;
  },
});

// Internal ------------------------------------------------------------------------------------

/** For the monitor-side cron and tests: observations applied without an identity. */
export const upsertInternal = internalMutation({
  args: { runtimes: v.array(v.object(runtimeObservationFields)) },
  returns: v.null(),
  handler: async (ctx, args) => {
    await upsertRuntimes(ctx, args.runtimes, Date.now());
    return null;
  },
});

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
import * as domain from "../store/domain";
import type { CounterDelta } from "../store/domain";
import type { RuntimeRecord } from "../store/types";
import { recordUpgradeEvent, recentUpgrades } from "./history";
import { applyRolloutState } from "./rollouts";

type RuntimeRow = Doc<"runtimes">;
type CounterDimension = "total" | "status" | "openclaw" | "alerts";
/** The pseudo-stack that holds fleet-wide counters (live alerts by severity). */
export const ALL_STACKS = "*";

/**
 * Runs a store-domain transition: its refusals become ConvexErrors with the domain's message
 * (the HTTP endpoint answers them 400), so both stores refuse alike.
 */
export function fromDomain<T>(fn: () => T): T {
  try {
    const out = fn();
    // An async transition (the event applier) is mapped when it settles.
    return (out instanceof Promise ? out.catch((e: unknown) => { throw toConvexError(e); }) : out) as T;
  } catch (e) {
    throw toConvexError(e);
  }
}

function toConvexError(e: unknown): unknown {
  if (e instanceof domain.RolloutTransitionError) return new ConvexError({ code: "transition", message: e.message });
  if (e instanceof domain.DomainError) return new ConvexError({ code: e.kind, message: e.message });
  return e;
}

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

async function applyCounters(ctx: MutationCtx, deltas: CounterDelta[]) {
  for (const d of deltas) await bump(ctx, d.stack, d.dimension, d.key, d.delta);
}

/** Moves the counters from `before` to `after` (null = the runtime does not exist on that side). */
export async function adjustCounters(
  ctx: MutationCtx,
  before: Pick<RuntimeDoc, "stack" | "status" | "openclawVersion"> | null,
  after: Pick<RuntimeDoc, "stack" | "status" | "openclawVersion"> | null,
) {
  await applyCounters(ctx, domain.counterDeltas(before, after));
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

/** Writes what the domain returned for a runtime (null `row`: a new one) and moves the counters. */
export async function writeRuntime(ctx: MutationCtx, row: RuntimeRow | null, next: RuntimeRecord) {
  if (row === null) {
    await ctx.db.insert("runtimes", next);
    await applyCounters(ctx, domain.counterDeltas(null, next));
    return;
  }
  await ctx.db.replace(row._id, { ...next, ...(row.accountDocId !== undefined ? { accountDocId: row.accountDocId } : {}) });
  await applyCounters(ctx, domain.counterDeltas(row, next));
}

/** Applies one observation (domain.observeRuntime: first sighting, merge, stale ones dropped). */
export async function applyObservation(ctx: MutationCtx, obs: RuntimeObservation, now: number): Promise<void> {
  const row = await findRuntime(ctx, obs.stack, obs.accountId);
  const next = fromDomain(() => domain.observeRuntime(row === null ? null : toRuntime(row), obs, now));
  if (next !== null) await writeRuntime(ctx, row, next);
}

export async function upsertRuntimes(ctx: MutationCtx, observations: RuntimeObservation[], now: number) {
  fromDomain(() => domain.checkObservationBatch(observations));
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
  const next = fromDomain(() => domain.withPendingUpgrade(row === null ? null : toRuntime(row), stack, accountId, pending ?? null, now));
  await writeRuntime(ctx, row, next);
}

/** An upgrade begins (the seed's markUpgradePending): the runtime, and inside a rollout its state. */
export async function markUpgrading(
  ctx: MutationCtx,
  args: { stack: string; accountId: string; targetOpenclawVersion: string; targetRuntimeVersion: string; initiatedBy: string; strategy: "rolling" | "canary" | "immediate"; rolloutId?: string; at?: number },
  now: number = args.at ?? Date.now(),
) {
  const row = await findRuntime(ctx, args.stack, args.accountId);
  const { runtime, at } = fromDomain(() => domain.startUpgrade(row === null ? null : toRuntime(row), args, now));
  await writeRuntime(ctx, row, runtime);
  await applyRolloutState(ctx, domain.rolloutStateOnStart(args, at));
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
    await markUpgrading(ctx, { ...args, strategy: args.strategy ?? "immediate", initiatedBy: who }, Date.now());
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
  if (row === null) throw new ConvexError({ code: "not_found", message: `no runtime ${args.stack}/${args.accountId}` });
  fromDomain(() => domain.checkTag("version", args.version));
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

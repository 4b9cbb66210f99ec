// Rollout runs: the record a crashed rollout resumes from, per-runtime states, gate decisions,
// and the per-stack rollout lock (compare-and-set).
import { v, type Infer } from "convex/values";
import { query, type MutationCtx, type QueryCtx } from "./_generated/server";
import type { Doc } from "./_generated/dataModel";
import { requireSuperAdmin } from "./auth";
import {
  vLockHolder,
  vRollout,
  vRolloutInput,
  vRolloutPatch,
  vRolloutRuntimeState,
  type RolloutDoc,
} from "./validators";
import * as domain from "../store/domain";
import type { RolloutInput, RolloutPatch, RolloutRuntimeState } from "../store/types";
import { fromDomain } from "./runtimes";
import { appendActivityRecord } from "./activities";

export function toRollout(row: Doc<"rollouts">): RolloutDoc {
  const { _id, _creationTime, ...rest } = row;
  void _id;
  void _creationTime;
  return rest;
}

export async function findRollout(ctx: QueryCtx, rolloutId: string) {
  return await ctx.db
    .query("rollouts")
    .withIndex("by_rollout_id", (q) => q.eq("rolloutId", rolloutId))
    .unique();
}

/** Records a run with its per-runtime rows and its activity (domain.createRollout); an existing id is returned unchanged. */
export async function createRollout(ctx: MutationCtx, input: Infer<typeof vRolloutInput>, now: number): Promise<RolloutDoc> {
  const existing = await findRollout(ctx, input.rolloutId);
  if (existing !== null) return toRollout(existing);
  const { rollout, runtimes, activity } = fromDomain(() => domain.createRollout(input as RolloutInput, now));
  await ctx.db.insert("rollouts", rollout as RolloutDoc);
  for (const r of runtimes) await ctx.db.insert("rolloutRuntimes", { rolloutId: rollout.rolloutId, ...r });
  await appendActivityRecord(ctx, activity);
  return rollout as RolloutDoc;
}

async function runtimeRow(ctx: QueryCtx, rolloutId: string, accountId: string) {
  return await ctx.db
    .query("rolloutRuntimes")
    .withIndex("by_rollout_account", (q) => q.eq("rolloutId", rolloutId).eq("accountId", accountId))
    .unique();
}

function toRuntimeState(r: Doc<"rolloutRuntimes">): RolloutRuntimeState {
  return {
    accountId: r.accountId,
    state: r.state,
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.from !== undefined ? { from: r.from } : {}),
    updatedAt: r.updatedAt,
  };
}

/** The rows of a rollout's runtimes that these accounts have, by account. */
async function runtimeRows(ctx: QueryCtx, rolloutId: string, accountIds: readonly string[]): Promise<Map<string, Doc<"rolloutRuntimes">>> {
  const rows = new Map<string, Doc<"rolloutRuntimes">>();
  for (const accountId of new Set(accountIds)) {
    const row = await runtimeRow(ctx, rolloutId, accountId);
    if (row !== null) rows.set(accountId, row);
  }
  return rows;
}

const statesOf = (rows: ReadonlyMap<string, Doc<"rolloutRuntimes">>) => new Map([...rows].map(([a, r]) => [a, toRuntimeState(r)]));

async function writeRuntimeRows(ctx: MutationCtx, rolloutId: string, rows: ReadonlyMap<string, Doc<"rolloutRuntimes">>, states: readonly RolloutRuntimeState[]) {
  for (const s of states) {
    const row = rows.get(s.accountId);
    if (row === undefined) await ctx.db.insert("rolloutRuntimes", { rolloutId, ...s });
    else await ctx.db.replace(row._id, { rolloutId, ...s });
  }
}

/** An upgrade's start or result in its rollout (domain.rolloutStateOn*); a rollout this store does not hold is skipped. */
export async function applyRolloutState(ctx: MutationCtx, write: domain.RolloutStateWrite | null) {
  if (write === null) return;
  const rollout = await findRollout(ctx, write.rolloutId);
  if (rollout === null) return;
  const rows = await runtimeRows(ctx, write.rolloutId, write.changes.map((c) => c.accountId));
  const out = fromDomain(() => domain.setRuntimeStates(toRollout(rollout), write.rolloutId, statesOf(rows), write.changes, write.at));
  await writeRuntimeRows(ctx, write.rolloutId, rows, out.runtimes);
  await ctx.db.replace(rollout._id, out.rollout as RolloutDoc);
}

/** A patch of the record, its runtime states included: one read, one transition (domain.updateRollout), one write. */
export async function updateRollout(ctx: MutationCtx, rolloutId: string, patch: Infer<typeof vRolloutPatch>, now: number): Promise<RolloutDoc> {
  const row = await findRollout(ctx, rolloutId);
  const rows = await runtimeRows(ctx, rolloutId, (patch.runtimeStates ?? []).map((s) => s.accountId));
  const lease = row !== null && patch.generation !== undefined ? leaseRow(await getLockRow(ctx, row.stack)) : null;
  const out = fromDomain(() => domain.updateRollout(row === null ? null : toRollout(row), rolloutId, statesOf(rows), patch as RolloutPatch, now, lease));
  await writeRuntimeRows(ctx, rolloutId, rows, out.runtimes);
  await ctx.db.replace(row!._id, out.rollout as RolloutDoc);
  return out.rollout as RolloutDoc;
}

export async function rolloutRuntimes(ctx: QueryCtx, rolloutId: string) {
  const rows = await ctx.db
    .query("rolloutRuntimes")
    .withIndex("by_rollout_account", (q) => q.eq("rolloutId", rolloutId))
    .collect();
  return rows.map(toRuntimeState);
}

export async function listRollouts(ctx: QueryCtx, stack: string | undefined, limit: number): Promise<RolloutDoc[]> {
  const n = Math.min(Math.max(1, limit), 200);
  const rows =
    stack !== undefined
      ? await ctx.db.query("rollouts").withIndex("by_stack_created", (q) => q.eq("stack", stack)).order("desc").take(n)
      : await ctx.db.query("rollouts").withIndex("by_created").order("desc").take(n);
  return rows.map(toRollout);
}

export async function activeRollout(ctx: QueryCtx, stack: string): Promise<RolloutDoc | null> {
  // The newest by createdAt (a record may carry an earlier createdAt than its insertion): a stack
  // has a handful of unfinished rollouts at most, so each status's rows are read and compared.
  let best: Doc<"rollouts"> | null = null;
  for (const status of domain.ACTIVE_ROLLOUT_STATUSES) {
    const rows = await ctx.db
      .query("rollouts")
      .withIndex("by_stack_status", (q) => q.eq("stack", stack).eq("status", status))
      .take(100);
    for (const row of rows) {
      if (best === null || row.createdAt > best.createdAt || (row.createdAt === best.createdAt && row._creationTime > best._creationTime)) best = row;
    }
  }
  return best === null ? null : toRollout(best);
}

// The per-stack lease -------------------------------------------------------------------------

type Holder = Infer<typeof vLockHolder>;

export async function getLockRow(ctx: QueryCtx, stack: string) {
  return await ctx.db
    .query("rolloutLocks")
    .withIndex("by_stack", (q) => q.eq("stack", stack))
    .unique();
}

/** The row kept per stack (a released lease keeps its generation) as the domain reads it. */
const leaseRow = (row: Doc<"rolloutLocks"> | null): domain.LeaseRow => domain.leaseRowOf(row?.holder ?? null, row?.generation);

async function writeLease(ctx: MutationCtx, stack: string, row: Doc<"rolloutLocks"> | null, lease: domain.LeaseRow, now: number) {
  const doc = { stack, generation: lease.generation, acquiredAt: row?.acquiredAt ?? now, ...(lease.holder !== null ? { holder: lease.holder } : {}) };
  if (row === null) await ctx.db.insert("rolloutLocks", doc);
  else await ctx.db.replace(row._id, doc);
}

/** Compare-and-set (domain.acquireLock): takes the lease if free or expired (or renews ours), else reports the holder. */
export async function acquireLock(ctx: MutationCtx, stack: string, holder: Holder, now: number) {
  const row = await getLockRow(ctx, stack);
  const { result, write, activity } = domain.acquireLock(leaseRow(row), stack, holder, now);
  if (write !== null) await writeLease(ctx, stack, row, write, now);
  if (activity !== null) await appendActivityRecord(ctx, activity);
  return result;
}

/** Removes the holder if `expected` holds it (release by its holder, or break of a stale one); the generation stays. */
export async function releaseLock(ctx: MutationCtx, stack: string, expected: Pick<Holder, "pid" | "host">, mode: "release" | "break" = "release", now: number = Date.now()) {
  const row = await getLockRow(ctx, stack);
  const { removed, write, activity } = domain.removeLock(leaseRow(row), stack, expected, mode, now);
  if (write !== null) await writeLease(ctx, stack, row, write, now);
  if (activity !== null) await appendActivityRecord(ctx, activity);
  return removed;
}

// Public API (super admin) --------------------------------------------------------------------

const vDetail = v.object({ ...vRollout.fields, runtimes: v.array(vRolloutRuntimeState) });

export const get = query({
  args: { rolloutId: v.string() },
  returns: v.union(vDetail, v.null()),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    const row = await findRollout(ctx, args.rolloutId);
    if (row === null) return null;
    return { ...toRollout(row), runtimes: await rolloutRuntimes(ctx, args.rolloutId) };
  },
});

export const list = query({
  args: { stack: v.optional(v.string()), limit: v.optional(v.number()) },
  returns: v.array(vRollout),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await listRollouts(ctx, args.stack, args.limit ?? 20);
  },
});

export const active = query({
  args: { stack: v.string() },
  returns: v.union(vRollout, v.null()),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await activeRollout(ctx, args.stack);
  },
});

export const lock = query({
  args: { stack: v.string() },
  returns: v.union(vLockHolder, v.null()),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return (await getLockRow(ctx, args.stack))?.holder ?? null;
  },
});

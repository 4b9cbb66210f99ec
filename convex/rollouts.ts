// Rollout runs: the record a crashed rollout resumes from, per-runtime states, gate decisions,
// and the per-stack rollout lock (compare-and-set).
import { ConvexError, v, type Infer } from "convex/values";
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
import { isReleaseTag, releaseTagProblem } from "../fleet/versions";
import { isRolloutId, isStackName } from "../fleet/ids";
import { ACTIVE_ROLLOUT_STATUSES, COUNT_FIELD, MAX_GATE_DECISIONS, TERMINAL_ROLLOUT_STATUSES, batchAccounts } from "./rules";

const ACTIVE = ACTIVE_ROLLOUT_STATUSES;
const TERMINAL = TERMINAL_ROLLOUT_STATUSES;

type RuntimeState = Doc<"rolloutRuntimes">["state"];

function bad(message: string): never {
  throw new ConvexError({ code: "invalid", message });
}

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

/** Records a run; every batched runtime starts pending. Creating an existing id returns it unchanged. */
export async function createRollout(ctx: MutationCtx, input: Infer<typeof vRolloutInput>, now: number): Promise<RolloutDoc> {
  if (!isRolloutId(input.rolloutId)) bad(`${JSON.stringify(input.rolloutId)} is not a rollout id (ro_ + 6..40 of a-z0-9)`);
  if (!isStackName(input.stack)) bad(`${JSON.stringify(input.stack)} is not a stack name`);
  for (const [f, tag] of [["target.openclaw", input.target.openclaw], ["target.runtimeService", input.target.runtimeService]] as const) {
    if (!isReleaseTag(tag)) bad(`${f}: ${releaseTagProblem(tag)}`);
  }
  const existing = await findRollout(ctx, input.rolloutId);
  if (existing !== null) return toRollout(existing);
  const { accounts: list, problem } = batchAccounts(input.batches);
  if (problem !== null) bad(problem);
  const accounts = new Set(list);
  const at = input.createdAt ?? now;
  const status = input.status ?? "planned";
  const doc: RolloutDoc = {
    rolloutId: input.rolloutId,
    stack: input.stack,
    target: input.target,
    strategy: input.strategy,
    options: input.options,
    initiatedBy: input.initiatedBy,
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
    batches: input.batches,
    status,
    currentBatch: 0,
    gates: [],
    counts: { total: accounts.size, pending: accounts.size, upgrading: 0, succeeded: 0, failed: 0, rolledBack: 0, skipped: 0 },
    createdAt: at,
    updatedAt: at,
    ...(status === "running" ? { startedAt: at } : {}),
    lastProgressAt: at,
  };
  await ctx.db.insert("rollouts", doc);
  const from = new Map<string, { openclaw: string; runtimeService: string }>();
  input.batches.forEach((ids, b) => ids.forEach((id, i) => {
    const p = input.previous?.[b]?.[i];
    if (p) from.set(id, p);
  }));
  for (const accountId of accounts) {
    const previous = from.get(accountId);
    await ctx.db.insert("rolloutRuntimes", { rolloutId: input.rolloutId, accountId, state: "pending", updatedAt: at, ...(previous ? { from: previous } : {}) });
  }
  return doc;
}

/** Sets per-runtime states and keeps the rollout's counts in step. */
export async function setRuntimeStates(
  ctx: MutationCtx,
  rolloutId: string,
  states: { accountId: string; state: RuntimeState; error?: string }[],
  at: number,
  opts: { ignoreMissingRollout?: boolean } = {},
) {
  const rollout = await findRollout(ctx, rolloutId);
  if (rollout === null) {
    if (opts.ignoreMissingRollout) return;
    bad(`no rollout ${rolloutId}`);
  }
  const counts = { ...rollout.counts };
  for (const s of states) {
    const row = await ctx.db
      .query("rolloutRuntimes")
      .withIndex("by_rollout_account", (q) => q.eq("rolloutId", rolloutId).eq("accountId", s.accountId))
      .unique();
    if (row === null) {
      await ctx.db.insert("rolloutRuntimes", { rolloutId, accountId: s.accountId, state: s.state, ...(s.error ? { error: s.error } : {}), updatedAt: at });
      counts.total += 1;
      counts[COUNT_FIELD[s.state]] += 1;
    } else {
      counts[COUNT_FIELD[row.state]] -= 1;
      counts[COUNT_FIELD[s.state]] += 1;
      await ctx.db.patch(row._id, { state: s.state, error: s.error, updatedAt: at });
    }
  }
  await ctx.db.patch(rollout._id, { counts, updatedAt: Math.max(rollout.updatedAt, at), lastProgressAt: Math.max(rollout.lastProgressAt, at) });
}

export async function updateRollout(ctx: MutationCtx, rolloutId: string, patch: Infer<typeof vRolloutPatch>, now: number): Promise<RolloutDoc> {
  const at = patch.at ?? now;
  if (patch.runtimeStates && patch.runtimeStates.length > 0) await setRuntimeStates(ctx, rolloutId, patch.runtimeStates, at);
  const row = await findRollout(ctx, rolloutId);
  if (row === null) bad(`no rollout ${rolloutId}`);
  const next: Partial<RolloutDoc> = { updatedAt: Math.max(row.updatedAt, at) };
  if (patch.status !== undefined && patch.status !== row.status) {
    next.status = patch.status;
    next.lastProgressAt = Math.max(row.lastProgressAt, at);
    if (patch.status === "running" && row.startedAt === undefined) next.startedAt = at;
    if (TERMINAL.has(patch.status)) next.completedAt = at;
  }
  if (patch.currentBatch !== undefined && patch.currentBatch !== row.currentBatch) {
    if (!(patch.currentBatch >= 0 && patch.currentBatch <= row.batches.length)) bad(`currentBatch ${patch.currentBatch} is outside 0..${row.batches.length}`);
    next.currentBatch = patch.currentBatch;
    next.lastProgressAt = Math.max(row.lastProgressAt, at);
  }
  if (patch.gate !== undefined) next.gates = [...row.gates, patch.gate].slice(-MAX_GATE_DECISIONS);
  if (patch.statusReason !== undefined) next.statusReason = patch.statusReason;
  await ctx.db.patch(row._id, next);
  return toRollout({ ...row, ...next });
}

export async function rolloutRuntimes(ctx: QueryCtx, rolloutId: string) {
  const rows = await ctx.db
    .query("rolloutRuntimes")
    .withIndex("by_rollout_account", (q) => q.eq("rolloutId", rolloutId))
    .collect();
  return rows.map((r) => ({
    accountId: r.accountId,
    state: r.state,
    ...(r.error !== undefined ? { error: r.error } : {}),
    ...(r.from !== undefined ? { from: r.from } : {}),
    updatedAt: r.updatedAt,
  }));
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
  let best: Doc<"rollouts"> | null = null;
  for (const status of ACTIVE) {
    const row = await ctx.db
      .query("rollouts")
      .withIndex("by_stack_status", (q) => q.eq("stack", stack).eq("status", status))
      .order("desc")
      .first();
    if (row !== null && (best === null || row.createdAt > best.createdAt)) best = row;
  }
  return best === null ? null : toRollout(best);
}

// The per-stack lock --------------------------------------------------------------------------

type Holder = Infer<typeof vLockHolder>;
const sameHolder = (a: Pick<Holder, "pid" | "host">, b: Pick<Holder, "pid" | "host">) => a.pid === b.pid && a.host === b.host;

export async function getLockRow(ctx: QueryCtx, stack: string) {
  return await ctx.db
    .query("rolloutLocks")
    .withIndex("by_stack", (q) => q.eq("stack", stack))
    .unique();
}

/** Compare-and-set: takes the lock if free (or already ours), else reports the holder. */
export async function acquireLock(ctx: MutationCtx, stack: string, holder: Holder, now: number) {
  const row = await getLockRow(ctx, stack);
  if (row === null) {
    await ctx.db.insert("rolloutLocks", { stack, holder, acquiredAt: now });
    return { ok: true, holder };
  }
  if (sameHolder(row.holder, holder) && row.holder.rolloutId === holder.rolloutId) return { ok: true, holder: row.holder };
  return { ok: false, holder: row.holder };
}

export async function releaseLock(ctx: MutationCtx, stack: string, holder: Pick<Holder, "pid" | "host">) {
  const row = await getLockRow(ctx, stack);
  if (row === null || !sameHolder(row.holder, holder)) return false;
  await ctx.db.delete(row._id);
  return true;
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

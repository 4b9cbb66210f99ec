// Alerts (seed section 5). The rules are fleet/alerts.ts; here they are evaluated by crons against
// the recorded state and reconciled with what is open: an alert opens once, is updated while its
// condition holds, and closes itself when the condition clears.
import { v, type Infer } from "convex/values";
import { internalMutation, mutation, query, type MutationCtx, type QueryCtx } from "./_generated/server";
import { internal } from "./_generated/api";
import type { Doc } from "./_generated/dataModel";
import { requireSuperAdmin } from "./auth";
import { vAlertInput, vAlertRecord, vAlertStatus } from "./validators";
import { reconcileAlerts, rolloutAlerts, runtimeAlerts, type DesiredAlert } from "../fleet/alerts";
import { lastUpgrade } from "./history";
import { configValue } from "./systemConfig";
import { ALL_STACKS, bump, fromDomain } from "./runtimes";
import * as domainAlerts from "../store/domain/alerts";
import type { AlertRow, SeverityDelta } from "../store/domain/alerts";

type AlertInput = Infer<typeof vAlertInput>;
const LIVE = ["open", "acknowledged"] as const;
/** Runtimes evaluated per transaction (each costs ~3 index reads); the next page is scheduled. */
export const EVALUATION_PAGE = 200;

export function toAlert(row: Doc<"alerts">): Infer<typeof vAlertRecord> {
  const { _id, _creationTime, ...rest } = row;
  void _creationTime;
  return { alertId: _id, ...rest };
}

async function liveByKey(ctx: QueryCtx, key: string) {
  for (const status of LIVE) {
    const row = await ctx.db.query("alerts").withIndex("by_key_status", (q) => q.eq("key", key).eq("status", status)).first();
    if (row !== null) return row;
  }
  return null;
}

function toAlertRow(row: Doc<"alerts">): AlertRow {
  const { _id, _creationTime, ...rest } = row;
  void _id;
  void _creationTime;
  return rest;
}

async function moveSeverities(ctx: MutationCtx, severities: SeverityDelta[]) {
  for (const s of severities) await bump(ctx, ALL_STACKS, "alerts", s.severity, s.delta);
}

/** Opens the alert, or updates the live one with the same key (domain.openOrUpdateAlert). */
export async function openAlert(ctx: MutationCtx, a: AlertInput, now: number) {
  const live = await liveByKey(ctx, a.key);
  const { row, isNew, severities } = fromDomain(() => domainAlerts.openOrUpdateAlert(live === null ? null : toAlertRow(live), a, now));
  await moveSeverities(ctx, severities);
  if (!isNew && live !== null) {
    await ctx.db.replace(live._id, row);
    return toAlert({ ...row, _id: live._id, _creationTime: live._creationTime });
  }
  const id = await ctx.db.insert("alerts", row);
  return toAlert({ ...row, _id: id, _creationTime: now });
}

export async function closeAlert(ctx: MutationCtx, key: string, now: number): Promise<boolean> {
  const live = await liveByKey(ctx, key);
  const closed = domainAlerts.closeAlert(live === null ? null : toAlertRow(live), now);
  if (closed === null || live === null) return false;
  await ctx.db.replace(live._id, closed.row);
  await moveSeverities(ctx, closed.severities);
  return true;
}

export async function acknowledgeAlert(ctx: MutationCtx, alertId: string, by: string, now: number): Promise<boolean> {
  const id = ctx.db.normalizeId("alerts", alertId);
  if (id === null) return false;
  const row = await ctx.db.get(id);
  const next = domainAlerts.acknowledgeAlert(row === null ? null : toAlertRow(row), by, now);
  if (next === null) return false;
  await ctx.db.replace(id, next);
  return true;
}

export async function listAlerts(ctx: QueryCtx, f: { status?: Doc<"alerts">["status"]; stack?: string; accountId?: string; limit: number }) {
  const n = Math.min(Math.max(1, f.limit), 500);
  const { status, stack, accountId } = f;
  const base = ctx.db.query("alerts");
  let q;
  if (stack !== undefined && accountId !== undefined && status !== undefined) {
    q = base.withIndex("by_subject_status", (i) => i.eq("stack", stack).eq("accountId", accountId).eq("status", status));
  } else if (accountId !== undefined) {
    q = base.withIndex("by_account_opened", (i) => i.eq("accountId", accountId));
  } else if (stack !== undefined) {
    q = base.withIndex("by_stack_opened", (i) => i.eq("stack", stack));
  } else if (status !== undefined) {
    q = base.withIndex("by_status_opened", (i) => i.eq("status", status));
  } else {
    q = base.withIndex("by_opened");
  }
  const filtered = q.filter((x) =>
    x.and(
      status === undefined ? true : x.eq(x.field("status"), status),
      stack === undefined ? true : x.eq(x.field("stack"), stack),
    ),
  );
  return (await filtered.order("desc").take(n)).map(toAlert);
}

/** Live (open + acknowledged) alerts by severity, from the maintained counters. */
export async function openAlertCounts(ctx: QueryCtx) {
  const out = { critical: 0, high: 0, medium: 0 };
  const rows = await ctx.db
    .query("fleetCounters")
    .withIndex("by_stack_dimension_key", (q) => q.eq("stack", ALL_STACKS).eq("dimension", "alerts"))
    .take(10);
  for (const r of rows) if (r.key === "critical" || r.key === "high" || r.key === "medium") out[r.key] += r.count;
  return out;
}

/** Applies a reconciliation plan for one subject. */
async function applyPlan(ctx: MutationCtx, liveKeys: string[], desired: DesiredAlert[], now: number) {
  const plan = reconcileAlerts(liveKeys, desired);
  for (const d of [...plan.open, ...plan.update]) {
    const { key, rule, severity, stack, accountId, rolloutId, message, details } = d;
    await openAlert(ctx, { key, rule, severity, message, details, ...(stack ? { stack } : {}), ...(accountId ? { accountId } : {}), ...(rolloutId ? { rolloutId } : {}) }, now);
  }
  for (const key of plan.close) await closeAlert(ctx, key, now);
  return plan;
}

/** Evaluates the runtime rules for one page of runtimes. */
export async function evaluateRuntimePage(ctx: MutationCtx, cursor: string | null, now: number, pageSize = EVALUATION_PAGE) {
  const min = await configValue(ctx, "min_supported_openclaw");
  const page = await ctx.db.query("runtimes").paginate({ cursor, numItems: pageSize });
  let opened = 0;
  let closed = 0;
  for (const rt of page.page) {
    const last = await lastUpgrade(ctx, rt.stack, rt.accountId);
    const desired = runtimeAlerts(
      {
        stack: rt.stack,
        accountId: rt.accountId,
        status: rt.status,
        openclawVersion: rt.openclawVersion,
        ...(rt.lastHealthCheck !== undefined ? { lastHealthCheck: rt.lastHealthCheck } : {}),
        ...(rt.healthScore !== undefined ? { healthScore: rt.healthScore } : {}),
        ...(rt.metrics ? { metrics: rt.metrics } : {}),
        ...(last ? { lastUpgrade: { eventId: last.eventId, status: last.status, toOpenclaw: last.toOpenclaw, ...(last.error ? { error: last.error } : {}) } } : {}),
        createdAt: rt.createdAt,
      },
      { now, ...(typeof min === "string" ? { minSupportedOpenclaw: min } : {}) },
    );
    const live: string[] = [];
    for (const status of LIVE) {
      const rows = await ctx.db
        .query("alerts")
        .withIndex("by_subject_status", (q) => q.eq("stack", rt.stack).eq("accountId", rt.accountId).eq("status", status))
        .take(50);
      live.push(...rows.map((r) => r.key));
    }
    const plan = await applyPlan(ctx, live, desired, now);
    opened += plan.open.length;
    closed += plan.close.length;
  }
  return { cursor: page.isDone ? null : page.continueCursor, isDone: page.isDone, evaluated: page.page.length, opened, closed };
}

export async function evaluateRollouts(ctx: MutationCtx, now: number) {
  const desired: DesiredAlert[] = [];
  for (const status of ["running", "planned"] as const) {
    const rows = await ctx.db.query("rollouts").withIndex("by_status", (q) => q.eq("status", status)).take(200);
    for (const r of rows) {
      desired.push(...rolloutAlerts({ stack: r.stack, rolloutId: r.rolloutId, status: r.status, lastProgressAt: r.lastProgressAt, currentBatch: r.currentBatch }, { now }));
    }
  }
  const live: string[] = [];
  for (const status of LIVE) {
    const rows = await ctx.db.query("alerts").withIndex("by_rule_status", (q) => q.eq("rule", "rollout_stalled").eq("status", status)).take(500);
    live.push(...rows.map((r) => r.key));
  }
  const plan = await applyPlan(ctx, live, desired, now);
  return { opened: plan.open.length, closed: plan.close.length };
}

const vEvalResult = v.object({ cursor: v.union(v.string(), v.null()), isDone: v.boolean(), evaluated: v.number(), opened: v.number(), closed: v.number() });

/** Cron entry: one page of runtimes, then schedules the next page until the fleet is covered. */
export const evaluateRuntimes = internalMutation({
  args: { cursor: v.union(v.string(), v.null()), now: v.optional(v.number()), pageSize: v.optional(v.number()), chain: v.optional(v.boolean()) },
  returns: vEvalResult,
  handler: async (ctx, args) => {
    const now = args.now ?? Date.now();
    const result = await evaluateRuntimePage(ctx, args.cursor, now, args.pageSize ?? EVALUATION_PAGE);
    if (!result.isDone && args.chain !== false) {
      await ctx.scheduler.runAfter(0, internal.alerts.evaluateRuntimes, { cursor: result.cursor, now, ...(args.pageSize ? { pageSize: args.pageSize } : {}) });
    }
    return result;
  },
});

export const evaluateRolloutAlerts = internalMutation({
  args: { now: v.optional(v.number()) },
  returns: v.object({ opened: v.number(), closed: v.number() }),
  handler: async (ctx, args) => await evaluateRollouts(ctx, args.now ?? Date.now()),
});

export const list = query({
  args: { status: v.optional(vAlertStatus), stack: v.optional(v.string()), accountId: v.optional(v.string()), limit: v.optional(v.number()) },
  returns: v.array(vAlertRecord),
  handler: async (ctx, args) => {
    await requireSuperAdmin(ctx);
    return await listAlerts(ctx, { ...args, limit: args.limit ?? 100 });
  },
});

export const acknowledge = mutation({
  args: { alertId: v.string() },
  returns: v.boolean(),
  handler: async (ctx, args) => {
    const who = await requireSuperAdmin(ctx);
    return await acknowledgeAlert(ctx, args.alertId, who, Date.now());
  },
});

// The event applier's store (store/domain/events.ts EventStore) over a Convex mutation context:
// each method calls the Convex helper that does the same transition, so `ingest` applies an event
// exactly as the embedded endpoint does over its FleetStore. No functions here, only helpers.
import type { MutationCtx } from "./_generated/server";
import type { EventLedger, EventStore } from "../store/domain/events";
import { findRuntime, markUpgrading, setPendingUpgrade, upsertRuntimes } from "./runtimes";
import { recordUpgradeEvent } from "./history";
import { acquireLock, createRollout, releaseLock, updateRollout } from "./rollouts";
import { closeAlert, openAlert } from "./alerts";
import { appendActivity } from "./activities";

export function ctxStore(ctx: MutationCtx, now: number): EventStore {
  return {
    upsertRuntimes: async (observations) => await upsertRuntimes(ctx, observations, now),
    setPendingUpgrade: async (stack, accountId, pending) => await setPendingUpgrade(ctx, stack, accountId, pending, now),
    getPendingUpgrade: async (stack, accountId) => (await findRuntime(ctx, stack, accountId))?.pendingUpgrade ?? null,
    // The upgrade start moves the runtime and its rollout state (the domain's one transition).
    markUpgradeStarted: async (start) => await markUpgrading(ctx, { ...start, at: start.at ?? now }),
    recordUpgrade: async (event) => ({ recorded: await recordUpgradeEvent(ctx, event, now) }),
    createRollout: async (input) => await createRollout(ctx, input, now),
    updateRollout: async (rolloutId, patch) => await updateRollout(ctx, rolloutId, patch, now),
    acquireLock: async (stack, holder) => await acquireLock(ctx, stack, holder, now),
    releaseLock: async (stack, holder) => await releaseLock(ctx, stack, holder, "release", now),
    // Breaking checks the stale holder the caller inspected: the same compare-and-delete.
    breakLock: async (stack, expected) => await releaseLock(ctx, stack, expected, "break", now),
    openAlert: async (alert) => await openAlert(ctx, alert, now),
    closeAlert: async (key) => await closeAlert(ctx, key, now),
    appendActivity: async (activity) => await appendActivity(ctx, activity, now),
  };
}

/**
 * The ingest ledger (store/domain/events.ts EventLedger) on the replayNonces and processedEvents
 * tables. A mutation is one transaction: a claim whose apply fails is rolled back with it, so no
 * event is ever left claimed and unanswered here.
 */
export function ctxLedger(ctx: MutationCtx, now: number): EventLedger {
  const processed = async (eventId: string) => await ctx.db.query("processedEvents").withIndex("by_event_id", (q) => q.eq("eventId", eventId)).first();
  return {
    async claimSignature(signature, at) {
      if ((await ctx.db.query("replayNonces").withIndex("by_signature", (q) => q.eq("signature", signature)).first()) !== null) return false;
      await ctx.db.insert("replayNonces", { signature, seenAt: at });
      return true;
    },
    async claimEvent(eventId, type) {
      const done = await processed(eventId);
      // A row without a result is one whose answer was too large to keep: answered as null.
      if (done !== null) return { fresh: false, result: done.result ?? "null" };
      await ctx.db.insert("processedEvents", { eventId, type, receivedAt: now });
      return { fresh: true };
    },
    async recordEventResult(eventId, result) {
      const row = await processed(eventId);
      if (row !== null) await ctx.db.patch(row._id, { result });
    },
    async forgetEvent(eventId) {
      const row = await processed(eventId);
      if (row !== null && row.result === undefined) await ctx.db.delete(row._id);
    },
  };
}

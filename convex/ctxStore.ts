// The event applier's store (store/domain/events.ts EventStore) over a Convex mutation context:
// each method calls the Convex helper that does the same transition, so `ingest` applies an event
// exactly as the embedded endpoint does over its FleetStore. No functions here, only helpers.
import type { MutationCtx } from "./_generated/server";
import type { EventStore } from "../store/domain/events";
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

// The ONE event applier: what a machine writer's event (protocol/events.ts) does to a store.
// Both endpoints use it: the embedded one over a FleetStore (store/endpoint.ts), Convex's ingest
// over a FleetStore-shaped object on its mutation context (convex/ctxStore.ts). Which transitions
// log an activity is the store transitions' rule, not the applier's: it logs none of its own.
import type { FleetEvent } from "../../protocol/events";
import { parseAgentKeyId } from "../../protocol/credential";
import type { FleetStore } from "../types";
import { checkObservationBatch } from "./runtimes";

/** The part of a FleetStore the applier uses. */
export type EventStore = Pick<
  FleetStore,
  | "upsertRuntimes"
  | "setPendingUpgrade"
  | "getPendingUpgrade"
  | "markUpgradeStarted"
  | "recordUpgrade"
  | "createRollout"
  | "updateRollout"
  | "acquireLock"
  | "releaseLock"
  | "breakLock"
  | "openAlert"
  | "closeAlert"
  | "appendActivity"
>;

/**
 * Applies one well-formed event; returns what the poster gets back. `keyId` is the request's key
 * id (null or "default": the shared key). The endpoint has already held an agent key to its own
 * runtime of its own stack. An agent's first heartbeat still creates its runtime's row: no hook
 * runs for an agent runtime, and agent dispatch needs the row (see the report of issue 18.3).
 */
export async function applyEvent(store: EventStore, event: FleetEvent, keyId: string | null): Promise<unknown> {
  const agent = parseAgentKeyId(keyId);
  switch (event.type) {
    case "runtime.upsert": {
      // One event is one write: the same per-write limit as Convex's mutation, in both endpoints
      // (a FleetStore call may be larger: ConvexFleetStore sends it in chunks, the local one in one transaction).
      checkObservationBatch(event.runtimes);
      if (agent !== null) {
        await store.upsertRuntimes(event.runtimes);
        // An agent's heartbeat learns its pending upgrade from the answer (no second request).
        return { count: 1, pendingUpgrade: await store.getPendingUpgrade(agent.stack, agent.accountId) };
      }
      await store.upsertRuntimes(event.runtimes);
      return { count: event.runtimes.length };
    }
    case "runtime.pending":
      await store.setPendingUpgrade(event.stack, event.accountId, event.pending);
      return null;
    case "upgrade.started": {
      const { id: _id, type: _type, ...start } = event;
      void _id;
      void _type;
      await store.markUpgradeStarted(start);
      return null;
    }
    case "upgrade.result":
      return await store.recordUpgrade(event.upgrade);
    case "rollout.created":
      return await store.createRollout(event.rollout);
    case "rollout.updated":
      return await store.updateRollout(event.rolloutId, event.patch);
    case "rollout.lock":
      return await store.acquireLock(event.stack, event.holder);
    case "rollout.unlock":
      return { released: event.mode === "break" ? await store.breakLock(event.stack, event.holder) : await store.releaseLock(event.stack, event.holder) };
    case "alert.open":
    case "alert.update":
      return await store.openAlert(event.alert);
    case "alert.close":
      return { closed: await store.closeAlert(event.key) };
    case "activity":
      await store.appendActivity(event.activity);
      return null;
  }
}

// The ONE event applier: what a machine writer's event (protocol/events.ts) does to a store.
// Both endpoints use it: the embedded one over a FleetStore (store/endpoint.ts), Convex's ingest
// over a FleetStore-shaped object on its mutation context (convex/ctxStore.ts). Which transitions
// log an activity is the store transitions' rule, not the applier's: it logs none of its own.
import type { FleetEvent } from "../../protocol/events";
import { parseAgentKeyId } from "../../protocol/credential";
import type { FleetStore } from "../types";

/** The part of a FleetStore the applier uses. */
export type EventStore = Pick<
  FleetStore,
  | "upsertRuntimes"
  | "getRuntime"
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

/** An event refused for what it is about (not for its shape): the endpoint answers `status`. */
export class EventRefusedError extends Error {
  constructor(
    readonly status: 404 | 409 | 422,
    message: string,
  ) {
    super(message);
    this.name = "EventRefusedError";
  }
}

/**
 * Applies one well-formed event; returns what the poster gets back. `keyId` is the request's key
 * id (null or "default": the shared key). An agent key reports only a runtime the store already
 * knows: rows are created by the program's hooks, the orchestrator and `fleet` commands, which
 * know the stack config and write with the shared key.
 */
export async function applyEvent(store: EventStore, event: FleetEvent, keyId: string | null): Promise<unknown> {
  const agent = parseAgentKeyId(keyId);
  switch (event.type) {
    case "runtime.upsert": {
      if (agent !== null) {
        // The endpoint let through exactly one runtime, the agent's own.
        const rt = event.runtimes[0]!;
        if ((await store.getRuntime(rt.stack, rt.accountId, { upgrades: 0 })) === null) {
          throw new EventRefusedError(404, `no runtime ${rt.stack}/${rt.accountId} in the store: an agent reports only a runtime of its stack's config`);
        }
        await store.upsertRuntimes(event.runtimes);
        // An agent's heartbeat learns its pending upgrade from the answer (no second request).
        return { count: 1, pendingUpgrade: await store.getPendingUpgrade(rt.stack, rt.accountId) };
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

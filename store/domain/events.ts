// The ONE event applier: what a machine writer's event (protocol/events.ts) does to a store.
// Both endpoints use it: the embedded one over a FleetStore (store/endpoint.ts), Convex's ingest
// over a FleetStore-shaped object on its mutation context (convex/ctxStore.ts). Which transitions
// log an activity is the store transitions' rule, not the applier's: it logs none of its own.
import type { FleetEvent } from "../../protocol/events";
import { MAX_STORED_RESULT } from "../../protocol/signature";
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
      await store.upsertRuntimes(event.runtimes);
      // An agent's heartbeat learns its pending upgrade from the answer (no second request).
      if (agent !== null) return { count: 1, pendingUpgrade: await store.getPendingUpgrade(agent.stack, agent.accountId) };
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

/**
 * Where an endpoint remembers what it has seen: request signatures (a replay is refused) and
 * processed event ids with what they got back (a repeat is answered, not applied again). The
 * embedded store keeps both in its own tables (store/local.ts), Convex in replayNonces and
 * processedEvents (convex/ctxStore.ts ctxLedger); another store gets a bounded memory of its
 * process (store/endpoint.ts memoryLedger). Retention: protocol/signature.ts.
 */
export interface EventLedger {
  /** False when the signature was seen before (a replay). */
  claimSignature(signature: string, at: number): Promise<boolean>;
  /** `fresh` for the first claim; a repeat gets the stored answer, none when it was claimed and never answered. */
  claimEvent(eventId: string, type: string): Promise<{ fresh: boolean; result?: string }>;
  recordEventResult(eventId: string, result: string): Promise<void>;
  /** Releases a claim whose apply failed, so a retry under the same id is applied. */
  forgetEvent(eventId: string): Promise<void>;
}

export type IngestOutcome = { status: "applied" | "duplicate"; result: string } | { status: "replay" };

/**
 * The ONE ingest sequence of both endpoints (after the signature and the event's checks): refuse a
 * replayed signature, answer a processed event id with its first answer, else apply the event and
 * record its answer (JSON; one over MAX_STORED_RESULT is kept as null). In a Convex mutation it is
 * one transaction (claim then apply is atomic); the embedded endpoint passes `inflight`, its
 * events being applied by this process, so a concurrent repeat waits for the first one's answer.
 * An event claimed by a process that died before it answered is applied again (at least once
 * rather than never; the store dedupes upgrade results by their own event id).
 */
export async function ingestEvent(
  ledger: EventLedger,
  store: EventStore,
  event: FleetEvent,
  keyId: string | null,
  signature: string,
  at: number,
  inflight?: Map<string, Promise<string>>,
): Promise<IngestOutcome> {
  if (!(await ledger.claimSignature(signature.toLowerCase(), at))) return { status: "replay" };
  const running = inflight?.get(event.id);
  if (running !== undefined) return { status: "duplicate", result: await running };
  const answer = (async (): Promise<IngestOutcome & { result: string }> => {
    const claim = await ledger.claimEvent(event.id, event.type);
    if (!claim.fresh && claim.result !== undefined) return { status: "duplicate", result: claim.result };
    try {
      const result = JSON.stringify((await applyEvent(store, event, keyId)) ?? null);
      await ledger.recordEventResult(event.id, result.length <= MAX_STORED_RESULT ? result : "null");
      return { status: "applied", result };
    } catch (e) {
      await ledger.forgetEvent(event.id).catch(() => undefined);
      throw e;
    }
  })();
  // Registered before the claim settles: a repeat arriving while it is pending must wait, not
  // find the claim unanswered and apply the event a second time.
  inflight?.set(event.id, answer.then((o) => o.result, () => "null"));
  try {
    return await answer;
  } finally {
    inflight?.delete(event.id);
  }
}

// The machine-writer events (POST /fleet/events): ONE definition, checked by both endpoints
// (convex/http.ts, store/endpoint.ts) and, derived with zodToConvex, the Convex ingest args.
import { z } from "zod";
import { accountId, eventId, name, rolloutId, stackName } from "./fields";
import { activityInput, alertInput, lockHolder, lockRef, pendingUpgrade, rolloutInput, rolloutPatch, runtimeObservation, upgradeEvent, upgradeStartFields } from "./records";

/** Most runtimes one `runtime.upsert` carries (store/convex.ts sends 200 at a time). */
export const MAX_UPSERT_RUNTIMES = 1000;

const id = eventId;
export const fleetEventSchema = z.discriminatedUnion("type", [
  z.strictObject({ id, type: z.literal("runtime.upsert"), runtimes: z.array(runtimeObservation).max(MAX_UPSERT_RUNTIMES) }),
  z.strictObject({ id, type: z.literal("runtime.pending"), stack: stackName, accountId, pending: pendingUpgrade.nullable() }),
  z.strictObject({ id, type: z.literal("upgrade.started"), ...upgradeStartFields }),
  z.strictObject({ id, type: z.literal("upgrade.result"), upgrade: upgradeEvent }),
  z.strictObject({ id, type: z.literal("rollout.created"), rollout: rolloutInput }),
  z.strictObject({ id, type: z.literal("rollout.updated"), rolloutId, patch: rolloutPatch }),
  z.strictObject({ id, type: z.literal("rollout.lock"), stack: stackName, holder: lockHolder }),
  z.strictObject({ id, type: z.literal("rollout.unlock"), stack: stackName, holder: lockRef, mode: z.enum(["release", "break"]) }),
  z.strictObject({ id, type: z.literal("alert.open"), alert: alertInput }),
  z.strictObject({ id, type: z.literal("alert.update"), alert: alertInput }),
  z.strictObject({ id, type: z.literal("alert.close"), key: name }),
  z.strictObject({ id, type: z.literal("activity"), activity: activityInput }),
]);
export type FleetEvent = z.infer<typeof fleetEventSchema>;
export type FleetEventType = FleetEvent["type"];

/** The one line a refused event gets: the field's path, the value's problem. */
export function eventProblem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid event";
  return `invalid event: ${issue.path.join(".") || "(event)"}: ${issue.message}`;
}

/** Parses a posted body's event: the event, or the one line saying why not. */
export function parseFleetEvent(raw: unknown): { ok: true; event: FleetEvent } | { ok: false; error: string } {
  const parsed = fleetEventSchema.safeParse(raw);
  return parsed.success ? { ok: true, event: parsed.data } : { ok: false, error: eventProblem(parsed.error) };
}


/** The runtimes an event speaks about, as (stack, accountId): what an endpoint that knows its fleet checks. */
export function runtimesNamed(event: FleetEvent): { stack: string; accountId: string }[] {
  switch (event.type) {
    case "runtime.upsert":
      return event.runtimes.map((r) => ({ stack: r.stack, accountId: r.accountId }));
    case "runtime.pending":
    case "upgrade.started":
      return [{ stack: event.stack, accountId: event.accountId }];
    case "upgrade.result":
      return [{ stack: event.upgrade.stack, accountId: event.upgrade.accountId }];
    default:
      return [];
  }
}

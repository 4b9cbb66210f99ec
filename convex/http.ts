// The ONE endpoint machine writers post to: POST /fleet/events, HMAC-signed (protocol/signature.ts),
// stale timestamps and replayed signatures refused, every event applied once by its `id`.
import { httpRouter } from "convex/server";
import { ConvexError, v } from "convex/values";
import { zodToConvex } from "convex-helpers/server/zod4";
import { httpAction, internalMutation } from "./_generated/server";
import { internal } from "./_generated/api";
import { EVENTS_PATH, KEY_ID_HEADER, MAX_BODY_BYTES, PROCESSED_EVENT_RETENTION_MS, SIGNATURE_HEADER, SIGNATURE_RETENTION_MS, TIMESTAMP_HEADER } from "../protocol/signature";
import { fleetEventSchema, type FleetEvent } from "../protocol/events";
import { checkEvent, requestSecret } from "../protocol/request";
import { errorBody, INTERNAL_ERROR, isStoreErrorKind, STATUS_FOR_STORE_ERROR } from "../protocol/httpError";
import { ingestEvent } from "../store/domain/events";
import { ctxLedger, ctxStore } from "./ctxStore";
import { fromDomain } from "./runtimes";

export type { FleetEvent };
/** The events as a Convex validator, derived from their one definition (protocol/events.ts). */
export const vFleetEvent = zodToConvex(fleetEventSchema);

/** The one ingest sequence (store/domain/events.ts ingestEvent) over this deployment's tables: one transaction. */
export const ingest = internalMutation({
  args: { signature: v.string(), actor: v.string(), event: vFleetEvent },
  returns: v.object({ status: v.union(v.literal("applied"), v.literal("duplicate"), v.literal("replay")), result: v.optional(v.string()) }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const keyId = args.actor.startsWith("key:") ? args.actor.slice(4) : null;
    return await fromDomain(async () => await ingestEvent(ctxLedger(ctx, now), ctxStore(ctx, now), args.event, keyId, args.signature, now));
  },
});

export const purge = internalMutation({
  args: {},
  returns: v.object({ nonces: v.number(), events: v.number() }),
  handler: async (ctx) => {
    const now = Date.now();
    const nonces = await ctx.db.query("replayNonces").withIndex("by_seen", (q) => q.lt("seenAt", now - SIGNATURE_RETENTION_MS)).take(2000);
    for (const n of nonces) await ctx.db.delete(n._id);
    const events = await ctx.db.query("processedEvents").withIndex("by_received", (q) => q.lt("receivedAt", now - PROCESSED_EVENT_RETENTION_MS)).take(2000);
    for (const e of events) await ctx.db.delete(e._id);
    return { nonces: nonces.length, events: events.length };
  },
});

/** The fleet's one HTTP error shape (protocol/httpError.ts), as the embedded endpoint answers. */
function refusal(status: number, error: string): Response {
  return reply(status, errorBody(status, error));
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

const postEvent = httpAction(async (ctx, request) => {
  const timestamp = request.headers.get(TIMESTAMP_HEADER);
  const signature = request.headers.get(SIGNATURE_HEADER);
  const keyId = request.headers.get(KEY_ID_HEADER);
  const head = await requestSecret(process.env.FLEET_HMAC_SECRET, { timestamp, signature, keyId }, Date.now());
  if (!head.ok) return refusal(head.status, head.error);
  const body = await request.text();
  if (body.length > MAX_BODY_BYTES) return refusal(413, "body too large");
  // The same checks, in the same order and with the same zod schema, as the embedded endpoint:
  // ids, tags and lengths the Convex validator cannot express are refused here.
  const checked = await checkEvent(head, keyId, body);
  if (!checked.ok) return refusal(checked.status, checked.error);
  try {
    const out = await ctx.runMutation(internal.http.ingest, { signature: head.signature.toLowerCase(), actor: `key:${keyId ?? "default"}`, event: checked.event });
    if (out.status === "replay") return refusal(409, "replayed request");
    return reply(200, { ok: true, duplicate: out.status === "duplicate", result: out.result === undefined ? null : JSON.parse(out.result) });
  } catch (e) {
    if (e instanceof ConvexError) {
      // The store domain's refusals carry their kind: the same status as the embedded endpoint's.
      const data = e.data as { code?: string; message?: string } | string;
      const status = typeof data !== "string" && isStoreErrorKind(data.code) ? STATUS_FOR_STORE_ERROR[data.code] : 400;
      return refusal(status, typeof data === "string" ? data : (data.message ?? "invalid event"));
    }
    const message = e instanceof Error ? e.message : String(e);
    if (/validator|ArgumentValidationError|does not match/i.test(message)) return refusal(400, message.slice(0, 500));
    // The detail stays in the deployment's log, never in the answer.
    console.error(`fleet/events: ${checked.event.type} ${checked.event.id} failed: ${message}`);
    return refusal(500, INTERNAL_ERROR);
  }
});

const http = httpRouter();
http.route({ path: EVENTS_PATH, method: "POST", handler: postEvent });
export default http;

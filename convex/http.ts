// The ONE endpoint machine writers post to: POST /fleet/events, HMAC-signed (convex/signature.ts),
// stale timestamps and replayed signatures refused, every event applied once by its `id`.
import { httpRouter } from "convex/server";
import { ConvexError, v, type Infer } from "convex/values";
import { httpAction, internalMutation, type MutationCtx } from "./_generated/server";
import { internal } from "./_generated/api";
import {
  vActivityInput,
  vAlertInput,
  vLockHolder,
  vPendingUpgrade,
  vRolloutInput,
  vRolloutPatch,
  vRuntimeObservation,
  vStrategy,
  vUpgradeEvent,
} from "./validators";
import { EVENTS_PATH, KEY_ID_HEADER, MAX_BODY_BYTES, MAX_SKEW_MS, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyPayload } from "./signature";
import { findRuntime, markUpgrading, setPendingUpgrade, upsertRuntimes } from "./runtimes";
import { recordUpgradeEvent } from "./history";
import { acquireLock, createRollout, releaseLock, setRuntimeStates, updateRollout } from "./rollouts";
import { closeAlert, openAlert } from "./alerts";
import { appendActivity } from "./activities";
import { agentEventProblem, isAgentKeyId, secretForKey } from "../agent/credential";

const id = v.string();
const MAX_STORED_RESULT = 16_384;
export const vFleetEvent = v.union(
  v.object({ id, type: v.literal("runtime.upsert"), runtimes: v.array(vRuntimeObservation) }),
  v.object({ id, type: v.literal("runtime.pending"), stack: v.string(), accountId: v.string(), pending: v.union(vPendingUpgrade, v.null()) }),
  v.object({
    id,
    type: v.literal("upgrade.started"),
    stack: v.string(),
    accountId: v.string(),
    rolloutId: v.optional(v.string()),
    targetOpenclawVersion: v.string(),
    targetRuntimeVersion: v.string(),
    strategy: vStrategy,
    initiatedBy: v.string(),
    at: v.optional(v.number()),
  }),
  v.object({ id, type: v.literal("upgrade.result"), upgrade: vUpgradeEvent }),
  v.object({ id, type: v.literal("rollout.created"), rollout: vRolloutInput }),
  v.object({ id, type: v.literal("rollout.updated"), rolloutId: v.string(), patch: vRolloutPatch }),
  v.object({ id, type: v.literal("rollout.lock"), stack: v.string(), holder: vLockHolder }),
  v.object({
    id,
    type: v.literal("rollout.unlock"),
    stack: v.string(),
    holder: v.object({ pid: v.number(), host: v.string() }),
    mode: v.union(v.literal("release"), v.literal("break")),
  }),
  v.object({ id, type: v.literal("alert.open"), alert: vAlertInput }),
  v.object({ id, type: v.literal("alert.update"), alert: vAlertInput }),
  v.object({ id, type: v.literal("alert.close"), key: v.string() }),
  v.object({ id, type: v.literal("activity"), activity: vActivityInput }),
);
export type FleetEvent = Infer<typeof vFleetEvent>;

/**
 * The secret a request is checked against. No key id (or "default"): the deployment's shared
 * FLEET_HMAC_SECRET. An account id: that runtime's agent credential, derived from the shared
 * secret (agent/credential.ts, the one derivation); what an agent key may post is scoped below.
 */
export async function signingSecret(keyId: string | null): Promise<string | null> {
  return await secretForKey(process.env.FLEET_HMAC_SECRET, keyId);
}

/** Applies one event; returns what the poster gets back (stored, so a retry gets the same). */
export async function applyEvent(ctx: MutationCtx, event: FleetEvent, actor: string, now: number): Promise<unknown> {
  switch (event.type) {
    case "runtime.upsert": {
      await upsertRuntimes(ctx, event.runtimes, now);
      // An agent's heartbeat (its own runtime only, checked before) learns its pending upgrade
      // from the answer, as with the embedded endpoint (store/endpoint.ts).
      const keyId = actor.startsWith("key:") ? actor.slice(4) : null;
      if (isAgentKeyId(keyId) && event.runtimes.length === 1) {
        const rt = event.runtimes[0]!;
        return { count: 1, pendingUpgrade: (await findRuntime(ctx, rt.stack, rt.accountId))?.pendingUpgrade ?? null };
      }
      return { count: event.runtimes.length };
    }
    case "runtime.pending":
      await setPendingUpgrade(ctx, event.stack, event.accountId, event.pending, now);
      return null;
    case "upgrade.started": {
      const { id: _id, type: _type, at, ...rest } = event;
      void _id;
      void _type;
      await markUpgrading(ctx, { ...rest, at: at ?? now });
      if (event.rolloutId !== undefined) {
        await setRuntimeStates(ctx, event.rolloutId, [{ accountId: event.accountId, state: "upgrading" }], at ?? now, { ignoreMissingRollout: true });
      }
      return null;
    }
    case "upgrade.result":
      return { recorded: await recordUpgradeEvent(ctx, event.upgrade, now) };
    case "rollout.created":
      return await createRollout(ctx, event.rollout, now);
    case "rollout.updated":
      return await updateRollout(ctx, event.rolloutId, event.patch, now);
    case "rollout.lock":
      return await acquireLock(ctx, event.stack, event.holder, now);
    case "rollout.unlock":
      return { released: await releaseLock(ctx, event.stack, event.holder, event.mode, now) };
    case "alert.open":
    case "alert.update":
      return await openAlert(ctx, event.alert, now);
    case "alert.close":
      return { closed: await closeAlert(ctx, event.key, now) };
    case "activity":
      await appendActivity(ctx, event.activity, now);
      return null;
  }
}

/** Replay check, dedupe by event id, apply: one transaction. */
export const ingest = internalMutation({
  args: { signature: v.string(), actor: v.string(), event: vFleetEvent },
  returns: v.object({ status: v.union(v.literal("applied"), v.literal("duplicate"), v.literal("replay")), result: v.optional(v.string()) }),
  handler: async (ctx, args) => {
    const now = Date.now();
    const replay = await ctx.db.query("replayNonces").withIndex("by_signature", (q) => q.eq("signature", args.signature)).first();
    if (replay !== null) return { status: "replay" as const };
    await ctx.db.insert("replayNonces", { signature: args.signature, seenAt: now });
    const done = await ctx.db.query("processedEvents").withIndex("by_event_id", (q) => q.eq("eventId", args.event.id)).first();
    if (done !== null) return { status: "duplicate" as const, ...(done.result !== undefined ? { result: done.result } : {}) };
    const result = JSON.stringify((await applyEvent(ctx, args.event, args.actor, now)) ?? null);
    // Large results (a rollout with thousands of batched ids) are not kept: a retry then gets null
    // and the poster reads the record back (store/convex.ts does).
    const kept = result.length <= MAX_STORED_RESULT ? result : undefined;
    await ctx.db.insert("processedEvents", { eventId: args.event.id, type: args.event.type, receivedAt: now, ...(kept !== undefined ? { result: kept } : {}) });
    return { status: "applied" as const, result };
  },
});

export const purge = internalMutation({
  args: {},
  returns: v.object({ nonces: v.number(), events: v.number() }),
  handler: async (ctx) => {
    const now = Date.now();
    const nonces = await ctx.db.query("replayNonces").withIndex("by_seen", (q) => q.lt("seenAt", now - 2 * MAX_SKEW_MS)).take(2000);
    for (const n of nonces) await ctx.db.delete(n._id);
    const events = await ctx.db.query("processedEvents").withIndex("by_received", (q) => q.lt("receivedAt", now - 7 * 86_400_000)).take(2000);
    for (const e of events) await ctx.db.delete(e._id);
    return { nonces: nonces.length, events: events.length };
  },
});

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

const postEvent = httpAction(async (ctx, request) => {
  const timestamp = request.headers.get(TIMESTAMP_HEADER);
  const signature = request.headers.get(SIGNATURE_HEADER);
  const keyId = request.headers.get(KEY_ID_HEADER);
  if (timestamp === null || signature === null) return reply(401, { ok: false, error: "missing signature headers" });
  const ts = Number(timestamp);
  if (!/^\d{1,16}$/.test(timestamp) || Math.abs(Date.now() - ts) > MAX_SKEW_MS) return reply(401, { ok: false, error: "stale or invalid timestamp" });
  const secret = await signingSecret(keyId);
  if (secret === null) return reply(401, { ok: false, error: "unknown key" });
  const body = await request.text();
  if (body.length > MAX_BODY_BYTES) return reply(413, { ok: false, error: "body too large" });
  if (!(await verifyPayload(secret, timestamp, body, signature))) return reply(401, { ok: false, error: "bad signature" });
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return reply(400, { ok: false, error: "body is not JSON" });
  }
  if (typeof event !== "object" || event === null || typeof (event as { id?: unknown }).id !== "string" || (event as { id: string }).id.length === 0) {
    return reply(400, { ok: false, error: "event needs a string id" });
  }
  const scope = isAgentKeyId(keyId) ? agentEventProblem(keyId, event) : null;
  if (scope !== null) return reply(403, { ok: false, error: scope });
  try {
    const out = await ctx.runMutation(internal.http.ingest, { signature: signature.toLowerCase(), actor: `key:${keyId ?? "default"}`, event: event as FleetEvent });
    if (out.status === "replay") return reply(409, { ok: false, error: "replayed request" });
    return reply(200, { ok: true, duplicate: out.status === "duplicate", result: out.result === undefined ? null : JSON.parse(out.result) });
  } catch (e) {
    if (e instanceof ConvexError) {
      const data = e.data as { message?: string } | string;
      return reply(400, { ok: false, error: typeof data === "string" ? data : (data.message ?? "invalid event") });
    }
    const message = e instanceof Error ? e.message : String(e);
    if (/validator|ArgumentValidationError|does not match/i.test(message)) return reply(400, { ok: false, error: message.slice(0, 500) });
    return reply(500, { ok: false, error: "internal error" });
  }
});

const http = httpRouter();
http.route({ path: EVENTS_PATH, method: "POST", handler: postEvent });
export default http;

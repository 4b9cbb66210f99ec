// @vitest-environment edge-runtime
// POST /fleet/events: signature, skew, replay, dedupe by event id, payload validation.
import { describe, expect, test } from "vitest";
import { api } from "./_generated/api";
import { HMAC_SECRET, asSuperAdmin, initConvexTest } from "./test.setup";
import { EVENTS_PATH, MAX_SKEW_MS, signedHeaders, signPayload } from "../protocol/signature";

const runtime = { stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online" as const };

async function post(t: ReturnType<typeof initConvexTest>, event: unknown, opts: { secret?: string; now?: number; headers?: Record<string, string> } = {}) {
  const body = JSON.stringify(event);
  const headers = opts.headers ?? (await signedHeaders(opts.secret ?? HMAC_SECRET, body, opts.now ?? Date.now()));
  const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers });
  return { status: res.status, json: (await res.json()) as { ok: boolean; duplicate?: boolean; error?: string; result?: unknown } };
}

async function count(t: ReturnType<typeof initConvexTest>) {
  return (await asSuperAdmin(t).query(api.runtimes.list, {})).items.length;
}

describe("/fleet/events", () => {
  test("a signed event is applied", async () => {
    const t = initConvexTest();
    const r = await post(t, { id: "ev-1", type: "runtime.upsert", runtimes: [runtime] });
    expect(r).toEqual({ status: 200, json: { ok: true, duplicate: false, result: { count: 1 } } });
    expect(await count(t)).toBe(1);
  });

  test("a bad signature, a wrong secret, missing headers and an unknown key id are refused", async () => {
    const t = initConvexTest();
    const event = { id: "ev-1", type: "runtime.upsert", runtimes: [runtime] };
    expect((await post(t, event, { secret: "not-the-secret" })).status).toBe(401);
    const body = JSON.stringify(event);
    const good = await signedHeaders(HMAC_SECRET, body, Date.now());
    expect((await post(t, event, { headers: { ...good, "x-fleet-signature": "00".repeat(32) } })).status).toBe(401);
    expect((await post(t, event, { headers: { ...good, "x-fleet-signature": "zz" } })).status).toBe(401);
    expect((await post(t, event, { headers: { "content-type": "application/json" } })).status).toBe(401);
    expect((await post(t, event, { headers: { ...good, "x-fleet-key-id": "agent-acme" } })).status).toBe(401);
    // The body signed is the body checked: tampering after signing fails.
    const res = await t.fetch(EVENTS_PATH, { method: "POST", body: body.replace("acme", "evil"), headers: good });
    expect(res.status).toBe(401);
    expect(await count(t)).toBe(0);
  });

  test("timestamps further than 5 minutes from the server clock are refused", async () => {
    const t = initConvexTest();
    const event = { id: "ev-1", type: "runtime.upsert", runtimes: [runtime] };
    expect((await post(t, event, { now: Date.now() - MAX_SKEW_MS - 5_000 })).json).toMatchObject({ ok: false, error: "stale or invalid timestamp" });
    expect((await post(t, event, { now: Date.now() + MAX_SKEW_MS + 5_000 })).status).toBe(401);
    expect((await post(t, event, { now: Date.now() - MAX_SKEW_MS + 30_000 })).status).toBe(200);
  });

  test("a replayed request (same signature) is refused", async () => {
    const t = initConvexTest();
    const body = JSON.stringify({ id: "ev-1", type: "runtime.upsert", runtimes: [runtime] });
    const headers = await signedHeaders(HMAC_SECRET, body, Date.now());
    expect((await t.fetch(EVENTS_PATH, { method: "POST", body, headers })).status).toBe(200);
    const again = await t.fetch(EVENTS_PATH, { method: "POST", body, headers });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: "replayed request" });
  });

  test("a retried event (same id, new signature) is recorded once", async () => {
    const t = initConvexTest();
    const upgrade = {
      eventId: "up-1", stack: "prod", accountId: "acme", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", fromRuntimeService: "v0.5.0", toRuntimeService: "v0.5.2",
      status: "success", startedAt: 1, completedAt: 2, initiatedBy: "hook", executor: "pulumi",
    };
    await post(t, { id: "ev-0", type: "runtime.upsert", runtimes: [runtime] });
    const first = await post(t, { id: "ev-up-1", type: "upgrade.result", upgrade }, { now: Date.now() - 1 });
    const retry = await post(t, { id: "ev-up-1", type: "upgrade.result", upgrade }, { now: Date.now() });
    expect(first.json).toEqual({ ok: true, duplicate: false, result: { recorded: true } });
    expect(retry.json).toEqual({ ok: true, duplicate: true, result: { recorded: true } });
    // A different post id for the same upgrade is still recorded once (upgradeEvents.eventId).
    const other = await post(t, { id: "ev-up-1b", type: "upgrade.result", upgrade });
    expect(other.json).toMatchObject({ ok: true, duplicate: false, result: { recorded: false } });
    const page = await asSuperAdmin(t).query(api.history.list, {});
    expect(page.items).toHaveLength(1);
  });

  test("invalid events are refused with 400 and change nothing", async () => {
    const t = initConvexTest();
    expect((await post(t, { type: "runtime.upsert", runtimes: [runtime] })).status).toBe(400);
    expect((await post(t, { id: "x", type: "runtime.delete" })).status).toBe(400);
    expect((await post(t, { id: "y", type: "runtime.upsert", runtimes: [{ ...runtime, openclawVersion: "v1.2.3; reboot" }] })).json).toMatchObject({ ok: false, error: expect.stringMatching(/not a release tag/) });
    const body = "not json";
    const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers: await signedHeaders(HMAC_SECRET, body, Date.now()) });
    expect(res.status).toBe(400);
    expect(await count(t)).toBe(0);
    // A refused event's id is not burned: it can be posted again, fixed.
    expect((await post(t, { id: "y", type: "runtime.upsert", runtimes: [runtime] })).status).toBe(200);
  });

  test("every event type goes through", async () => {
    const t = initConvexTest();
    const holder = { pid: 1, host: "ci", user: "alice", startedAt: 1 };
    const events = [
      { id: "1", type: "runtime.upsert", runtimes: [runtime] },
      { id: "2", type: "rollout.created", rollout: { rolloutId: "ro_abc123", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "alice", batches: [["acme"]] } },
      { id: "3", type: "rollout.lock", stack: "prod", holder },
      { id: "4", type: "upgrade.started", stack: "prod", accountId: "acme", rolloutId: "ro_abc123", targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", strategy: "rolling", initiatedBy: "alice" },
      { id: "5", type: "rollout.updated", rolloutId: "ro_abc123", patch: { status: "running" } },
      { id: "6", type: "runtime.pending", stack: "prod", accountId: "acme", pending: null },
      { id: "7", type: "alert.open", alert: { key: "k", rule: "health_degraded", severity: "medium", message: "m" } },
      { id: "8", type: "alert.update", alert: { key: "k", rule: "health_degraded", severity: "medium", message: "m2" } },
      { id: "9", type: "alert.close", key: "k" },
      { id: "10", type: "activity", activity: { actor: "alice", action: "note", message: "hi" } },
      { id: "11", type: "rollout.unlock", stack: "prod", holder: { pid: 1, host: "ci" }, mode: "release" },
    ];
    for (const e of events) expect((await post(t, e)).json, e.type).toMatchObject({ ok: true });
    const admin = asSuperAdmin(t);
    expect(await admin.query(api.rollouts.get, { rolloutId: "ro_abc123" })).toMatchObject({ status: "running", counts: { upgrading: 1 } });
    expect(await admin.query(api.rollouts.lock, { stack: "prod" })).toBeNull();
    expect(await admin.query(api.alerts.list, {})).toMatchObject([{ status: "closed", message: "m2" }]);
  });

  test("the signature is hex HMAC-SHA256 over timestamp.body", async () => {
    // Known answer, computed independently: printf '1700000000000.{}' | openssl dgst -sha256 -hmac secret
    expect(await signPayload("secret", "1700000000000", "{}")).toBe("8399216d111287e3bb28e25c0f4f31dffdf831c68c9ee2b96c2f67c9b81d341b");
  });
});

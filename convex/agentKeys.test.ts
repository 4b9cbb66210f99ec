// @vitest-environment edge-runtime
// The Convex endpoint with per-runtime agent keys: an agent's heartbeat is accepted with its own
// derived key and answers its pending upgrade; another runtime's key, or a foreign event, is refused.
import { describe, expect, test } from "vitest";
import { HMAC_SECRET, initConvexTest } from "./test.setup";
import { EVENTS_PATH, signedHeaders } from "../protocol/signature";
import { agentSecret } from "../protocol/credential";

const rt = (accountId: string) => ({ stack: "prod", accountId, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0" });

async function post(t: ReturnType<typeof initConvexTest>, event: unknown, secret: string, keyId?: string) {
  const body = JSON.stringify(event);
  const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers: await signedHeaders(secret, body, Date.now(), keyId) });
  return { status: res.status, json: (await res.json()) as { ok: boolean; error?: string; result?: unknown } };
}

describe("agent keys on the Convex endpoint", () => {
  test("own heartbeat accepted with its pending upgrade; foreign runtime or event type refused", async () => {
    const t = initConvexTest();
    expect((await post(t, { id: "seed", type: "runtime.upsert", runtimes: [rt("acme"), rt("beta")] }, HMAC_SECRET)).status).toBe(200);
    const pending = { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: 1, initiatedBy: "t", strategy: "rolling", deadline: 5 };
    expect((await post(t, { id: "p1", type: "runtime.pending", stack: "prod", accountId: "acme", pending }, HMAC_SECRET)).status).toBe(200);
    const acme = await agentSecret(HMAC_SECRET, "prod", "acme");
    const hb = await post(t, { id: "hb1", type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "acme", lastHealthCheck: 2 }] }, acme, "prod/acme");
    expect(hb).toEqual({ status: 200, json: { ok: true, duplicate: false, result: { count: 1, pendingUpgrade: pending } } });
    expect((await post(t, { id: "hb2", type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "beta" }] }, acme, "prod/acme")).status).toBe(403);
    expect((await post(t, { id: "hb3", type: "runtime.pending", stack: "prod", accountId: "acme", pending: null }, acme, "prod/acme")).status).toBe(403);
    expect((await post(t, { id: "hb4", type: "runtime.upsert", runtimes: [{ stack: "prod", accountId: "beta" }] }, acme, "prod/beta")).status).toBe(401);
  });
});

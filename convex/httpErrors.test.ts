// @vitest-environment edge-runtime
// Convex's POST /fleet/events answers the store domain's refusals by their kind, as the embedded
// endpoint does (test/unit/http.test.ts): a missing record 404, an illegal transition 409.
import { expect, test } from "vitest";
import { HMAC_SECRET, initConvexTest } from "./test.setup";
import { EVENTS_PATH, signedHeaders } from "../protocol/signature";

async function post(t: ReturnType<typeof initConvexTest>, event: unknown, at = Date.now()) {
  const body = JSON.stringify(event);
  const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers: await signedHeaders(HMAC_SECRET, body, at) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

test("a missing runtime is 404 not-found and a finished rollout's abort is 409 conflict", async () => {
  const t = initConvexTest();
  const pending = { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: 1, initiatedBy: "alice", strategy: "rolling" };
  expect(await post(t, { id: "ev-p", type: "runtime.pending", stack: "prod", accountId: "ghost", pending })).toEqual({ status: 404, json: { ok: false, kind: "not-found", error: "no runtime prod/ghost" } });
  const rollout = { rolloutId: "ro_done00001", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "alice", batches: [["acme"]], status: "running" };
  expect((await post(t, { id: "ev-c", type: "rollout.created", rollout })).status).toBe(200);
  expect((await post(t, { id: "ev-u1", type: "rollout.updated", rolloutId: "ro_done00001", patch: { status: "completed" } })).status).toBe(200);
  const abort = await post(t, { id: "ev-u2", type: "rollout.updated", rolloutId: "ro_done00001", patch: { status: "aborted" } });
  expect([abort.status, abort.json.kind, abort.json.error]).toEqual([409, "conflict", expect.stringMatching(/^rollout ro_done00001 already ended \(completed\): cannot abort it/)]);
});

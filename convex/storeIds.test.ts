// @vitest-environment edge-runtime
// Ids and the per-write batch limit, checked by the store domain: zodToConvex drops the protocol's
// refinements, so the super-admin mutations reach the domain with whatever the caller sent.
import { describe, expect, test } from "vitest";
import { api } from "./_generated/api";
import { HMAC_SECRET, asSuperAdmin, initConvexTest } from "./test.setup";
import { EVENTS_PATH, signedHeaders } from "../protocol/signature";

const runtime = (accountId: string, stack = "prod") => ({ stack, accountId, openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online" as const });

describe("the Convex functions refuse what the store domain refuses", () => {
  test("runtimes.upsert and runtimes.setPending refuse a stack or account id outside its pattern, and create nothing", async () => {
    const t = initConvexTest();
    const admin = asSuperAdmin(t);
    await expect(admin.mutation(api.runtimes.upsert, { runtimes: [runtime("acme", "../../x")] })).rejects.toThrow(/stack: \\?"\.\.\/\.\.\/x\\?" is not a stack name/);
    await expect(admin.mutation(api.runtimes.upsert, { runtimes: [runtime("<b>X</b>")] })).rejects.toThrow(/accountId: \\?"<b>X<\/b>\\?" is not an account id/);
    expect((await admin.query(api.runtimes.list, {})).items).toEqual([]);
    await admin.mutation(api.runtimes.upsert, { runtimes: [runtime("acme")] });
    const pending = { targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", initiatedAt: 1, initiatedBy: "alice", strategy: "rolling" as const };
    await expect(admin.mutation(api.runtimes.setPending, { stack: "../../x", accountId: "acme", pending })).rejects.toThrow(/is not a stack name/);
    expect((await admin.query(api.runtimes.list, {})).items.map((r) => `${r.stack}/${r.accountId}`)).toEqual(["prod/acme"]);
  });

  test("one event of more than 500 observations is refused whole (400, naming the limit)", async () => {
    const t = initConvexTest({ transactionLimits: false });
    const body = JSON.stringify({ id: "ev-big", type: "runtime.upsert", runtimes: Array.from({ length: 501 }, (_, i) => runtime(`acct-${i}`)) });
    const res = await t.fetch(EVENTS_PATH, { method: "POST", body, headers: await signedHeaders(HMAC_SECRET, body, Date.now()) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("runtimes: at most 500 runtimes per upsert (got 501)");
    expect((await asSuperAdmin(t).query(api.runtimes.list, {})).items).toEqual([]);
  });
});

// @vitest-environment edge-runtime
// Every public query and mutation refuses anonymous and non-admin callers.
import { describe, expect, test } from "vitest";
import type { FunctionReference } from "convex/server";
import { api } from "./_generated/api";
import { asSuperAdmin, initConvexTest } from "./test.setup";

const ref = { stack: "prod", accountId: "acme" };
const queries: [string, FunctionReference<"query">, Record<string, unknown>][] = [
  ["runtimes.get", api.runtimes.get, { accountId: "acme" }],
  ["runtimes.list", api.runtimes.list, {}],
  ["runtimes.getPendingUpgrade", api.runtimes.getPendingUpgrade, ref],
  ["history.list", api.history.list, {}],
  ["history.page", api.history.page, { paginationOpts: { numItems: 10, cursor: null } }],
  ["rollouts.get", api.rollouts.get, { rolloutId: "ro_abcdef" }],
  ["rollouts.list", api.rollouts.list, {}],
  ["rollouts.active", api.rollouts.active, { stack: "prod" }],
  ["rollouts.lock", api.rollouts.lock, { stack: "prod" }],
  ["systemConfig.get", api.systemConfig.get, {}],
  ["alerts.list", api.alerts.list, {}],
  ["activities.list", api.activities.list, {}],
  ["overview.get", api.overview.get, {}],
];
const mutations: [string, FunctionReference<"mutation">, Record<string, unknown>][] = [
  ["runtimes.upsert", api.runtimes.upsert, { runtimes: [] }],
  ["runtimes.markUpgradePending", api.runtimes.markUpgradePending, { ...ref, targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2" }],
  ["runtimes.markUpgradeComplete", api.runtimes.markUpgradeComplete, { ...ref, version: "v1.2.5", status: "success" }],
  ["runtimes.markRolledBack", api.runtimes.markRolledBack, { ...ref, version: "v1.2.3" }],
  ["runtimes.updateStatus", api.runtimes.updateStatus, { ...ref, status: "online" }],
  ["runtimes.setPending", api.runtimes.setPending, { ...ref, pending: null }],
  ["systemConfig.set", api.systemConfig.set, { key: "upgrade_batch_percent", value: 10 }],
  ["alerts.acknowledge", api.alerts.acknowledge, { alertId: "x" }],
];

describe("super admin only", () => {
  for (const [name, fn, args] of queries) {
    test(`query ${name}`, async () => {
      const t = initConvexTest();
      await expect(t.query(fn, args)).rejects.toThrow(/sign in as a super admin/);
      await expect(t.withIdentity({ tokenIdentifier: "https://auth.fleet.test|someone" }).query(fn, args)).rejects.toThrow(/super admin only/);
      await expect(asSuperAdmin(t).query(fn, args)).resolves.not.toThrow();
    });
  }
  for (const [name, fn, args] of mutations) {
    test(`mutation ${name}`, async () => {
      const t = initConvexTest();
      await expect(t.mutation(fn, args)).rejects.toThrow(/sign in as a super admin/);
      await expect(t.withIdentity({ tokenIdentifier: "https://auth.fleet.test|someone" }).mutation(fn, args)).rejects.toThrow(/super admin only/);
    });
  }

  test("an empty FLEET_SUPER_ADMINS admits nobody", async () => {
    const t = initConvexTest();
    process.env.FLEET_SUPER_ADMINS = "";
    await expect(asSuperAdmin(t).query(api.overview.get, {})).rejects.toThrow(/super admin only/);
  });
});

describe("the seed's runtime API", () => {
  test("markUpgradePending, markUpgradeComplete, markRolledBack, updateStatus, get", async () => {
    const t = initConvexTest();
    const admin = asSuperAdmin(t);
    await admin.mutation(api.runtimes.upsert, {
      runtimes: [{ stack: "prod", accountId: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "online", provider: "digitalocean", region: "nyc1" }],
    });
    await admin.mutation(api.runtimes.markUpgradePending, { ...ref, targetOpenclawVersion: "v1.2.5", targetRuntimeVersion: "v0.5.2", strategy: "rolling" });
    expect(await admin.query(api.runtimes.get, { accountId: "acme" })).toMatchObject({ status: "upgrading", pendingUpgrade: { targetOpenclawVersion: "v1.2.5" } });
    await admin.mutation(api.runtimes.markUpgradeComplete, { ...ref, version: "v1.2.5", status: "success" });
    let rt = await admin.query(api.runtimes.get, { accountId: "acme", stack: "prod" });
    expect(rt).toMatchObject({ status: "online", openclawVersion: "v1.2.5", runtimeServiceVersion: "v0.5.2" });
    expect(rt!.pendingUpgrade).toBeUndefined();
    expect(rt!.recentUpgrades[0]).toMatchObject({ fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5", status: "success" });
    await admin.mutation(api.runtimes.markRolledBack, { ...ref, version: "v1.2.3" });
    rt = await admin.query(api.runtimes.get, { accountId: "acme" });
    expect(rt).toMatchObject({ openclawVersion: "v1.2.3" });
    expect(rt!.recentUpgrades[0]).toMatchObject({ status: "rolled_back", fromOpenclaw: "v1.2.3", toOpenclaw: "v1.2.5" });
    await admin.mutation(api.runtimes.updateStatus, { ...ref, status: "degraded" });
    expect((await admin.query(api.runtimes.get, { accountId: "acme" }))!.status).toBe("degraded");
    await expect(admin.mutation(api.runtimes.markUpgradePending, { ...ref, targetOpenclawVersion: "main; curl x|sh", targetRuntimeVersion: "v0.5.2" })).rejects.toThrow(/not a release tag/);
  });

  test("history.page uses Convex pagination", async () => {
    const t = initConvexTest();
    const admin = asSuperAdmin(t);
    await t.run(async (ctx) => {
      for (let i = 0; i < 7; i++) {
        await ctx.db.insert("upgradeEvents", { eventId: `e${i}`, stack: "prod", accountId: "acme", fromOpenclaw: "v1.0.0", toOpenclaw: "v1.0.1", fromRuntimeService: "v0.1.0", toRuntimeService: "v0.1.0", status: "success", startedAt: i, initiatedBy: "x", executor: "agent" });
      }
    });
    const p1 = await admin.query(api.history.page, { stack: "prod", accountId: "acme", paginationOpts: { numItems: 5, cursor: null } });
    expect(p1.page.map((e) => e.eventId)).toEqual(["e6", "e5", "e4", "e3", "e2"]);
    const p2 = await admin.query(api.history.page, { stack: "prod", accountId: "acme", paginationOpts: { numItems: 5, cursor: p1.continueCursor } });
    expect(p2.page.map((e) => e.eventId)).toEqual(["e1", "e0"]);
    expect(p2.isDone).toBe(true);
  });
});

// @vitest-environment edge-runtime
import { expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import { asSuperAdmin, initConvexTest } from "./test.setup";

test("accounts -> runtimes migration is idempotent and keeps counters right", async () => {
  const t = initConvexTest();
  await t.run(async (ctx) => {
    await ctx.db.insert("accounts", { name: "Acme", slug: "acme", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", dropletId: "123", dropletIp: "167.99.1.2", region: "nyc1" });
    await ctx.db.insert("accounts", { name: "Beta", openclawVersion: "1.1", ipAddress: "10.0.0.9" });
    await ctx.db.insert("accounts", { name: "No runtime yet" });
  });
  const run = () => t.mutation(internal.migrations.accountsToRuntimes, { stack: "prod", cursor: null, chain: false });
  expect(await run()).toMatchObject({ created: 2, skipped: 1, isDone: true });
  expect(await run()).toMatchObject({ created: 0, skipped: 3 });
  const admin = asSuperAdmin(t);
  const acme = await admin.query(api.runtimes.get, { stack: "prod", accountId: "acme" });
  expect(acme).toMatchObject({ provider: "digitalocean", providerId: "123", ipAddress: "167.99.1.2", region: "nyc1", openclawVersion: "v1.2.3", runtimeServiceVersion: "v0.5.0", status: "offline", recentUpgrades: [] });
  const all = (await admin.query(api.runtimes.list, {})).items;
  expect(all.find((r) => r.accountId !== "acme")).toMatchObject({ openclawVersion: "unknown", ipAddress: "10.0.0.9" });
  const o = await admin.query(api.overview.get, {});
  expect(o.total).toBe(2);
  expect(o.byOpenclawVersion.map((r) => r.label)).toEqual(["v1.2.3", "unknown"]);
});

// @vitest-environment edge-runtime
// Scale: 10,000 runtimes, Convex's transaction limits enforced (convex-test transactionLimits).
import { describe, expect, test } from "vitest";
import { api, internal } from "./_generated/api";
import { asSuperAdmin, initConvexTest } from "./test.setup";
import { adjustCounters } from "./runtimes";

const N = 10_000;
const VERSIONS = ["v1.2.5", "v1.2.5", "v1.2.5", "v1.2.3", "v1.2.1", "v1.1.5", "v1.1.0", "v1.2.5"] as const;
const STATUSES = ["online", "online", "online", "online", "online", "online", "online", "degraded", "offline", "upgrading"] as const;

describe("overview at 10,000 runtimes", () => {
  test("is read from maintained counters inside the transaction limits", { timeout: 120_000 }, async () => {
    const t = initConvexTest({ transactionLimits: true });
    const admin = asSuperAdmin(t);
    await admin.mutation(api.systemConfig.set, { key: "min_supported_openclaw", value: "v1.2.0" });
    const now = Date.now();
    for (let start = 0; start < N; start += 500) {
      const runtimes = Array.from({ length: 500 }, (_, k) => {
        const i = start + k;
        return {
          stack: i % 2 ? "prod" : "staging",
          accountId: `acct-${i}`,
          provider: "digitalocean" as const,
          providerId: String(100000 + i),
          ipAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          region: ["nyc1", "sfo3", "ams3"][i % 3]!,
          openclawVersion: VERSIONS[i % VERSIONS.length]!,
          runtimeServiceVersion: "v0.5.2",
          status: STATUSES[i % STATUSES.length]!,
          lastHealthCheck: now,
          healthScore: 90,
          metrics: { errorRate: 0.5, uptimePercent: 99.95, avgResponseTimeMs: 120 },
        };
      });
      // Seeded through the counters helper the write path uses (convex-test resolves every index
      // lookup by scanning the table, so 10,000 upserts through lookups would take minutes here).
      await t.run(async (ctx) => {
        for (const r of runtimes) {
          const doc = { ...r, dockerImageTag: r.openclawVersion, isCanary: false, createdAt: now, updatedAt: now };
          await ctx.db.insert("runtimes", doc);
          await adjustCounters(ctx, null, doc);
        }
      });
    }
    const started = Date.now();
    const o = await admin.query(api.overview.get, {});
    const elapsed = Date.now() - started;
    expect(o.total).toBe(N);
    const byStatus = Object.fromEntries(o.byStatus.map((r) => [r.status, r.count]));
    expect(byStatus).toMatchObject({ online: 7000, degraded: 1000, offline: 1000, upgrading: 1000 });
    expect(o.byStatus.find((r) => r.status === "online")!.percent).toBe(70);
    expect(o.byOpenclawVersion.map((r) => [r.label, r.count, r.belowMinimum])).toEqual([
      ["v1.2.5", 5000, false],
      ["v1.2.3", 1250, false],
      ["v1.2.1", 1250, false],
      ["v1.1.x", 2500, true],
    ]);
    const prod = await admin.query(api.overview.get, { stack: "prod" });
    expect(prod.total).toBe(N / 2);
    expect(elapsed).toBeLessThan(1000);

    // A status change moves the counters in the same mutation.
    await t.mutation(internal.runtimes.upsertInternal, { runtimes: [{ stack: "prod", accountId: "acct-1", status: "error" }] });
    const after = await admin.query(api.overview.get, { stack: "prod" });
    expect(after.byStatus.find((r) => r.status === "error")!.count).toBe(1);
    expect(after.total).toBe(N / 2);

  });
});

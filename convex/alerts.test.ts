// @vitest-environment edge-runtime
// Each alert rule opens once, updates, and closes itself (crons call these internal functions;
// convex-test does not run crons).
import { afterEach, describe, expect, test, vi } from "vitest";
import { api, internal } from "./_generated/api";
import { asSuperAdmin, initConvexTest } from "./test.setup";

const NOW = 1_760_000_000_000;
const MIN = 60_000;
type T = ReturnType<typeof initConvexTest>;

async function seed(t: T, over: Record<string, unknown> = {}) {
  await t.mutation(internal.runtimes.upsertInternal, {
    runtimes: [{ stack: "prod", accountId: "acme", openclawVersion: "v1.2.5", runtimeServiceVersion: "v0.5.2", status: "online", lastHealthCheck: NOW, healthScore: 95, observedAt: NOW - 60 * MIN, ...over }],
  });
}
async function sweep(t: T, now: number) {
  return await t.mutation(internal.alerts.evaluateRuntimes, { cursor: null, now, chain: false });
}
async function live(t: T) {
  const all = await asSuperAdmin(t).query(api.alerts.list, {});
  return all.filter((a) => a.status !== "closed").map((a) => [a.rule, a.severity]);
}
async function closed(t: T) {
  return (await asSuperAdmin(t).query(api.alerts.list, { status: "closed" })).map((a) => a.rule);
}

describe("runtime alert rules", () => {
  test("runtime offline: no health check for more than 5 minutes (critical)", async () => {
    const t = initConvexTest();
    await seed(t);
    await sweep(t, NOW + 5 * MIN);
    expect(await live(t)).toEqual([]);
    await sweep(t, NOW + 6 * MIN);
    await sweep(t, NOW + 7 * MIN);
    expect(await live(t)).toEqual([["runtime_offline", "critical"]]);
    const [alert] = await asSuperAdmin(t).query(api.alerts.list, {});
    expect(alert!.message).toMatch(/7 min/);
    await seed(t, { lastHealthCheck: NOW + 8 * MIN });
    await sweep(t, NOW + 8 * MIN);
    expect(await live(t)).toEqual([]);
    expect(await closed(t)).toEqual(["runtime_offline"]);
  });

  test("high error rate: more than 5% over 15 minutes (high)", async () => {
    const t = initConvexTest();
    await seed(t, { metrics: { errorRate: 5 } });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([]);
    await seed(t, { metrics: { errorRate: 7.5 } });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([["high_error_rate", "high"]]);
    await seed(t, { metrics: { errorRate: 0.2 } });
    await sweep(t, NOW);
    expect(await closed(t)).toEqual(["high_error_rate"]);
  });

  test("upgrade failed (high), cleared by a later success", async () => {
    const t = initConvexTest();
    await seed(t);
    const ev = { stack: "prod", accountId: "acme", fromOpenclaw: "v1.2.5", toOpenclaw: "v1.3.0", fromRuntimeService: "v0.5.2", toRuntimeService: "v0.5.2", initiatedBy: "ci", executor: "pulumi" as const };
    await t.run(async (ctx) => {
      const { recordUpgradeEvent } = await import("./history");
      await recordUpgradeEvent(ctx, { ...ev, eventId: "f1", status: "failed", startedAt: NOW, error: "health check timed out" }, NOW);
    });
    await seed(t, { lastHealthCheck: NOW + MIN, healthScore: 95 });
    await sweep(t, NOW + MIN);
    expect(await live(t)).toEqual([["upgrade_failed", "high"]]);
    await t.run(async (ctx) => {
      const { recordUpgradeEvent } = await import("./history");
      await recordUpgradeEvent(ctx, { ...ev, eventId: "s1", status: "success", startedAt: NOW + 2 * MIN }, NOW + 2 * MIN);
    });
    await seed(t, { lastHealthCheck: NOW + 3 * MIN });
    await sweep(t, NOW + 3 * MIN);
    expect(await live(t)).toEqual([]);
    expect(await closed(t)).toEqual(["upgrade_failed"]);
  });

  test("version below minimum supported (medium), cleared when the minimum or the version moves", async () => {
    const t = initConvexTest();
    await seed(t, { openclawVersion: "v1.1.5" });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([]);
    await asSuperAdmin(t).mutation(api.systemConfig.set, { key: "min_supported_openclaw", value: "v1.2.0" });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([["version_below_minimum", "medium"]]);
    await seed(t, { openclawVersion: "v1.2.0" });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([]);
  });

  test("health score under 80 (medium); an acknowledged alert stays acknowledged until it clears", async () => {
    const t = initConvexTest();
    await seed(t, { healthScore: 80 });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([]);
    await seed(t, { healthScore: 62 });
    await sweep(t, NOW);
    expect(await live(t)).toEqual([["health_degraded", "medium"]]);
    const [a] = await asSuperAdmin(t).query(api.alerts.list, {});
    expect(await asSuperAdmin(t).mutation(api.alerts.acknowledge, { alertId: a!.alertId })).toBe(true);
    await seed(t, { healthScore: 55 });
    await sweep(t, NOW);
    const [b] = await asSuperAdmin(t).query(api.alerts.list, {});
    expect(b).toMatchObject({ alertId: a!.alertId, status: "acknowledged", acknowledgedBy: "https://auth.fleet.test|super-admin", details: { healthScore: 55 } });
    await seed(t, { healthScore: 99 });
    await sweep(t, NOW);
    expect(await closed(t)).toEqual(["health_degraded"]);
  });
});

describe("rollout stalled", () => {
  test("running with no progress for more than 1 hour (medium), closed by progress", async () => {
    const t = initConvexTest();
    await t.run(async (ctx) => {
      const { createRollout } = await import("./rollouts");
      await createRollout(ctx, { rolloutId: "ro_stall01", stack: "prod", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "ci", batches: [["a"], ["b"]], status: "running", createdAt: NOW }, NOW);
      await createRollout(ctx, { rolloutId: "ro_paused1", stack: "staging", target: { openclaw: "v1.2.5", runtimeService: "v0.5.2" }, strategy: "rolling", options: {}, initiatedBy: "ci", batches: [["a"]], status: "paused", createdAt: NOW }, NOW);
    });
    expect(await t.mutation(internal.alerts.evaluateRolloutAlerts, { now: NOW + 60 * MIN })).toEqual({ opened: 0, closed: 0 });
    expect(await t.mutation(internal.alerts.evaluateRolloutAlerts, { now: NOW + 61 * MIN })).toEqual({ opened: 1, closed: 0 });
    expect(await t.mutation(internal.alerts.evaluateRolloutAlerts, { now: NOW + 62 * MIN })).toEqual({ opened: 0, closed: 0 });
    expect(await live(t)).toEqual([["rollout_stalled", "medium"]]);
    await t.run(async (ctx) => {
      const { updateRollout } = await import("./rollouts");
      await updateRollout(ctx, "ro_stall01", { currentBatch: 1, at: NOW + 63 * MIN }, NOW + 63 * MIN);
    });
    expect(await t.mutation(internal.alerts.evaluateRolloutAlerts, { now: NOW + 64 * MIN })).toEqual({ opened: 0, closed: 1 });
    expect(await live(t)).toEqual([]);
  });
});

describe("the sweep", () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  test("chains pages through the scheduler until the fleet is covered", async () => {
    vi.useFakeTimers();
    const t = initConvexTest();
    const runtimes = Array.from({ length: 450 }, (_, i) => ({ stack: "prod", accountId: `r${i}`, openclawVersion: "v1.2.5", runtimeServiceVersion: "v0.5.2", status: "online" as const, lastHealthCheck: NOW - 10 * MIN, observedAt: NOW - 10 * MIN }));
    await t.mutation(internal.runtimes.upsertInternal, { runtimes });
    const first = await t.mutation(internal.alerts.evaluateRuntimes, { cursor: null, now: NOW });
    expect(first).toMatchObject({ isDone: false, evaluated: 200, opened: 200 });
    await t.finishAllScheduledFunctions(vi.runAllTimers);
    const overview = await asSuperAdmin(t).query(api.overview.get, {});
    expect(overview.openAlerts.critical).toBe(450);
  });
});
